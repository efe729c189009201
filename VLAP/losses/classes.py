"""The Keras ``Loss`` classes: registered, serializable, one per loss function.

Every constructor argument is an attribute and appears in ``get_config``;
``call`` delegates to the function in :mod:`VLAP.losses.functions`.

Batch-level losses (:class:`SigmoidF1` and the soft-score family) take
``sample_weight`` inside their soft counts, so their ``__call__`` replaces
Keras's (which would multiply the batch's scalar by the weights a second time).
Under ``tf.distribute`` their scalar is scaled by ``1 / num_replicas`` as Keras
scales every reduced loss: Keras multiplies the logged value back and sums the
replicas' gradients, so both equal those of the global batch.
"""

import keras
from keras import ops as _k

from VLAP.losses.combined import (ELEMENTWISE, SURROGATES, dual_head, resolve_part,
                                  weighted_sum)
from VLAP.losses.functions import (asymmetric, binary_crossentropy, focal,
                                   label_count_error, sigmoid_f1, soft_score_loss,
                                   unbounded_f1)
from VLAP.ops import core
from VLAP.ops.soft import replica_count

_PACKAGE = "VLAP"


# --------------------------------------------------------------------------
# Keras Loss classes: every constructor argument is an attribute and in get_config


class _VLAPLoss(keras.losses.Loss):
    """Base: ``call`` delegates to the loss function with the stored options."""

    fn = None

    def __init__(self, *, name, reduction="sum_over_batch_size", dtype=None, **options):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        for key, value in options.items():
            setattr(self, key, value)
        self._option_names = tuple(options)
        # Validate the options now, in Python, so a bad one fails at construction.
        core.check_loss_options(**self._options())

    def _options(self):
        return {key: getattr(self, key) for key in self._option_names}

    def _compute(self, y_true, y_pred, **kwargs):
        return type(self).fn(y_true, y_pred, **kwargs)

    def call(self, y_true, y_pred):
        return self._compute(y_true, y_pred, **self._options())

    def get_config(self):
        config = super().get_config()
        config.update(self._options())
        return config


class BatchLoss(_VLAPLoss):
    """Batch-level surrogate: ``sample_weight`` goes into the soft counts.

    Keras would otherwise multiply the batch's scalar by the weights and average,
    which only rescales it; here a weight of 0 removes an example (row weights)
    or one label of an example (entry weights) from the counts.
    """

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            y_pred = _k.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = _k.convert_to_tensor(y_true, dtype=self.dtype)
            if sample_weight is not None:
                # kept as given: (batch,), (batch, 1) or (batch, num_labels)
                sample_weight = _k.convert_to_tensor(sample_weight, dtype=self.dtype)
            value = self._compute(y_true, y_pred, sample_weight=sample_weight,
                                  **self._options())
            replicas = replica_count()
            if replicas > 1:
                value = value * _k.cast(1.0 / replicas, value.dtype)
            return value


def _register(cls):
    return keras.saving.register_keras_serializable(package=_PACKAGE)(cls)


_D = core.DEFAULT_EPSILON
_R = "sum_over_batch_size"


@_register
class SigmoidF1(BatchLoss):
    """Keras loss for :func:`sigmoid_f1` (arguments as there).

    Example:
    >>> import keras, VLAP
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model.compile(optimizer="adam", loss=VLAP.losses.SigmoidF1(beta=5.0))
    """

    fn = staticmethod(sigmoid_f1)

    def __init__(self, beta=1.0, eta=0.0, average="macro", from_logits=True,
                 epsilon=_D, validate_args=True, name="sigmoid_f1", reduction=_R,
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, beta=beta,
                         eta=eta, average=average, from_logits=from_logits,
                         epsilon=epsilon, validate_args=validate_args)


