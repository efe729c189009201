"""Losses that keep state across the batches of a training run.

* :class:`Scheduled`: moves from one loss to another over the epochs (by
  default from BCE to sigmoidF1), ``(1 - mix) * start + mix * end`` with
  ``mix`` a function of the epoch only, so a resumed run continues the
  schedule exactly where it stopped.
* :class:`EMASigmoidF1`: sigmoidF1 on soft counts averaged over the recent
  training batches (:func:`VLAP.losses.ema_sigmoid_f1`), so the loss depends far
  less on the batch size; validation batches neither read nor change the
  average (their loss is the plain sigmoidF1 of the batch).

Both must be attached to the model they train: :func:`VLAP.train` and
:func:`VLAP.training.compile_for_multilabel` do it; after your own
``model.compile(loss=loss)`` call ``callbacks = loss.attach(model)`` and pass
the callbacks to ``fit``. Attaching tracks the loss's :class:`LossState` as a
metric of the model (so every backend, JAX's stateless train step included,
carries its variables through the compiled step) and tells the loss which
traced step is a training step. The state's value is logged under its name
(``loss_mix``, ``ema_f1``). Not supported under ``tf.distribute``.

The state survives a kill: :func:`VLAP.train` writes :meth:`LossState.values`
into the run's ``state.json`` every epoch and a resumed run attaches the loss
with them (``attach(model, values=...)``), so EMASigmoidF1's moving counts
continue where they stopped instead of restarting.

Example:
>>> import keras, numpy as np, VLAP
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
>>> loss = VLAP.losses.Scheduled(ramp_epochs=2)
>>> model.compile(optimizer="adam", loss=loss)
>>> callbacks = loss.attach(model)
>>> x, y = np.random.rand(8, 4), (np.random.rand(8, 3) > 0.5).astype("float32")
>>> history = model.fit(x, y, epochs=3, callbacks=callbacks, verbose=0)
>>> [round(m, 2) for m in history.history["loss_mix"]]
[0.0, 0.5, 1.0]
"""

from typing import Any

import keras
from keras import ops as _k

from VLAP._compat import attach_metric
from VLAP.losses.classes import BatchLoss, keras_loss
from VLAP.losses.combined import ema_sigmoid_f1, mixed
from VLAP.ops import core
from VLAP.ops.soft import replica_count


class LossState(keras.metrics.Metric):
    """Variables a stateful loss keeps across batches, logged as one scalar.

    Never reset between epochs (``reset_state`` does nothing); :meth:`restart`
    sets the initial values, at the start of each ``fit``.

    Args:
        variables: dict ``name -> (shape, initial value)``.
        report: str. The variable whose (mean) value :meth:`result` logs.
        name: str. The log's name.
    """

    def __init__(self, variables: dict, report: str, name: str):
        super().__init__(name=name)
        self._initial = {}
        for key, (shape, value) in variables.items():
            var = self.add_variable(shape=shape, initializer=keras.initializers.Constant(value),
                                    name=key)
            setattr(self, key, var)
            self._initial[key] = float(value)
        self._report = report

    def update_state(self, *args, **kwargs):
        """Nothing: the loss updates the state while it computes."""

    def reset_state(self):
        """Nothing: the state spans epochs (see :meth:`restart`)."""

    def restart(self) -> None:
        """Set every variable to its initial value."""
        for key, value in self._initial.items():
            var = getattr(self, key)
            var.assign(_k.full(var.shape, value, dtype=var.dtype))

    def values(self) -> dict:
        """The variables' current values as JSON-able (nested) lists of floats.

        Floats written by ``json`` read back to the same float32 values, so
        :meth:`load` restores the state exactly.
        """
        return {key: _k.convert_to_numpy(getattr(self, key)).tolist() for key in self._initial}

    def load(self, values: dict) -> None:
        """Set the variables to ``values`` (from :meth:`values`).

        Raises:
            ValueError: when ``values`` names other variables or has other shapes.
        """
        import numpy as np

        if not isinstance(values, dict) or set(values) != set(self._initial):
            got = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"{self.name}: `values` must hold the variables "
                             f"{sorted(self._initial)}. Received: {got}")
        for key, value in values.items():
            var = getattr(self, key)
            array = np.asarray(value, dtype=var.dtype)
            if array.shape != tuple(var.shape):
                raise ValueError(f"{self.name}.{key}: expected shape {tuple(var.shape)}. "
                                 f"Received: {array.shape}")
            var.assign(array)

    def result(self):
        return _k.mean(_k.convert_to_tensor(getattr(self, self._report)))


