"""Evaluate a multilabel model: every score, as one table.

Three layers:

- :func:`predict_scores` runs the model once over the data and returns
  ``(y_true, probabilities)`` as NumPy arrays;
- :func:`evaluate_predictions` is a pure function on those arrays: it picks the
  thresholds (fixed, per label, tuned on validation data, or top-k), then
  computes every score in one counting pass and one sort per label
  (:mod:`VLAP.evaluation.counts`, :mod:`VLAP.evaluation.ranking`), equal to
  scikit-learn's values;
- :func:`evaluate` chains the two (``VLAP.evaluate``), streaming the batches
  through a :class:`~VLAP.evaluation.streaming.MultilabelEvaluator`.

Naming follows scikit-learn: ``"macro"`` is the mean of the per-label scores and
``"micro"`` pools the counts of all labels. :data:`PAPER_NAMING` maps the
column names of the paper's tables to ours, and every returned table repeats
:data:`NAMING_NOTE` in ``df.attrs["naming_note"]``.

mAP and AUROC are computed on the *scores*, not on thresholded labels (the
paper's code passed thresholded labels, which turns both into a different
metric).

Example:
>>> import VLAP
>>> y_true = [[1, 0, 1], [0, 1, 0], [1, 1, 0]]
>>> scores = [[0.9, 0.2, 0.4], [0.6, 0.7, 0.1], [0.8, 0.3, 0.2]]
>>> df = VLAP.evaluation.evaluate_predictions(y_true, scores)
>>> round(float(df.loc["f1_macro", "value"]), 4), round(float(df.loc["f1_micro", "value"]), 4)
(0.4889, 0.6667)
>>> VLAP.evaluation.PAPER_NAMING["paper_macroF1"]
'f1_macro'
"""

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Union, overload

import numpy as np
import pandas as pd

from VLAP._quiet import progress
from VLAP._validation import check_bool
from VLAP._arrays import check_label_names, check_labels, check_probabilities
from VLAP.evaluation.metric_table import select_metrics
from VLAP.evaluation.ranking import DEFAULT_KS
from VLAP.evaluation.streaming import (
    PER_LABEL_COLUMNS,
    MultilabelEvaluator,
    check_ks,
    metric_names,
)
from VLAP.inference.rule import (
    DEFAULT_THRESHOLD,
    DecisionRule,
    as_probabilities,
    make_rule,
    split_heads,
)
from VLAP.inference.tuning import resolve_rule, tune_cut_points

#: A decision threshold: a probability for every label, one per label, ``"tuned"``
#: (on validation data) or a :class:`~VLAP.inference.rule.DecisionRule`.
Threshold = Union[float, str, Sequence[float], np.ndarray, DecisionRule]
#: A metric of yours (see :mod:`VLAP.evaluation.metric_table`): a record, a
#: registered name, or a function ``f(y_true, decisions, scores)``.
UserMetric = Union[str, Callable[..., float], Any]

PAPER_NAMING = {
    "paper_macroF1": "f1_macro",
    "paper_microF1": "f1_micro",
    "paper_weightedF1": "f1_weighted",
}
NAMING_NOTE = (
    "The paper's text defines macro and micro the other way round, but its "
    "published columns carry scikit-learn's meaning (they were made by its "
    "computeMetrics, which calls scikit-learn with average='macro' for macroF1); "
    "VLAP uses scikit-learn's names."
)
#: The report's rows with the default cut-offs ``ks=(1, 3, 5)``: the thresholded
#: scores, mAP/AUROC and label counts first (their historical order), then the
#: ranking metrics (precision@k, recall@k, nDCG@k, LRAP, coverage, ranking loss).
#: Read from the metric table (:mod:`VLAP.evaluation.metric_table`), which also
#: gives each row's direction, header and averaging.
METRIC_NAMES = metric_names(DEFAULT_KS)


def _finish(summary, table=None):
    for df in (summary, table):
        if df is not None:
            df.attrs.update({"naming_note": NAMING_NOTE, "paper_naming": dict(PAPER_NAMING)})
    return summary if table is None else (summary, table)


@overload
def evaluate_predictions(y_true: Any, scores: Any, *, threshold: Threshold = ...,
                         label_names: "Sequence[str] | None" = ...,
                         per_label: Literal[False] = ..., y_val: Any = ..., scores_val: Any = ...,
                         top_k: "int | None" = ..., ks: Iterable[int] = ...,
                         ranking_bins: "int | None" = ..., decisions: Any = ...,
                         rule: "DecisionRule | None" = ...,
                         metrics: "Sequence[UserMetric] | None" = ...
                         ) -> "pd.DataFrame": ...


