"""Tables, goal check and recommendation of the loss study, from its results files.

``python -m VLAP.experiments.study_report DIR`` reads ``DIR/results.csv``,
``DIR/selection.csv`` and ``DIR/batch_size.csv`` (written by
:func:`VLAP.experiments.study.collect`), prints the markdown of
experiments/RESULTS.md's study section and writes ``DIR/recommendation.json``.
Every number comes from the files.

**Choices see validation only.** The recommended (candidate, setting) and the
leave-one-dataset-out picks come from :mod:`VLAP.experiments.selection`, which
reads ``selection.csv`` (validation scores) and refuses test columns; the test
numbers of ``results.csv`` are only reported here.

**The goal** (issue 14), per dataset, on the test split's means over seeds: a
candidate's macro-F1 at 0.5 is above both BCE's and sigmoidF1's, its mAP is at
least BCE's and its label-count MAE at most BCE's.
"""

import json
import sys
from pathlib import Path

import pandas as pd

from VLAP.experiments import selection
from VLAP.experiments.results import display_name
from VLAP.experiments.study_candidates import (  # noqa: F401  (study_report.load, ...: public)
    CANDIDATES,
    TUNED_BASELINES,
    load,
    load_selection,
    load_shipped,
    loss_kwargs,
    parse_setting,
    pick_rows,
)

#: The baselines of the tables: each untuned baseline beside its tuned-cut rows, then sigmoidF1.
BASELINES = tuple(name for base in TUNED_BASELINES for name in (base, f"{base}_tuned")) \
    + ("sigmoid_f1",)
#: Display order of the losses in the tables.
ORDER = BASELINES + ("default", "dual_head", "f1_plus_bce", "f1_plus_asl", "bce_to_f1", "ema_f1",
                     "f1_plus_count", "lead_bce_0.5", "lead_bce_0.1")
#: Columns of the summary table: metric -> heading.
COLUMNS = {"f1_macro": "macro-F1", "f1_micro": "micro-F1", "average_precision_macro": "mAP",
           "label_count_mae": "count MAE", "mean_predicted_labels": "#pred"}


