"""Results of an experiment: ``results.csv`` rows, ``results.md`` and console tables.

Every comparison reports macro-F1 at the threshold, mAP (on scores), the
label-count error (mean |predicted - true| labels per example) and the mean
number of predicted labels beside the true mean; when BCE is among the losses,
BCE with per-label thresholds tuned on the validation split is reported too.

Example:
>>> display_name("sigmoid_f1", loss_kwargs={"beta": 10.0})
'sigmoidF1 (β=10, η=0)'
>>> display_name("binary_crossentropy", "tuned")
'BCE + tuned thresholds'
>>> display_name("weighted_sum", loss_kwargs={"baseline": "asymmetric", "weight": 0.3,
...                                           "surrogate_kwargs": {"beta": 1.0}})
'sigmoidF1(β=1) + 0.3·ASL'
"""

import csv
import json
from pathlib import Path

import numpy as np

from VLAP.evaluation.metric_table import get_metric, registered_metrics
from VLAP.ops import registry

#: Column order of ``results.csv``.
RESULT_COLUMNS = (
    "experiment", "dataset", "loss", "variant", "loss_kwargs", "threshold", "seed",
    "metric", "value", "epochs_run", "train_seconds", "backend", "keras_version",
    "VLAP_version", "run_id",
)

#: The metrics of every comparison table, in order. Their headers and which value
#: is best come from the metric table (:mod:`VLAP.evaluation.metric_table`).
TABLE_COLUMNS = ("f1_macro", "f1_micro", "f1_weighted", "average_precision_macro",
                 "label_count_mae", "mean_predicted_labels", "mean_true_labels")


def table_metrics(rows=()):
    """The records of a comparison table's columns: :data:`TABLE_COLUMNS`, then
    each metric of yours that `rows` hold (a report made with `metrics=`) and
    that is registered (:func:`VLAP.evaluation.metric_table.register_metric`,
    which gives its header and direction), in the order of `rows`.
    """
    yours = {m.name: m for m in registered_metrics() if m.computed_by in ("arrays", "confusion")}
    return [get_metric(name) for name in TABLE_COLUMNS] + [
        yours[name] for name in dict.fromkeys(r["metric"] for r in rows) if name in yours]

def display_name(loss, variant="", loss_kwargs=None):
    """How a loss (and its variant and options) is named in tables and figures.

    The loss's own name is its ``display`` in the loss registry
    (:func:`VLAP.ops.registry.display_name`; a name it does not know is shown
    as given).
    """
    name = _composite_name(loss, loss_kwargs) or registry.display_name(loss)
    if variant == "tuned":
        return f"{name} + tuned thresholds"
    if variant == "grid":
        kw = loss_kwargs or {}
        return f"{name} (grid: β={kw.get('beta'):g}, η={kw.get('eta'):g})"
    if loss_kwargs and loss == "sigmoid_f1":
        return f"{name} (β={loss_kwargs.get('beta', 1.0):g}, η={loss_kwargs.get('eta', 0.0):g})"
    return name


#: Symbols of options in composite names (the paper's β and η; γ for focusing).
_SYMBOLS = {"beta": "β", "eta": "η", "gamma": "γ", "gamma_neg": "γ-", "gamma_pos": "γ+",
            "alpha": "α", "f_beta": "F-β", "t_pos": "Tp", "t_neg": "Tn", "momentum": "m"}


def _value(value):
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else str(value)


def _part_name(name, options=None, *, always=()):
    """A part of a composite: its display name and its options, e.g. ``sigmoidF1(β=1)``.

    ``always`` names options shown even at their default (sigmoidF1's β)."""
    try:
        spec = registry.loss_spec(name)
    except (TypeError, ValueError):
        return str(name)
    values = {**{k: spec.defaults()[k] for k in always if k in spec.option_names},
              **{k: v for k, v in (options or {}).items() if k != "from_logits"}}
    shown = ", ".join(f"{_SYMBOLS.get(k, k)}={_value(v)}" for k, v in values.items())
    return f"{spec.display}({shown})" if shown else spec.display


