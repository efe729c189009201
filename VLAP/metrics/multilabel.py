"""Stateful thresholded multilabel metrics for ``model.compile`` (every backend).

The metrics accumulate *hard* counts per label (``tp``, ``fp``, ``fn`` and the
support ``tp + fn``) in variables across batches and compute the score from the
totals in ``result()``, as ``keras.metrics.FBetaScore`` and torchmetrics'
stat-scores do. They never average per-batch scores, so after an epoch they
equal scikit-learn's score on the concatenated batches.

The counting is VLAP's one counting path, on ``keras.ops``: format with
:func:`VLAP.ops.core.hard_indicator`, update with
:func:`VLAP.ops.core.confusion_counts` (per label) or
:func:`VLAP.ops.core.example_counts` (per example), reduce with
:func:`VLAP.ops.core.reduce_score`, as the losses and ``VLAP.evaluate`` do.

A prediction is positive when its probability is strictly above ``threshold``:
``sigmoid(logit) > threshold``, computed on logits as
``logit > log(threshold / (1 - threshold))`` (``from_logits=True``, the default,
because VLAP models output logits).

Averages follow scikit-learn: ``"macro"`` is the mean of the per-label scores,
``"micro"`` pools the counts of all labels, ``"weighted"`` weights the per-label
scores by support, ``None`` returns the per-label scores (the paper's text
defines micro and macro the other way round; its tables use scikit-learn's
meaning). Zero denominators give 0, as
scikit-learn's ``zero_division=0``.
"""

import math

import keras
import numpy as np
from keras import ops

from VLAP._compat import set_metric_direction
from VLAP._validation import check_option, check_threshold
from VLAP.evaluation.metric_table import get_metric
from VLAP.ops import core
from VLAP.ops.soft import KERAS_OPS

AVERAGES = ("macro", "micro", "weighted", None)

_register = keras.saving.register_keras_serializable(package="VLAP")


# --- argument checks (Python, before any tracing) ----------------------------


def _check_from_logits(from_logits):
    if not isinstance(from_logits, bool):
        raise TypeError(
            f"`from_logits` must be a bool. Received: from_logits={from_logits!r}"
        )
    return from_logits


def _check_num_labels(num_labels):
    if num_labels is None:
        return None
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ValueError(
            "`num_labels` must be a positive int or None. "
            f"Received: num_labels={num_labels!r}"
        )
    return num_labels


def _keras_direction(metric_name):
    """Keras' ``"up"``/``"down"`` for a metric of the metric table; None: no direction.

    Keras reads a metric's private ``_direction`` when a callback's
    ``mode="auto"`` has to choose max or min (``MonitorCallback``).
    """
    better = get_metric(metric_name).higher_is_better
    return None if better is None else ("up" if better else "down")


def _cut_point(threshold, from_logits):
    """The value ``y_pred`` must exceed: the threshold's logit, or the threshold."""
    if from_logits:
        return math.log(threshold / (1.0 - threshold))
    return threshold


def _check_2d(y_true, y_pred, metric_name):
    for arg, shape in (("y_true", y_true.shape), ("y_pred", y_pred.shape)):
        if len(shape) != 2:
            raise ValueError(
                f"{metric_name} expects `{arg}` of shape (batch_size, num_labels). "
                f"Received: {arg}.shape={tuple(shape)}"
            )
    if (y_true.shape[-1] is not None and y_pred.shape[-1] is not None
            and y_true.shape[-1] != y_pred.shape[-1]):
        raise ValueError(
            "`y_true` and `y_pred` must have the same number of labels. Received: "
            f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )


def _row_weights(sample_weight, dtype):
    """``sample_weight`` as a ``(batch_size, 1)`` column, or None."""
    if sample_weight is None:
        return None
    sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), dtype)
    return ops.reshape(sample_weight, (-1, 1))


# --- counts per label --------------------------------------------------------


