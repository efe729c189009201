"""Every choice the experiments make, from validation scores only.

One module decides, and it can only see the validation split: each function
takes rows (dicts or a DataFrame) whose score columns are **validation** scores,
named ``val_<metric>`` (scikit-learn's metric names), and refuses a row holding
any column that is a test score (:func:`check_validation_only`). Test numbers
are computed and reported elsewhere (:mod:`VLAP.experiments.study_report`), never
passed here.

What goes through it:

- :func:`best_grid`: sigmoidF1's (beta, eta) grid (:func:`VLAP.experiments.runner.run_grid`);
- :func:`choose_setting`: a study candidate's setting on one dataset
  (:func:`VLAP.experiments.study.run_dataset`);
- :func:`best_index`: the best seed of a loss and the best loss of a dataset
  (the packaged models of a run);
- :func:`recommend`: the study's recommended (candidate, setting) over datasets,
  and :func:`leave_one_out`: the same rule with each dataset held out.

**The recommendation rule** (validation scores of the first seed, per dataset):
a (candidate, setting) meets the goal on a dataset when its validation
macro-F1 **at the rule it would ship** (:func:`shipped_val_f1`: per-label cuts
tuned out of fold where its rule choice ships them, else the 0.5 cut) is above
BCE's and above the best of sigmoidF1's settings (each at its own shipped rule),
its validation mAP is at least BCE's and its validation label-count MAE at most
BCE's. Rank by goals met, then by the datasets where it keeps
BCE's mAP and count, then by its mean macro-F1 gain over BCE; the first wins
(ties: the order of the rows). Only a (candidate, setting) with rows on every
dataset considered can be recommended: a default is a claim about them all.

Example:
>>> rows = [{"seed": 0, "val_f1_macro": 0.61}, {"seed": 1, "val_f1_macro": 0.64}]
>>> best_index(rows, "val_f1_macro")
1
>>> best_index([{"seed": 0, "f1_macro": 0.6}], "val_f1_macro")
Traceback (most recent call last):
...
ValueError: Selection sees validation scores only: expected `val_*` score columns. Received the test column 'f1_macro'
"""

from typing import Any, Iterable, Mapping, Optional, Sequence

import pandas as pd

from VLAP.experiments.study_candidates import TUNED_BASELINES

#: Score names of VLAP's evaluation (:func:`VLAP.evaluation.evaluate_predictions`'s
#: rows; scikit-learn's names). A column with one of these names, or starting
#: ``test_``, is a test score; the validation score is ``val_<name>``.
METRIC_PREFIXES = ("f1_", "precision_", "recall_", "jaccard_", "average_precision_",
                   "roc_auc_", "ndcg_", "label_count_", "label_ranking_", "mean_predicted_",
                   "mean_true_", "hamming_", "subset_", "coverage_", "test_")
METRIC_NAMES = ("value", "mean", "std", "macro_f1", "map", "count_mae", "goal", "test")
#: Candidates that are not chosen between: the baselines (they are the
#: references) and the fixed settings (run as themselves, not selected): the
#: default and the issue's fixed-weight leads (``lead_*``).
NOT_RECOMMENDED = TUNED_BASELINES + ("sigmoid_f1", "default")


def recommendable(candidate: str) -> bool:
    """Whether :func:`recommend` may choose ``candidate`` (not a baseline or fixed run).

    Example:
    >>> recommendable("f1_plus_bce"), recommendable("default"), recommendable("lead_bce_0.1")
    (True, False, False)
    """
    return candidate not in NOT_RECOMMENDED and not str(candidate).startswith("lead_")


def _is_test_column(name: str) -> bool:
    name = str(name)
    if name.startswith("val_"):
        return False
    return name.startswith(METRIC_PREFIXES) or name in METRIC_NAMES


