"""Smooth confusion-matrix scores in ``keras.ops`` (TensorFlow, PyTorch, JAX).

``soft_confusion`` is the only counting code in VLAP; every soft score and every
F-measure loss is a thin wrapper over it (see :mod:`VLAP.ops.core`).

Example:
>>> from VLAP import ops
>>> y_true = [[1, 0, 1], [0, 1, 0]]
>>> logits = [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
>>> tp, fp, tn, fn = ops.soft_confusion(y_true, logits)
>>> [round(float(x), 4) for x in tp]
[0.8808, 0.8176, 0.6225]
>>> round(float(ops.soft_fbeta(y_true, logits)), 4)
0.7595
"""

import keras
from keras import ops as _k

from VLAP.ops import core
from VLAP.ops.core import AVERAGES, SCORES, check_option, check_sigmoid_args
from VLAP._validation import check_shapes, check_values


class _KerasNamespace:
    """The handful of array functions :mod:`VLAP.ops.core` needs, on keras.ops."""

    sigmoid = staticmethod(_k.sigmoid)
    log_sigmoid = staticmethod(_k.log_sigmoid)
    softplus = staticmethod(_k.softplus)
    sum = staticmethod(_k.sum)
    mean = staticmethod(_k.mean)
    sqrt = staticmethod(_k.sqrt)
    abs = staticmethod(_k.abs)
    log = staticmethod(_k.log)
    clip = staticmethod(_k.clip)
    minimum = staticmethod(_k.minimum)
    power = staticmethod(_k.power)
    reshape = staticmethod(_k.reshape)
    exp = staticmethod(_k.exp)
    maximum = staticmethod(_k.maximum)

    @staticmethod
    def max(x, axis):
        return _k.max(x, axis=axis)

    @staticmethod
    def cast_like(x, ref):
        return _k.cast(x, ref.dtype)


KERAS_OPS = _KerasNamespace()


