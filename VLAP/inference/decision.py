"""Threshold strategies: a fixed value, one per label, tuned on validation data, top-k.

:class:`Decision` is the same rule as a serialisable Keras layer, so it is
saved inside a model (see :mod:`VLAP.inference.predictor`).

:func:`tune_thresholds` picks, per label, the cut on validation scores that
maximises that label's F1; :func:`resolve_thresholds` turns any strategy into
what :func:`VLAP.evaluation.evaluate_predictions` applies.
"""

import numbers
import warnings

import keras
import numpy as np
from keras import ops

from VLAP._arrays import check_indicator, check_scores, to_numpy

DEFAULT_THRESHOLD = 0.5


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
    >>> [round(float(t), 4) for t in VLAP.inference.tune_thresholds(y_val, scores_val)]
    [0.25, 0.3]
    """
    y_val = check_indicator(y_val, "y_val")
    scores_val = check_scores(scores_val, "scores_val", y_val.shape, "y_val")
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


def exact_cut(threshold, dtype):
    """The cut in ``dtype`` that float ``scores > cut`` agrees with ``> threshold``.

    For float32 scores, the largest float32 not above the (float64) threshold:
    ``s > threshold`` holds exactly when ``s > cut``, so the comparison needs
    no float64 copy of the scores.
    """
    t = np.asarray(threshold, dtype=np.float64)
    if np.dtype(dtype) != np.float32:
        return t
    cut = t.astype(np.float32)
    return np.where(cut > t, np.nextafter(cut, np.float32(-np.inf)), cut)


def top_k_indicator(scores, k):
    """0/1 matrix with exactly ``k`` ones per row: the highest scores.

    Ties are broken by label order (the lower label index first), as a stable
    sort of the negated scores does.
    """
    idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    y_pred = np.zeros(scores.shape, dtype=np.uint8)
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


def resolve_thresholds(threshold, top_k, num_labels, y_val, scores_val):
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
        y_val = check_indicator(y_val, "y_val")
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
        thresholds = np.asarray(to_numpy(threshold), dtype=np.float64)
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


@keras.saving.register_keras_serializable(package="VLAP")
class Decision(keras.layers.Layer):
    """The decision rule of a trained model: per-label thresholds or top-k.

    Turns probabilities `(batch, num_labels)` into 0/1 decisions, with
    `scores > thresholds` (the rule of :func:`VLAP.evaluation.evaluate_predictions`)
    or the `top_k` highest scores of each row. The thresholds and label
    names are in `get_config`, so the rule is saved inside a `.keras` file
    and reloads identically on every backend.

    Args:
        label_names: list of str. One name per label, in column order.
        thresholds: float or list of float. One threshold for every label
            (default 0.5) or one per label (e.g. from
            :func:`tune_thresholds`), each a probability in [0, 1].
        top_k: int or None. Predict exactly the `top_k` highest-scoring
            labels per example instead (then leave `thresholds` at 0.5).
        strategy: str or None. How the thresholds were chosen (`"fixed"`,
            `"tuned"`, ...), for the record; None infers it.

    Example:
    >>> from VLAP.inference import Decision
    >>> rule = Decision(["cat", "dog", "bird"], thresholds=[0.5, 0.3, 0.9])
    >>> ops.convert_to_numpy(rule(np.array([[0.6, 0.4, 0.8]], "float32"))).tolist()
    [[1.0, 1.0, 0.0]]
    >>> rule.names_of([[1, 1, 0]])
    [['cat', 'dog']]
    """

    def __init__(self, label_names, thresholds=DEFAULT_THRESHOLD, top_k=None,
                 strategy=None, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        label_names = [str(n) for n in label_names]
        if not label_names or len(set(label_names)) != len(label_names):
            raise ValueError(
                "`label_names` must be a non-empty list of distinct names. "
                f"Received: label_names={label_names[:10]!r}")
        num_labels = len(label_names)
        kind, values = resolve_thresholds(
            thresholds if not isinstance(thresholds, list) else np.asarray(thresholds),
            top_k, num_labels, None, None)
        self.label_names = label_names
        self.top_k = None if top_k is None else int(top_k)
        self.thresholds = None if values is None else [float(v) for v in values]
        self.strategy = strategy or kind

    @property
    def num_labels(self):
        return len(self.label_names)

    def call(self, scores):
        scores = ops.convert_to_tensor(scores)
        if self.top_k is not None:
            _, idx = ops.top_k(scores, self.top_k)
            hot = ops.one_hot(idx, self.num_labels, dtype=scores.dtype)
            return ops.minimum(ops.sum(hot, axis=-2), 1.0)
        cut = ops.convert_to_tensor(np.asarray(self.thresholds), dtype=scores.dtype)
        return ops.cast(ops.greater(scores, cut), scores.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def names_of(self, decisions):
        """Label-name lists of a 0/1 decision matrix."""
        decisions = np.asarray(to_numpy(decisions))
        return [[self.label_names[j] for j in np.flatnonzero(row)] for row in decisions]

    def get_config(self):
        config = super().get_config()
        config.update({"label_names": self.label_names,
                       "thresholds": (DEFAULT_THRESHOLD if self.thresholds is None
                                      else self.thresholds),
                       "top_k": self.top_k, "strategy": self.strategy})
        return config
