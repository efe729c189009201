"""Tables, goal check and recommendation of the loss study, from its results files.

``python -m VLAP.experiments.study_report DIR`` reads ``DIR/results.csv``,
``DIR/selection.csv`` and ``DIR/batch_size.csv`` (written by
:func:`VLAP.experiments.study.collect`), prints the markdown of
experiments/RESULTS.md's study section and writes ``DIR/recommendation.json``.
Every number comes from the files.

**The goal** (issue 14), per dataset, on the test split's means over seeds: a
candidate's macro-F1 at 0.5 is above both BCE's and sigmoidF1's, its mAP is at
least BCE's and its label-count MAE at most BCE's.
"""

import json
import sys
from pathlib import Path

import pandas as pd

#: Display order of the losses in the tables.
ORDER = ("bce", "bce_tuned", "asl", "asl_tuned", "sigmoid_f1", "f1_plus_bce", "f1_plus_asl",
         "bce_to_f1", "ema_f1", "f1_plus_count", "lead_bce_0.5", "lead_bce_0.1")
#: Columns of the summary table: metric -> heading.
COLUMNS = {"f1_macro": "macro-F1", "f1_micro": "micro-F1", "average_precision_macro": "mAP",
           "label_count_mae": "count MAE", "mean_predicted_labels": "#pred"}
BASELINES = ("bce", "bce_tuned", "asl", "asl_tuned", "sigmoid_f1")


def load(folder):
    """The study's test results as a long DataFrame; tuned BCE/ASL as their own rows."""
    df = pd.read_csv(Path(folder) / "results.csv", dtype={"threshold": str})
    tuned = df[(df.threshold == "tuned") & df.candidate.isin(["bce", "asl"])].copy()
    tuned["candidate"] = tuned["candidate"] + "_tuned"
    return pd.concat([df[df.threshold == "0.5"], tuned], ignore_index=True)


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


def recommend(goals, stats_df, selection=None):
    """The candidate meeting the goal on most datasets (ties: the most datasets where
    it keeps mAP and count no worse than BCE, then its mean macro-F1 gain over BCE),
    with its default setting (:func:`default_setting`). The issue's leads (fixed weights, not chosen
    on validation) are reported but never recommended: picking between them on the
    test scores would be selection on the test split."""
    # no candidate may need more than its share: rank by the number of goals met
    goals = goals[~goals.candidate.str.startswith("lead_")]  # fixed weights: not selected
    g = goals.groupby("candidate").agg(
        goals_met=("goal", "sum"), datasets=("goal", "size"),
        beats_sigmoid_f1=("beats_sigmoid_f1_f1", "sum"), beats_bce=("beats_bce_f1", "sum"),
        keeps_bce_map_and_count=("map_ge_bce", lambda s: int((s & goals.loc[s.index,
                                                                        "count_le_bce"]).sum())),
        mean_f1_gain_over_bce=("f1_minus_bce", "mean"),
        mean_f1_gap_to_sigmoid_f1=("f1_minus_sigmoid_f1", "mean"))
    g = g.sort_values(["goals_met", "keeps_bce_map_and_count", "mean_f1_gain_over_bce"],
                      ascending=False)
    best = g.index[0]
    setting = None
    if selection is not None:
        setting = default_setting(selection, best)
    return best, setting, g


def default_setting(selection, candidate):
    """The setting of ``candidate`` chosen on the most datasets; ties broken by the
    best mean rank of validation macro-F1 across datasets (validation data only).

    Example:
    >>> sel = pd.DataFrame({"dataset": ["a", "a", "b", "b"], "candidate": ["c"] * 4,
    ...                     "setting": ["w=1", "w=2"] * 2, "val_f1_macro": [.5, .6, .7, .6],
    ...                     "chosen": [False, True, True, False]})
    >>> default_setting(sel, "c")  # one choice each; mean ranks tie, so the first setting
    'w=1'
    """
    mine = selection[selection.candidate == candidate].copy()
    if not len(mine):
        return None
    mine["rank"] = mine.groupby("dataset")["val_f1_macro"].rank(ascending=False)
    table = mine.groupby("setting", sort=False).agg(chosen=("chosen", "sum"),
                                                    rank=("rank", "mean"))
    table["order"] = range(len(table))
    table = table.sort_values(["chosen", "rank", "order"], ascending=[False, True, True])
    return table.index[0]


