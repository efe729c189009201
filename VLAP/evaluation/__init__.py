"""Evaluate multilabel predictions: every score, as one table.

* :mod:`VLAP.evaluation.counts`: the thresholded metrics from one counting pass;
* :mod:`VLAP.evaluation.ranking`: AP, AUROC and the per-example ranking metrics
  from sorted scores;
* :mod:`VLAP.evaluation.binned`: AP/AUROC from fixed bins, in bounded memory;
* :mod:`VLAP.evaluation.streaming`: ``MultilabelEvaluator`` (update / result);
* :mod:`VLAP.evaluation.report`: ``evaluate_predictions`` (a pure function on
  arrays) and ``evaluate`` (``VLAP.evaluate``: predict, then report);
* :mod:`VLAP.evaluation.metric_table`: every report metric declared once (name,
  path, direction, header, averaging), ``Metric`` and ``register_metric`` for yours.

The decision rules it applies (:class:`VLAP.inference.rule.DecisionRule`:
thresholds, top-k) and the packaged models it scores live in
:mod:`VLAP.inference`; ``predict_scores`` and ``iter_scores`` (run a model
over data) are exported here too, as the same objects.

Everything but ``evaluate``, ``predict_scores`` and ``iter_scores`` is NumPy
only: attributes are imported lazily, so ``from VLAP.evaluation import
evaluate_predictions`` imports none of TensorFlow, Keras, PyTorch or JAX (the
Keras parts start Keras when first used).

Naming follows scikit-learn (``"macro"``: the mean of per-label scores;
``"micro"``: pooled counts).
"""

import importlib

from VLAP._quiet import import_backend_quietly

_EXPORTS = {
    "METRIC_NAMES": "VLAP.evaluation.report",
    "NAMING_NOTE": "VLAP.evaluation.report",
    "PAPER_NAMING": "VLAP.evaluation.report",
    "PER_LABEL_COLUMNS": "VLAP.evaluation.report",
    "evaluate": "VLAP.evaluation.report",
    "evaluate_predictions": "VLAP.evaluation.report",
    "MultilabelEvaluator": "VLAP.evaluation.streaming",
    "Metric": "VLAP.evaluation.metric_table",
    "get_metric": "VLAP.evaluation.metric_table",
    "register_metric": "VLAP.evaluation.metric_table",
    "iter_scores": "VLAP.inference.scores",
    "predict_scores": "VLAP.inference.scores",
}
#: What runs a Keras model: Keras starts quietly (as in the CLI) before these are used.
_KERAS_SIDE = ("evaluate", "iter_scores", "predict_scores")

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    try:
        module_name = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'VLAP.evaluation' has no attribute {name!r}") from None
    if name in _KERAS_SIDE:
        import_backend_quietly()
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