def check_validation_only(columns: Iterable[str]) -> None:
    """Raise a ValueError when any of ``columns`` is a test score (not ``val_*``).

    Example:
    >>> check_validation_only(["dataset", "setting", "val_f1_macro"])
    >>> check_validation_only(["val_f1_macro", "average_precision_macro"])
    Traceback (most recent call last):
    ...
    ValueError: Selection sees validation scores only: expected `val_*` score columns. Received the test column 'average_precision_macro'
    """
    for name in columns:
        if _is_test_column(name):
            raise ValueError("Selection sees validation scores only: expected `val_*` score "
                             f"columns. Received the test column {name!r}")


def _rows(rows: Any) -> list:
    if isinstance(rows, pd.DataFrame):
        check_validation_only(rows.columns)
        return rows.to_dict("records")
    rows = [dict(r) for r in rows]
    for r in rows:
        check_validation_only(r)
    return rows


def best_index(rows: Any, key: str = "val_f1_macro") -> int:
    """Index of the row with the highest ``key`` (a ``val_*`` score); ties: the first.

    Used for the best seed of a loss and the best loss of a dataset.
    """
    if not str(key).startswith("val_"):
        raise ValueError(f"`key` must be a validation score (`val_*`). Received: key={key!r}")
    rows = _rows(rows)
    if not rows:
        raise ValueError("best_index needs at least one row. Received: no rows")
    return max(range(len(rows)), key=lambda i: (float(rows[i][key]), -i))


def best_grid(rows: Any) -> int:
    """Index of sigmoidF1's grid point with the best validation macro-F1 (ties: the
    smaller beta, then the smaller eta).

    Example:
    >>> best_grid([{"beta": 1.0, "eta": 0.0, "val_f1_macro": 0.5},
    ...            {"beta": 10.0, "eta": 0.0, "val_f1_macro": 0.5}])
    0
    """
    rows = _rows(rows)
    return max(range(len(rows)), key=lambda i: (round(float(rows[i]["val_f1_macro"]), 12),
                                                -float(rows[i]["beta"]),
                                                -float(rows[i]["eta"])))


def choose_setting(rows: Any, reference: Optional[Mapping] = None,
                   goal_aware: bool = True) -> int:
    """Index of the chosen setting among ``rows`` (validation scores, first seed).

    Goal-aware: among rows with ``val_average_precision_macro`` >= the
    reference's (BCE's) and ``val_label_count_mae`` <= the reference's, the best
    validation macro-F1; if none qualifies (or no reference), the best
    validation macro-F1. Ties: the earlier row. Macro-F1 is read at the rule each
    row's model would ship (:func:`shipped_val_f1`: the out-of-fold tuned figure
    where ``rule`` is ``"tuned"``), as the recommendation reads it; rows without a
    ``rule`` are compared at 0.5.

    Example:
    >>> rows = [{"val_f1_macro": .6, "val_average_precision_macro": .7, "val_label_count_mae": .5},
    ...         {"val_f1_macro": .7, "val_average_precision_macro": .6, "val_label_count_mae": .5}]
    >>> ref = {"val_average_precision_macro": .65, "val_label_count_mae": .6}
    >>> choose_setting(rows, ref), choose_setting(rows, ref, goal_aware=False)
    (0, 1)

    A setting whose model ships tuned cuts is compared at them:

    >>> rows[0].update(rule="tuned", val_f1_macro_tuned_oof=.75)
    >>> choose_setting(rows, ref, goal_aware=False)
    0
    """
    rows = _rows(rows)
    f1 = shipped_val_f1(rows)[SHIPPED].tolist() if rows else []
    order = list(range(len(rows)))
    if goal_aware and reference is not None:
        (reference,) = _rows([reference])
        ok = [i for i in order
              if rows[i]["val_average_precision_macro"]
              >= reference["val_average_precision_macro"]
              and rows[i]["val_label_count_mae"] <= reference["val_label_count_mae"]]
        if ok:
            order = ok
    return max(order, key=lambda i: (f1[i], -i))


#: The validation macro-F1 of each row at the rule it would ship (:func:`shipped_val_f1`).
SHIPPED = "val_f1_macro_shipped"


