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

import inspect
import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    hamming_loss,
    jaccard_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

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
DEFAULT_THRESHOLD = 0.5


# --- array conversion and checks (eager NumPy only) -------------------------


def _to_numpy(x):
    """NumPy view of a NumPy/TensorFlow/PyTorch/JAX array (or nested lists)."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy") and callable(x.numpy):
        return x.numpy()
    return np.asarray(x)


def _check_indicator(y, name):
    """``y`` as an int 0/1 matrix of shape (n_samples, num_labels), or raise."""
    y = _to_numpy(y)
    if y.dtype == object or not (np.issubdtype(y.dtype, np.number)
                                 or y.dtype == bool):
        raise TypeError(
            f"`{name}` must be a numeric 0/1 indicator matrix. "
            f"Received: {name}.dtype={y.dtype}"
        )
    if y.ndim != 2:
        hint = " Use y.reshape(-1, 1) for a single label." if y.ndim == 1 else ""
        raise ValueError(
            f"`{name}` must be a 0/1 indicator matrix of shape (n_samples, "
            f"num_labels). Received: {name}.shape={y.shape}.{hint}"
        )
    if y.shape[0] < 1:
        raise ValueError(f"`{name}` has no examples. Received: {name}.shape={y.shape}")
    if y.shape[1] < 2:
        raise ValueError(
            f"`{name}` must have at least 2 labels (columns) for multilabel "
            f"metrics; use scikit-learn's binary metrics for one label. "
            f"Received: {name}.shape={y.shape}"
        )
    is_01 = np.isin(y, (0, 1))
    if not is_01.all():
        bad = np.unique(y[~is_01])[:5].tolist()
        raise ValueError(
            f"`{name}` must be a 0/1 indicator matrix. Received values other "
            f"than 0 and 1: {bad!r}"
        )
    return y.astype(np.int64)


def _check_scores(scores, name, shape, y_name):
    """``scores`` as float64 probabilities of the given shape, or raise."""
    scores = _to_numpy(scores)
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a numeric array of probabilities. "
            f"Received: {name}.dtype={np.asarray(scores).dtype}"
        ) from None
    if scores.shape != shape:
        raise ValueError(
            f"`{name}` must have the same shape as `{y_name}`. Received: "
            f"{name}.shape={scores.shape}, {y_name}.shape={shape}"
        )
    finite = np.isfinite(scores)
    if not finite.all():
        raise ValueError(
            f"`{name}` contains NaN or infinite values "
            f"({int((~finite).sum())} of {scores.size})."
        )
    if scores.min() < 0.0 or scores.max() > 1.0:
        raise ValueError(
            f"`{name}` must hold probabilities in [0, 1]. Received values in "
            f"[{scores.min()!r}, {scores.max()!r}]. For logits, apply a sigmoid "
            "first, or call `evaluate(..., from_logits=True)`."
        )
    return scores


def _check_label_names(label_names, num_labels):
    if label_names is None:
        return pd.RangeIndex(num_labels, name="label")
    if isinstance(label_names, (str, bytes)):
        raise TypeError(
            "`label_names` must be a sequence of names, one per label. "
            f"Received: label_names={label_names!r}"
        )
    names = list(label_names)
    if len(names) != num_labels:
        raise ValueError(
            f"`label_names` must have one name per label: expected {num_labels}, "
            f"received {len(names)}. Received: label_names={names!r}"
        )
    if len(set(names)) != len(names):
        dupes = sorted({str(n) for n in names if names.count(n) > 1})
        raise ValueError(
            f"`label_names` must be unique. Received duplicates: {dupes!r}"
        )
    return pd.Index(names, name="label")


# --- threshold strategies ---------------------------------------------------


def _best_threshold(y, s):
    """The threshold maximising F1 of ``s > t`` on one label, and that F1."""
    n = len(s)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    f1 = 2.0 * tp / (np.arange(1, n + 1) + y.sum())
    # A cut after position i predicts exactly the first i + 1 scores only where
    # the next score is strictly lower (and, for the last, where it is > 0).
    valid = np.empty(n, dtype=bool)
    valid[:-1] = s_sorted[:-1] > s_sorted[1:]
    valid[-1] = s_sorted[-1] > 0.0
    if not valid.any():
        return DEFAULT_THRESHOLD, 0.0
    f1 = np.where(valid, f1, -1.0)
    i = int(np.argmax(f1))  # first maximum: the fewest predicted labels
    upper = s_sorted[i]
    lower = s_sorted[i + 1] if i + 1 < n else 0.0
    t = (upper + lower) / 2.0
    if not lower <= t < upper:  # adjacent floats
        t = lower
    return float(t), float(f1[i])


def tune_thresholds(y_val, scores_val):
    """Per-label thresholds that maximise each label's F1 on validation data.

    Each label's threshold sits halfway between the two validation scores where
    its F1 (of ``scores > threshold``) is highest; ties go to the higher
    threshold (fewer predictions). Labels with no positive example in `y_val`
    keep the default 0.5 (with a warning).

    Args:
        y_val: array of shape `(n_samples, num_labels)`. 0/1 validation labels.
        scores_val: array of the same shape. Validation probabilities in [0, 1].

    Returns:
        np.ndarray of shape `(num_labels,)`: the thresholds.

    Example:
    >>> import VLAP
    >>> y_val = [[1, 0], [1, 1], [0, 1], [0, 0]]
    >>> scores_val = [[0.4, 0.9], [0.3, 0.6], [0.2, 0.7], [0.1, 0.8]]
    >>> [round(float(t), 4) for t in VLAP.evaluation.tune_thresholds(y_val, scores_val)]
    [0.25, 0.3]
    """
    y_val = _check_indicator(y_val, "y_val")
    scores_val = _check_scores(scores_val, "scores_val", y_val.shape, "y_val")
    no_positive = y_val.sum(0) == 0
    if no_positive.any():
        warnings.warn(
            f"{int(no_positive.sum())} of {y_val.shape[1]} labels have no positive "
            f"example in `y_val`; they keep the threshold {DEFAULT_THRESHOLD}.",
            UserWarning, stacklevel=2,
        )
    thresholds = np.full(y_val.shape[1], DEFAULT_THRESHOLD)
    for j in np.flatnonzero(~no_positive):
        thresholds[j] = _best_threshold(y_val[:, j], scores_val[:, j])[0]
    return thresholds


def _top_k(scores, k):
    """0/1 matrix with exactly ``k`` ones per row: the highest scores (ties: first)."""
    idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    y_pred = np.zeros(scores.shape, dtype=np.int64)
    np.put_along_axis(y_pred, idx, 1, axis=1)
    return y_pred


def _is_default_threshold(threshold):
    return (isinstance(threshold, numbers.Real) and not isinstance(threshold, bool)
            and float(threshold) == DEFAULT_THRESHOLD)


def _check_top_k(top_k, threshold, num_labels):
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral):
        raise TypeError(f"`top_k` must be an int or None. Received: top_k={top_k!r}")
    if not 1 <= top_k <= num_labels:
        raise ValueError(
            f"`top_k` must be between 1 and num_labels={num_labels}. "
            f"Received: top_k={top_k!r}"
        )
    if not _is_default_threshold(threshold):
        raise ValueError(
            "Pass either `threshold` or `top_k`, not both: top-k predicts the k "
            f"highest scores per example. Received: threshold={threshold!r}, "
            f"top_k={top_k!r}"
        )
    return int(top_k)


def _resolve_thresholds(threshold, top_k, num_labels, y_val, scores_val):
    """``(strategy, thresholds or None)``; strategy is fixed/per_label/tuned/top_k."""
    uses_val = isinstance(threshold, str) and top_k is None
    if not uses_val and (y_val is not None or scores_val is not None):
        warnings.warn(
            "`y_val` / `scores_val` (or `val_data`) are only used with "
            "threshold='tuned'; they are ignored.", UserWarning, stacklevel=3,
        )
    if top_k is not None:
        _check_top_k(top_k, threshold, num_labels)
        return "top_k", None
    if isinstance(threshold, str):
        if threshold != "tuned":
            raise ValueError(
                "Invalid value for argument `threshold`. Expected a float in [0, 1], "
                "an array of one threshold per label, or 'tuned'. "
                f"Received: threshold={threshold!r}"
            )
        if y_val is None or scores_val is None:
            raise ValueError(
                "threshold='tuned' chooses per-label thresholds on validation data: "
                "pass `val_data` to `evaluate` (or `y_val` and `scores_val` to "
                "`evaluate_predictions`). Received: "
                f"y_val={'None' if y_val is None else 'array'}, "
                f"scores_val={'None' if scores_val is None else 'array'}"
            )
        y_val = _check_indicator(y_val, "y_val")
        if y_val.shape[1] != num_labels:
            raise ValueError(
                f"`y_val` must have num_labels={num_labels} columns, as `y_true`. "
                f"Received: y_val.shape={y_val.shape}"
            )
        return "tuned", tune_thresholds(y_val, scores_val)
    if isinstance(threshold, bool):
        raise TypeError(
            f"`threshold` must be a float, an array or 'tuned'. Received: "
            f"threshold={threshold!r}"
        )
    if isinstance(threshold, numbers.Real):
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(
                f"`threshold` must be a probability in [0, 1]. "
                f"Received: threshold={threshold!r}"
            )
        return "fixed", np.full(num_labels, float(threshold))
    try:
        thresholds = np.asarray(_to_numpy(threshold), dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"`threshold` must be a float, an array or 'tuned'. Received: "
            f"threshold={threshold!r}"
        ) from None
    if thresholds.shape != (num_labels,):
        raise ValueError(
            f"A per-label `threshold` must have shape (num_labels,) = ({num_labels},)."
            f" Received: threshold.shape={thresholds.shape}"
        )
    if not (np.isfinite(thresholds).all() and (thresholds >= 0).all()
            and (thresholds <= 1).all()):
        raise ValueError(
            "Per-label thresholds must be probabilities in [0, 1]. "
            f"Received: threshold={thresholds.tolist()!r}"
        )
    return "per_label", thresholds


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
    y_true = _check_indicator(y_true, "y_true")
    scores = _check_scores(scores, "scores", y_true.shape, "y_true")
    n_samples, num_labels = y_true.shape
    index = _check_label_names(label_names, num_labels)
    if not isinstance(per_label, bool):
        raise TypeError(f"`per_label` must be a bool. Received: per_label={per_label!r}")
    strategy, thresholds = _resolve_thresholds(threshold, top_k, num_labels,
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


# --- models -----------------------------------------------------------------


def _output_array(outputs):
    """Logits or probabilities out of what a model's predict returns."""
    if hasattr(outputs, "logits"):  # transformers' TFSequenceClassifierOutput
        outputs = outputs.logits
    elif isinstance(outputs, dict):
        if "logits" not in outputs:
            raise ValueError(
                "The model returned a dict without a 'logits' entry. Received "
                f"keys: {sorted(outputs)!r}"
            )
        outputs = outputs["logits"]
    elif isinstance(outputs, (list, tuple)) and len(outputs) == 1:
        outputs = outputs[0]
    return np.asarray(_to_numpy(outputs), dtype=np.float64)


