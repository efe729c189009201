"""Do the defaults for your own data give sigmoidF1 and BCE a fair chance?

Trains sigmoidF1 and BCE (3 seeds) on the shipped fixture `tests/data/own_texts.csv`
(80 rows) and on a generated 2,000-row ticket table, under the paper configs'
defaults (30 epochs, patience 5 on `val_f1_macro`), patience 15 on the same
monitor, and patience 15 on `val_loss` with 100 and 300 epochs (the user-data
defaults). Prints test macro-F1 at 0.5, the mean number of predicted labels and
the epochs each run used. The README's "Use your own data" quotes these figures.

    python benchmarks/bench_user_data_defaults.py            # about 15 min on 2 CPU cores
    python benchmarks/bench_user_data_defaults.py --quick    # 1 seed, 3 epochs: does it run
"""

import argparse
import csv
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from VLAP.experiments import load_config, run_experiment
from VLAP.experiments.results import read_results

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "paper defaults": {"epochs": 30, "patience": 5, "monitor": "val_f1_macro"},
    "patience 15 on val_f1_macro": {"epochs": 100, "patience": 15, "monitor": "val_f1_macro"},
    "100 epochs, val_loss": {"epochs": 100, "patience": 15, "monitor": "val_loss"},
    "300 epochs, val_loss (default)": {"epochs": 300, "patience": 15, "monitor": "val_loss"},
}
WORDS = {
    "billing": "charge invoice refund card price payment plan",
    "bug": "crash error broken freeze exception fails glitch",
    "login": "password signin account locked session token reset",
    "feature": "request add support wish option suggestion idea",
    "mobile": "phone android iphone tablet app touch mobile",
    "privacy": "data gdpr delete consent tracking cookie personal",
    "performance": "slow lag latency timeout loading speed memory",
    "export": "csv pdf download spreadsheet backup export report",
    "email": "inbox notification newsletter spam mail smtp digest",
    "ui": "button layout font color menu screen theme",
}
FREQ = (0.3, 0.35, 0.25, 0.2, 0.2, 0.08, 0.12, 0.07, 0.1, 0.15)
FILLER = "the a my our this please thanks hello when after with and it is not again today still"


def write_tickets(path, n=2000, seed=7):
    """A generated ticket table: label words, one stray topic word in 30% of rows, filler."""
    rng = np.random.default_rng(seed)
    topics, filler = list(WORDS), FILLER.split()
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "text", "labels"])
        for i in range(n):
            labels = [t for t, p in zip(topics, FREQ) if rng.random() < p] or [
                topics[rng.integers(len(topics))]]
            tokens = [w for t in labels for w in rng.choice(WORDS[t].split(),
                                                            size=rng.integers(1, 4))]
            if rng.random() < 0.3:
                tokens.append(rng.choice(WORDS[topics[rng.integers(len(topics))]].split()))
            tokens += list(rng.choice(filler, size=rng.integers(3, 10)))
            rng.shuffle(tokens)
            out.writerow([f"r{i}", " ".join(tokens), "|".join(labels)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 epochs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tables = {"fixture (80 rows)": ROOT / "tests" / "data" / "own_texts.csv",
                  "tickets (2,000 rows)": Path(tmp) / "tickets.csv"}
        write_tickets(tables["tickets (2,000 rows)"])
        for table, path in tables.items():
            print(f"\n{table}: test macro-F1 at 0.5, mean #predicted labels, epochs run")
            for setting, values in SETTINGS.items():
                cfg = {"name": "defaults", "losses": ["sigmoidF1", "BCE"], "seeds": [0, 1, 2],
                       "plots": False, "save_models": False, **values,
                       "dataset": {"kind": "csv", "path": str(path), "text_column": "text",
                                   "label_column": "labels"}}
                if args.quick:
                    cfg.update(seeds=[0], epochs=3)
                run_dir = run_experiment(load_config(cfg), out=tmp, log=lambda *a: None)
                cells = defaultdict(list)
                for r in read_results(run_dir / "results.csv"):
                    if r["variant"] == "" and r["metric"] in ("f1_macro", "mean_predicted_labels"):
                        cells[(r["loss"], r["metric"])].append(r["value"])
                        if r["metric"] == "f1_macro":
                            cells[(r["loss"], "epochs")].append(int(r["epochs_run"]))
                line = [f"  {setting:32}"]
                for loss, name in (("sigmoid_f1", "sigmoidF1"), ("binary_crossentropy", "BCE")):
                    line.append(f"{name} {np.mean(cells[(loss, 'f1_macro')]):.3f} "
                                f"({np.mean(cells[(loss, 'mean_predicted_labels')]):.2f}, "
                                f"epochs {min(cells[(loss, 'epochs')])}-"
                                f"{max(cells[(loss, 'epochs')])})")
                print("   ".join(line), flush=True)


if __name__ == "__main__":
    main()
