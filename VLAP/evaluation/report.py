"""Evaluate a multilabel model with scikit-learn's metrics, as one table.

Three layers:

- :func:`predict_scores` runs the model once over the data and returns
  ``(y_true, probabilities)`` as NumPy arrays;
- :func:`evaluate_predictions` is a pure function on those arrays: it picks the
  thresholds (fixed, per label, tuned on validation data, or top-k), then computes
  every score with scikit-learn;
- :func:`evaluate` chains the two (``VLAP.evaluate``).

Naming follows scikit-learn: ``"macro"`` is the mean of the per-label scores and
``"micro"`` pools the counts of all labels. The paper (and its code) use the two
words the other way round; :data:`PAPER_NAMING` maps the paper's names to ours,
and every returned table repeats the note in ``df.attrs["naming_note"]``.

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
'f1_micro'
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    hamming_loss,
    jaccard_score,
    precision_recall_fscore_support,
    roc_auc_score,
)


from VLAP.evaluation._arrays import _check_label_names, check_indicator, check_scores
from VLAP.evaluation.predict import predict_scores
from VLAP.evaluation.thresholds import DEFAULT_THRESHOLD, _top_k, resolve_thresholds  # noqa: F401

PAPER_NAMING = {
    "paper_macroF1": "f1_micro",
    "paper_microF1": "f1_macro",
    "paper_weightedF1": "f1_weighted",
}
NAMING_NOTE = (
    "The paper calls the pooled (micro) score 'macro' and the per-label mean "
    "(macro) score 'micro'; VLAP uses scikit-learn's names."
)
_AVERAGES = ("micro", "macro", "weighted", "samples")
METRIC_NAMES = (
    tuple(f"{score}_{avg}" for score in ("f1", "precision", "recall") for avg in _AVERAGES)
    + (
        "hamming_loss", "subset_accuracy", "jaccard_samples", "jaccard_macro",
        "average_precision_macro", "average_precision_micro",
        "roc_auc_macro", "roc_auc_micro",
        "label_count_mae", "label_count_accuracy",
        "mean_predicted_labels", "mean_true_labels",
    )
)
PER_LABEL_COLUMNS = ("support", "predicted", "precision", "recall", "f1",
                     "average_precision", "roc_auc", "threshold")


# --- scores -----------------------------------------------------------------


def _per_label_ranking_scores(y_true, scores, valid):
    """Average precision and ROC AUC per label; NaN where a label is excluded."""
    num_labels = y_true.shape[1]
    ap = np.full(num_labels, np.nan)
    auc = np.full(num_labels, np.nan)
    for j in np.flatnonzero(valid):
        ap[j] = average_precision_score(y_true[:, j], scores[:, j])
        auc[j] = roc_auc_score(y_true[:, j], scores[:, j])
    return ap, auc


def _micro_ranking_scores(y_true, scores):
    y, s = y_true.ravel(), scores.ravel()
    if y.min() == y.max():
        warnings.warn(
            "`y_true` has no positive or no negative entry at all: "
            "average_precision_micro and roc_auc_micro are NaN.",
            UserWarning, stacklevel=3,
        )
        return np.nan, np.nan
    return average_precision_score(y, s), roc_auc_score(y, s)


def evaluate_predictions(y_true, scores, threshold=0.5, label_names=None,
                         per_label=False, y_val=None, scores_val=None, top_k=None):
    """All multilabel scores of probability predictions, as a pandas table.

    Thresholded scores (F1, precision, recall, Hamming loss, subset accuracy,
    Jaccard, label counts) use `scores > threshold`; mAP and AUROC use the scores
    themselves. Everything scikit-learn has is computed by scikit-learn, with
    `zero_division=0` (so, as in scikit-learn, an example with no true and no
    predicted label scores 0 in the `*_samples` averages). Labels with no positive or no negative example in `y_true`
    are left out of `average_precision_macro` and `roc_auc_macro` (with a
    warning saying how many); the value is NaN when no label is left.

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

    Returns:
        pandas.DataFrame indexed by metric name (:data:`METRIC_NAMES`) with one
        column `"value"`, so `df.loc["f1_macro", "value"]`. `df.attrs` holds
        `threshold_strategy` ("fixed", "per_label", "tuned" or "top_k"),
        `threshold` (a float, a list per label, or None for top-k), `top_k`,
        `n_samples`, `num_labels`, `excluded_labels` (left out of macro
        mAP/AUROC), `naming_note` and `paper_naming`. With `per_label=True`, a
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

    See Also:
        :func:`evaluate` (predicts first), :data:`PAPER_NAMING`.
    """
    y_true = check_indicator(y_true, "y_true")
    scores = check_scores(scores, "scores", y_true.shape, "y_true")
    n_samples, num_labels = y_true.shape
    index = _check_label_names(label_names, num_labels)
    if not isinstance(per_label, bool):
        raise TypeError(f"`per_label` must be a bool. Received: per_label={per_label!r}")
    strategy, thresholds = resolve_thresholds(threshold, top_k, num_labels,
                                               y_val, scores_val)
    if strategy == "top_k":
        y_pred = _top_k(scores, int(top_k))
    else:
        y_pred = (scores > thresholds[None, :]).astype(np.int64)

    values = {}
    for avg in _AVERAGES:
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=avg,
                                                     zero_division=0)
        values[f"f1_{avg}"], values[f"precision_{avg}"] = f, p
        values[f"recall_{avg}"] = r
    values["hamming_loss"] = hamming_loss(y_true, y_pred)
    values["subset_accuracy"] = accuracy_score(y_true, y_pred)
    values["jaccard_samples"] = jaccard_score(y_true, y_pred, average="samples",
                                              zero_division=0)
    values["jaccard_macro"] = jaccard_score(y_true, y_pred, average="macro",
                                            zero_division=0)

    positives = y_true.sum(0)
    valid = (positives > 0) & (positives < n_samples)
    excluded = [index[j] for j in np.flatnonzero(~valid)]
    if excluded:
        warnings.warn(
            f"{len(excluded)} of {num_labels} labels have no positive or no negative "
            "example in `y_true` and are excluded from average_precision_macro and "
            f"roc_auc_macro{' (both NaN: no label left)' if not valid.any() else ''}"
            f": {excluded[:10]!r}{' ...' if len(excluded) > 10 else ''}",
            UserWarning, stacklevel=2,
        )
    ap, auc = _per_label_ranking_scores(y_true, scores, valid)
    values["average_precision_macro"] = float(np.mean(ap[valid])) if valid.any() else np.nan
    ap_micro, auc_micro = _micro_ranking_scores(y_true, scores)
    values["average_precision_micro"] = ap_micro
    values["roc_auc_macro"] = float(np.mean(auc[valid])) if valid.any() else np.nan
    values["roc_auc_micro"] = auc_micro

    pred_count, true_count = y_pred.sum(1), y_true.sum(1)
    values["label_count_mae"] = np.mean(np.abs(pred_count - true_count))
    values["label_count_accuracy"] = np.mean(pred_count == true_count)
    values["mean_predicted_labels"] = np.mean(pred_count)
    values["mean_true_labels"] = np.mean(true_count)

    summary = pd.DataFrame(
        {"value": [float(values[name]) for name in METRIC_NAMES]},
        index=pd.Index(METRIC_NAMES, name="metric"),
    )
    summary.attrs.update({
        "threshold_strategy": strategy,
        "threshold": (None if thresholds is None else float(thresholds[0])
                      if strategy == "fixed" else thresholds.tolist()),
        "top_k": None if top_k is None else int(top_k),
        "n_samples": int(n_samples),
        "num_labels": int(num_labels),
        "excluded_labels": excluded,
        "naming_note": NAMING_NOTE,
        "paper_naming": dict(PAPER_NAMING),
    })
    if not per_label:
        return summary

    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, average=None,
                                                       zero_division=0)
    table = pd.DataFrame({
        "support": support.astype(np.int64),
        "predicted": y_pred.sum(0).astype(np.int64),
        "precision": p, "recall": r, "f1": f,
        "average_precision": ap, "roc_auc": auc,
        "threshold": np.full(num_labels, np.nan) if thresholds is None else thresholds,
    }, index=index, columns=list(PER_LABEL_COLUMNS))
    table.attrs.update(summary.attrs)
    return summary, table


def evaluate(model, data, threshold=0.5, label_names=None, per_label=False,
             val_data=None, top_k=None, from_logits=True):
    """Evaluate a multilabel model: every scikit-learn score, as a pandas table.

    Predicts once with :func:`predict_scores`, then calls
    :func:`evaluate_predictions` (see there for the metrics and the table).

    Args:
        model: keras.Model or any object with `.predict`. Outputs logits (or
            probabilities with `from_logits=False`).
        data: tf.data.Dataset yielding `(x, y)`, or a tuple `(X, y)` of arrays
            (`X` may be a dict of arrays).
        threshold: float, array or str. A probability in [0, 1] (default
            `0.5`), one threshold per label, or `"tuned"` (per-label thresholds
            that maximise F1 on `val_data`).
        label_names: sequence of str or None. Names for the per-label table.
        per_label: bool. Also return the per-label table.
        val_data: dataset or tuple `(X, y)` like `data`. Needed for
            `threshold="tuned"`.
        top_k: int or None. Predict the `k` highest scores per example.
        from_logits: bool. `True` (default) when the model outputs logits.

    Returns:
        pandas.DataFrame indexed by metric name with a `"value"` column, or
        `(summary, per_label_df)` with `per_label=True`. The paper swaps
        "micro" and "macro": see `df.attrs["naming_note"]` and
        :data:`PAPER_NAMING`.

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
    tuned = isinstance(threshold, str) and threshold == "tuned" and top_k is None
    if tuned and val_data is None:
        raise ValueError(
            "threshold='tuned' chooses per-label thresholds on validation data: "
            "pass `val_data` (a dataset or a tuple (X, y)). Received: val_data=None"
        )
    y_true, scores = predict_scores(model, data, from_logits=from_logits)
    y_val = scores_val = None
    if val_data is not None and tuned:
        y_val, scores_val = predict_scores(model, val_data, from_logits=from_logits)
    elif val_data is not None:
        warnings.warn(
            "`val_data` is only used with threshold='tuned'; it is ignored.",
            UserWarning, stacklevel=2,
        )
    return evaluate_predictions(y_true, scores, threshold=threshold,
                                label_names=label_names, per_label=per_label,
                                y_val=y_val, scores_val=scores_val, top_k=top_k)


__all__ = [
    "evaluate", "evaluate_predictions",
    "METRIC_NAMES", "PER_LABEL_COLUMNS", "PAPER_NAMING", "NAMING_NOTE",
]
