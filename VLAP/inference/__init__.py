"""The decision path: from a trained model's outputs to the labels it ships.

One room for everything that decides, so that the number a report shows is the
number the shipped model produces:

* :mod:`VLAP.inference.scores`: run a model over data (``predict_scores``,
  ``iter_scores``);
* :mod:`VLAP.inference.decision`: the decision rule (fixed, per-label, tuned
  or top-k cuts) as a NumPy function and as a serialisable Keras layer
  (:class:`Decision`), and per-label threshold tuning on validation data;
* :mod:`VLAP.inference.predictor`: ``package_model`` (model + decision rule +
  featuriser in one ``.keras`` file) and ``load_predictor``;
* :mod:`VLAP.inference.predict`: ``predict`` (``VLAP.predict``, ``vlap predict``).

:mod:`VLAP.evaluation` only evaluates: it applies these rules and scores them.
"""

from VLAP._quiet import import_backend_quietly

import_backend_quietly()  # Keras/TensorFlow start-up without native noise, as in the CLI

from VLAP.inference.decision import DEFAULT_THRESHOLD, Decision, tune_thresholds
from VLAP.inference.predict import IMAGE_SUFFIXES, predict
from VLAP.inference.predictor import MODELS_INDEX, Predictor, load_predictor, package_model
from VLAP.inference.scores import iter_scores, predict_scores

__all__ = [
    "DEFAULT_THRESHOLD", "IMAGE_SUFFIXES", "MODELS_INDEX", "Decision", "Predictor",
    "iter_scores", "load_predictor", "package_model", "predict", "predict_scores",
    "tune_thresholds",
]
