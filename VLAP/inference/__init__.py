"""The decision path: from a trained model's outputs to the labels it ships.

One room for everything that decides, so that the number a report shows is the
number the shipped model produces:

* :mod:`VLAP.inference.rule`: the decision rule as one framework-free value,
  :class:`DecisionRule` (cut points on the logits, or top-k, and which head
  of a dual-head model decides), applied on NumPy with ``rule.apply``;
* :mod:`VLAP.inference.tuning`: choosing a rule on validation data
  (``tune_thresholds``, ``tune_cut_points``, ``choose_rule``), NumPy only;
* :mod:`VLAP.inference.decision`: the rule as a serialisable Keras layer
  (:class:`Decision`);
* :mod:`VLAP.inference.scores`: run a model over data (``predict_scores``,
  ``iter_scores``);
* :mod:`VLAP.inference.predictor`: ``package_model`` (model + decision rule +
  featuriser in one ``.keras`` file) and ``load_predictor``;
* :mod:`VLAP.inference.predict`: ``predict`` (``VLAP.predict``, ``vlap predict``).

:mod:`VLAP.evaluation` only evaluates: it applies these rules and scores them.

Attributes are imported lazily: the rule and the tuning (NumPy) import without
Keras; the Keras parts (``Decision``, ``Predictor``, ``predict``, ...) import
Keras when first used.
"""

import importlib

from VLAP._quiet import import_backend_quietly
import sys
import types

#: name -> module; the modules of the Keras front-end start Keras quietly first.
_EXPORTS = {
    "DEFAULT_THRESHOLD": "VLAP.inference.rule",
    "CutPoints": "VLAP.inference.rule",
    "DecisionRule": "VLAP.inference.rule",
    "TopK": "VLAP.inference.rule",
    "register_rule": "VLAP.inference.rule",
    "tune_cut_points": "VLAP.inference.tuning",
    "tune_thresholds": "VLAP.inference.tuning",
    "choose_rule": "VLAP.inference.tuning",
    "iter_scores": "VLAP.inference.scores",
    "predict_scores": "VLAP.inference.scores",
    "Decision": "VLAP.inference.decision",
    "IMAGE_SUFFIXES": "VLAP.inference.predict",
    "predict": "VLAP.inference.predict",
    "MODELS_INDEX": "VLAP.inference.predictor",
    "Predictor": "VLAP.inference.predictor",
    "load_predictor": "VLAP.inference.predictor",
    "package_model": "VLAP.inference.predictor",
}
_KERAS_MODULES = ("VLAP.inference.scores", "VLAP.inference.decision",
                  "VLAP.inference.predict", "VLAP.inference.predictor")

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    try:
        module_name = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'VLAP.inference' has no attribute {name!r}") from None
    if module_name in _KERAS_MODULES:  # Keras/TensorFlow start-up without native noise
        import_backend_quietly()
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``VLAP.inference.predict`` the function when its module is imported.

    Importing the submodule ``VLAP.inference.predict`` sets the package's
    attribute of that name to the module; the package's ``predict`` is the
    function (``VLAP.predict``), as when this package imported it eagerly.
    """

    def __setattr__(self, name, value):
        if name == "predict" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