def _composite_name(loss, loss_kwargs):
    """A composite loss named by its parts and weights (``sigmoidF1(β=1) + 0.3·ASL``),
    or None for a loss that is not composite."""
    try:
        spec = registry.loss_spec(loss)
    except (TypeError, ValueError):
        return None
    kw = {**spec.defaults(), **(loss_kwargs or {})}
    if spec.name in ("weighted_sum", "dual_head"):
        first = _part_name(kw["surrogate"], kw["surrogate_kwargs"], always=("beta",))
        second = _part_name(kw["baseline"], kw["baseline_kwargs"])
        if spec.name == "dual_head":
            return f"dual head: {first} decides, {_value(kw['weight'])}·{second} ranks"
        return first if not kw["weight"] else f"{first} + {_value(kw['weight'])}·{second}"
    if spec.name == "scheduled":
        start = _part_name(kw["start"], kw["start_kwargs"])
        end = _part_name(kw["end"], kw["end_kwargs"], always=("beta",))
        return (f"{start} → {end} (from epoch {_value(kw['start_epoch'])} over "
                f"{_value(kw['ramp_epochs'])})")
    if spec.name == "ema_sigmoid_f1":
        return f"sigmoidF1 on moving-average counts (m={_value(kw['momentum'])})"
    return None



def result_rows(results, cfg, run_id, meta):
    """Rows of ``results.csv`` (dicts keyed by :data:`RESULT_COLUMNS`)."""
    rows = []
    for res in results:
        for variant, summary in res.summaries.items():
            thr = "tuned" if variant == "tuned" else cfg["threshold"]
            for metric, value in summary["value"].items():
                rows.append({
                    "experiment": cfg["name"], "dataset": res.dataset, "loss": res.loss,
                    "variant": variant, "loss_kwargs": json.dumps(res.loss_kwargs, sort_keys=True),
                    "threshold": thr, "seed": res.seed, "metric": metric,
                    "value": float(value), "epochs_run": res.epochs_run,
                    "train_seconds": round(res.train_seconds, 2),
                    "backend": meta["backend"], "keras_version": meta["keras"],
                    "VLAP_version": meta["VLAP"], "run_id": run_id,
                })
    return rows


def write_csv(path, rows, columns=RESULT_COLUMNS):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})


def summary_table(rows):
    """``{dataset: DataFrame}`` of mean and std over seeds per (loss, variant) and metric."""
    import pandas as pd

    df = pd.DataFrame(rows)
    out = {}
    for dataset, part in df.groupby("dataset", sort=False):
        part = part.assign(key=list(zip(part["loss"], part["variant"], part["loss_kwargs"])))
        g = part.groupby(["key", "metric"], sort=False)["value"]
        stats = g.agg(["mean", "std", "count"]).reset_index()
        out[dataset] = stats
    return out


def _fmt(mean, std, count, digits=3):
    if mean != mean:  # NaN
        return "n/a"
    s = f"{mean:.{digits}f}"
    if count > 1 and std == std:
        s += f" ± {std:.{digits}f}"
    return s


def best_per_column(cell, keys, metrics=None):
    """`{metric: set of keys}` with the best mean of each column.

    `cell` maps `(key, metric)` to a mean; "best" follows the metric table: the
    highest value where higher is better, the lowest where lower is, and for a
    metric with a target (the mean number of predicted labels) the one closest
    to the target's mean (the mean number of true labels). Ties keep every key.

    Args:
        cell: dict. `(key, metric)` -> mean.
        keys: list. The table's row keys.
        metrics: list of Metric or None. The columns (default: :func:`table_metrics`).
    """
    best = {}
    for metric in metrics or table_metrics():
        vals = {k: cell[(k, metric.name)] for k in keys if (k, metric.name) in cell
                and cell[(k, metric.name)] == cell[(k, metric.name)]}
        if not vals or metric.best is None:
            continue
        if metric.best == "max":
            target = max(vals.values())
        elif metric.best == "min":
            target = min(vals.values())
        else:
            goal = np.nanmean([cell[(k, metric.closest_to)] for k in keys
                               if (k, metric.closest_to) in cell] or [np.nan])
            target = min(vals.values(), key=lambda v: abs(v - goal))
        best[metric.name] = {k for k, v in vals.items() if np.isclose(v, target)}
    return best