def _predict_array(model, x):
    params = inspect.signature(model.predict).parameters
    takes_verbose = "verbose" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return model.predict(x, verbose=0) if takes_verbose else model.predict(x)


def _predict_batch(model, x):
    if hasattr(model, "predict_on_batch"):
        return model.predict_on_batch(x)
    return model.predict(x)


def _batches(data):
    """Iterate ``data``; a tf.data.Dataset yields NumPy off the TensorFlow backend."""
    if (type(data).__module__.startswith("tensorflow")
            and hasattr(data, "as_numpy_iterator")):
        import keras

        if keras.config.backend() != "tensorflow":
            return data.as_numpy_iterator()
    return iter(data)


def _is_xy_pair(data):
    return isinstance(data, (tuple, list)) and len(data) in (2, 3)


def predict_scores(model, data, from_logits=True):
    """Run the model once over `data`; return `(y_true, probabilities)`.

    Args:
        model: keras.Model or any object with `.predict` (its outputs are logits
            unless `from_logits=False`; a transformers output's `.logits` and a
            dict's `"logits"` entry are used).
        data: tf.data.Dataset or iterable of batches yielding `(x, y)` or
            `(x, y, sample_weight)` (the weights are ignored), or a tuple
            `(X, y)` of arrays (`X` may be a dict of arrays). A dataset is read
            once, so shuffled datasets keep labels and predictions aligned.
        from_logits: bool. `True` (default) applies a sigmoid to the outputs.

    Returns:
        tuple `(y_true, probabilities)` of float64 NumPy arrays of shape
        `(n_samples, num_labels)`.
    """
    if not hasattr(model, "predict"):
        raise TypeError(
            f"`model` must have a `predict` method. Received: model={model!r}"
        )
    if not isinstance(from_logits, bool):
        raise TypeError(
            f"`from_logits` must be a bool. Received: from_logits={from_logits!r}"
        )
    if _is_xy_pair(data):
        x, y = data[0], data[1]
        y_true = np.asarray(_to_numpy(y))
        outputs = _output_array(_predict_array(model, x))
    elif isinstance(data, (dict, str, bytes, np.ndarray)) or not hasattr(data, "__iter__"):
        raise TypeError(
            "`data` must be a tf.data.Dataset (or iterable of batches) yielding "
            "(x, y), or a tuple (X, y). Received: "
            f"data of type {type(data).__name__}"
        )
    else:
        ys, outs = [], []
        for batch in _batches(data):
            if not _is_xy_pair(batch):
                raise ValueError(
                    "Each batch of `data` must be (x, y) or (x, y, sample_weight): "
                    "evaluation needs the labels. Received: a batch of type "
                    f"{type(batch).__name__}"
                )
            ys.append(np.asarray(_to_numpy(batch[1])))
            outs.append(_output_array(_predict_batch(model, batch[0])))
        if not ys:
            raise ValueError("`data` yielded no batches.")
        y_true, outputs = np.concatenate(ys), np.concatenate(outs)
    if outputs.shape != y_true.shape:
        raise ValueError(
            "The model's outputs must have the shape of the labels. Received: "
            f"outputs.shape={outputs.shape}, y.shape={y_true.shape}"
        )
    probabilities = expit(outputs) if from_logits else outputs
    return y_true.astype(np.float64), probabilities


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
    "evaluate", "evaluate_predictions", "predict_scores", "tune_thresholds",
    "METRIC_NAMES", "PER_LABEL_COLUMNS", "PAPER_NAMING", "NAMING_NOTE",
]
