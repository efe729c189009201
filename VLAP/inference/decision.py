"""Threshold strategies: a fixed value, one per label, tuned on validation data, top-k.

:class:`Decision` is the same rule as a serialisable Keras layer, so it is
saved inside a model (see :mod:`VLAP.inference.predictor`).

:func:`tune_thresholds` picks, per label, the cut on validation scores that
maximises that label's F1; :func:`resolve_thresholds` turns any strategy into
what :func:`VLAP.evaluation.evaluate_predictions` applies.
"""

import numbers
import warnings
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops
from scipy.special import expit

from VLAP._arrays import check_indicator, check_scores, to_numpy

DEFAULT_THRESHOLD = 0.5


#: Labels with fewer positive validation examples than this keep the default
#: cut (probability 0.5, logit 0) when thresholds are tuned: a cut chosen on one
#: to four positives follows their noise (a label tuned to 0.0002 on a handful of
#: positives predicted 594 test rows against 153 true).
MIN_TUNING_SUPPORT = 5
#: Folds of the out-of-fold comparison (:func:`choose_rule`) of tuned cuts with 0.5.
RULE_FOLDS = 5


def logit(p) -> np.ndarray:
    """``log(p / (1 - p))`` in float64 (``-inf`` at 0, ``inf`` at 1)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def _best_cut(y, s, space):
    """The cut maximising F1 of ``s > cut`` on one label, and that F1.

    ``s`` are logits (``space="logit"``) or probabilities. The cut lies halfway
    between two adjacent distinct scores (the first maximum: the fewest predicted
    labels); predicting every example puts it below the lowest score: at 0 for
    probabilities (only when every score is above 0), half a logit below the lowest
    logit. So a tuned cut on logits is always finite (strictly inside (0, 1) as
    a probability) and splits the validation scores exactly as its F1 says.
    """
    n = len(s)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    f1 = 2.0 * tp / (np.arange(1, n + 1) + y.sum())
    floor = 0.0 if space == "probability" else float(s_sorted[-1]) - 1.0
    valid = np.empty(n, dtype=bool)
    valid[:-1] = s_sorted[:-1] > s_sorted[1:]
    valid[-1] = s_sorted[-1] > floor
    if not valid.any():
        return None, 0.0
    f1 = np.where(valid, f1, -1.0)
    i = int(np.argmax(f1))  # first maximum: the fewest predicted labels
    upper = float(s_sorted[i])
    lower = float(s_sorted[i + 1]) if i + 1 < n else floor
    cut = (upper + lower) / 2.0
    if not lower <= cut < upper:  # adjacent floats
        cut = lower
    return cut, float(f1[i])


def _check_logits(logits, name, shape, like):
    from VLAP._validation import check_scores as _check

    return _check(logits, name, shape=shape, like=like, probabilities=False)


def _check_min_support(min_support):
    if isinstance(min_support, bool) or not isinstance(min_support, numbers.Integral) \
            or min_support < 1:
        raise ValueError("`min_support` must be an int >= 1 (positive validation examples "
                         f"a label needs to be tuned). Received: min_support={min_support!r}")
    return int(min_support)


def _tune(y_val, s_val, space, min_support, warn=True):
    default = 0.0 if space == "logit" else DEFAULT_THRESHOLD
    few = y_val.sum(0) < min_support
    if few.any() and warn:
        warnings.warn(
            f"{int(few.sum())} of {y_val.shape[1]} labels have fewer than {min_support} "
            f"positive example{'s' if min_support > 1 else ''} in `y_val`; they keep the "
            f"default threshold {DEFAULT_THRESHOLD}.", UserWarning, stacklevel=3)
    cuts = np.full(y_val.shape[1], default)
    for j in np.flatnonzero(~few):
        cut = _best_cut(y_val[:, j], s_val[:, j], space)[0]
        cuts[j] = default if cut is None else cut
    return cuts


def tune_thresholds(y_val, scores_val, *, min_support: int = 1) -> np.ndarray:
    """Per-label thresholds that maximise each label's F1 on validation probabilities.

    Each label's threshold sits halfway between the two validation scores where
    its F1 (of ``scores > threshold``) is highest; ties go to the higher
    threshold (fewer predictions). Labels with fewer than `min_support`
    positive examples in `y_val` keep the default 0.5 (with a warning). With a
    model's logits at hand, use :func:`tune_cut_points` (what `vlap run` and
    :func:`VLAP.inference.package_model` do): probabilities of large logits
    round to 0 or 1 and can no longer be split.

    Args:
        y_val: array of shape `(n_samples, num_labels)`. 0/1 validation labels.
        scores_val: array of the same shape. Validation probabilities in [0, 1].
        min_support: int. Positive validation examples a label needs to be tuned.

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
    return _tune(y_val, scores_val, "probability", _check_min_support(min_support))