class _StateCallback(keras.callbacks.Callback):
    """Restarts the state at the start of ``fit`` and sets each epoch's value."""

    def __init__(self, loss, restart=True):
        super().__init__()
        self.loss = loss
        self.restart = restart

    def on_train_begin(self, logs=None):
        if self.restart:
            self.loss.state.restart()

    def on_epoch_begin(self, epoch, logs=None):
        self.loss.on_epoch_begin(epoch)


class _StatefulLoss(BatchLoss):
    """Base of losses with a :class:`LossState`; see the module docstring."""

    state: Any = None  # a LossState once attached to a model (attach())
    _training = False  # set while a training step is traced (see attach)

    def _make_state(self, num_labels):
        raise NotImplementedError

    def on_epoch_begin(self, epoch):
        """Hook for epoch-dependent state (the schedule)."""

    def attach(self, model: keras.Model, num_labels: int | None = None,
               values: dict | None = None) -> list:
        """Attach the loss to the compiled ``model``; returns the callbacks for ``fit``.

        Args:
            model: keras.Model compiled with this loss.
            num_labels: int or None. Taken from the model's output when None.
            values: dict or None. A state saved by :meth:`LossState.values` (a
                resumed run): the state starts from it instead of its initial
                values.
        """
        if num_labels is None:
            num_labels = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) \
                else None
        if num_labels is None:
            raise ValueError(f"{type(self).__name__}.attach: give `num_labels`; the model "
                             "has no known output shape yet.")
        self.state = self._make_state(int(num_labels))
        attach_metric(model, "_vlap_loss_state", self.state)  # model.metrics carries it
        original = getattr(model, "_vlap_compute_loss", None) or model.compute_loss
        model._vlap_compute_loss = original
        loss = self

        def compute_loss(x=None, y=None, y_pred=None, sample_weight=None, training=True):
            before, loss._training = loss._training, bool(training)
            try:
                return original(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                training=training)
            finally:
                loss._training = before

        model.compute_loss = compute_loss
        self._training = False
        if values is not None:
            self.state.load(values)
        return [_StateCallback(self, restart=values is None)]

    def _check_attached(self):
        if self.state is None:
            raise RuntimeError(
                f"{type(self).__name__} keeps state across batches and must be attached to "
                "its model: train with VLAP.train (or compile with "
                "VLAP.training.compile_for_multilabel), or call `callbacks = "
                "loss.attach(model)` after model.compile and pass them to fit.")
        if replica_count() > 1:
            raise ValueError(f"{type(self).__name__} does not support tf.distribute: its "
                             "state is one set of variables per model.")


