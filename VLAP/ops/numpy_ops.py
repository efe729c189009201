"""The array namespace of :mod:`VLAP.ops.core` on NumPy: ``NUMPY_OPS``.

:mod:`VLAP.ops.core` takes the array functions it needs as an argument (``xp``)
so that one set of formulas serves every framework: ``VLAP.ops.soft.KERAS_OPS``
(``keras.ops``, the losses and ``VLAP.metrics``), ``VLAP.torch.TORCH_OPS`` and
this one, which :mod:`VLAP.evaluation` uses for the exact, thresholded counts.

Example:
>>> import numpy as np
>>> from VLAP.ops import core
>>> from VLAP.ops.numpy_ops import NUMPY_OPS
>>> y = np.array([[1, 0, 1], [0, 1, 0]])
>>> p = core.hard_indicator(NUMPY_OPS, np.array([[0.9, 0.2, 0.4], [0.6, 0.7, 0.1]]), 0.5)
>>> [c.tolist() for c in core.confusion_counts(NUMPY_OPS, y, p)]
[[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
"""

import numpy as np
from scipy.special import expit, log_expit


class _NumpyNamespace:
    """The handful of array functions :mod:`VLAP.ops.core` needs, on NumPy."""

    sigmoid = staticmethod(expit)
    log_sigmoid = staticmethod(log_expit)
    mean = staticmethod(np.mean)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    log = staticmethod(np.log)
    clip = staticmethod(np.clip)
    minimum = staticmethod(np.minimum)
    power = staticmethod(np.power)
    reshape = staticmethod(np.reshape)
    exp = staticmethod(np.exp)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def sum(x, axis=None):
        """``np.sum``; a bool array summed along an axis counts in 16- or 32-bit
        integers (what fits the axis), 2-4x faster than NumPy's int64 accumulator,
        and returns the same int64 values."""
        if isinstance(x, np.ndarray) and x.dtype == np.bool_ and axis is not None:
            size = x.shape[axis]
            acc = np.uint16 if size < 1 << 16 else np.uint32 if size < 1 << 32 else np.int64
            return np.add.reduce(x, axis=axis, dtype=acc).astype(np.int64)
        return np.sum(x, axis)

    @staticmethod
    def max(x, axis):
        return np.max(x, axis)

    @staticmethod
    def softplus(x):
        return np.logaddexp(0.0, x)

    @staticmethod
    def cast_like(x, ref):
        return np.asarray(x).astype(np.asarray(ref).dtype, copy=False)


NUMPY_OPS = _NumpyNamespace()

__all__ = ["NUMPY_OPS"]