def _summary_header(metric):
    if metric.best != "closest":
        return metric.header
    target = str(get_metric(str(metric.closest_to)).header).removeprefix("mean ")  # "#true"
    return f"{metric.header} (closest to {target})"


def best_summary(best, keys, metrics=None):
    """"macro-F1: sigmoidF1; mAP: BCE; ..." naming the best loss of each column.

    `metrics`: the columns, as names or Metric records (default: :func:`table_metrics`).
    """
    columns = table_metrics() if metrics is None else \
        [get_metric(m) if isinstance(m, str) else m for m in metrics]
    headers = {m.name: _summary_header(m) for m in columns}
    parts = []
    for metric in headers:
        if metric in best:
            names = [display_name(k[0], k[1], json.loads(k[2])) for k in keys if k in best[metric]]
            parts.append(f"{headers[metric]}: {' = '.join(names)}")
    return "; ".join(parts)


def markdown_tables(rows, cfg, extra_lines=()):
    """The ``results.md`` text: one table per dataset, best per column in bold.

    Args:
        rows: list of dict. Rows of ``results.csv`` (:func:`result_rows`).
        cfg: dict. The config as run.
        extra_lines: iterable of str. Markdown lines appended at the end, e.g.
            :func:`VLAP.experiments.paper.paper_comparison`.
    """
    from VLAP.evaluation.report import NAMING_NOTE  # pandas: not for `vlap list`

    tables = summary_table(rows)
    lines = [f"# {cfg['name']}", ""]
    if cfg.get("description"):
        lines += [cfg["description"], ""]
    if cfg.get("paper_table"):
        lines += [f"Paper: {cfg['paper_table']}", ""]
    seeds = cfg["seeds"]
    lines += [
        f"Test split, mean ± std over {len(seeds)} seed(s) {seeds}; threshold "
        f"{cfg['threshold']} unless marked \"tuned thresholds\" (per-label thresholds "
        "chosen on the validation split). mAP = average_precision_macro, computed on "
        "scores. label-count MAE = mean |#predicted − #true| labels per example. "
        "Bold: best per column (for mean #pred: closest to mean #true).", "",
        f"Naming: {NAMING_NOTE} Here macro-F1 = mean of per-label F1, micro-F1 = "
        "pooled counts, as in the paper's tables.", "",
    ]
    for dataset, stats in tables.items():
        lines += [f"## {dataset}", ""]
        keys = list(dict.fromkeys(stats["key"]))
        cell = {(k, m): (mean, std, c) for k, m, mean, std, c in
                stats[["key", "metric", "mean", "std", "count"]].itertuples(index=False)}
        columns = table_metrics(rows)
        best = best_per_column({km: v[0] for km, v in cell.items()}, keys, columns)
        header = ["loss"] + [m.header for m in columns]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for k in keys:
            loss, variant, kw = k
            row = [display_name(loss, variant, json.loads(kw))]
            for metric in (m.name for m in columns):
                if (k, metric) not in cell:
                    row.append("")
                    continue
                text = _fmt(*cell[(k, metric)])
                if k in best.get(metric, ()):
                    text = f"**{text}**"
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        lines.append("- Best per column: " + best_summary(best, keys, columns) + ".")
        sig = [k for k in keys if k[0] == "sigmoid_f1"]
        bce = [k for k in keys if k[0] == "binary_crossentropy" and k[1] == ""]
        if sig and bce and (bce[0], "f1_macro") in cell:
            b = cell[(bce[0], "f1_macro")][0]
            for k in sig:
                s = cell[(k, "f1_macro")][0]
                verdict = "beats" if s > b else ("ties" if np.isclose(s, b) else "does not beat")
                lines.append(f"- {display_name(k[0], k[1], json.loads(k[2]))} {verdict} BCE on "
                             f"macro-F1 at {cfg['threshold']}: {s:.3f} vs {b:.3f} "
                             "(mean over seeds).")
            lines.append("")
    lines += list(extra_lines)
    return "\n".join(lines) + "\n"



