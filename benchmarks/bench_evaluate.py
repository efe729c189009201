"""Full evaluation report on N x L random scores: seconds, peak memory, sort floor.

For each size, separate subprocesses (so each peak RSS is its own) measure:

* ``report``: ``VLAP.evaluation.evaluate_predictions`` (every metric of the
  report: thresholded, mAP/AUROC per label and micro, ranking metrics);
* ``macro``: the same with ``metrics=MACRO_METRICS`` (a selection: macro F1,
  precision, recall, Jaccard, mAP and AUROC), which skips the per-example sort
  and the pooled micro ranking;
* ``sort``: ``np.sort(scores, axis=0)``, NumPy sorting every column: the floor
  for exact per-label AP/AUROC;
* ``old`` (``--old-n`` only): the previous implementation, kept below as it was
  (scikit-learn per label in a Python loop, precision_recall_fscore_support once
  per average, then Jaccard, Hamming and the micro scores).

Scores are float32 uniform in [0, 1), labels Bernoulli(``--positives``) as bool,
generated in chunks so that generation adds no temporaries. Each figure is the
median of ``--repeats`` runs (the modes take turns, so load on a shared machine
falls on each alike); the ratios are those medians over the sort's; peak memory is the child's peak RSS, reported
beside the size of the score matrix.

Example::

    python benchmarks/bench_evaluate.py --n 200000 --labels 1000 --old-n 0
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

#: The macro-only report (``--child macro``): a selection of the report's rows.
MACRO_METRICS = ["f1_macro", "precision_macro", "recall_macro", "jaccard_macro",
                 "average_precision_macro", "roc_auc_macro"]

def make_data(n, num_labels, positives, seed=0):
    rng = np.random.default_rng(seed)
    scores = np.empty((n, num_labels), dtype=np.float32)
    y = np.empty((n, num_labels), dtype=bool)
    step = max(1, (1 << 22) // num_labels)
    for i in range(0, n, step):
        rng.random(out=scores[i:i + step], dtype=np.float32)
        y[i:i + step] = rng.random((len(scores[i:i + step]), num_labels)) < positives
    return y, scores


def old_evaluate(y_true, scores, threshold=0.5):
    """The implementation this replaces (its metric computations, unchanged)."""
    import warnings

    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        hamming_loss,
        jaccard_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y_true = y_true.astype(np.int64)
    scores = scores.astype(np.float64)
    y_pred = (scores > threshold).astype(np.int64)
    values = {}
    for avg in ("micro", "macro", "weighted", "samples"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=avg,
                                                     zero_division=0)
        values[f"f1_{avg}"], values[f"precision_{avg}"], values[f"recall_{avg}"] = f, p, r
    values["hamming_loss"] = hamming_loss(y_true, y_pred)
    values["subset_accuracy"] = accuracy_score(y_true, y_pred)
    values["jaccard_samples"] = jaccard_score(y_true, y_pred, average="samples",
                                              zero_division=0)
    values["jaccard_macro"] = jaccard_score(y_true, y_pred, average="macro", zero_division=0)
    positives = y_true.sum(0)
    valid = (positives > 0) & (positives < len(y_true))
    ap = np.full(y_true.shape[1], np.nan)
    auc = np.full(y_true.shape[1], np.nan)
    for j in np.flatnonzero(valid):
        ap[j] = average_precision_score(y_true[:, j], scores[:, j])
        auc[j] = roc_auc_score(y_true[:, j], scores[:, j])
    values["average_precision_macro"] = np.mean(ap[valid])
    values["roc_auc_macro"] = np.mean(auc[valid])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values["average_precision_micro"] = average_precision_score(y_true.ravel(),
                                                                    scores.ravel())
        values["roc_auc_micro"] = roc_auc_score(y_true.ravel(), scores.ravel())
    pred_count, true_count = y_pred.sum(1), y_true.sum(1)
    values["label_count_mae"] = np.mean(np.abs(pred_count - true_count))
    return values


def child(mode, n, num_labels, positives):
    import sklearn.metrics  # noqa: F401  (imports stay out of the timings)

    from VLAP.evaluation import evaluate_predictions

    rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    y, scores = make_data(n, num_labels, positives)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if mode == "sort":
        np.sort(scores, axis=0)
        values = None
    elif mode == "report":
        values = evaluate_predictions(y, scores)["value"].to_dict()
    elif mode == "macro":
        values = evaluate_predictions(y, scores, metrics=MACRO_METRICS)["value"].to_dict()
    else:
        values = old_evaluate(y, scores)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "rss_inputs": rss_before,
                      "rss_imports": rss_imports, "values": values}))


def run_child(mode, n, num_labels, positives):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--n", str(n), "--labels",
         str(num_labels), "--positives", str(positives)],
        capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(f"{mode} at n={n} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def gib(x):
    return x / 2**30


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--positives", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old-n", type=int, default=20_000,
                        help="size of the old-vs-new comparison (0: skip)")
    parser.add_argument("--old-repeats", type=int, default=1)
    parser.add_argument("--child", choices=["report", "macro", "sort", "old"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.n[0], args.labels, args.positives)

    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"labels={args.labels}, positives={args.positives}, float32 scores, "
          f"median of {args.repeats}")
    # peak/scores: the report's peak RSS less the interpreter and libraries
    # (measured before the data are made), over the score matrix; it includes
    # the inputs (scores and 1-byte labels). extra/scores: above the inputs.
    header = (f"{'n':>9} {'scores GiB':>10} {'report s':>9} {'macro s':>8} {'sort s':>8} "
              f"{'report/sort':>11} {'macro/sort':>10} {'peak GiB':>9} {'peak/scores':>11} "
              f"{'extra/scores':>12}")
    for n in args.n:
        score_bytes = n * args.labels * 4
        runs: "dict[str, list]" = {"sort": [], "report": [], "macro": []}
        for _ in range(args.repeats):  # in turns: load falls on every mode alike
            for mode in runs:
                runs[mode].append(run_child(mode, n, args.labels, args.positives))
        for mode, rs in runs.items():
            print(f"  n={n} {mode}: " + ", ".join(f"{r['seconds']:.2f}" for r in rs) + " s",
                  flush=True)
        worst = max(abs(runs["macro"][0]["values"][k] - runs["report"][0]["values"][k])
                    for k in MACRO_METRICS)
        if worst:
            raise AssertionError(f"the macro selection differs from the full report: {worst}")
        rep = statistics.median(r["seconds"] for r in runs["report"])
        mac = statistics.median(r["seconds"] for r in runs["macro"])
        srt = statistics.median(r["seconds"] for r in runs["sort"])
        peak = statistics.median(r["peak_rss"] for r in runs["report"])
        inputs = statistics.median(r["rss_inputs"] for r in runs["report"])
        base = statistics.median(r["rss_imports"] for r in runs["report"])
        print(header)
        print(f"{n:>9} {gib(score_bytes):>10.2f} {rep:>9.2f} {mac:>8.2f} {srt:>8.2f} "
              f"{rep / srt:>11.2f} {mac / srt:>10.2f} {gib(peak):>9.2f} "
              f"{(peak - base) / score_bytes:>11.2f} {(peak - inputs) / score_bytes:>12.2f}",
              flush=True)
    if args.old_n:
        n = args.old_n
        new = [run_child("report", n, args.labels, args.positives)
               for _ in range(args.repeats)]
        old = [run_child("old", n, args.labels, args.positives)
               for _ in range(args.old_repeats)]
        t_new = statistics.median(r["seconds"] for r in new)
        t_old = statistics.median(r["seconds"] for r in old)
        p_new = statistics.median(r["peak_rss"] for r in new)
        p_old = statistics.median(r["peak_rss"] for r in old)
        worst = max(abs(new[0]["values"][k] - v) for k, v in old[0]["values"].items())
        print(f"old vs new at {n} x {args.labels}: old {t_old:.2f} s, new {t_new:.2f} s "
              f"(x{t_old / t_new:.1f} faster); peak RSS old {gib(p_old):.2f} GiB, "
              f"new {gib(p_new):.2f} GiB; largest difference in a shared metric "
              f"{worst:.1e}")


if __name__ == "__main__":
    main()