@overload
def evaluate_predictions(y_true: Any, scores: Any, *, threshold: Threshold = ...,
                         label_names: "Sequence[str] | None" = ...,
                         per_label: Literal[True], y_val: Any = ..., scores_val: Any = ...,
                         top_k: "int | None" = ..., ks: Iterable[int] = ...,
                         ranking_bins: "int | None" = ..., decisions: Any = ...,
                         rule: "DecisionRule | None" = ...,
                         metrics: "Sequence[UserMetric] | None" = ...
                         ) -> "tuple[pd.DataFrame, pd.DataFrame]": ...


@overload
def evaluate_predictions(y_true: Any, scores: Any, *, threshold: Threshold = ...,
                         label_names: "Sequence[str] | None" = ...,
                         per_label: bool = ..., y_val: Any = ..., scores_val: Any = ...,
                         top_k: "int | None" = ..., ks: Iterable[int] = ...,
                         ranking_bins: "int | None" = ..., decisions: Any = ...,
                         rule: "DecisionRule | None" = ...,
                         metrics: "Sequence[UserMetric] | None" = ...
                         ) -> "pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]": ...


def evaluate_predictions(y_true: Any, scores: Any, *, threshold: Threshold = 0.5,
                         label_names: "Sequence[str] | None" = None,
                         per_label: bool = False, y_val: Any = None, scores_val: Any = None,
                         top_k: "int | None" = None, ks: Iterable[int] = DEFAULT_KS,
                         ranking_bins: "int | None" = None, decisions: Any = None,
                         rule: "DecisionRule | None" = None,
                         metrics: "Sequence[UserMetric] | None" = None
                         ) -> "pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]":
    """All multilabel scores of probability predictions, as a pandas table.

    Thresholded scores (F1, precision, recall, Hamming loss, subset accuracy,
    Jaccard, label counts) use `scores > threshold` and come from one counting
    pass; mAP and AUROC use the scores themselves (one sort per label, one of
    all entries for the micro average); the ranking metrics (precision@k,
    recall@k, nDCG@k, label ranking average precision, coverage error, ranking
    loss) one sort per example. Every value equals scikit-learn's where it has
    the metric (tested to 1e-9), with `zero_division=0` (so, as in
    scikit-learn, an example with no true and no predicted label scores 0 in
    the `*_samples` averages). Labels with no positive or no negative example
    in `y_true` are left out of `average_precision_macro` and `roc_auc_macro`
    (one warning names them); the value is NaN when no label is left. The
    `*_present` rows (`f1_macro_present`, `average_precision_macro_present`,
    the last built-in rows) average over the labels with a positive example.
    Ties in the `@k` metrics are averaged over their orderings (scikit-learn's
    `ndcg_score` default); see :mod:`VLAP.evaluation.ranking`.

    Memory: about the score matrix again (sort keys) plus one byte per label
    entry; float32 scores stay float32.

    Args:
        y_true: array of shape `(n_samples, num_labels)`. 0/1 true labels.
        scores: array of the same shape. Probabilities in [0, 1].
        threshold: float, array or str. A probability in [0, 1] for every label
            (default `0.5`); an array of `num_labels` thresholds; or `"tuned"`:
            per-label thresholds that maximise each label's F1 on `y_val`,
            `scores_val` (see :func:`tune_thresholds`).
        label_names: sequence of str or None. One unique name per label, used
            as the index of the per-label table.
        per_label: bool. Also return a per-label table.
        y_val: array or None. 0/1 validation labels for `threshold="tuned"`.
        scores_val: array or None. Validation probabilities for
            `threshold="tuned"`.
        top_k: int or None. Predict the `k` highest scores of every example
            instead of thresholding (then leave `threshold` at its default).
        ks: sequence of int. Cut-offs of precision@k, recall@k and nDCG@k
            (default `(1, 3, 5)`; other values change the row names).
        ranking_bins: int or None. `None` (default): exact mAP/AUROC. An int:
            binned (see :class:`MultilabelEvaluator`).
        decisions: 0/1 array like `y_true`, or None. Decisions already made by
            a decision rule (e.g. a packaged model's `"labels"` output): the
            thresholded metrics count them as they are (`threshold` then only
            labels the report), the ranking metrics use `scores`.
        rule: DecisionRule or None. The decision rule
            (:class:`VLAP.inference.rule.DecisionRule`, e.g.
            `DecisionRule.top_k(2)`), instead of `threshold` and `top_k`;
            applied to `scores` as probabilities.
        metrics: sequence or None. Which rows, and metrics of yours. Names
            of the report's own rows (:data:`METRIC_NAMES`; `@k` rows with any
            `k`, e.g. `"ndcg_at_10"`) make a *selection*: the table has only
            the rows named, in the order given, and only what they need is
            computed (`["f1_macro", "average_precision_macro"]` skips the
            per-example sort and the pooled micro ranking; `ks` is then
            unused). An unknown name is an error naming the closest valid
            one. The other items are metrics of yours, placed where listed
            (after every built-in row when no built-in row is named):
            :class:`~VLAP.evaluation.metric_table.Metric` records, names given
            to :func:`~VLAP.evaluation.metric_table.register_metric`, or
            functions `f(y_true, decisions, scores) -> float` (named after
            the function). An array function gets `y_true` and the decisions
            as 0/1 uint8 arrays and `scores` as given (float32 or float64).

    Returns:
        pandas.DataFrame indexed by metric name (:data:`METRIC_NAMES`, then
        `metrics`) with one column `"value"`, so `df.loc["f1_macro", "value"]`. `df.attrs` holds
        `threshold_strategy` ("fixed", "per_label", "tuned" or "top_k"),
        `threshold` (a float, a list per label, or None for top-k), `top_k`,
        `n_samples`, `num_labels`, `excluded_labels` (left out of macro
        mAP/AUROC), `labels_without_positives` (left out of the `*_present` rows), `naming_note` and `paper_naming`. With `per_label=True`, a
        tuple `(summary, per_label_df)` where `per_label_df` has one row per
        label and columns :data:`PER_LABEL_COLUMNS`.

    Example:
    >>> import VLAP
    >>> y_true = [[1, 0, 1], [0, 1, 0], [1, 1, 0]]
    >>> scores = [[0.9, 0.2, 0.4], [0.6, 0.7, 0.1], [0.8, 0.3, 0.2]]
    >>> df, table = VLAP.evaluation.evaluate_predictions(
    ...     y_true, scores, label_names=["a", "b", "c"], per_label=True)
    >>> round(float(df.loc["label_count_mae", "value"]), 4)
    1.0
    >>> round(float(table.loc["a", "f1"]), 4), int(table.loc["c", "predicted"])
    (0.8, 0)
    >>> top1 = VLAP.evaluation.evaluate_predictions(y_true, scores, top_k=1)
    >>> round(float(top1.loc["mean_predicted_labels", "value"]), 4)
    1.0

    A metric of yours is one more row:

    >>> import numpy as np
    >>> def false_positive_rate(y_true, decisions, scores):
    ...     return float(np.sum(decisions & (1 - y_true)) / np.sum(1 - y_true))
    >>> df = VLAP.evaluation.evaluate_predictions(y_true, scores,
    ...                                           metrics=[false_positive_rate])
    >>> list(df.index[-2:]), round(float(df.loc["false_positive_rate", "value"]), 4)
    (['average_precision_macro_present', 'false_positive_rate'], 0.25)

    Names of the report's rows compute those rows only:

    >>> df = VLAP.evaluation.evaluate_predictions(
    ...     y_true, scores, metrics=["f1_macro", "average_precision_macro"])
    >>> [(name, round(float(v), 4)) for name, v in df["value"].items()]
    [('f1_macro', 0.4889), ('average_precision_macro', 1.0)]

    See Also:
        :func:`evaluate` (predicts first), :data:`PAPER_NAMING`.
    """
    y = check_labels(y_true, "y_true")
    s = check_probabilities(scores, "scores", y.shape, "y_true")
    num_labels = y.shape[1]
    check_label_names(label_names, num_labels)
    check_bool("per_label", per_label)
    rule = resolve_rule(threshold, top_k, rule=rule, num_labels=num_labels, y_val=y_val,
                        scores_val=scores_val)
    evaluator = MultilabelEvaluator(num_labels, rule=rule, ks=ks, ranking_bins=ranking_bins,
                                    label_names=label_names,
                                    metrics=metrics)
    evaluator._per_label_ranking |= per_label  # the per-label table's AP and AUROC
    if decisions is not None:
        decisions = check_labels(decisions, "decisions", min_labels=1)
        if decisions.shape != y.shape:
            raise ValueError("`decisions` must have the shape of `y_true`. Received: "
                             f"decisions.shape={decisions.shape}, y_true.shape={y.shape}")
    evaluator.update(y, s, validate_args=False, decisions=decisions)
    if per_label:
        return _finish(*evaluator.result(per_label=True))
    return _finish(evaluator.result())