def summary(df):
    """Mean, std and number of seeds per dataset x candidate x metric."""
    g = df.groupby(["dataset", "candidate", "metric"])["value"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    settings = df.groupby(["dataset", "candidate"])["setting"].first()
    out["setting"] = [settings[(d, c)] for d, c in zip(out.dataset, out.candidate)]
    return out


def _cell(stats, dataset, candidate, metric):
    return stats[(dataset, candidate, metric)]


def goal_table(stats_df):
    """Per dataset x candidate: the four conditions of the goal and whether all hold."""
    stats = {(r.dataset, r.candidate, r.metric): r for r in stats_df.itertuples()}
    rows = []
    for dataset in sorted(stats_df.dataset.unique()):
        cands = stats_df[stats_df.dataset == dataset].candidate.unique()
        if "bce" not in cands or "sigmoid_f1" not in cands:
            continue
        bce = {m: _cell(stats, dataset, "bce", m)._asdict()["mean"] for m in COLUMNS}
        f1 = _cell(stats, dataset, "sigmoid_f1", "f1_macro").mean
        for cand in cands:
            if cand in BASELINES:
                continue
            m = {k: _cell(stats, dataset, cand, k).mean for k in COLUMNS}
            checks = {"beats_bce_f1": m["f1_macro"] > bce["f1_macro"],
                      "beats_sigmoid_f1_f1": m["f1_macro"] > f1,
                      "map_ge_bce": m["average_precision_macro"] >= bce["average_precision_macro"],
                      "count_le_bce": m["label_count_mae"] <= bce["label_count_mae"]}
            rows.append({"dataset": dataset, "candidate": cand, **checks,
                         "goal": all(checks.values()),
                         "f1_minus_sigmoid_f1": m["f1_macro"] - f1,
                         "f1_minus_bce": m["f1_macro"] - bce["f1_macro"],
                         "map_minus_bce": m["average_precision_macro"]
                         - bce["average_precision_macro"],
                         "count_mae_minus_bce": m["label_count_mae"] - bce["label_count_mae"]})
    return pd.DataFrame(rows)


def recommend(folder):
    """``(candidate, setting, ranking)``: :func:`VLAP.experiments.selection.recommend`
    on ``selection.csv`` (validation scores only; the test files are not read)."""
    return selection.recommend(load_selection(folder))


def recommend_on(folder, datasets):
    """:func:`recommend` restricted to ``datasets`` (validation scores only)."""
    return selection.recommend(load_selection(folder), datasets)


def _means(rows):
    return rows.groupby("metric")["value"].mean()


def has_rules(folder):
    """Whether the study recorded the rule each model would ship (``rules.csv``): then
    every comparison uses each model's rows at that rule (:func:`load_shipped`)."""
    return (Path(folder) / "rules.csv").exists()


def report_rows(folder, lodo=False):
    """``(rows, shipped)``: the test rows the records compare. With ``rules.csv``, each
    model's rows at the rule it would ship (:func:`load_shipped`, ``shipped`` True);
    for a study written before the rule choice, the rows at 0.5 (:func:`load`)."""
    rows = load_shipped(folder, lodo=lodo)
    if rows is not None:
        return rows, True
    return load(folder, lodo=lodo), False


def record(df, dataset, rows):
    """Test means of ``rows`` on ``dataset`` and their differences to BCE and sigmoidF1
    (and, where ``df`` holds them, to the best of the tuned baselines: ``best_baseline``,
    ``f1_minus_best_baseline``). ``df`` and ``rows`` come from one :func:`report_rows`
    frame, so every loss is compared under the same rule convention."""
    m = _means(rows)
    bce = _means(df[(df.dataset == dataset) & (df.candidate == "bce")])
    f1 = _means(df[(df.dataset == dataset) & (df.candidate == "sigmoid_f1")])
    out = {"seeds": int(rows.seed.nunique()), "f1_macro": m["f1_macro"],
           "average_precision_macro": m["average_precision_macro"],
           "label_count_mae": m["label_count_mae"],
           "mean_predicted_labels": m["mean_predicted_labels"],
           "f1_minus_bce": m["f1_macro"] - bce["f1_macro"],
           "f1_minus_sigmoid_f1": m["f1_macro"] - f1["f1_macro"],
           "map_minus_bce": m["average_precision_macro"] - bce["average_precision_macro"],
           "count_mae_minus_bce": m["label_count_mae"] - bce["label_count_mae"]}
    out["goal"] = bool(out["f1_minus_bce"] > 0 and out["f1_minus_sigmoid_f1"] > 0
                       and out["map_minus_bce"] >= 0 and out["count_mae_minus_bce"] <= 0)
    base = {}
    for name in TUNED_BASELINES + ("sigmoid_f1",):
        f1 = df[(df.dataset == dataset) & (df.candidate == name) & (df.metric == "f1_macro")]
        if len(f1):
            base[name] = float(f1["value"].mean())
    if base:
        best = max(base, key=lambda k: (base[k], k))
        out["best_baseline"] = best
        out["f1_minus_best_baseline"] = m["f1_macro"] - base[best]
    return out


def lodo_table(folder):
    """Leave-one-dataset-out: for each dataset, the (candidate, setting) recommended on
    the other datasets' validation scores, and its test record on the held-out one."""
    df, _ = report_rows(folder, lodo=True)
    picks = selection.leave_one_out(load_selection(folder))
    rows = []
    for p in picks.itertuples():
        found = pick_rows(df, p.held_out, p.candidate, p.setting)
        rec = record(df, p.held_out, found) if found is not None else {}
        rows.append({"held_out": p.held_out, "candidate": p.candidate, "setting": p.setting,
                     "run_as": None if found is None else found.candidate.iloc[0], **rec})
    return pd.DataFrame(rows, columns=["held_out", "candidate", "setting", "run_as"]
                        if not rows else None)


def fixed_record(folder, candidate="default"):
    """The test record of a fixed candidate (its own rows) on every dataset it ran on."""
    df, _ = report_rows(folder)
    return pd.DataFrame([{"dataset": d, **record(df, d, df[(df.dataset == d)
                                                          & (df.candidate == candidate)])}
                         for d in sorted(df[df.candidate == candidate].dataset.unique())
                         if {"bce", "sigmoid_f1"} <= set(df[df.dataset == d].candidate)])


def _tally(table):
    n = len(table)
    return (f"beat BCE's macro-F1 on {int((table.f1_minus_bce > 0).sum())}/{n}, sigmoidF1's "
            f"on {int((table.f1_minus_sigmoid_f1 > 0).sum())}/{n}, kept BCE's mAP on "
            f"{int((table.map_minus_bce >= 0).sum())}/{n} and its label-count MAE on "
            f"{int((table.count_mae_minus_bce <= 0).sum())}/{n}, met the goal on "
            f"{int(table.goal.sum())}/{n}; mean macro-F1 vs BCE "
            f"{table.f1_minus_bce.mean():+.3f}, vs sigmoidF1 {table.f1_minus_sigmoid_f1.mean():+.3f}")


#: The three criteria of the Pareto view: metric -> +1 (higher is better) or -1.
PARETO = {"f1_macro": 1, "average_precision_macro": 1, "label_count_mae": -1}


def pareto_table(stats_df):
    """Per dataset x loss (test means): whether another loss dominates it on macro-F1
    (higher), mAP (higher) and label-count MAE (lower): at least as good on all three,
    better on one. The issue's fixed-weight leads (duplicates of fixed settings) are left out.

    Example:
    >>> s = pd.DataFrame({"dataset": ["a"] * 6, "candidate": ["x"] * 3 + ["y"] * 3,
    ...                   "metric": list(PARETO) * 2, "mean": [.5, .6, .3, .4, .6, .4]})
    >>> pareto_table(s)[["candidate", "dominated"]].values.tolist()
    [['x', False], ['y', True]]
    """
    rows = []
    for dataset, d in stats_df.groupby("dataset", sort=True):
        wide = d.pivot_table(index="candidate", columns="metric", values="mean")
        wide = wide[[c for c in PARETO if c in wide]].dropna()
        wide = wide[~wide.index.str.startswith("lead_")]
        signed = wide * pd.Series(PARETO)
        for cand, v in signed.iterrows():
            others = signed.drop(index=cand)
            by = others[(others >= v).all(axis=1) & (others > v).any(axis=1)].index.tolist()
            rows.append({"dataset": dataset, "candidate": cand, "dominated": bool(by),
                         "dominated_by": ",".join(by), **wide.loc[cand].to_dict()})
    return pd.DataFrame(rows)


def count_conflict(stats_df):
    """Per dataset: the loss with the best test macro-F1 and the one with the lowest
    label-count MAE, their #pred and the true labels per example: where they differ the
    count criterion conflicts with macro-F1 (the best macro-F1 predicts more labels)."""
    rows = []
    for dataset, d in stats_df.groupby("dataset", sort=True):
        wide = d.pivot_table(index="candidate", columns="metric", values="mean")
        wide = wide[~wide.index.str.startswith("lead_")]
        f1, cnt = wide.f1_macro.idxmax(), wide.label_count_mae.idxmin()
        rows.append({"dataset": dataset, "best_f1": f1, "best_f1_value": wide.f1_macro[f1],
                     "best_f1_count_mae": wide.label_count_mae[f1],
                     "best_f1_pred": wide.mean_predicted_labels[f1],
                     "best_count": cnt, "best_count_f1": wide.f1_macro[cnt],
                     "best_count_mae": wide.label_count_mae[cnt],
                     "best_count_pred": wide.mean_predicted_labels[cnt],
                     "true_labels": wide.mean_true_labels.mean(),
                     "conflict": f1 != cnt})
    return pd.DataFrame(rows)


def _fmt(r):
    return f"{r.mean:.3f} ± {0.0 if pd.isna(r.std) else r.std:.3f}"


def beat_or_tie(means, ref, std):
    """``(beat, tie)``: the names in ``means`` (name -> mean) whose mean is above
    ``ref + std``, and those within ``std`` of ``ref`` (sigmoidF1's mean and standard
    deviation over seeds): the rule the shipped tables say in words.

    Example:
    >>> beat_or_tie({"bce": .70, "asl": .62, "zlpr": .50}, .60, .05)
    (['bce'], ['asl'])
    """
    beat = [name for name, m in means.items() if m > ref + std]
    tie = [name for name, m in means.items() if abs(m - ref) <= std]
    return beat, tie


def shipped_table(folder):
    """Per dataset x loss: the test means of each model decided by the rule it would
    ship (chosen on validation, :func:`load_shipped`) beside the same models at 0.5,
    and how many of its models ship tuned cuts. None for a study without ``rules.csv``."""
    shipped = load_shipped(folder)
    if shipped is None:
        return None
    at_half = load(folder)
    at_half = at_half[at_half.threshold == "0.5"]
    key = ["dataset", "candidate"]
    rows = []
    for (dataset, cand), d in shipped.groupby(key):
        half = at_half[(at_half.dataset == dataset) & (at_half.candidate == cand)]
        f1 = d[d.metric == "f1_macro"]

        def mean(frame, metric):
            return float(frame[frame.metric == metric]["value"].mean())

        rows.append({"dataset": dataset, "candidate": cand,
                     "tuned": int((f1.rule == "tuned").sum()), "models": len(f1),
                     "f1_macro": mean(d, "f1_macro"),
                     "f1_macro_std": float(f1["value"].std(ddof=1)) if len(f1) > 1 else 0.0,
                     "f1_macro_half": mean(half, "f1_macro"),
                     "average_precision_macro": mean(d, "average_precision_macro"),
                     "label_count_mae": mean(d, "label_count_mae")})
    return pd.DataFrame(rows)


def shipped_markdown(folder):
    """The primary comparison of issue 27: each loss with the rule it would ship, the 0.5
    view beside it, and in words the baselines that tie or beat sigmoidF1 (a tie: within
    one standard deviation over seeds of sigmoidF1's mean). Empty without ``rules.csv``."""
    table = shipped_table(folder)
    if table is None or not len(table):
        return ""
    lines = ["#### Each loss with the rule it would ship (chosen on validation, model by model), "
             "the 0.5 view beside it", "",
             "Test means over seeds. *tuned*: how many of the loss's models ship per-label cuts "
             "tuned on validation (their out-of-fold validation macro-F1 beat 0.5's); the "
             "others ship 0.5.", ""]
    order = {c: i for i, c in enumerate(ORDER)}
    for dataset, d in table.groupby("dataset"):
        d = d.assign(o=[order.get(c, len(order)) for c in d.candidate]).sort_values("o")
        lines += [f"##### {dataset}", "",
                  "| loss | tuned | macro-F1 (shipped) | macro-F1 at 0.5 | mAP | count MAE |",
                  "|---|---|---|---|---|---|"]
        for r in d.itertuples():
            lines.append(f"| {r.candidate} | {r.tuned}/{r.models} | {r.f1_macro:.3f} ± "
                         f"{r.f1_macro_std:.3f} | {r.f1_macro_half:.3f} | "
                         f"{r.average_precision_macro:.3f} | {r.label_count_mae:.3f} |")
        f1 = d[d.candidate == "sigmoid_f1"]
        if len(f1):
            ref, std = float(f1.f1_macro.iloc[0]), float(f1.f1_macro_std.iloc[0])
            others = d[(d.candidate != "sigmoid_f1") & d.candidate.isin(BASELINES)]
            means = dict(zip(others.candidate, others.f1_macro))
            beat, tie = ([f"{c} ({means[c]:.3f})" for c in names]
                         for names in beat_or_tie(means, ref, std))
            lines += ["", f"sigmoidF1 as shipped: {ref:.3f} ± {std:.3f}. Baselines that beat "
                          f"it: {', '.join(beat) or 'none'}; that tie it (within one std): "
                          f"{', '.join(tie) or 'none'}."]
        lines.append("")
    return "\n".join(lines)


def decided_stats(folder, stats_df=None):
    """The :func:`summary` the goal, Pareto and count tables compare: of each model's
    rows at the rule it would ship when the study recorded the rules (``rules.csv``),
    else ``stats_df`` (the 0.5 view, tuned baselines as their own rows)."""
    shipped = load_shipped(folder)
    if shipped is not None:
        return summary(shipped)
    return summary(load(folder)) if stats_df is None else stats_df


#: The headline's baselines, in its column order, with their display names.
HEADLINE = {"bce": "BCE", "asl": "ASL", "zlpr": "ZLPR", "two_way": "Two-way",
            "sigmoid_f1": "sigmoidF1"}


def headline_markdown(folder):
    """One table for the README: per dataset, the test macro-F1 of each baseline and of
    the recommendation (:func:`recommend`), each model decided by the rule it would ship
    (mean ± std over seeds; the best mean in bold), and in words which baselines beat or
    tie sigmoidF1 (a tie: within one std of sigmoidF1's mean). Empty without
    ``rules.csv``."""
    df, shipped = report_rows(folder, lodo=True)
    if not shipped:
        return ""
    best, setting, _ = recommend(folder)
    loss, kw = loss_kwargs(best, parse_setting(setting), epochs=100)
    lines = ["| dataset | " + " | ".join(HEADLINE.values())
             + f" | recommended: {display_name(loss, '', kw)} | baselines that beat / tie "
             "sigmoidF1 |",
             "|---|" + "---|" * (len(HEADLINE) + 2)]
    for dataset in sorted(df.dataset.unique()):
        d = df[(df.dataset == dataset) & (df.metric == "f1_macro")]
        cells = {}
        for name in HEADLINE:
            v = d[d.candidate == name]["value"]
            if len(v):
                cells[name] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0)
        rec = pick_rows(df, dataset, best, setting)
        if rec is not None:
            v = rec[rec.metric == "f1_macro"]["value"]
            cells["recommended"] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0)
        top = max(m for m, _ in cells.values()) if cells else None
        text = [("—" if k not in cells else
                 (f"**{cells[k][0]:.3f}** ± {cells[k][1]:.3f}" if cells[k][0] == top
                  else f"{cells[k][0]:.3f} ± {cells[k][1]:.3f}"))
                for k in list(HEADLINE) + ["recommended"]]
        words = "—"
        if "sigmoid_f1" in cells:
            ref, std = cells["sigmoid_f1"]
            others = [k for k in TUNED_BASELINES if k in cells]
            beat, tie = ([HEADLINE[k] for k in names] for names in
                         beat_or_tie({k: cells[k][0] for k in others}, ref, std))
            words = f"{', '.join(beat) or 'none'} / {', '.join(tie) or 'none'}"
        lines.append(f"| {dataset} | " + " | ".join(text) + f" | {words} |")
    return "\n".join(lines) + "\n"


