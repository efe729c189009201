"""Smooth confusion-matrix scores: one soft-confusion core for every loss and score.

* :mod:`VLAP.ops.core`: the formulas, framework-free (an array namespace is
  passed in). Shared by the Keras losses and by :mod:`VLAP.torch`.
* :mod:`VLAP.ops.registry`: the loss registry, framework-free: each loss
  declared once (name, aliases, kind, options, formula); both front-ends and
  every table of loss names derive from it.
* :mod:`VLAP.ops.soft`: the same on ``keras.ops`` (``soft_confusion``,
  ``soft_fbeta``, ``soft_precision``, ``soft_recall``, ``soft_jaccard``,
  ``soft_mcc``, ``soft_score``), exported here.

The Keras functions are loaded lazily so that ``import VLAP.torch`` (which needs
only :mod:`VLAP.ops.core`) never imports Keras or TensorFlow.
"""

import importlib

_SOFT = ("soft_confusion", "soft_score", "soft_fbeta", "soft_precision",
         "soft_recall", "soft_jaccard", "soft_mcc")
__all__ = list(_SOFT) + ["AVERAGES", "SCORES"]

from VLAP.ops.core import AVERAGES, SCORES  # noqa: E402  (framework-free)


def __getattr__(name):
    if name in _SOFT:
        value = getattr(importlib.import_module("VLAP.ops.soft"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'VLAP.ops' has no attribute {name!r}")
