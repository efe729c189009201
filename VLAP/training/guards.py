"""Guards that turn a failed training into an error a user can act on.

:class:`StopOnNonFiniteLoss` stops training at the first batch whose loss is
NaN or infinite and raises :class:`NonFiniteLossError` naming the epoch (Keras'
``TerminateOnNaN`` only stops, so the failure surfaced later as "scores contain
NaN"). :func:`weight_bytes` and :func:`is_out_of_memory` let a runner refuse a
model too large for the machine before allocating it, and recognise the
out-of-memory errors of each backend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import keras


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite; the message names the epoch."""

    def __init__(self, message: str, epoch: int | None = None, value: float | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.value = value


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise :class:`NonFiniteLossError` at the first non-finite training loss.

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(1e30), loss="mse")
    >>> x = np.full((8, 2), 1e20, "float32")  # squared: inf in float32
    >>> try:
    ...     model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[StopOnNonFiniteLoss()])
    ... except NonFiniteLossError as err:
    ...     print(err.epoch)
    1
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        self._check((logs or {}).get("loss"), f"the training loss became {{}} in epoch "
                                              f"{self._epoch} (batch {batch + 1})")
        if batch + 1 == (self.params or {}).get("steps"):
            # the last step of an epoch, before validation: a step can leave the
            # weights non-finite while its own loss was finite
            for w in self.model.trainable_weights:
                if not bool(keras.ops.convert_to_numpy(keras.ops.all(keras.ops.isfinite(w)))):
                    self.model.stop_training = True
                    raise NonFiniteLossError(
                        f"the weights became non-finite in epoch {self._epoch} ({w.path})",
                        epoch=self._epoch, value=float("nan"))

    def on_epoch_end(self, epoch, logs=None):
        # one step can leave the weights non-finite while its own loss was finite:
        # the validation loss (computed with the new weights) shows it
        self._check((logs or {}).get("val_loss"),
                    f"the validation loss became {{}} after epoch {self._epoch} (the weights "
                    "are no longer finite)")

    def _check(self, value, message):
        if value is None:
            return
        value = float(keras.ops.convert_to_numpy(value))
        if not math.isfinite(value):
            self.model.stop_training = True
            raise NonFiniteLossError(message.format(value), epoch=self._epoch, value=value)


def dense_parameters(n_inputs: int, hidden: Iterable[int], num_labels: int) -> int:
    """Weights and biases of an MLP ``n_inputs -> hidden... -> num_labels``.

    Example:
    >>> dense_parameters(10, [4], 2)
    54
    """
    widths = [int(n_inputs), *map(int, hidden), int(num_labels)]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def weight_bytes(n_parameters: int) -> int:
    """Bytes float32 training needs for ``n_parameters``: weights, gradients and
    Adam's two moments (4 copies of 4 bytes), activations not counted."""
    return 16 * int(n_parameters)


def available_memory() -> int | None:
    """Bytes of memory available to this process now (psutil), or None if unknown."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil ships with the test extras
        return None
    return int(psutil.virtual_memory().available)


#: Type names and message parts of out-of-memory errors of TensorFlow, torch and JAX.
_OOM_TYPES = ("MemoryError", "ResourceExhaustedError", "OutOfMemoryError")
_OOM_TEXT = ("RESOURCE_EXHAUSTED", "out of memory", "Out of memory", "OOM when allocating")


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an out-of-memory error of Python or a backend.

    Example:
    >>> is_out_of_memory(MemoryError()), is_out_of_memory(ValueError("bad"))
    (True, False)
    """
    return type(err).__name__ in _OOM_TYPES or any(t in str(err)[:2000] for t in _OOM_TEXT)


class ModelTooLargeError(ValueError):
    """A model whose weights alone would not fit in the memory available."""


def check_fits(n_parameters: int, setting: str, available: int | None = None) -> None:
    """Raise :class:`ModelTooLargeError` naming `setting` when training
    `n_parameters` float32 weights would need more memory than is available.

    Example:
    >>> check_fits(10**12, "model.hidden=[10**6]", available=16 * 2**30)
    Traceback (most recent call last):
    ...
    VLAP.training.guards.ModelTooLargeError: model.hidden=[10**6]: the model has 1,000,000,000,000 weights; training them needs about 16000.0 GB, but 17.2 GB of memory is available. Use smaller layers.
    """
    available = available_memory() if available is None else available
    need = weight_bytes(n_parameters)
    if available is not None and need > available:
        raise ModelTooLargeError(
            f"{setting}: the model has {int(n_parameters):,} weights; training them needs "
            f"about {need / 1e9:.1f} GB, but {available / 1e9:.1f} GB of memory is available. "
            "Use smaller layers.")


__all__ = ["ModelTooLargeError", "NonFiniteLossError", "StopOnNonFiniteLoss", "available_memory",
           "check_fits", "dense_parameters", "is_out_of_memory", "weight_bytes"]