@keras_loss("scheduled")
class Scheduled(_StatefulLoss):
    """From ``start`` to ``end`` over the epochs: ``(1 - mix) * start + mix * end``.

    ``mix = 0`` before ``start_epoch``, then rises linearly to 1 over
    ``ramp_epochs`` epochs (``ramp_epochs=0``: a switch). Epochs count from 0,
    as Keras does. ``mix`` depends on the epoch number only, so resuming at
    epoch ``k`` (``fit(initial_epoch=k)``, ``VLAP.train(resume=True)``) gives
    the same schedule as an uninterrupted run.

    Args:
        start, end: str. Loss names (a batch-level surrogate or an element-wise
            loss, see :func:`VLAP.losses.mixed`).
        start_epoch: int >= 0. Last epoch of pure ``start`` + 1.
        ramp_epochs: int >= 0.
        start_kwargs, end_kwargs: dict or None. Options of each loss.
    """

    def __init__(self, start: str = "binary_crossentropy", end: str = "sigmoid_f1",
                 start_epoch: int = 0, ramp_epochs: int = 10, start_kwargs: dict | None = None,
                 end_kwargs: dict | None = None, from_logits: bool = True,
                 validate_args: bool = True, name: str = "scheduled",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, start=start, end=end,
                         start_epoch=int(start_epoch), ramp_epochs=int(ramp_epochs),
                         start_kwargs=dict(start_kwargs or {}),
                         end_kwargs=dict(end_kwargs or {}), from_logits=from_logits,
                         validate_args=validate_args)

    def mix_at(self, epoch: int) -> float:
        """The weight of ``end`` during ``epoch`` (0-based).

        Example:
        >>> import VLAP
        >>> [VLAP.losses.Scheduled(start_epoch=1, ramp_epochs=2).mix_at(e) for e in range(5)]
        [0.0, 0.0, 0.5, 1.0, 1.0]
        """
        if epoch < self.start_epoch:
            return 0.0
        if self.ramp_epochs == 0:
            return 1.0
        return min(1.0, (epoch - self.start_epoch) / self.ramp_epochs)

    @property
    def warmup_epochs(self) -> int:
        """The first epoch of pure ``end``: :func:`VLAP.train` counts early-stopping
        patience and seeks the best (kept) epoch only from there, so the schedule is
        never cut short and a warm-up epoch, trained on another loss whose
        ``val_loss`` is on another scale, is never the one kept."""
        return self.start_epoch + self.ramp_epochs

    def _make_state(self, num_labels):
        return LossState({"mix": ((), 0.0)}, report="mix", name="loss_mix")

    def on_epoch_begin(self, epoch):
        self.state.mix.assign(self.mix_at(epoch))

    def _compute(self, y_true, y_pred, sample_weight=None, **options):
        self._check_attached()
        options = {k: v for k, v in options.items() if k not in ("start_epoch", "ramp_epochs")}
        mix = _k.cast(_k.convert_to_tensor(self.state.mix), "float32")
        return mixed(y_true, y_pred, mix=mix, sample_weight=sample_weight, **options)


@keras_loss("ema_sigmoid_f1")
class EMASigmoidF1(_StatefulLoss):
    """sigmoidF1 on soft counts averaged over training batches (see the module).

    Args:
        momentum: float in ``[0, 1)``. The average covers about
            ``1 / (1 - momentum)`` batches; 0 is plain sigmoidF1.
        (others as :class:`SigmoidF1`)
    """

    def __init__(self, momentum: float = 0.9, beta: float = 1.0, eta: float = 0.0,
                 average: str = "macro", from_logits: bool = True,
                 epsilon: float = core.DEFAULT_EPSILON, validate_args: bool = True,
                 name: str = "ema_sigmoid_f1", reduction: str = "sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, momentum=momentum,
                         beta=beta, eta=eta, average=average, from_logits=from_logits,
                         epsilon=epsilon, validate_args=validate_args)

    def _make_state(self, num_labels):
        shape = (num_labels,)
        return LossState({"tp": (shape, 0.0), "fp": (shape, 0.0), "tn": (shape, 0.0),
                          "fn": (shape, 0.0), "decay": ((), 1.0), "f1": ((), 0.0)},
                         report="f1", name="ema_f1")

    def _compute(self, y_true, y_pred, sample_weight=None, **options):
        self._check_attached()
        if not self._training:  # evaluation: the batch's own sigmoidF1, state untouched
            options.pop("momentum")
            from VLAP.losses.functions import sigmoid_f1

            return sigmoid_f1(y_true, y_pred, sample_weight=sample_weight, **options)
        s = self.state
        state = tuple(_k.convert_to_tensor(v) for v in (s.tp, s.fp, s.tn, s.fn, s.decay))
        loss, new = ema_sigmoid_f1(y_true, y_pred, state, sample_weight=sample_weight,
                                   **options)
        for var, value in zip((s.tp, s.fp, s.tn, s.fn, s.decay), new):
            var.assign(_k.cast(_k.stop_gradient(value), var.dtype))
        s.f1.assign(_k.cast(_k.stop_gradient(1.0 - loss), s.f1.dtype))
        return loss
