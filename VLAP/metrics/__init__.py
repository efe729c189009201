"""Thresholded multilabel metrics for ``model.compile`` (TensorFlow, PyTorch, JAX).

Stateful Keras metrics that accumulate hard counts across batches (see
:mod:`VLAP.metrics.multilabel`). Use them instead of keras-hub's default sparse
categorical accuracy, which fails on multilabel targets. For a full report after
training, see :func:`VLAP.evaluate`, which computes the scikit-learn scores.

Metric names match the rows of :func:`VLAP.evaluate` (``"f1_macro"``,
``"precision_micro"``, ``"mean_predicted_labels"`` ...), so training logs and
evaluation tables agree. scikit-learn's naming; the paper swaps "micro" and
"macro".

Example:
>>> import VLAP
>>> metric = VLAP.metrics.get("f1_micro")
>>> metric.update_state([[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, -0.5], [0.5, 1.5, -2.0]])
>>> round(float(metric.result()), 4)
0.6667
>>> [m.name for m in VLAP.metrics.training_metrics()]
['f1_macro', 'f1_micro', 'mean_predicted_labels']
"""

from VLAP._quiet import import_backend_quietly

import_backend_quietly()  # Keras/TensorFlow start-up without native noise, as in the CLI

from VLAP.metrics.multilabel import (
    AVERAGES,
    LabelCountMAE,
    MeanPredictedLabels,
    MultilabelF1,
    MultilabelPrecision,
    MultilabelRecall,
)

_SCORE_CLASSES = {
    "f1": MultilabelF1,
    "precision": MultilabelPrecision,
    "recall": MultilabelRecall,
}
_COUNT_CLASSES = {
    "mean_predicted_labels": MeanPredictedLabels,
    "label_count_mae": LabelCountMAE,
}
NAMES = tuple(
    f"{score}_{average}"
    for score in _SCORE_CLASSES
    for average in ("macro", "micro", "weighted")
) + tuple(_COUNT_CLASSES)


def get(identifier, *, threshold=0.5, from_logits=True):
    """Resolve a metric name (one of ``VLAP.metrics.NAMES``) to a new metric.

    Args:
        identifier: str or keras.metrics.Metric. A name such as `"f1_macro"`,
            `"recall_micro"` or `"mean_predicted_labels"`; a metric object is
            returned unchanged.
        threshold: float. Probability threshold in (0, 1) for named metrics.
        from_logits: bool. `True` (default) when the model outputs logits.

    Returns:
        A `keras.metrics.Metric` named `identifier`.

    Example:
    >>> import VLAP
    >>> m = VLAP.metrics.get("precision_weighted", threshold=0.3)
    >>> type(m).__name__, m.average, m.threshold
    ('MultilabelPrecision', 'weighted', 0.3)
    """
    if not isinstance(identifier, str):
        import keras

        if isinstance(identifier, keras.metrics.Metric):
            return identifier
        raise TypeError(
            "`identifier` must be a metric name or a keras.metrics.Metric. "
            f"Received: identifier={identifier!r}"
        )
    if identifier in _COUNT_CLASSES:
        return _COUNT_CLASSES[identifier](threshold=threshold, from_logits=from_logits)
    score, _, average = identifier.rpartition("_")
    if identifier not in NAMES:
        raise ValueError(
            f"Invalid value for argument `identifier`. Expected one of {NAMES}. "
            f"Received: identifier={identifier!r}"
        )
    return _SCORE_CLASSES[score](average=average, threshold=threshold,
                                 from_logits=from_logits)


def training_metrics(threshold=0.5, from_logits=True, num_labels=None):
    """The default metrics for ``model.compile``: F1 macro and micro, label count.

    Args:
        threshold: float. Probability threshold in (0, 1). Defaults to `0.5`.
        from_logits: bool. `True` (default) when the model outputs logits.
        num_labels: int or None. Number of labels (builds the state eagerly).

    Returns:
        list of `keras.metrics.Metric`: `f1_macro`, `f1_micro`,
        `mean_predicted_labels` (so the logs hold `val_f1_macro`).
    """
    kwargs = {"threshold": threshold, "from_logits": from_logits}
    return [
        MultilabelF1(average="macro", num_labels=num_labels, **kwargs),
        MultilabelF1(average="micro", num_labels=num_labels, **kwargs),
        MeanPredictedLabels(**kwargs),
    ]


__all__ = [
    "AVERAGES",
    "NAMES",
    "LabelCountMAE",
    "MeanPredictedLabels",
    "MultilabelF1",
    "MultilabelPrecision",
    "MultilabelRecall",
    "get",
    "training_metrics",
]