def tune_cut_points(y_val, logits_val, *, min_support: int = MIN_TUNING_SUPPORT) -> np.ndarray:
    """Per-label cut points on the logits that maximise each label's validation F1.

    The rule of :func:`tune_thresholds`, on logits: each cut lies halfway
    between two adjacent validation logits, so it is finite (strictly inside
    (0, 1) as a probability) whatever the logits, and labels with fewer than
    `min_support` positive validation examples keep the cut 0 (probability
    0.5). A label is predicted when ``logit > cut``.

    Args:
        y_val: array `(n_samples, num_labels)`. 0/1 validation labels.
        logits_val: array of the same shape. The model's validation logits.
        min_support: int. Positive validation examples a label needs to be
            tuned (default :data:`MIN_TUNING_SUPPORT`).

    Returns:
        np.ndarray of shape `(num_labels,)` of float64 logits.

    Example:
    >>> from VLAP.inference.decision import tune_cut_points
    >>> y_val = [[1, 0], [1, 1], [0, 1], [0, 0]]
    >>> logits = [[30.0, 2.0], [25.0, -1.0], [-3.0, 1.0], [-4.0, 0.5]]
    >>> tune_cut_points(y_val, logits, min_support=2).tolist()
    [11.0, -1.5]
    """
    y_val = check_indicator(y_val, "y_val")
    logits_val = _check_logits(logits_val, "logits_val", y_val.shape, "y_val")
    return _tune(y_val, logits_val, "logit", _check_min_support(min_support))


def _macro_f1(y, p):
    """Macro-F1 (zero_division=0) of 0/1 decisions, on VLAP's one counting path."""
    from VLAP.ops import core
    from VLAP.ops.numpy_ops import NUMPY_OPS

    counts = [c.astype(np.float64) for c in core.confusion_counts(
        NUMPY_OPS, np.asarray(y, np.uint8), np.asarray(p, np.uint8))]
    return float(core.reduce_score(NUMPY_OPS, "fbeta", *counts, average="macro",
                                   epsilon=np.finfo(np.float64).tiny))


def choose_rule(y_val, logits_val, *, min_support: int = MIN_TUNING_SUPPORT,
                folds: int = RULE_FOLDS, seed: int = 0) -> dict:
    """Tuned per-label cuts or the fixed 0.5, chosen on validation data only.

    Cuts tuned on the validation split always beat 0.5 *on that split*, so the
    comparison is made out of fold: the validation rows are dealt into `folds`
    parts; each part is decided with cuts tuned on the other parts, and the
    macro-F1 of those out-of-fold decisions is compared with the macro-F1 at
    0.5 on the same rows. Tuned cuts (then tuned on the whole validation split,
    :func:`tune_cut_points`) are chosen only when they score strictly higher;
    fewer than two rows per part keep 0.5.

    Args:
        y_val: array `(n_samples, num_labels)`. 0/1 validation labels.
        logits_val: array of the same shape. Validation logits.
        min_support: int. As :func:`tune_cut_points`.
        folds: int. Parts of the out-of-fold comparison.
        seed: int. Seeds the dealing of rows into parts.

    Returns:
        dict with `strategy` ("tuned" or "fixed"), `cut_points` (list of
        logits), `val_f1_macro_fixed` (at 0.5), `val_f1_macro_tuned_oof` (out of
        fold; None when too few rows), `min_support` and `folds`.

    Example:
    >>> import numpy as np
    >>> from VLAP.inference.decision import choose_rule
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random((300, 3)) < 0.3).astype(int)
    >>> logits = 2.0 * y - 2.5 + rng.normal(size=y.shape)  # 0.5 predicts too little
    >>> rule = choose_rule(y, logits)
    >>> rule["strategy"], rule["val_f1_macro_tuned_oof"] > rule["val_f1_macro_fixed"]
    ('tuned', True)
    """
    y_val = check_indicator(y_val, "y_val")
    logits_val = _check_logits(logits_val, "logits_val", y_val.shape, "y_val")
    min_support = _check_min_support(min_support)
    if isinstance(folds, bool) or not isinstance(folds, numbers.Integral) or folds < 2:
        raise ValueError(f"`folds` must be an int >= 2. Received: folds={folds!r}")
    n, num_labels = y_val.shape
    fixed = _macro_f1(y_val, logits_val > 0.0)
    out = {"strategy": "fixed", "cut_points": [0.0] * num_labels,
           "val_f1_macro_fixed": fixed, "val_f1_macro_tuned_oof": None,
           "min_support": min_support, "folds": int(folds)}
    if n < 2 * folds:
        return out
    part = np.random.default_rng(seed).permutation(n) % folds
    decided = np.zeros(y_val.shape, dtype=np.uint8)
    for f in range(folds):
        rows = part == f
        cuts = _tune(y_val[~rows], logits_val[~rows], "logit", min_support, warn=False)
        decided[rows] = logits_val[rows] > cuts
    out["val_f1_macro_tuned_oof"] = _macro_f1(y_val, decided)
    if out["val_f1_macro_tuned_oof"] > fixed:
        cuts = _tune(y_val, logits_val, "logit", min_support, warn=False)
        out.update(strategy="tuned", cut_points=[float(c) for c in cuts])
    return out


