"""Evaluate multilabel predictions: thresholds, scores, one report.

* :mod:`VLAP.evaluation.predict`: run a model over data (``predict_scores``);
* :mod:`VLAP.evaluation.thresholds`: fixed, per-label, tuned or top-k cuts;
* :mod:`VLAP.evaluation.report`: ``evaluate_predictions`` (a pure function on
  arrays) and ``evaluate`` (``VLAP.evaluate``: predict, then report);
* :mod:`VLAP.evaluation.predictor`: ``package_model`` (model + decision rule +
  featuriser in one ``.keras`` file) and ``predict`` (``VLAP.predict``).

Naming follows scikit-learn (``"macro"``: the mean of per-label scores;
``"micro"``: pooled counts).
"""

from VLAP.evaluation.predict import predict_scores
from VLAP.evaluation.report import (
    METRIC_NAMES,
    NAMING_NOTE,
    PAPER_NAMING,
    PER_LABEL_COLUMNS,
    evaluate,
    evaluate_predictions,
)
from VLAP.evaluation.thresholds import DEFAULT_THRESHOLD, Decision, tune_thresholds
from VLAP.evaluation.predictor import Predictor, load_predictor, package_model, predict

__all__ = [
    "DEFAULT_THRESHOLD", "METRIC_NAMES", "NAMING_NOTE", "PAPER_NAMING",
    "PER_LABEL_COLUMNS", "Decision", "Predictor", "evaluate", "evaluate_predictions",
    "load_predictor", "package_model", "predict", "predict_scores", "tune_thresholds",
]