def _is_concrete(x):
    """True for values we can inspect without breaking a traced graph."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        return True  # lists, scalars
    if type(x).__module__.startswith("numpy"):
        return True
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly() and not tf.is_symbolic_tensor(x)
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    if backend == "torch":
        import torch

        return not torch.compiler.is_compiling()
    return False


_HALF = ("float16", "bfloat16")


def device_values_ok(y_true, y_pred, *, from_logits=True):
    """The value checks of :func:`VLAP._validation.check_values` as one flag computed on
    the tensors' own device (torch backend): True when both are valid.

    On an accelerator this replaces the copy of both tensors to the host by one
    boolean: the flags are reduced on the device and only that element is read (one
    small sync, where ``convert_to_numpy`` of both tensors would sync and copy all of
    them). Only when it is False are the tensors copied, for the full message.

    Example:
    >>> import torch
    >>> device_values_ok(torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, -1.0]]))
    True
    >>> device_values_ok(torch.tensor([[0.5, 1.0]]), torch.tensor([[2.0, -1.0]]))
    False
    >>> device_values_ok(torch.tensor([[0.0, 1.0]]), torch.tensor([[float("nan"), 0.0]]))
    False
    >>> device_values_ok(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.2, 1.5]]), from_logits=False)
    False
    """
    import torch

    with torch.no_grad():
        bad = ((y_true != 0) & (y_true != 1)).any()
        if from_logits:
            bad = bad | ~torch.isfinite(y_pred).all()
        else:  # NaN fails both comparisons
            bad = bad | ~((y_pred >= 0) & (y_pred <= 1)).all()
        return not bool(bad)


def _on_accelerator(x):
    """A torch tensor that lives off the CPU (torch backend)."""
    device = getattr(x, "device", None)
    return getattr(device, "type", "cpu") not in ("cpu", None) and hasattr(x, "detach")


def prepare(y_true, y_pred, *, from_logits=True, validate_args=True, dtype=None):
    """Convert to tensors, check shapes (always) and values (when concrete).

    Half-precision predictions (``float16``, ``bfloat16``: a mixed-precision
    model's logits) are cast up to ``float32``, so the counts, the sigmoid and
    the logs are computed in ``float32`` whatever the model's compute dtype.
    """
    if validate_args and _is_concrete(y_true) and _is_concrete(y_pred):
        # an accelerator's tensors: one flag on the device, the copy only on failure
        # (on the CPU, convert_to_numpy shares the tensors' memory: no copy, no sync)
        if not (_on_accelerator(y_pred) and _on_accelerator(y_true)
                and device_values_ok(y_true, y_pred, from_logits=from_logits)):
            check_values(_k.convert_to_numpy(y_true), _k.convert_to_numpy(y_pred),
                         from_logits=from_logits)
    y_pred = _k.convert_to_tensor(y_pred, dtype=dtype)
    if not keras.backend.is_float_dtype(y_pred.dtype) or \
            keras.backend.standardize_dtype(y_pred.dtype) in _HALF:
        y_pred = _k.cast(y_pred, "float32" if dtype is None else dtype)
    y_true = _k.cast(_k.convert_to_tensor(y_true), y_pred.dtype)
    check_shapes(tuple(y_true.shape), tuple(y_pred.shape))
    return y_true, y_pred


def replica_count():
    """Replicas that each hold a slice of the batch under ``tf.distribute`` (else 1).

    Only TensorFlow's ``tf.distribute`` splits a batch into per-replica
    tensors. JAX's ``keras.distribution.DataParallel`` keeps the batch one
    global (sharded) array, so sums over it are already global there.
    """
    if keras.config.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return 1
    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def sum_across_replicas(counts):
    """Sum per-label counts over the replicas of a ``tf.distribute`` strategy.

    In a replica context with more than one replica, returns the counts of the
    global batch (``ReplicaContext.all_reduce(SUM)``, whose gradient is the
    all-reduced sum of the replicas' upstream gradients); elsewhere returns
    ``counts`` unchanged. A batch-level score reduced from these counts is then
    the score of the global batch, whatever the number of replicas.
    """
    if replica_count() == 1:
        return counts
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    if ctx is None:  # cross-replica context (e.g. a symbolic build): nothing to sum
        return counts
    return tuple(ctx.all_reduce(tf.distribute.ReduceOp.SUM, list(counts)))


def max_across_replicas(tensors):
    """The element-wise maximum of each tensor over the replicas of a
    ``tf.distribute`` strategy (elsewhere the tensors unchanged).

    For shifts only (no gradient: stop it first). ``ReplicaContext.all_reduce``
    has no MAX, so the replicas' tensors are gathered (``all_gather``) and reduced.
    """
    if replica_count() == 1:
        return tensors
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    if ctx is None:
        return tensors
    return tuple(tf.reduce_max(ctx.all_gather(tf.expand_dims(t, 0), axis=0), axis=0)
                 for t in tensors)


def entry_weights(sample_weight, y_pred):
    """``sample_weight`` as a tensor of shape ``(batch, 1)`` or ``(batch, num_labels)``.

    Raises a ValueError naming the accepted shapes for any other shape (see
    :func:`VLAP.ops.core.sample_weight_shape`).
    """
    if sample_weight is None:
        return None
    w = _k.convert_to_tensor(sample_weight)
    core.sample_weight_shape(tuple(w.shape), tuple(y_pred.shape))
    if len(w.shape) == 1:
        w = _k.expand_dims(w, -1)
    return _k.cast(w, y_pred.dtype)


def global_soft_score(score, y_true, y_pred, *, average="macro", from_logits=True,
                      beta=1.0, eta=0.0, f_beta=1.0, epsilon=core.DEFAULT_EPSILON,
                      sample_weight=None):
    """A batch-level soft score of the *global* batch, on prepared tensors.

    Formats, counts (``sample_weight`` inside the counts), sums the counts over
    ``tf.distribute`` replicas, then reduces. Arguments as :func:`soft_score`.
    """
    counts = core.soft_confusion(KERAS_OPS, y_true, y_pred, from_logits=from_logits,
                                 beta=beta, eta=eta,
                                 sample_weight=entry_weights(sample_weight, y_pred))
    counts = sum_across_replicas(counts)
    return core.reduce_score(KERAS_OPS, score, *counts, average=average, f_beta=f_beta,
                             epsilon=epsilon)


def soft_confusion(y_true, y_pred, *, from_logits=True, beta=1.0, eta=0.0,
                   sample_weight=None, validate_args=True):
    """Soft ``tp, fp, tn, fn`` per label from ``S(u) = sigmoid(beta * (u + eta))``.

    Args:
        y_true: array of shape ``(batch_size, num_labels)`` with 0/1 entries.
        y_pred: array of the same shape; logits (default) or probabilities.
        from_logits: bool. False means ``y_pred`` is used as ``S`` directly.
        beta: float. Slope of the sigmoid (the paper's beta).
        eta: float. Offset of the sigmoid (the paper's eta).
        sample_weight: optional array of shape ``(batch_size,)`` weighting rows,
            or ``(batch_size, num_labels)`` weighting entries.
        validate_args: bool. Check label values and NaN when inputs are concrete.

    Returns:
        Four tensors of shape ``(num_labels,)``: ``tp, fp, tn, fn``.
    """
    check_sigmoid_args(from_logits, beta, eta)
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    return core.soft_confusion(KERAS_OPS, y_true, y_pred, from_logits=from_logits,
                               beta=beta, eta=eta,
                               sample_weight=entry_weights(sample_weight, y_pred))


def soft_score(score, y_true, y_pred, *, average="macro", from_logits=True,
               beta=1.0, eta=0.0, f_beta=1.0, epsilon=core.DEFAULT_EPSILON,
               sample_weight=None, validate_args=True):
    """Any smooth confusion-matrix score: one of ``VLAP.ops.SCORES``."""
    check_option("score", score, SCORES)
    check_option("average", average, AVERAGES)
    check_sigmoid_args(from_logits, beta, eta)
    if score == "fbeta" and not f_beta > 0:
        raise ValueError(f"`f_beta` must be > 0. Received: f_beta={f_beta!r}")
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    return core.soft_score(KERAS_OPS, score, y_true, y_pred, average=average,
                           from_logits=from_logits, beta=beta, eta=eta,
                           f_beta=f_beta, epsilon=epsilon,
                           sample_weight=entry_weights(sample_weight, y_pred))


def _score_function(score, doc):
    def fn(y_true, y_pred, **kwargs):
        return soft_score(score, y_true, y_pred, **kwargs)

    fn.__name__ = fn.__qualname__ = f"soft_{score}"
    fn.__doc__ = (
        f"Smooth {doc}: ``soft_score({score!r}, y_true, y_pred, **kwargs)``.\n\n"
        "Keyword arguments as :func:`soft_score` (``average``, ``from_logits``, "
        "``beta``, ``eta``, ``f_beta`` for F-beta's own beta, ``epsilon``, "
        "``sample_weight``)."
    )
    return fn


soft_fbeta = _score_function("fbeta", "F-beta score (F1 at f_beta=1)")
soft_precision = _score_function("precision", "precision")
soft_recall = _score_function("recall", "recall")
soft_jaccard = _score_function("jaccard", "Jaccard index (IoU)")
soft_mcc = _score_function("mcc", "Matthews correlation coefficient")

__all__ = [
    "AVERAGES", "SCORES", "soft_confusion", "soft_score", "soft_fbeta",
    "soft_precision", "soft_recall", "soft_jaccard", "soft_mcc", "prepare",
    "replica_count", "sum_across_replicas", "max_across_replicas", "entry_weights", "global_soft_score",
]