def exact_cut(threshold, dtype) -> np.ndarray:
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


def top_k_indicator(scores, k: int) -> np.ndarray:
    """0/1 matrix with exactly ``k`` ones per row: the highest scores.

    The one top-k rule of VLAP (NumPy here, ``keras.ops`` in :class:`Decision`):
    every score above the row's k-th largest value is taken, then the scores
    equal to it from the lowest label index up, until there are ``k``. It needs
    only the k-th largest *value*, which every backend computes alike, so ties
    break the same way on TensorFlow, PyTorch, JAX and NumPy.

    Example:
    >>> top_k_indicator(np.array([[0.2, 0.7, 0.7, 0.7]]), 2).tolist()
    [[0, 1, 1, 0]]
    """
    scores = np.asarray(scores)
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]
    above = scores > kth
    need = k - above.sum(1, keepdims=True)
    ties = scores == kth
    return (above | (ties & (np.cumsum(ties, axis=1) <= need))).astype(np.uint8)


def _cuts_in(cut_points, from_logits, dtype):
    """The cut points as values to compare the model's outputs (of ``dtype``) with.

    ``outputs > cut`` in ``dtype`` holds exactly when the output is above the
    float64 cut point (a logit, or its probability for probability outputs).
    """
    cuts = np.asarray(cut_points, dtype=np.float64)
    if not from_logits:
        cuts = expit(cuts)
    return exact_cut(cuts, dtype)


def decide(outputs, *, cut_points=None, top_k=None, from_logits=True) -> np.ndarray:
    """The decision rule on NumPy outputs: 0/1 decisions as ``uint8``.

    The same rule, bit for bit, as :class:`Decision` on every backend: with
    `top_k`, :func:`top_k_indicator`; else ``outputs > cut`` per label, with the
    cut points given as logits (probability outputs, ``from_logits=False``,
    are compared with the cut points' probabilities).

    Args:
        outputs: array `(n, num_labels)`. Logits (or probabilities).
        cut_points: float or array `(num_labels,)` of logits; None means 0
            (probability 0.5).
        top_k: int or None. Predict the `top_k` highest outputs per row instead.
        from_logits: bool. Whether `outputs` are logits.

    Example:
    >>> decide(np.array([[3.0, -1.0, 0.2]], "float32"), cut_points=[0.0, -2.0, 1.0]).tolist()
    [[1, 1, 0]]
    """
    outputs = np.asarray(outputs)
    if top_k is not None:
        return top_k_indicator(outputs, int(top_k))
    cuts = _cuts_in(0.0 if cut_points is None else cut_points, from_logits, outputs.dtype)
    return (outputs > cuts).astype(np.uint8)


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


