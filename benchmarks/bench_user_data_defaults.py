"""Which early-stopping rule handicaps no loss on your own data?

Trains each loss once per dataset for a fixed number of epochs (no early
stopping) through the user-data path (``load_config`` + ``prepare_dataset`` +
the runner's MLP + ``VLAP.train``, the ``kind = "csv"`` defaults: batch 64,
learning rate "auto", MLP 256 with dropout 0.2, sigmoidF1 beta=1, eta=0) and
logs, every epoch, every candidate monitor: ``val_loss``, ``val_f1_macro``
(macro-F1 at 0.5), ``val_f1_macro_tuned`` (macro-F1 with per-label cuts tuned
on validation, out of fold: what ``vlap run``'s rule choice compares with 0.5),
``val_f1_macro_tuned_in_sample`` (the same cuts scored on the rows they were
tuned on: the tuned monitor before issue 27) and ``val_map``
(:mod:`VLAP.training.monitors`). Then it replays each early-stopping rule
(monitor x patience) on the logged curves with
:class:`VLAP.training.RunCheckpoint` itself, and prints, per dataset and loss,
the kept epoch and its *gap*: the best epoch's validation macro-F1 minus the kept
epoch's, at 0.5 and with tuned cuts (out of fold) (0 = the rule kept the best
epoch). The rule ``per rule`` is the user-data default since issue 27
(``monitor = ["val_f1_macro_tuned", "val_f1_macro"]``): one best epoch per
decision rule, stopping when neither improved; its 0.5 gap is that of the epoch
best at 0.5, its tuned gap that of the epoch best with tuned cuts.

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
MONITORS = ["val_loss", "val_f1_macro", "val_f1_macro_tuned", "val_f1_macro_tuned_in_sample",
            "val_map"]
PER_RULE = "per rule"  # ["val_f1_macro_tuned", "val_f1_macro"]: one best epoch per rule
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


def in_sample_scores(val_ds):
    """A callback that logs ``val_f1_macro_tuned_in_sample``: per-label thresholds tuned
    and scored on the same validation rows (the tuned monitor before issue 27)."""
    import keras

    from VLAP.inference import predict_scores
    from VLAP.training.monitors import tuned_macro_f1

    class InSample(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            y, s = predict_scores(self.model, val_ds)
            logs["val_f1_macro_tuned_in_sample"] = tuned_macro_f1(y, s)

    return InSample()


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
                                monitor="val_f1_macro_tuned", deterministic=True,
                                callbacks=[in_sample_scores(val_ds)])
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


def register_in_sample():
    """Give ``val_f1_macro_tuned_in_sample`` a direction, so that RunCheckpoint replays it."""
    from VLAP.evaluation.metric_table import Metric, register_metric

    register_metric(Metric("f1_macro_tuned_in_sample", higher_is_better=True,
                           computed_by="epoch_logs"), override=True)


def replay_per_rule(logs, patience):
    """The epochs the per-rule default keeps on these curves: ``(best at 0.5, best
    tuned, epochs run)`` (RunCheckpoint with ``also``, as ``vlap run`` trains)."""
    import keras

    from VLAP.training import RunCheckpoint

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    ckpt = RunCheckpoint(None, "val_f1_macro_tuned", patience=patience, restore_best=False,
                         also=("val_f1_macro",))
    ckpt.set_model(model)
    for epoch in range(len(logs["val_f1_macro"])):
        ckpt.on_epoch_end(epoch, {m: -np.inf if np.isnan(logs[m][epoch]) else logs[m][epoch]
                                  for m in ("val_f1_macro_tuned", "val_f1_macro")})
        if model.stop_training:
            break
    return (ckpt.state["also"]["val_f1_macro"]["best_epoch"], ckpt.state["best_epoch"],
            ckpt.state["last_epoch"] + 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs per dataset")
    parser.add_argument("--losses", nargs="+", default=LOSSES)
    parser.add_argument("--only", nargs="+", help="dataset names to run")
    parser.add_argument("--curves", help="also write the logged curves to this JSON file")
    args = parser.parse_args()
    register_in_sample()
    rules = [(m, p) for m in MONITORS + [PER_RULE] for p in PATIENCES]
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
            print(f"  {'rule':32} " + " ".join(f"{l:>28}" for l in args.losses))
            for monitor, patience in rules:
                cells = []
                for loss in args.losses:
                    logs = res[loss]
                    if monitor == PER_RULE:  # each rule's rows at its own best epoch
                        at_05, tuned, ran = replay_per_rule(logs, patience)
                        kept_at = dict(zip(YARDSTICKS, (at_05, tuned)))
                        shown = f"{at_05 + 1}|{tuned + 1}"
                    else:
                        kept, ran = replay(logs, monitor, patience)
                        kept_at, shown = dict.fromkeys(YARDSTICKS, kept), f"{kept + 1}"
                    g = []
                    for y in YARDSTICKS:
                        gap = np.nanmax(logs[y]) - logs[y][kept_at[y]]
                        gaps[((monitor, patience), loss, y)].append(gap)
                        g.append(gap)
                    cells.append(f"{shown:>5}/{ran:<3} gap {g[0]:.3f}/{g[1]:.3f}")
                print(f"  {monitor + ' p' + str(patience):32} "
                      + " ".join(f"{c:>28}" for c in cells), flush=True)
    print("\nAll datasets: mean (max) gap of the kept epoch's validation macro-F1 "
          "at 0.5 / tuned, per loss")
    print(f"  {'rule':32} " + " ".join(f"{l:>26}" for l in args.losses) + "   worst")
    for rule in rules:
        cells, worst = [], 0.0
        for loss in args.losses:
            a, b = (np.array(gaps[(rule, loss, y)]) for y in YARDSTICKS)
            worst = max(worst, a.max(), b.max())
            cells.append(f"{a.mean():.3f} ({a.max():.3f}) / {b.mean():.3f} ({b.max():.3f})")
        print(f"  {rule[0] + ' p' + str(rule[1]):32} " + " ".join(f"{c:>26}" for c in cells)
              + f"   {worst:.3f}", flush=True)
    if args.curves:
        Path(args.curves).write_text(json.dumps(all_curves))


if __name__ == "__main__":
    main()
