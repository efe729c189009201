"""Which early-stopping rule handicaps no loss on your own data?

Trains each loss once per dataset for a fixed number of epochs (no early
stopping) through the user-data path (``load_config`` + ``prepare_dataset`` +
the runner's MLP + ``VLAP.train``, the ``kind = "csv"`` defaults: batch 64,
learning rate "auto", MLP 256 with dropout 0.2, sigmoidF1 beta=1, eta=0) and
logs, every epoch, every candidate monitor: ``val_loss``, ``val_f1_macro``
(macro-F1 at 0.5), ``val_f1_macro_tuned`` (macro-F1 with per-label thresholds
tuned on validation) and ``val_map`` (:mod:`VLAP.training.monitors`). Then it
replays each early-stopping rule (monitor x patience) on the logged curves with
:class:`VLAP.training.RunCheckpoint` itself, and prints, per dataset and loss,
the kept epoch and its *gap*: the best epoch's validation macro-F1 minus the kept
epoch's, at 0.5 and with tuned thresholds (0 = the rule kept the best epoch).

Datasets (held-in: the shipped data): the README fixture
``tests/data/own_texts.csv``; MULAN emotions, yeast, scene; the arXiv sample
with TF-IDF features (the arxiv config uses MiniLM; TF-IDF keeps this run short);
and Reuters-21578 (10,788 documents, 90 topics) written out as a CSV table in a
temporary folder and read as ``kind = "csv"`` (the "larger text table").

    nice -n 10 python benchmarks/bench_user_data_defaults.py   # ~21 min, shared 2-core CPU
    python benchmarks/bench_user_data_defaults.py --quick         # 3 epochs: does it run
"""

import argparse
import csv
import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data")
LOSSES = ["bce", "sigmoidF1", "asl", "focal"]
MONITORS = ["val_loss", "val_f1_macro", "val_f1_macro_tuned", "val_map"]
PATIENCES = [5, 15]
YARDSTICKS = ["val_f1_macro", "val_f1_macro_tuned"]


def write_reuters_csv(path, source=DATA / "reuters21578" / "reuters21578_modapte90.jsonl.gz"):
    """Reuters-21578 (both ModApte parts) as one ``id,text,labels`` table; returns rows.

    Documents without a topic or without any text are left out."""
    n = 0
    with gzip.open(source, "rt") as src, open(path, "w", newline="") as dst:
        out = csv.writer(dst)
        out.writerow(["id", "text", "labels"])
        for line in src:
            doc = json.loads(line)
            text = f"{doc.get('title') or ''} {doc.get('text') or ''}".strip()
            if doc["labels"] and text:  # a few documents have neither title nor body
                out.writerow([doc["id"], text, "|".join(doc["labels"])])
                n += 1
    return n


def datasets(tmp):
    reuters = Path(tmp) / "reuters.csv"
    write_reuters_csv(reuters)
    csv_table = {"kind": "csv", "text_column": "text", "label_column": "labels",
                 "features": "tfidf"}
    return {
        "fixture": ({**csv_table, "name": "own_texts",
                     "path": str(ROOT / "tests" / "data" / "own_texts.csv")}, 300),
        "emotions": ({"kind": "mulan", "mulan_name": "emotions", "name": "emotions"}, 100),
        "yeast": ({"kind": "mulan", "mulan_name": "yeast", "name": "yeast"}, 100),
        "scene": ({"kind": "mulan", "mulan_name": "scene", "name": "scene"}, 100),
        "arxiv": ({"kind": "arxiv", "name": "arxiv", "features": "tfidf", "min_count": 5,
                   "group_duplicates": True}, 60),
        "reuters (csv)": ({**csv_table, "name": "reuters_csv", "path": str(reuters)}, 30),
    }