def resolve_thresholds(threshold, top_k: "int | None", num_labels: int, y_val,
                       scores_val) -> "tuple[str, np.ndarray | None]":
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
        return "tuned", tune_thresholds(y_val, scores_val, min_support=MIN_TUNING_SUPPORT)
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
    """The decision rule of a trained model: per-label cut points or top-k.

    Turns a model's outputs `(batch, num_labels)` into 0/1 decisions: a label
    is predicted when its logit is above its cut point, or for the `top_k`
    highest outputs of each row (ties: the lower label index first, on every
    backend, as :func:`top_k_indicator`). Cut points are kept as float64 logits
    and compared exactly in the outputs' dtype (a threshold of 0.99999999 is a
    logit of 18.42, which a float32 logit can exceed; as a float32 probability
    it would round to 1.0 and never be predicted). :func:`decide` is the same
    rule on NumPy arrays. The rule is in `get_config`, so it is saved inside a
    `.keras` file and reloads identically on every backend.

    Args:
        label_names: list of str. One name per label, in column order.
        thresholds: float or list of float. Probabilities in [0, 1]: one for
            every label (default 0.5) or one per label. Stored as their logits.
        top_k: int or None. Predict exactly the `top_k` highest-scoring
            labels per example instead (then leave `thresholds` at 0.5).
        strategy: str or None. How the rule was chosen (`"fixed"`,
            `"tuned"`, ...), for the record; None infers it.
        cut_points: float, list or None. The cut points as logits (e.g. from
            :func:`tune_cut_points`, always finite); given, they replace
            `thresholds`.
        from_logits: bool. Whether the layer's inputs are logits (default) or
            probabilities.

    Example:
    >>> from VLAP.inference import Decision
    >>> rule = Decision(["cat", "dog", "bird"], thresholds=[0.5, 0.3, 0.9])
    >>> logits = np.array([[0.4, -0.4, 2.0]], "float32")   # probabilities .60 .40 .88
    >>> ops.convert_to_numpy(rule(logits)).tolist()
    [[1.0, 1.0, 0.0]]
    >>> rule.names_of([[1, 1, 0]])
    [['cat', 'dog']]
    """

    def __init__(self, label_names: "Sequence[str]", thresholds=DEFAULT_THRESHOLD,
                 top_k: "int | None" = None, strategy: "str | None" = None,
                 cut_points=None, from_logits: bool = True, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        label_names = [str(n) for n in label_names]
        if not label_names or len(set(label_names)) != len(label_names):
            raise ValueError(
                "`label_names` must be a non-empty list of distinct names. "
                f"Received: label_names={label_names[:10]!r}")
        if not isinstance(from_logits, bool):
            raise TypeError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
        num_labels = len(label_names)
        self.label_names = label_names
        self.from_logits = from_logits
        self.top_k = None
        if cut_points is not None and top_k is None:
            cuts = np.broadcast_to(np.asarray(cut_points, dtype=np.float64), (num_labels,))
            if np.isnan(cuts).any():
                raise ValueError("`cut_points` must be logits, one per label (NaN found). "
                                 f"Received: cut_points={np.asarray(cut_points).tolist()!r}")
            kind = "per_label"
        else:
            kind, values = resolve_thresholds(
                thresholds if not isinstance(thresholds, list) else np.asarray(thresholds),
                top_k, num_labels, None, None)
            if values is None:
                self.top_k, cuts = int(top_k), None
            else:  # 0 and 1 (cut points -inf and inf) predict every label and none
                cuts = logit(values)
        self.cut_points = None if cuts is None else [float(c) for c in cuts]
        self.strategy = strategy or kind

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def thresholds(self) -> "list[float] | None":
        """The cut points as probabilities (float64), or None for top-k."""
        return None if self.cut_points is None else [float(t) for t in expit(self.cut_points)]

    def call(self, outputs):
        outputs = ops.convert_to_tensor(outputs)
        if self.top_k is not None:
            kth = ops.top_k(outputs, self.top_k, sorted=True)[0][..., self.top_k - 1:]
            above = ops.greater(outputs, kth)
            need = self.top_k - ops.sum(ops.cast(above, "int32"), axis=-1, keepdims=True)
            ties = ops.equal(outputs, kth)
            rank = ops.cumsum(ops.cast(ties, "int32"), axis=-1)
            chosen = ops.logical_or(above, ops.logical_and(ties, ops.less_equal(rank, need)))
            return ops.cast(chosen, outputs.dtype)
        cut = _cuts_in(self.cut_points, self.from_logits, np.dtype(
            keras.backend.standardize_dtype(outputs.dtype)))
        cut = ops.convert_to_tensor(cut, dtype=outputs.dtype)
        return ops.cast(ops.greater(outputs, cut), outputs.dtype)

    def decide(self, outputs) -> np.ndarray:
        """This rule on NumPy outputs (:func:`decide`): 0/1 ``uint8``."""
        return decide(outputs, cut_points=self.cut_points, top_k=self.top_k,
                      from_logits=self.from_logits)

    def compute_output_shape(self, input_shape):
        return input_shape

    def names_of(self, decisions) -> "list[list[str]]":
        """Label-name lists of a 0/1 decision matrix."""
        decisions = np.asarray(to_numpy(decisions))
        return [[self.label_names[j] for j in np.flatnonzero(row)] for row in decisions]

    def get_config(self):
        config = super().get_config()
        config.update({"label_names": self.label_names,
                       "thresholds": (DEFAULT_THRESHOLD if self.cut_points is None
                                      else self.thresholds),
                       "cut_points": self.cut_points, "from_logits": self.from_logits,
                       "top_k": self.top_k, "strategy": self.strategy})
        return config


__all__ = ["DEFAULT_THRESHOLD", "MIN_TUNING_SUPPORT", "Decision", "choose_rule", "decide",
           "exact_cut", "logit", "resolve_thresholds", "top_k_indicator", "tune_cut_points",
           "tune_thresholds"]