def shipped_val_f1(selection: Any) -> pd.DataFrame:
    """``selection`` with :data:`SHIPPED`: each row's validation macro-F1 at the rule
    its model would ship, chosen on validation (``rule``).

    ``"tuned"``: the out-of-fold estimate of macro-F1 with per-label cuts tuned on
    validation (``val_f1_macro_tuned_oof``, the number the rule choice compared);
    ``"0.5"`` (or a study written before the rule choice, without a ``rule``
    column): ``val_f1_macro``, the 0.5 cut. So a baseline that ships tuned cuts
    (BCE with thresholds tuned on validation) is compared as it would be used.

    Example:
    >>> sel = pd.DataFrame({"candidate": ["bce", "x"], "val_f1_macro": [.5, .6],
    ...                     "val_f1_macro_tuned_oof": [.58, .55], "rule": ["tuned", "0.5"]})
    >>> shipped_val_f1(sel)["val_f1_macro_shipped"].tolist()
    [0.58, 0.6]
    """
    sel = pd.DataFrame(_rows(selection))
    shipped = sel["val_f1_macro"].astype(float)
    if "rule" in sel and "val_f1_macro_tuned_oof" in sel:
        tuned = sel["rule"].astype(str) == "tuned"
        oof = pd.to_numeric(sel["val_f1_macro_tuned_oof"], errors="coerce")
        bad = sel.index[tuned & oof.isna()]
        if len(bad):
            r = sel.loc[bad[0]]
            raise ValueError("A row ships tuned cuts but has no out-of-fold validation "
                             f"macro-F1 (`val_f1_macro_tuned_oof`): {r.get('dataset', '?')} "
                             f"{r.get('candidate', '?')} {r.get('setting', '?')}")
        shipped = shipped.where(~tuned, oof)
    return sel.assign(**{SHIPPED: shipped.astype(float)})


