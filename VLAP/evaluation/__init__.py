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

The decision rules it applies (thresholds, top-k) and the packaged models it
scores live in :mod:`VLAP.inference`; ``predict_scores`` and ``iter_scores``
(run a model over data) are exported here too, as the same objects.

Naming follows scikit-learn (``"macro"``: the mean of per-label scores;
``"micro"``: pooled counts).
"""

from VLAP._quiet import import_backend_quietly

import_backend_quietly()  # Keras/TensorFlow start-up without native noise, as in the CLI

from VLAP.evaluation.metric_table import Metric, get_metric, register_metric
from VLAP.evaluation.report import (
    METRIC_NAMES,
    NAMING_NOTE,
    PAPER_NAMING,
    PER_LABEL_COLUMNS,
    evaluate,
    evaluate_predictions,
)
from VLAP.evaluation.streaming import MultilabelEvaluator
from VLAP.inference.scores import iter_scores, predict_scores

__all__ = [
    "METRIC_NAMES", "NAMING_NOTE", "PAPER_NAMING", "PER_LABEL_COLUMNS", "Metric",
    "MultilabelEvaluator", "evaluate", "evaluate_predictions", "get_metric", "iter_scores",
    "predict_scores", "register_metric",
]
