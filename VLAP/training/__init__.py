"""``VLAP.train`` and the steps a training run is made of, each usable alone.

* :mod:`VLAP.training.train`: ``train`` (the composition below, plus fit) and
  ``RunOptions``, its run options as one value (``train(..., run=RunOptions(...))``);
* :mod:`VLAP.training.compile`: ``compile_for_multilabel`` (loss, Adam, metrics
  that follow the loss's ``from_logits``, dtype policy, strategy scope),
  ``resolve_learning_rate``, ``resolve_loss``, ``with_dtype_policy``;
* :mod:`VLAP.training.run_dir`: ``new_run_dir``, the run folder's files and the
  ``RunCheckpoint`` callback;
* :mod:`VLAP.training.resume`: exact resume (``open_run``, ``load_checkpoint``,
  ``epoch_stream``, ``build_for_fit``, random-generator states, ``seed_model``);
* :mod:`VLAP.training._legacy`: the transformers 4.x tf-keras path.
"""

from VLAP._quiet import import_backend_quietly

import_backend_quietly()  # Keras/TensorFlow start-up without native noise, as in the CLI

from VLAP.training.compile import (compile_for_multilabel, resolve_learning_rate,
                                   resolve_loss, with_dtype_policy)
from VLAP.training.resume import (build_for_fit, check_resume_config, epoch_stream,
                                  load_checkpoint, open_run, seed_model)
from VLAP.training.run_dir import RunCheckpoint, library_versions, new_run_dir
from VLAP.training.train import MONITOR, RunOptions, enable_determinism, train

__all__ = ["MONITOR", "RunOptions", "train", "compile_for_multilabel", "resolve_learning_rate",
           "resolve_loss", "with_dtype_policy", "new_run_dir", "library_versions",
           "RunCheckpoint", "open_run", "load_checkpoint", "check_resume_config",
           "epoch_stream", "build_for_fit", "seed_model", "enable_determinism"]