class _MultilabelStatScores(keras.metrics.Metric):
    """Base: hard ``tp, fp, fn`` and support per label, accumulated over batches.

    Subclasses set ``_score`` (the name) and ``_core_score`` (the formula in
    :func:`VLAP.ops.core.reduce_score`).
    """

    _score: "str | None" = None
    _core_score: "str | None" = None

    def __init__(self, average="macro", threshold=0.5, from_logits=True,
                 num_labels=None, name=None, dtype=None):
        check_option("average", average, AVERAGES)
        threshold = check_threshold(threshold)
        from_logits = _check_from_logits(from_logits)
        num_labels = _check_num_labels(num_labels)
        if name is None:
            name = f"{self._score}_{average if average is not None else 'per_label'}"
        super().__init__(name=name, dtype=dtype)
        # per-label scores (average=None) go the way of their macro average
        set_metric_direction(self, _keras_direction(f"{self._score}_{average or 'macro'}"))
        self.average = average
        self.threshold = threshold
        self.from_logits = from_logits
        self.num_labels = num_labels
        self._built = False
        if num_labels is not None:
            self._build(num_labels)

    # === State ===
    def _build(self, num_labels):
        def zeros(name):
            return self.add_variable(shape=(num_labels,), initializer="zeros",
                                     dtype=self.dtype, name=name)

        self.true_positives = zeros("true_positives")
        self.false_positives = zeros("false_positives")
        self.false_negatives = zeros("false_negatives")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        _check_2d(y_true, y_pred, type(self).__name__)
        num_labels = y_pred.shape[-1]
        if not self._built:
            if num_labels is None:
                raise ValueError(
                    f"{type(self).__name__} needs a known number of labels: pass "
                    "`num_labels` or use inputs with a static last dimension. "
                    f"Received: y_pred.shape={tuple(y_pred.shape)}"
                )
            self._build(num_labels)
        elif num_labels is not None and num_labels != self.true_positives.shape[0]:
            raise ValueError(
                f"{type(self).__name__} was built for "
                f"{self.true_positives.shape[0]} labels. Received: "
                f"y_pred.shape={tuple(y_pred.shape)}"
            )
        y = ops.cast(y_true, self.dtype)
        pred = core.hard_indicator(KERAS_OPS, y_pred,
                                   _cut_point(self.threshold, self.from_logits), like=y)
        w = _row_weights(sample_weight, self.dtype)
        tp, fp, _, fn = core.confusion_counts(KERAS_OPS, y, pred, sample_weight=w)
        self.true_positives.assign_add(tp)
        self.false_positives.assign_add(fp)
        self.false_negatives.assign_add(fn)

    def result(self):
        if not self._built:
            return ops.convert_to_tensor(0.0, dtype=self.dtype)
        tp, fp, fn = (ops.convert_to_tensor(v) for v in
                      (self.true_positives, self.false_positives, self.false_negatives))
        # the dtype's smallest normal number: 0/0 gives 0 (zero_division=0) and
        # leaves every non-zero count unchanged (see core.reduce_score)
        epsilon = float(np.finfo(keras.backend.standardize_dtype(self.dtype)).tiny)
        return core.reduce_score(KERAS_OPS, self._core_score, tp, fp, ops.zeros_like(tp),
                                 fn, average=self.average, epsilon=epsilon)

    def reset_state(self):
        for v in self.variables:
            v.assign(ops.zeros(v.shape, dtype=v.dtype))

    # === Config ===
    def get_config(self):
        config = super().get_config()
        config.update({
            "average": self.average,
            "threshold": self.threshold,
            "from_logits": self.from_logits,
            "num_labels": self.num_labels,
        })
        return config


def _with_args_doc(args_doc):
    """Put the shared ``Args:`` section where a class docstring says ``{args}``."""

    def decorate(cls):
        cls.__doc__ = cls.__doc__.replace("{args}", args_doc.strip())
        return cls

    return decorate


_ARGS_DOC = """Args:
        average: str or None. `"macro"` (mean over labels, the default),
            `"micro"` (pooled counts), `"weighted"` (mean weighted by support) or
            `None` (one score per label). scikit-learn's names; the paper swaps
            "micro" and "macro".
        threshold: float. Probability threshold in (0, 1); a label is predicted
            when `sigmoid(logit) > threshold`. Defaults to `0.5`.
        from_logits: bool. `True` (default) when the model outputs logits,
            `False` when it outputs probabilities.
        num_labels: int or None. Number of labels; `None` builds the state from
            the first batch.
        name: str or None. Defaults to `"{score}_{average}"`, e.g. `"f1_macro"`.
        dtype: str or None. Dtype of the state and result.
"""


@_register
@_with_args_doc(_ARGS_DOC)
class MultilabelF1(_MultilabelStatScores):
    """F1 score at a threshold, accumulated over batches (`2tp / (2tp + fp + fn)`).

    {args}

    Example:
    >>> import VLAP
    >>> metric = VLAP.metrics.MultilabelF1(average="macro")
    >>> metric.update_state([[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, -0.5], [0.5, 1.5, -2.0]])
    >>> metric.update_state([[1, 1, 0]], [[1.0, 0.3, 0.2]])
    >>> round(float(metric.result()), 4)
    0.6
    """

    _score = "f1"
    _core_score = "fbeta"


