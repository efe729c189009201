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

Modules: :mod:`VLAP.losses.functions` (the functions),
:mod:`VLAP.losses.classes` (the ``keras.losses.Loss`` classes); names and
:func:`get` live here.

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

import difflib
import inspect

import keras

from VLAP.losses.classes import (Asymmetric, BinaryCrossentropy, FBetaLoss, Focal,
                                 JaccardLoss, LabelCountError, MCCLoss, PrecisionLoss,
                                 RecallLoss, SigmoidF1, UnboundedF1, WeightedSum,
                                 DualHead)
from VLAP.losses.combined import (FUNCTION_ALIASES, dual_head, ema_sigmoid_f1, mixed,
                                  split_dual_logits, weighted_sum)
from VLAP.losses.functions import (asymmetric, binary_crossentropy, fbeta_loss, focal,
                                   jaccard_loss, label_count_error, mcc_loss,
                                   precision_loss, recall_loss, sigmoid_f1,
                                   soft_score_loss, unbounded_f1)
from VLAP.losses.stateful import EMASigmoidF1, LossState, Scheduled
from VLAP.ops.core import AVERAGES

# --------------------------------------------------------------------------
# names: the paper's camelCase names are the same objects as the snake_case ones

sigmoidF1 = sigmoid_f1
unboundedF1 = unbounded_f1

# canonical (snake_case) name -> Loss class
_CLASSES = {
    "sigmoid_f1": SigmoidF1,
    "unbounded_f1": UnboundedF1,
    "binary_crossentropy": BinaryCrossentropy,
    "focal": Focal,
    "asymmetric": Asymmetric,
    "fbeta": FBetaLoss,
    "precision": PrecisionLoss,
    "recall": RecallLoss,
    "jaccard": JaccardLoss,
    "mcc": MCCLoss,
    "label_count_error": LabelCountError,
    "weighted_sum": WeightedSum,
    "scheduled": Scheduled,
    "ema_sigmoid_f1": EMASigmoidF1,
    "dual_head": DualHead,
}
# other accepted names -> canonical: the paper's names, Keras' "bce", the
# abbreviation the paper and the shipped configs use ("asl"), and class names.
_ALIASES = {
    **FUNCTION_ALIASES,
    **{cls.__name__: key for key, cls in _CLASSES.items()},
}

#: The five losses the paper compares, by canonical name.
PAPER_LOSSES = ("sigmoid_f1", "unbounded_f1", "binary_crossentropy", "focal",
                "asymmetric")

#: Losses that keep state across batches and must be attached to their model
#: (``loss.attach(model)``; :func:`VLAP.train` does it).
STATEFUL = ("scheduled", "ema_sigmoid_f1")

#: Losses of a dual-head model (output ``(batch, 2 * num_labels)``: decision head,
#: then score head; see :mod:`VLAP.losses.combined`).
DUAL_HEAD = ("dual_head",)

#: Every string :func:`get` accepts.
NAMES = tuple(sorted(set(_CLASSES) | set(_ALIASES)))


def _suggest(value, valid):
    """`` Did you mean 'x'?`` for the closest valid name (case-insensitive), or ''."""
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def canonical_name(name):
    """Map an accepted loss name (``"sigmoidF1"``, ``"bce"``, ...) to its canonical one.

    Names are exact (case-sensitive), as Keras' own loss names are.

    Example:
    >>> import VLAP
    >>> VLAP.losses.canonical_name("sigmoidF1")
    'sigmoid_f1'
    >>> VLAP.losses.canonical_name("BCE")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown loss 'BCE'. Did you mean 'bce'? Valid names: ['Asymmetric', ...]
    """
    if not isinstance(name, str):
        raise TypeError(f"A loss name must be a str. Received: {name!r}")
    key = _ALIASES.get(name, name)
    if key not in _CLASSES:
        raise ValueError(f"Unknown loss {name!r}.{_suggest(name, NAMES)} "
                         f"Valid names: {list(NAMES)}")
    return key


def loss_options(name):
    """The options a loss accepts by name (its constructor's arguments).

    Example:
    >>> import VLAP
    >>> VLAP.losses.loss_options("focal")
    ('alpha', 'gamma', 'from_logits', 'epsilon', 'validate_args', 'name', 'reduction', 'dtype')
    """
    cls = _CLASSES[canonical_name(name)]
    params = []
    for klass in cls.__mro__:  # FBetaLoss forwards **kwargs to its parent
        if "__init__" not in vars(klass):
            continue
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) \
                    and p.name not in params:
                params.append(p.name)
        if not any(p.kind == p.VAR_KEYWORD
                   for p in inspect.signature(klass.__init__).parameters.values()):
            break
    return tuple(params)


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
                             f"{_suggest(option, valid)} Valid options: {list(valid)}")
    return _CLASSES[key](**kwargs)


__all__ = [
    "sigmoid_f1", "sigmoidF1", "SigmoidF1", "unbounded_f1", "unboundedF1",
    "UnboundedF1", "soft_score_loss", "fbeta_loss", "precision_loss", "recall_loss",
    "jaccard_loss", "mcc_loss", "FBetaLoss", "PrecisionLoss", "RecallLoss",
    "JaccardLoss", "MCCLoss", "binary_crossentropy", "BinaryCrossentropy", "focal",
    "Focal", "asymmetric", "Asymmetric", "get", "canonical_name", "loss_options",
    "NAMES", "PAPER_LOSSES", "AVERAGES",
    "label_count_error", "LabelCountError", "weighted_sum", "WeightedSum", "mixed",
    "Scheduled", "ema_sigmoid_f1", "EMASigmoidF1", "LossState", "STATEFUL",
    "dual_head", "DualHead", "split_dual_logits", "DUAL_HEAD",
]