def markdown(folder, extra=True, batch=True):
    """The study's markdown: (with ``rules.csv``) each loss with the rule it would ship
    (:func:`shipped_markdown`), the summary per dataset, goal table, then (``extra``) the
    recommendation, leave-one-out, default and Pareto tables (:func:`extra_markdown`)
    and (``batch``) the batch-size tables."""
    folder = Path(folder)
    df = load(folder)
    stats_df = summary(df)
    stats = {(r.dataset, r.candidate, r.metric): r for r in stats_df.itertuples()}
    lines = []
    primary = shipped_markdown(folder)
    if primary:
        lines += ["#### Headline: test macro-F1, each model decided by the rule it would ship",
                  "", headline_markdown(folder), primary, ""]
    for dataset in sorted(df.dataset.unique()):
        true = stats[(dataset, "bce", "mean_true_labels")].mean \
            if (dataset, "bce", "mean_true_labels") in stats else float("nan")
        n = int(stats_df[stats_df.dataset == dataset]["count"].max())
        lines += [f"#### {dataset} (test split, mean ± std over {n} seeds; true labels per "
                  f"example {true:.2f})", "",
                  "| loss | setting | " + " | ".join(COLUMNS.values()) + " |",
                  "|---|---|" + "---|" * len(COLUMNS)]
        present = [c for c in ORDER if (dataset, c, "f1_macro") in stats]
        best = {m: (max if m in ("f1_macro", "f1_micro", "average_precision_macro") else None)
                for m in COLUMNS}
        top = {m: pick([stats[(dataset, c, m)].mean for c in present])
               for m, pick in best.items() if pick is not None}
        low = min(stats[(dataset, c, "label_count_mae")].mean for c in present)
        for c in present:
            cells = []
            for m in COLUMNS:
                text = _fmt(stats[(dataset, c, m)])
                if (m in top and stats[(dataset, c, m)].mean == top[m]) or \
                        (m == "label_count_mae" and stats[(dataset, c, m)].mean == low):
                    text = f"**{text}**"
                cells.append(text)
            setting = stats[(dataset, c, "f1_macro")].setting
            setting = "tuned thr." if c.endswith("_tuned") else setting
            lines.append(f"| {c} | {setting} | " + " | ".join(cells) + " |")
        lines.append("")
    view = decided_stats(folder, stats_df)
    goals = goal_table(view)
    rule = ("at the rule each model would ship (BCE and sigmoidF1 too)"
            if has_rules(folder) else "@0.5")
    if len(goals):
        lines += ["#### The goal, per dataset (✓ = holds on the means over seeds)", "",
                  f"Goal: macro-F1 {rule} above BCE's and sigmoidF1's, mAP ≥ BCE's, "
                  "label-count MAE ≤ BCE's. Cells: F1 vs sigmoidF1 / F1 vs BCE / mAP vs BCE / "
                  "count MAE vs BCE (differences of the means).", "",
                  "| candidate | " + " | ".join(sorted(goals.dataset.unique())) + " |",
                  "|---|" + "---|" * goals.dataset.nunique()]
        for cand in [c for c in ORDER if c in set(goals.candidate)]:
            cells = []
            for dataset in sorted(goals.dataset.unique()):
                r = goals[(goals.dataset == dataset) & (goals.candidate == cand)]
                if not len(r):
                    cells.append("—")
                    continue
                r = r.iloc[0]
                mark = lambda ok: "✓" if ok else "✗"  # noqa: E731
                cells.append(f"{'**goal**' if r.goal else ''} "
                             f"{mark(r.beats_sigmoid_f1_f1)}{r.f1_minus_sigmoid_f1:+.3f} / "
                             f"{mark(r.beats_bce_f1)}{r.f1_minus_bce:+.3f} / "
                             f"{mark(r.map_ge_bce)}{r.map_minus_bce:+.3f} / "
                             f"{mark(r.count_le_bce)}{r.count_mae_minus_bce:+.3f}".strip())
            lines.append(f"| {cand} | " + " | ".join(cells) + " |")
    if extra:
        lines += ["", extra_markdown(folder, view)]
    if batch and (folder / "batch_size.csv").exists():
        lines += ["", batch_markdown(folder)]
    return "\n".join(lines) + "\n"