def _fmt(r):
    return f"{r.mean:.3f} ± {0.0 if pd.isna(r.std) else r.std:.3f}"


def markdown(folder):
    """The study's markdown: summary per dataset, goal table, ranking, batch sizes."""
    folder = Path(folder)
    df = load(folder)
    stats_df = summary(df)
    stats = {(r.dataset, r.candidate, r.metric): r for r in stats_df.itertuples()}
    selection = None
    if (folder / "selection.csv").exists():
        selection = pd.read_csv(folder / "selection.csv")
        selection["chosen"] = selection["chosen"].astype(str) == "True"
    lines = []
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
        top = {m: best[m]([stats[(dataset, c, m)].mean for c in present])
               for m in COLUMNS if best[m]}
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
    goals = goal_table(stats_df)
    if len(goals):
        lines += ["#### The goal, per dataset (✓ = holds on the means over seeds)", "",
                  "Goal: macro-F1@0.5 above BCE's and sigmoidF1's, mAP ≥ BCE's, label-count "
                  "MAE ≤ BCE's. Cells: F1 vs sigmoidF1 / F1 vs BCE / mAP vs BCE / count MAE vs "
                  "BCE (differences of the means).", "",
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
        best, setting, ranking = recommend(goals, stats_df, selection)
        lines += ["", "#### Ranking of the candidates", "",
                  "| candidate | goal met | beats sigmoidF1 | beats BCE | keeps BCE's mAP and "
                  "count | mean F1 gain over BCE | mean F1 gap to sigmoidF1 |",
                  "|---|---|---|---|---|---|---|"]
        for cand, r in ranking.iterrows():
            lines.append(f"| {cand} | {int(r.goals_met)}/{int(r.datasets)} | "
                         f"{int(r.beats_sigmoid_f1)} | {int(r.beats_bce)} | "
                         f"{int(r.keeps_bce_map_and_count)} | "
                         f"{r.mean_f1_gain_over_bce:+.3f} | "
                         f"{r.mean_f1_gap_to_sigmoid_f1:+.3f} |")
        lines += ["", f"Top of the ranking: **{best}** (most often chosen setting: "
                  f"{setting})."]
    if (folder / "batch_size.csv").exists():
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


def write_recommendation(folder):
    """``recommendation.json``: the top candidate, its loss and options, a summary."""
    from VLAP.experiments.study import CANDIDATES, loss_kwargs

    folder = Path(folder)
    stats_df = summary(load(folder))
    selection = pd.read_csv(folder / "selection.csv")
    selection["chosen"] = selection["chosen"].astype(str) == "True"
    goals = goal_table(stats_df)
    if not len(goals):
        raise ValueError(f"{folder}: no dataset has both BCE and sigmoidF1 results to compare")
    best, setting, ranking = recommend(goals, stats_df, selection)
    parsed = {}
    if setting and setting != "-":
        parsed = {k: float(v) for k, v in (p.split("=") for p in setting.split(","))}
    loss, kw = loss_kwargs(best, parsed, epochs=100)
    r = ranking.loc[best]
    text = (f"{best} ({setting}) met the goal on {int(r.goals_met)} of {int(r.datasets)} "
            f"datasets; it beat sigmoidF1's macro-F1 on {int(r.beats_sigmoid_f1)} and BCE's on "
            f"{int(r.beats_bce)}, and kept BCE's mAP and label-count error on "
            f"{int(r.keeps_bce_map_and_count)}; mean macro-F1 gain over BCE "
            f"{r.mean_f1_gain_over_bce:+.3f}, mean gap to sigmoidF1 "
            f"{r.mean_f1_gap_to_sigmoid_f1:+.3f}.")
    out = {"candidate": best, "loss": loss, "loss_kwargs": kw, "setting": setting,
           "summary": text, "candidates": sorted(CANDIDATES)}
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