def console_table(rows, cfg):
    """A plain-text comparison table for the terminal."""
    tables = summary_table(rows)
    cols = [("f1_macro", "macroF1@thr"), ("average_precision_macro", "mAP"),
            ("label_count_mae", "count MAE"), ("mean_predicted_labels", "#pred"),
            ("mean_true_labels", "#true")]
    out = []
    for dataset, stats in tables.items():
        cell = {(k, m): mean for k, m, mean
                in stats[["key", "metric", "mean"]].itertuples(index=False)}
        keys = list(dict.fromkeys(stats["key"]))
        names = [display_name(k[0], k[1], json.loads(k[2])) for k in keys]
        width = max(len(n) for n in names + ["loss"])
        out.append(f"\n{dataset} (test split, mean over seeds {cfg['seeds']}, "
                   f"threshold {cfg['threshold']}):")
        out.append(f"  {'loss':<{width}}  " + "  ".join(f"{h:>11}" for _, h in cols))
        for k, n in zip(keys, names):
            out.append(f"  {n:<{width}}  " + "  ".join(
                f"{cell.get((k, m), float('nan')):>11.3f}" for m, _ in cols))
        best = best_per_column(cell, keys)
        out.append("  best: " + best_summary(best, keys, [m for m, _ in cols]))
    return "\n".join(out)


def experiment_plots(results, prep, run_dir, threshold=0.5):
    """The per-dataset figures of one experiment, from the first seed's runs.

    Args:
        results: list of :class:`VLAP.experiments.runner.RunResult` for one dataset.
        prep: :class:`VLAP.experiments.prepare.Prepared`. The dataset.
        run_dir: Path. Where the PNGs go (``<dataset>_*.png``).
        threshold: float. The fixed threshold of the predictions.

    Returns:
        list of Path. The PNGs written.
    """
    from VLAP.plots import label_count_histogram, learning_curves, per_label_f1

    if not results:
        return []
    run_dir = Path(run_dir)
    first_seed = {}
    for res in results:
        key = (res.loss, res.variant)
        if key not in first_seed:
            first_seed[key] = res
    histories, tables, counts = {}, {}, {}
    for (loss, variant), res in first_seed.items():
        name = display_name(loss, variant, res.loss_kwargs)
        histories[name] = res.history
        for v, table in res.per_label.items():
            label = name if v == variant else display_name(loss, v, res.loss_kwargs)
            tables[label] = table
            if v in res.predicted_counts:
                counts[label] = res.predicted_counts[v]
    true_counts = prep.y_test.sum(1)
    out = [learning_curves(histories, run_dir / f"{prep.name}_learning_curves.png",
                           title=f"{prep.name}: first seed"),
           per_label_f1(tables, run_dir / f"{prep.name}_per_label_f1.png",
                        title=f"{prep.name}: per-label test F1 (first seed)")]
    if counts:
        out.append(label_count_histogram(
            true_counts, counts, run_dir / f"{prep.name}_label_counts.png",
            title=f"{prep.name}: labels per test example, predicted vs true (first seed)"))
    return out


def read_results(path):
    """Rows of a ``results.csv`` as dicts (``value`` as float, ``seed`` as int)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["value"] = float(r["value"])
        r["seed"] = int(r["seed"])
    return rows