def curves(table, epochs, losses, seed=0):
    """Train each loss on ``table`` for ``epochs`` epochs; per-epoch logs per loss."""
    import keras

    import VLAP
    from VLAP.experiments import load_config
    from VLAP.experiments.prepare import prepare_dataset
    from VLAP.experiments.runner import build_model

    cfg = load_config({"name": "bench", "dataset": table, "losses": losses, "seeds": [seed],
                       "plots": False, "save_models": False})
    prep = prepare_dataset(cfg["datasets"][0], DATA)
    out = {"summary": prep.summary(), "monitor_default": cfg["monitor"]}
    for loss in losses:
        keras.utils.set_random_seed(seed)  # as the runner does
        model = build_model(cfg["model"], prep)
        keras.utils.set_random_seed(seed)
        train_ds = VLAP.createDataset(prep.x_train, prep.y_train, batch_size=cfg["batch_size"],
                                      seed=seed)
        val_ds = VLAP.createDataset(prep.x_val, prep.y_val, batch_size=256, is_training=False)
        t0 = time.time()
        _, history = VLAP.train(model, train_ds, val_ds, prep.num_labels, loss=loss,
                                epochs=epochs, learning_rate=cfg["learning_rate"],
                                patience=None, restore_best=False, seed=seed, verbose=0,
                                monitor="val_f1_macro_tuned", deterministic=True)
        out[loss] = {k: [float(v) for v in history.history[k]] for k in MONITORS}
        out[loss]["seconds"] = time.time() - t0
    return out


def replay(logs, monitor, patience):
    """The epoch RunCheckpoint keeps on these logged curves, and the epochs it runs."""
    import keras

    from VLAP.training import RunCheckpoint

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    ckpt = RunCheckpoint(None, monitor, patience=patience, restore_best=False)
    ckpt.set_model(model)
    for epoch, value in enumerate(logs[monitor]):
        if np.isnan(value):  # e.g. no label with a positive: never an improvement
            value = np.inf if monitor.endswith("loss") else -np.inf
        ckpt.on_epoch_end(epoch, {monitor: value})
        if model.stop_training:
            break
    return ckpt.state["best_epoch"], ckpt.state["last_epoch"] + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs per dataset")
    parser.add_argument("--losses", nargs="+", default=LOSSES)
    parser.add_argument("--only", nargs="+", help="dataset names to run")
    parser.add_argument("--curves", help="also write the logged curves to this JSON file")
    args = parser.parse_args()
    rules = [(m, p) for m in MONITORS for p in PATIENCES]
    gaps = {(rule, loss, y): [] for rule in rules for loss in args.losses for y in YARDSTICKS}
    all_curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (table, epochs) in datasets(tmp).items():
            if args.only and name not in args.only:
                continue
            res = curves(table, 3 if args.quick else epochs, args.losses)
            all_curves[name] = res
            print(f"\n{res['summary']}; {3 if args.quick else epochs} epochs per loss "
                  f"(seconds: " + ", ".join(f"{l} {res[l]['seconds']:.0f}" for l in args.losses)
                  + ")", flush=True)
            print("  best epoch (1-based) and val macro-F1 at 0.5 / tuned: " + "; ".join(
                f"{l} {int(np.argmax(res[l]['val_f1_macro'])) + 1}: "
                f"{max(res[l]['val_f1_macro']):.3f} / "
                f"{int(np.argmax(res[l]['val_f1_macro_tuned'])) + 1}: "
                f"{max(res[l]['val_f1_macro_tuned']):.3f}" for l in args.losses))
            print(f"  {'rule':28} " + " ".join(f"{l:>26}" for l in args.losses))
            for monitor, patience in rules:
                cells = []
                for loss in args.losses:
                    logs = res[loss]
                    kept, ran = replay(logs, monitor, patience)
                    g = []
                    for y in YARDSTICKS:
                        gap = max(logs[y]) - logs[y][kept]
                        gaps[((monitor, patience), loss, y)].append(gap)
                        g.append(gap)
                    cells.append(f"{kept + 1:>3}/{ran:<3} gap {g[0]:.3f}/{g[1]:.3f}")
                print(f"  {monitor + ' p' + str(patience):28} "
                      + " ".join(f"{c:>26}" for c in cells), flush=True)
    print("\nAll datasets: mean (max) gap of the kept epoch's validation macro-F1 "
          "at 0.5 / tuned, per loss")
    print(f"  {'rule':28} " + " ".join(f"{l:>26}" for l in args.losses) + "   worst")
    for rule in rules:
        cells, worst = [], 0.0
        for loss in args.losses:
            a, b = (np.array(gaps[(rule, loss, y)]) for y in YARDSTICKS)
            worst = max(worst, a.max(), b.max())
            cells.append(f"{a.mean():.3f} ({a.max():.3f}) / {b.mean():.3f} ({b.max():.3f})")
        print(f"  {rule[0] + ' p' + str(rule[1]):28} " + " ".join(f"{c:>26}" for c in cells)
              + f"   {worst:.3f}", flush=True)
    if args.curves:
        Path(args.curves).write_text(json.dumps(all_curves))


if __name__ == "__main__":
    main()