def validation_goals(selection: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x (candidate, setting): the goal's four conditions on validation.

    ``selection``: the study's ``selection.csv`` rows (``dataset, candidate,
    setting, val_*``, and ``rule`` where the study chose one). BCE's row is the
    reference; sigmoidF1's best setting is the surrogate to beat; macro-F1 is
    compared at the rule each model would ship (:func:`shipped_val_f1`).
    """
    sel = shipped_val_f1(selection)
    out = []
    for dataset, d in sel.groupby("dataset", sort=True):
        bce = d[d.candidate == "bce"]
        f1 = d[d.candidate == "sigmoid_f1"]
        if not len(bce) or not len(f1):
            continue
        bce = bce.iloc[0]
        f1_best = float(f1[SHIPPED].max())
        for r in d[[recommendable(c) for c in d.candidate]].to_dict("records"):
            checks = {"beats_bce_f1": r[SHIPPED] > bce[SHIPPED],
                      "beats_sigmoid_f1_f1": r[SHIPPED] > f1_best,
                      "map_ge_bce": r["val_average_precision_macro"]
                      >= bce.val_average_precision_macro,
                      "count_le_bce": r["val_label_count_mae"] <= bce.val_label_count_mae}
            out.append({"dataset": dataset, "candidate": r["candidate"],
                        "setting": r["setting"], **checks, "goal": all(checks.values()),
                        "val_f1_gain_over_bce": r[SHIPPED] - bce[SHIPPED]})
    return pd.DataFrame(out)


def recommend(selection: pd.DataFrame, datasets: Optional[Sequence[str]] = None,
              require: Optional[Sequence[str]] = None):
    """The recommended ``(candidate, setting)`` on the validation scores of ``datasets``.

    Args:
        selection: the study's ``selection.csv`` as a DataFrame (validation only).
        datasets: the datasets to choose on (default: every dataset with BCE and
            sigmoidF1 rows).
        require: datasets the (candidate, setting) must also have been run on
            (e.g. the held-out one of :func:`leave_one_out`: a default must apply
            there); only the presence of its rows is used, not their scores.

    Returns:
        ``(candidate, setting, ranking)``; ``ranking`` is one row per eligible
        (candidate, setting), best first (see the module's rule).

    Example:
    >>> sel = pd.DataFrame({
    ...     "dataset": ["a"] * 4, "candidate": ["bce", "sigmoid_f1", "x", "x"],
    ...     "setting": ["-", "beta=1", "w=1", "w=2"], "val_f1_macro": [.5, .6, .65, .62],
    ...     "val_average_precision_macro": [.7, .6, .6, .7],
    ...     "val_label_count_mae": [.5, .6, .6, .5]})
    >>> recommend(sel)[:2]  # w=2 meets the goal; w=1 does not keep mAP
    ('x', 'w=2')
    """
    sel = pd.DataFrame(_rows(selection))
    goals = validation_goals(sel)
    if datasets is not None:
        goals = goals[goals.dataset.isin(list(datasets))]
    if not len(goals):
        raise ValueError("recommend needs validation rows of BCE, sigmoidF1 and a candidate "
                         f"on the datasets. Received datasets: {datasets}")
    pool = sorted(goals.dataset.unique())
    key = ["candidate", "setting"]
    have = sel.groupby(key)["dataset"].agg(set)
    needed = set(pool) | set(require or ())
    eligible = [k for k, ds in have.items() if needed <= ds]
    goals = goals[goals.set_index(key).index.isin(eligible)]
    if not len(goals):
        raise ValueError(f"No candidate has validation rows on every dataset of {sorted(needed)}")
    goals = goals.assign(keeps=goals.map_ge_bce & goals.count_le_bce,
                         order=range(len(goals)))
    ranking = goals.groupby(key, sort=False).agg(
        goals_met=("goal", "sum"), datasets=("goal", "size"),
        beats_sigmoid_f1=("beats_sigmoid_f1_f1", "sum"), beats_bce=("beats_bce_f1", "sum"),
        keeps_bce_map_and_count=("keeps", "sum"),
        mean_val_f1_gain_over_bce=("val_f1_gain_over_bce", "mean"), order=("order", "min"))
    ranking = ranking.sort_values(
        ["goals_met", "keeps_bce_map_and_count", "mean_val_f1_gain_over_bce", "order"],
        ascending=[False, False, False, True]).drop(columns="order")
    candidate, setting = ranking.index[0]
    return candidate, setting, ranking


def leave_one_out(selection: pd.DataFrame, datasets: Optional[Sequence[str]] = None,
                  applies=None) -> pd.DataFrame:
    """For each dataset, :func:`recommend` on the validation scores of the others.

    Args:
        selection: ``selection.csv`` rows (validation only).
        datasets: the datasets (default: all with BCE and sigmoidF1 rows).
        applies: callable ``(candidate, held_out) -> bool`` or None: whether a
            candidate can run on the held-out dataset (e.g. a dual head needs an
            MLP config). None: it must have selection rows there.

    Returns:
        DataFrame ``held_out, candidate, setting, chosen_on`` (the other datasets,
        joined by ``+``).
    """
    sel = pd.DataFrame(_rows(selection))
    datasets = sorted(datasets or validation_goals(sel).dataset.unique())
    out = []
    for held in datasets if len(datasets) > 1 else ():  # one dataset: nothing to hold out
        others = [d for d in datasets if d != held]
        pool = sel
        if applies is not None:
            pool = sel[[applies(c, held) for c in sel.candidate]]
            require = None
        else:
            require = [held]
        candidate, setting, _ = recommend(pool, others, require=require)
        out.append({"held_out": held, "candidate": candidate, "setting": setting,
                    "chosen_on": "+".join(others)})
    return pd.DataFrame(out, columns=["held_out", "candidate", "setting", "chosen_on"])


__all__ = ["check_validation_only", "best_index", "best_grid", "choose_setting",
           "shipped_val_f1", "SHIPPED", "validation_goals", "recommend", "leave_one_out",
           "NOT_RECOMMENDED", "recommendable"]