@_register
class UnboundedF1(BatchLoss):
    """Keras loss for :func:`unbounded_f1`."""

    fn = staticmethod(unbounded_f1)

    def __init__(self, average="macro", from_logits=True, epsilon=_D,
                 validate_args=True, name="unbounded_f1", reduction=_R, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, average=average,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


class _SoftScoreLoss(BatchLoss):
    """``1 - soft score`` for the score named by the subclass's ``score``."""

    score = None

    def __init__(self, beta=1.0, eta=0.0, average="macro", from_logits=True,
                 epsilon=_D, validate_args=True, name=None, reduction=_R, dtype=None,
                 **extra):
        super().__init__(name=name or f"{self.score}_loss", reduction=reduction,
                         dtype=dtype, beta=beta, eta=eta, average=average,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args, **extra)

    def _compute(self, y_true, y_pred, **kwargs):
        return soft_score_loss(self.score, y_true, y_pred, **kwargs)


@_register
class FBetaLoss(_SoftScoreLoss):
    """Keras loss for :func:`fbeta_loss`; ``f_beta`` is F-beta's own beta."""

    score = "fbeta"

    def __init__(self, f_beta=1.0, **kwargs):
        super().__init__(f_beta=f_beta, **kwargs)


@_register
class PrecisionLoss(_SoftScoreLoss):
    """Keras loss for :func:`precision_loss`."""

    score = "precision"


@_register
class RecallLoss(_SoftScoreLoss):
    """Keras loss for :func:`recall_loss`."""

    score = "recall"


@_register
class JaccardLoss(_SoftScoreLoss):
    """Keras loss for :func:`jaccard_loss`."""

    score = "jaccard"


@_register
class MCCLoss(_SoftScoreLoss):
    """Keras loss for :func:`mcc_loss`."""

    score = "mcc"


@_register
class BinaryCrossentropy(_VLAPLoss):
    """Keras loss for :func:`binary_crossentropy`."""

    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=True, epsilon=_D, validate_args=True,
                 name="binary_crossentropy", reduction=_R, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


@_register
class Focal(_VLAPLoss):
    """Keras loss for :func:`focal`."""

    fn = staticmethod(focal)

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=True, epsilon=_D,
                 validate_args=True, name="focal", reduction=_R, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


@_register
class Asymmetric(_VLAPLoss):
    """Keras loss for :func:`asymmetric` (ASL)."""

    fn = staticmethod(asymmetric)

    def __init__(self, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, from_logits=True,
                 epsilon=1e-8, validate_args=True, name="asymmetric", reduction=_R,
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


@_register
class LabelCountError(_VLAPLoss):
    """Keras loss for :func:`label_count_error` (a calibration term; see there)."""

    fn = staticmethod(label_count_error)

    def __init__(self, from_logits=True, validate_args=True, name="label_count_error",
                 reduction=_R, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, validate_args=validate_args)


@_register
class WeightedSum(BatchLoss):
    """Keras loss for :func:`VLAP.losses.weighted_sum`: surrogate + weight * element-wise.

    Example:
    >>> import VLAP
    >>> loss = VLAP.losses.WeightedSum(baseline="bce", weight=0.3,
    ...                                surrogate_kwargs={"beta": 1.0})
    >>> round(float(loss([[1, 0]], [[2.0, -1.0]])), 4)
    0.5977
    """

    fn = staticmethod(weighted_sum)

    def __init__(self, surrogate="sigmoid_f1", baseline="binary_crossentropy", weight=0.5,
                 surrogate_kwargs=None, baseline_kwargs=None, from_logits=True,
                 validate_args=True, name="weighted_sum", reduction=_R, dtype=None):
        resolve_part("surrogate", surrogate, SURROGATES, surrogate_kwargs)
        resolve_part("baseline", baseline, ELEMENTWISE, baseline_kwargs)
        super().__init__(name=name, reduction=reduction, dtype=dtype, surrogate=surrogate,
                         baseline=baseline, weight=weight,
                         surrogate_kwargs=dict(surrogate_kwargs or {}),
                         baseline_kwargs=dict(baseline_kwargs or {}),
                         from_logits=from_logits, validate_args=validate_args)


@_register
class DualHead(WeightedSum):
    """Keras loss for :func:`VLAP.losses.dual_head`: y_true ``(batch, L)``, y_pred
    ``(batch, 2L)`` (decision head, then score head; see :mod:`VLAP.losses.combined`).

    ``outputs_per_label = 2`` tells :func:`VLAP.training.compile_for_multilabel`
    that the model outputs two columns per label and that its thresholded
    metrics are those of the decision head (columns ``[:L]``).

    Example:
    >>> import VLAP
    >>> loss = VLAP.losses.DualHead(weight=0.3, surrogate_kwargs={"beta": 1.0})
    >>> round(float(loss([[1, 0]], [[2.0, -1.0, 2.0, -1.0]])), 4)
    0.5977
    >>> VLAP.losses.DualHead.from_config(loss.get_config()).weight
    0.3
    """

    fn = staticmethod(dual_head)
    outputs_per_label = 2

    def __init__(self, surrogate="sigmoid_f1", baseline="binary_crossentropy", weight=1.0,
                 surrogate_kwargs=None, baseline_kwargs=None, from_logits=True,
                 validate_args=True, name="dual_head", reduction=_R, dtype=None):
        # WeightedSum's options and checks; only the function (one term per head) differs
        super().__init__(surrogate=surrogate, baseline=baseline, weight=weight,
                         surrogate_kwargs=surrogate_kwargs, baseline_kwargs=baseline_kwargs,
                         from_logits=from_logits, validate_args=validate_args, name=name,
                         reduction=reduction, dtype=dtype)
