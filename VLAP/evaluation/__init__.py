"""Evaluate multilabel predictions: thresholds, scores, one report.

* :mod:`VLAP.evaluation.predict`: run a model over data (``predict_scores``,
  ``iter_scores``);
* :mod:`VLAP.evaluation.thresholds`: fixed, per-label, tuned or top-k cuts;
* :mod:`VLAP.evaluation.counts`: the thresholded metrics from one counting pass;
* :mod:`VLAP.evaluation.ranking`: AP, AUROC and the per-example ranking metrics
  from sorted scores;
* :mod:`VLAP.evaluation.streaming`: ``MultilabelEvaluator`` (update / result);
* :mod:`VLAP.evaluation.report`: ``evaluate_predictions`` (a pure function on
  arrays) and ``evaluate`` (``VLAP.evaluate``: predict, then report);
* :mod:`VLAP.evaluation.predictor`: ``package_model`` (model + decision rule +
  featuriser in one ``.keras`` file) and ``predict`` (``VLAP.predict``).

Naming follows scikit-learn (``"macro"``: the mean of per-label scores;
``"micro"``: pooled counts).
"""

from VLAP.evaluation.predict import iter_scores, predict_scores
from VLAP.evaluation.report import (
    METRIC_NAMES,
    NAMING_NOTE,
    PAPER_NAMING,
    PER_LABEL_COLUMNS,
    evaluate,
    evaluate_predictions,
)
from VLAP.evaluation.predictor import Predictor, load_predictor, package_model, predict
from VLAP.evaluation.streaming import MultilabelEvaluator
from VLAP.evaluation.thresholds import DEFAULT_THRESHOLD, Decision, tune_thresholds

__all__ = [
    "DEFAULT_THRESHOLD", "METRIC_NAMES", "NAMING_NOTE", "PAPER_NAMING",
    "PER_LABEL_COLUMNS", "Decision", "MultilabelEvaluator", "Predictor", "evaluate",
    "evaluate_predictions", "iter_scores", "load_predictor", "package_model", "predict",
    "predict_scores", "tune_thresholds",
]