def batch_markdown(folder):
    """Macro-F1 and #pred per batch size (mean over seeds), per dataset and loss."""
    b = pd.read_csv(Path(folder) / "batch_size.csv")
    lines = []
    for dataset in sorted(b.dataset.unique()):
        d = b[b.dataset == dataset]
        sizes = sorted(d.batch_size.unique())
        n = d.seed.nunique()
        lines += [f"#### Batch size, {dataset} (test macro-F1 / mean #pred, mean over {n} "
                  "seeds; learning rate and epochs fixed)", "",
                  "| loss | " + " | ".join(str(s) for s in sizes) + " | spread of macro-F1 |",
                  "|---|" + "---|" * (len(sizes) + 1)]
        for cand in [c for c in ORDER if c in set(d.candidate)]:
            cells, f1s = [], []
            for s in sizes:
                x = d[(d.candidate == cand) & (d.batch_size == s)]
                f1 = x[x.metric == "f1_macro"].value.mean()
                npred = x[x.metric == "mean_predicted_labels"].value.mean()
                f1s.append(f1)
                cells.append(f"{f1:.3f} / {npred:.2f}")
            lines.append(f"| {cand} | " + " | ".join(cells) +
                         f" | {max(f1s) - min(f1s):.3f} |")
        lines.append("")
    return "\n".join(lines)