@_register
@_with_args_doc(_ARGS_DOC)
class MultilabelPrecision(_MultilabelStatScores):
    """Precision at a threshold, accumulated over batches (`tp / (tp + fp)`).

    {args}

    Example:
    >>> import VLAP
    >>> metric = VLAP.metrics.MultilabelPrecision(average="micro")
    >>> metric.update_state([[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, -0.5], [0.5, 1.5, -2.0]])
    >>> round(float(metric.result()), 4)
    0.6667
    """

    _score = "precision"
    _core_score = "precision"


@_register
@_with_args_doc(_ARGS_DOC)
class MultilabelRecall(_MultilabelStatScores):
    """Recall at a threshold, accumulated over batches (`tp / (tp + fn)`).

    {args}

    Example:
    >>> import VLAP
    >>> metric = VLAP.metrics.MultilabelRecall(average="micro")
    >>> metric.update_state([[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, -0.5], [0.5, 1.5, -2.0]])
    >>> round(float(metric.result()), 4)
    0.6667
    """

    _score = "recall"
    _core_score = "recall"


# --- label counts per example ------------------------------------------------


class _LabelCountMetric(keras.metrics.Metric):
    """Base: the (weighted) mean over examples of a per-example count statistic."""

    _default_name: "str | None" = None  # also its row of the metric table, which gives its direction

    def __init__(self, threshold=0.5, from_logits=True, name=None, dtype=None):
        threshold = check_threshold(threshold)
        from_logits = _check_from_logits(from_logits)
        super().__init__(name=name or self._default_name, dtype=dtype)
        direction = _keras_direction(self._default_name)
        if direction is not None:  # none for mean_predicted_labels (best: near #true)
            set_metric_direction(self, direction)
        self.threshold = threshold
        self.from_logits = from_logits
        self.total = self.add_variable(shape=(), initializer="zeros",
                                       dtype=self.dtype, name="total")
        self.count = self.add_variable(shape=(), initializer="zeros",
                                       dtype=self.dtype, name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        _check_2d(y_true, y_pred, type(self).__name__)
        y = ops.cast(y_true, self.dtype)
        pred = core.hard_indicator(KERAS_OPS, y_pred,
                                   _cut_point(self.threshold, self.from_logits), like=y)
        _, predicted, true = core.example_counts(KERAS_OPS, y, pred)
        value = self._per_example(predicted, true)
        if sample_weight is None:
            weights = ops.ones_like(value)
        else:
            weights = ops.reshape(_row_weights(sample_weight, self.dtype), (-1,))
        self.total.assign_add(ops.sum(value * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        for v in self.variables:
            v.assign(ops.zeros(v.shape, dtype=v.dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"threshold": self.threshold, "from_logits": self.from_logits})
        return config


_COUNT_ARGS_DOC = """Args:
        threshold: float. Probability threshold in (0, 1). Defaults to `0.5`.
        from_logits: bool. `True` (default) when the model outputs logits.
        name: str or None. Name of the metric.
        dtype: str or None. Dtype of the state and result.
"""


@_register
@_with_args_doc(_COUNT_ARGS_DOC)
class MeanPredictedLabels(_LabelCountMetric):
    """Mean number of labels predicted per example.

    sigmoidF1's claim is that it predicts label *counts*; compare this with the
    mean number of true labels per example.

    {args}

    Example:
    >>> import VLAP
    >>> metric = VLAP.metrics.MeanPredictedLabels()
    >>> metric.update_state([[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, -0.5], [0.5, 1.5, -2.0]])
    >>> round(float(metric.result()), 4)
    1.5
    """

    _default_name = "mean_predicted_labels"

    def _per_example(self, predicted, true):
        return predicted


@_register
@_with_args_doc(_COUNT_ARGS_DOC)
class LabelCountMAE(_LabelCountMetric):
    """Mean absolute error between predicted and true label counts per example.

    {args}

    Example:
    >>> import VLAP
    >>> metric = VLAP.metrics.LabelCountMAE()
    >>> metric.update_state([[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, -0.5], [0.5, 1.5, -2.0]])
    >>> round(float(metric.result()), 4)
    1.0
    """

    _default_name = "label_count_mae"

    def _per_example(self, predicted, true):
        return ops.abs(predicted - true)
