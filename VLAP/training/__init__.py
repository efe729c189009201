"""``VLAP.train`` and what a training run is made of.

* :mod:`VLAP.training.train`: ``train`` (compile, fit, checkpoints, resume);
* :mod:`VLAP.training._legacy`: the transformers 4.x tf-keras path.
"""

from VLAP.training.train import MONITOR, library_versions, train

__all__ = ["MONITOR", "library_versions", "train"]