#: How the recommendation rule's text names the shipped-rule comparison.
_AT_RULE = (" at the rule its model would ship (per-label cuts tuned out of fold where its rule "
            "choice ships them, else 0.5; BCE's and sigmoidF1's likewise)")


def extra_markdown(folder, stats_df=None):
    """The recommendation (chosen on validation), the leave-one-dataset-out table, the
    fixed default's own record, the Pareto view and where count conflicts with F1
    (``stats_df``: the view they compare, default :func:`decided_stats`)."""
    folder = Path(folder)
    stats_df = decided_stats(folder) if stats_df is None else stats_df
    best, setting, ranking = recommend(folder)
    shipped = has_rules(folder)
    pool = sorted(selection.validation_goals(load_selection(folder)).dataset.unique())
    lines = ["#### The recommendation, chosen on validation scores only", "",
             f"Rule (`VLAP/experiments/selection.py`): on each dataset's validation split "
             "(first seed), a (candidate, setting) meets the goal when its macro-F1"
             f"{_AT_RULE if shipped else ''} is above "
             "BCE's and above sigmoidF1's best setting, its mAP ≥ BCE's and its label-count "
             "MAE ≤ BCE's; rank by goals met, then datasets keeping BCE's mAP and count, then "
             "mean macro-F1 gain over BCE. Eligible: a (candidate, setting) run on all "
             f"{len(pool)} datasets. Top 8 of {len(ranking)}:", "",
             "| candidate | setting | goal met (val) | beats sigmoidF1 | beats BCE | keeps "
             "BCE's mAP and count | mean val macro-F1 gain over BCE |",
             "|---|---|---|---|---|---|---|"]
    for (cand, st), r in ranking.head(8).iterrows():
        lines.append(f"| {cand} | {st} | {int(r.goals_met)}/{int(r.datasets)} | "
                     f"{int(r.beats_sigmoid_f1)} | {int(r.beats_bce)} | "
                     f"{int(r.keeps_bce_map_and_count)} | {r.mean_val_f1_gain_over_bce:+.3f} |")
    lines += ["", f"Recommended: **{best} ({setting})**.", ""]
    goals = selection.validation_goals(load_selection(folder))
    where = goals[goals.dataset.isin(pool)].groupby("candidate")["dataset"].agg(frozenset)
    common = sorted(frozenset.intersection(*where.values)) if len(where) else []
    if len(common) < len(pool) and len(common) > 1:
        skipped = sorted(c for c, ds in where.items() if len(ds) < len(pool))
        b2, s2, r2 = recommend_on(folder, common)
        lines += [f"{', '.join(skipped)} ran on {len(common)} of the {len(pool)} datasets only "
                  f"({', '.join(common)}), so it cannot be the seven-dataset default. On those "
                  f"{len(common)} datasets, by the same rule, the top 5:", "",
                  "| candidate | setting | goal met (val) | beats sigmoidF1 | beats BCE | keeps "
                  "BCE's mAP and count | mean val macro-F1 gain over BCE |",
                  "|---|---|---|---|---|---|---|"]
        for (cand, st), r in r2.head(5).iterrows():
            lines.append(f"| {cand} | {st} | {int(r.goals_met)}/{int(r.datasets)} | "
                         f"{int(r.beats_sigmoid_f1)} | {int(r.beats_bce)} | "
                         f"{int(r.keeps_bce_map_and_count)} | "
                         f"{r.mean_val_f1_gain_over_bce:+.3f} |")
        lines += ["", f"Recommended on those {len(common)}: **{b2} ({s2})**.", ""]
    lodo = lodo_table(folder)
    best_cols = shipped and "best_baseline" in lodo
    if len(lodo):
        lines += ["#### Leave one dataset out (chosen on the other datasets' validation "
                  "scores, reported on the held-out test split"
                  + ("; every model, the baselines' included, decided by the rule it would "
                     "ship" if shipped else "") + ")", "",
                  "| held out | chosen on the others | run as | seeds | macro-F1 | mAP | count "
                  "MAE | F1 vs BCE | F1 vs sigmoidF1 | "
                  + ("F1 vs best baseline | " if best_cols else "")
                  + "mAP vs BCE | count vs BCE | goal |",
                  "|---|---|---|---|---|---|---|---|---|" + ("---|" if best_cols else "")
                  + "---|---|---|"]
    for r in lodo.itertuples():
        if r.run_as is None or pd.isna(r.run_as):
            lines.append(f"| {r.held_out} | {r.candidate} ({r.setting}) | not run | — | — | — "
                         "| — | — | — | " + ("— | " if best_cols else "") + "— | — | — |")
            continue
        vs_best = (f"{r.f1_minus_best_baseline:+.3f} ({r.best_baseline}) | "
                   if best_cols else "")
        lines.append(f"| {r.held_out} | {r.candidate} ({r.setting}) | {r.run_as} | "
                     f"{int(r.seeds)} | {r.f1_macro:.3f} | {r.average_precision_macro:.3f} | "
                     f"{r.label_count_mae:.3f} | {r.f1_minus_bce:+.3f} | "
                     f"{r.f1_minus_sigmoid_f1:+.3f} | {vs_best}{r.map_minus_bce:+.3f} | "
                     f"{r.count_mae_minus_bce:+.3f} | {'✓' if r.goal else '✗'} |")
    ran = lodo.dropna(subset=["f1_macro"]) if "f1_macro" in lodo else lodo.iloc[:0]
    if len(ran):
        lines += ["", f"Held out, the recommended loss {_tally(ran)}."]
    fixed = fixed_record(folder, "default")
    if len(fixed):
        lines += ["", "#### The fixed default (sigmoidF1 + 0.1·BCE, β = 1), its own rows", "",
                  "| dataset | seeds | macro-F1 | mAP | count MAE | #pred | F1 vs BCE | "
                  "F1 vs sigmoidF1 | mAP vs BCE | count vs BCE | goal |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in fixed.itertuples():
            lines.append(f"| {r.dataset} | {r.seeds} | {r.f1_macro:.3f} | "
                         f"{r.average_precision_macro:.3f} | {r.label_count_mae:.3f} | "
                         f"{r.mean_predicted_labels:.2f} | {r.f1_minus_bce:+.3f} | "
                         f"{r.f1_minus_sigmoid_f1:+.3f} | {r.map_minus_bce:+.3f} | "
                         f"{r.count_mae_minus_bce:+.3f} | {'✓' if r.goal else '✗'} |")
        lines += ["", f"The default {_tally(fixed)}."]
    pareto = pareto_table(stats_df)
    lines += ["", "#### Pareto view (test means: macro-F1 ↑, mAP ↑, label-count MAE ↓"
              + ("; each model at the rule it would ship" if shipped else "") + ")", "",
              "| dataset | not dominated | dominated |", "|---|---|---|"]
    for dataset, d in pareto.groupby("dataset", sort=True):
        order = {c: i for i, c in enumerate(ORDER)}
        key = lambda c: (order.get(c, 99), c)  # noqa: E731
        lines.append(f"| {dataset} | {', '.join(sorted(d[~d.dominated].candidate, key=key))} | "
                     f"{', '.join(sorted(d[d.dominated].candidate, key=key))} |")
    conflict = count_conflict(stats_df)
    lines += ["", "Best macro-F1 vs lowest label-count MAE (test means; true labels per "
              "example in brackets):", "",
              "| dataset | best macro-F1 (F1 / count MAE / #pred) | lowest count MAE (F1 / "
              "count MAE / #pred) | conflict |", "|---|---|---|---|"]
    for r in conflict.itertuples():
        lines.append(f"| {r.dataset} ({r.true_labels:.2f}) | {r.best_f1} ({r.best_f1_value:.3f}"
                     f" / {r.best_f1_count_mae:.3f} / {r.best_f1_pred:.2f}) | {r.best_count} "
                     f"({r.best_count_f1:.3f} / {r.best_count_mae:.3f} / "
                     f"{r.best_count_pred:.2f}) | {'yes' if r.conflict else 'no'} |")
    return "\n".join(lines) + "\n"


def write_recommendation(folder):
    """``recommendation.json``: the (candidate, setting) chosen on validation
    (:func:`recommend`), its loss and options, and its test record from the rows of a
    run that trains it (for the default: its own ``default`` rows)."""
    folder = Path(folder)
    best, setting, ranking = recommend(folder)
    loss, kw = loss_kwargs(best, parse_setting(setting), epochs=100)
    r = ranking.loc[(best, setting)]
    text = (f"{best} ({setting}) was chosen on validation scores: it met the goal on "
            f"{int(r.goals_met)} of {int(r.datasets)} datasets' validation splits.")
    df, _ = report_rows(folder, lodo=True)
    table = [record(df, d, rows) for d in sorted(df.dataset.unique())
             if {"bce", "sigmoid_f1"} <= set(df[df.dataset == d].candidate)
             and (rows := pick_rows(df, d, best, setting)) is not None]
    if table:
        text += f" On the test splits it {_tally(pd.DataFrame(table))}."
    # the pool the choice was made among: the study's own candidates (selection.csv),
    # not the library's current table (a later library has more, an older study fewer)
    out = {"candidate": best, "loss": loss, "loss_kwargs": kw, "setting": setting,
           "chosen_on": "validation (selection.csv)", "summary": text,
           "candidates": sorted(load_selection(folder).candidate.unique())}
    (folder / "recommendation.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m VLAP.experiments.study_report DIR", file=sys.stderr)
        return 2
    print(markdown(argv[0]))
    print(json.dumps(write_recommendation(argv[0]), indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
