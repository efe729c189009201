"""Multilabel losses in ``keras.ops``: sigmoidF1, its confusion-matrix family, baselines.

Every loss exists as a plain function ``f(y_true, y_pred, **options)`` and as a
registered, serializable :class:`keras.losses.Loss` subclass. They run unchanged
on the TensorFlow, PyTorch and JAX backends. Native ``torch.nn.Module`` versions,
sharing the same formulas, live in :mod:`VLAP.torch`.

Two kinds:

* **Batch-level surrogates** (sigmoidF1, unboundedF1, F-beta, precision, recall,
  Jaccard, MCC): the soft confusion counts are sums over the whole (global)
  batch, so the functions return one scalar. Under ``tf.distribute`` the
  replicas' counts are summed before the score, so the loss is the one of the
  global batch whatever the number of replicas. ``sample_weight`` weights rows
  ``(batch,)`` or entries ``(batch, num_labels)`` *inside* the counts (a weight
  of 0 removes an example, or one label of it); it does not rescale the scalar.
* **Element-wise baselines** (binary cross-entropy, focal, ASL): the functions
  return one value per example (mean over labels), as ``keras.losses`` does; the
  classes average over the batch.

Every loss is declared once, in :mod:`VLAP.ops.registry` (name, aliases, kind,
options, formula); everything here is derived from it. Modules:
:mod:`VLAP.losses.functions` (the functions), :mod:`VLAP.losses.classes` (the
``keras.losses.Loss`` classes); names and :func:`get` live here.

All take logits by default (``from_logits=True``): give the model a linear last
layer. ``average`` follows scikit-learn: ``"macro"`` = F1 per label then mean
(what the paper's code computes; the paper's text calls it "micro"), ``"micro"`` =
pooled counts.

Example:
>>> import VLAP
>>> y_true = [[1, 0, 1], [0, 1, 0]]
>>> logits = [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
>>> round(float(VLAP.losses.sigmoid_f1(y_true, logits)), 4)
0.2405
>>> loss = VLAP.losses.get("sigmoidF1", beta=10.0, eta=0.0)
>>> round(float(loss(y_true, logits)), 4)
0.0022
"""

from VLAP._quiet import import_backend_quietly

import_backend_quietly()  # Keras/TensorFlow start-up without native noise, as in the CLI

import keras

from VLAP.losses.classes import (Asymmetric, BinaryCrossentropy, FBetaLoss, Focal,
                                 JaccardLoss, LabelCountError, MCCLoss, PrecisionLoss,
                                 RecallLoss, SigmoidF1, TwoWay, UnboundedF1, WeightedSum,
                                 ZLPR, DualHead, loss_class)
from VLAP.losses.combined import dual_head, ema_sigmoid_f1, mixed, weighted_sum
from VLAP.losses.functions import (asymmetric, binary_crossentropy, fbeta_loss, focal,
                                   jaccard_loss, label_count_error, loss_value, mcc_loss,
                                   precision_loss, recall_loss, sigmoid_f1,
                                   soft_score_loss, two_way, unbounded_f1, zlpr)
from VLAP.losses.stateful import EMASigmoidF1, LossState, Scheduled
from VLAP.ops import registry
from VLAP.ops.core import AVERAGES, split_dual_logits
from VLAP.ops.registry import canonical_name

# --------------------------------------------------------------------------
# names: the paper's camelCase names are the same objects as the snake_case ones

sigmoidF1 = sigmoid_f1
unboundedF1 = unbounded_f1

# Every table of loss names is read from the registry (VLAP.ops.registry), at
# each access, so a loss registered after this import is in them too:
#   NAMES         every string get() accepts (canonical names, aliases, class names);
#   PAPER_LOSSES  the five losses the paper compares, by canonical name;
#   STATEFUL      losses that keep state across batches and must be attached to
#                 their model (``loss.attach(model)``; VLAP.train does it);
#   DUAL_HEAD     losses of a dual-head model (output ``(batch, 2 * num_labels)``:
#                 decision head, then score head; see VLAP.losses.combined).
_TABLES = {"NAMES": registry.names, "PAPER_LOSSES": registry.paper_losses,
           "STATEFUL": registry.stateful_losses, "DUAL_HEAD": registry.dual_head_losses}


def __getattr__(name):
    if name in _TABLES:
        return _TABLES[name]()
    spec = next((s for s in registry.specs() if s.class_name == name), None)
    if spec is not None:  # the class of a loss registered after this import
        return loss_class(spec.name)
    raise AttributeError(f"module 'VLAP.losses' has no attribute {name!r}")


#: The arguments every Keras loss class takes after its own options.
FRONT_END_OPTIONS = ("validate_args", "name", "reduction", "dtype")


def loss_options(name):
    """The options a loss accepts by name (its constructor's arguments).

    Example:
    >>> import VLAP
    >>> VLAP.losses.loss_options("focal")
    ('alpha', 'gamma', 'from_logits', 'epsilon', 'validate_args', 'name', 'reduction', 'dtype')
    """
    return registry.loss_spec(name).option_names + FRONT_END_OPTIONS


def get(identifier, **kwargs):
    """Resolve a loss: a name (paper or snake_case), a Loss instance, or a config dict.

    Unknown names and unknown options raise a ValueError listing the valid ones
    and suggesting the closest.

    Example:
    >>> import VLAP
    >>> type(VLAP.losses.get("sigmoidF1", beta=8.0)).__name__
    'SigmoidF1'
    >>> VLAP.losses.get("asl").clip
    0.05
    >>> VLAP.losses.get("focal", gama=1.0)
    Traceback (most recent call last):
    ...
    ValueError: Unknown option 'gama' for loss 'focal'. Did you mean 'gamma'? Valid options: ['alpha', 'gamma', 'from_logits', 'epsilon', 'validate_args', 'name', 'reduction', 'dtype']
    """
    if isinstance(identifier, keras.losses.Loss):
        if kwargs:
            raise ValueError("Options can only be given with a loss name, "
                             f"not with an instance. Received: {sorted(kwargs)}")
        return identifier
    if isinstance(identifier, dict):
        return keras.losses.deserialize(identifier)
    key = canonical_name(identifier)
    valid = loss_options(key)
    for option in kwargs:
        if option not in valid:
            raise ValueError(f"Unknown option {option!r} for loss {identifier!r}."
                             f"{registry.suggest(option, valid)} Valid options: {list(valid)}")
    return loss_class(key)(**kwargs)


__all__ = [
    "sigmoid_f1", "sigmoidF1", "SigmoidF1", "unbounded_f1", "unboundedF1",
    "UnboundedF1", "soft_score_loss", "fbeta_loss", "precision_loss", "recall_loss",
    "jaccard_loss", "mcc_loss", "FBetaLoss", "PrecisionLoss", "RecallLoss",
    "JaccardLoss", "MCCLoss", "binary_crossentropy", "BinaryCrossentropy", "focal",
    "Focal", "asymmetric", "Asymmetric", "get", "canonical_name", "loss_options",
    "NAMES", "PAPER_LOSSES", "AVERAGES",
    "label_count_error", "LabelCountError", "weighted_sum", "WeightedSum", "mixed",
    "Scheduled", "ema_sigmoid_f1", "EMASigmoidF1", "LossState", "STATEFUL",
    "dual_head", "DualHead", "split_dual_logits", "DUAL_HEAD", "loss_class", "loss_value",
    "zlpr", "ZLPR", "two_way", "TwoWay",
]