def _rule(model, threshold, top_k, rule, val_data, from_logits, num_labels):
    """The :class:`DecisionRule` of `evaluate`'s arguments, tuned on `val_data` if asked."""
    tuned = isinstance(threshold, str) and threshold == "tuned" and top_k is None \
        and rule is None
    if not tuned:
        return make_rule(threshold, top_k, rule=rule).for_labels(num_labels)
    from VLAP.inference.scores import iter_outputs, output_heads

    heads = output_heads(model)
    outputs = [(y, split_heads(o, heads)[0]) for y, o, _ in iter_outputs(model, val_data)]
    y_val = check_labels(np.concatenate([y for y, _ in outputs]), "y_val")
    out_val = np.concatenate([o for _, o in outputs])
    if y_val.shape[1] != num_labels:
        raise ValueError(f"`val_data` must have num_labels={num_labels} label columns, as "
                         f"`data`. Received: {y_val.shape[1]}")
    if from_logits:
        return DecisionRule.cut_points(tune_cut_points(y_val, out_val), strategy="tuned")
    return resolve_rule("tuned", num_labels=num_labels, y_val=y_val, scores_val=out_val)


@overload
def evaluate(model: Any, data: Any, *, threshold: "Threshold | None" = ...,
             label_names: "Sequence[str] | None" = ..., per_label: Literal[False] = ...,
             val_data: Any = ..., top_k: "int | None" = ...,
             from_logits: "bool | None" = ..., ks: Iterable[int] = ...,
             ranking_bins: "int | None" = ..., rule: "DecisionRule | None" = ...,
             metrics: "Sequence[UserMetric] | None" = ...
             ) -> "pd.DataFrame": ...


@overload
def evaluate(model: Any, data: Any, *, threshold: "Threshold | None" = ...,
             label_names: "Sequence[str] | None" = ..., per_label: Literal[True],
             val_data: Any = ..., top_k: "int | None" = ...,
             from_logits: "bool | None" = ..., ks: Iterable[int] = ...,
             ranking_bins: "int | None" = ..., rule: "DecisionRule | None" = ...,
             metrics: "Sequence[UserMetric] | None" = ...
             ) -> "tuple[pd.DataFrame, pd.DataFrame]": ...


@overload
def evaluate(model: Any, data: Any, *, threshold: "Threshold | None" = ...,
             label_names: "Sequence[str] | None" = ..., per_label: bool = ...,
             val_data: Any = ..., top_k: "int | None" = ...,
             from_logits: "bool | None" = ..., ks: Iterable[int] = ...,
             ranking_bins: "int | None" = ..., rule: "DecisionRule | None" = ...,
             metrics: "Sequence[UserMetric] | None" = ...
             ) -> "pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]": ...


def evaluate(model: Any, data: Any, *, threshold: "Threshold | None" = None,
             label_names: "Sequence[str] | None" = None, per_label: bool = False,
             val_data: Any = None, top_k: "int | None" = None,
             from_logits: "bool | None" = None, ks: Iterable[int] = DEFAULT_KS,
             ranking_bins: "int | None" = None, rule: "DecisionRule | None" = None,
             metrics: "Sequence[UserMetric] | None" = None
             ) -> "pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]":
    """Evaluate a multilabel model: every score, as a pandas table.

    Predicts batch by batch and streams the batches through a
    :class:`MultilabelEvaluator`, so the thresholded metrics and the ranking
    metrics per example never need every score in memory. mAP and AUROC do in
    the default exact mode (the evaluator keeps the scores, then sorts them);
    `ranking_bins=B` computes them from fixed bins in bounded memory instead.

    Decisions are made by VLAP's one decision rule
    (:class:`VLAP.inference.rule.DecisionRule`, the rule a packaged model
    applies): thresholds become cut points on the model's logits, compared
    exactly in the outputs' dtype. A packaged model
    (:class:`VLAP.inference.Predictor`) is scored with its *own* decisions by
    default, so the report is the shipped model's. Probabilities for the
    ranking metrics are float64 sigmoids of the logits. A dual-head model
    (:func:`VLAP.inference.scores.output_heads`) decides with the rule's head
    (the decision head by default) and ranks with its score head.

    Args:
        model: keras.Model, a packaged Predictor, or any object with
            `.predict`. Outputs logits or probabilities (see `from_logits`).
        data: tf.data.Dataset yielding `(x, y)`, or a tuple `(X, y)` of arrays
            (`X` may be a dict of arrays, or a SciPy sparse matrix of features).
        threshold: float, array, str or None. A probability in [0, 1], one per
            label, or `"tuned"` (per-label cuts that maximise F1 on
            `val_data`, :func:`VLAP.inference.decision.tune_cut_points`). None
            (default): a packaged model's own rule, else 0.5.
        label_names: sequence of str or None. Names for the per-label table
            (default for a packaged model: its label names).
        per_label: bool. Also return the per-label table.
        val_data: dataset or tuple `(X, y)` like `data`. Needed for
            `threshold="tuned"`.
        top_k: int or None. Predict the `k` highest scores per example.
        from_logits: bool or None. Whether the model outputs logits. None
            (default) asks the model: a packaged model's own setting, the
            compiled loss's `from_logits`, or a sigmoid/softmax output layer
            (:func:`VLAP.inference.scores.output_is_logits`), so a sigmoid
            is never applied twice.
        ks: sequence of int. Cut-offs of precision@k, recall@k and nDCG@k.
        ranking_bins: int or None. `None`: exact mAP/AUROC; an int: binned.
        rule: DecisionRule or None. The decision rule
            (:class:`VLAP.inference.rule.DecisionRule`), instead of
            `threshold` and `top_k`; applied to the model's outputs.
        metrics: sequence or None. Names of the report's rows to compute
            (a selection) and/or metrics of yours, as in
            :func:`evaluate_predictions`; yours read the decisions of the
            rule that decides here.

    Returns:
        pandas.DataFrame indexed by metric name with a `"value"` column, or
        `(summary, per_label_df)` with `per_label=True`. See
        `df.attrs["naming_note"]` and :data:`PAPER_NAMING` for the paper's names.

    Example:
    >>> import numpy as np, keras, VLAP
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    >>> x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    >>> y = np.array([[1, 0, 1], [0, 1, 0]] * 4, "float32")
    >>> df = VLAP.evaluate(model, (x, y))
    >>> df.attrs["threshold"], 0.0 <= float(df.loc["f1_macro", "value"]) <= 1.0
    (0.5, True)
    """
    from VLAP.inference.predictor import Predictor
    from VLAP.inference.scores import iter_outputs, output_heads, resolve_from_logits

    check_bool("per_label", per_label)
    ks = check_ks(ks)
    selection = select_metrics(metrics, ks, ranking_bins)  # before any prediction
    metrics = list(selection.order if selection.selected else selection.mine)
    from_logits = resolve_from_logits(model, from_logits)
    heads = output_heads(model)
    own_rule = (isinstance(model, Predictor) and threshold is None and top_k is None
                and rule is None)
    if isinstance(model, Predictor) and label_names is None:
        label_names = model.label_names
    if threshold is None:
        threshold = DEFAULT_THRESHOLD
    tuned = isinstance(threshold, str) and threshold == "tuned" and top_k is None \
        and rule is None
    if tuned and val_data is None:
        raise ValueError(
            "threshold='tuned' chooses per-label thresholds on validation data: "
            "pass `val_data` (a dataset or a tuple (X, y)). Received: val_data=None"
        )
    if val_data is not None and not tuned:
        warnings.warn(
            "`val_data` is only used with threshold='tuned'; it is ignored.",
            UserWarning, stacklevel=2,
        )
    evaluator: "MultilabelEvaluator | None" = None
    rule_used: "DecisionRule | None" = None
    batches = iter_outputs(model, data)
    if not isinstance(data, (tuple, list)):  # a bar over the batches, on a terminal only
        try:
            total = len(data)
        except TypeError:
            total = None
        batches = progress(batches, total=total, desc="evaluating", unit="batch")
    for y, outputs, own in batches:
        if evaluator is None:
            y = check_labels(y, "y_true")
            rule_used = model.rule if own_rule else _rule(model, threshold, top_k, rule,
                                                          val_data, from_logits, y.shape[1])
            evaluator = MultilabelEvaluator(y.shape[1], rule=rule_used, ks=ks,
                                            ranking_bins=ranking_bins, label_names=label_names,
                                            metrics=metrics)
            evaluator._per_label_ranking |= per_label
        assert rule_used is not None
        decisions = own if own_rule else rule_used.apply(outputs, from_logits=from_logits,
                                                         heads=heads)
        scores = as_probabilities(split_heads(outputs, heads)[1], from_logits)
        evaluator.update(y, scores, decisions=decisions)
    if evaluator is None:
        raise ValueError("`data` has no batches: nothing to evaluate.")
    if per_label:
        return _finish(*evaluator.result(per_label=True))
    return _finish(evaluator.result())


__all__ = [
    "METRIC_NAMES",
    "NAMING_NOTE",
    "PAPER_NAMING",
    "PER_LABEL_COLUMNS",
    "MultilabelEvaluator",
    "evaluate",
    "evaluate_predictions",
]
