"""The Keras ``Loss`` classes: registered, serializable, one per registered loss.

The class of every loss of :mod:`VLAP.ops.registry` that has a formula is made
from its registration (:func:`loss_class`): its name, constructor (the
registry's options, then ``validate_args``, ``name``, ``reduction``,
``dtype``), checks and flags; ``call`` computes
:func:`VLAP.losses.functions.loss_value`. A loss registered later gets its
class at once. Composite losses (:class:`WeightedSum`, :class:`DualHead`) are
written by hand and tied to their registration by :func:`keras_loss`.

Every constructor argument is an attribute and appears in ``get_config``.

Batch-level losses (:class:`SigmoidF1` and the soft-score family) take
``sample_weight`` inside their soft counts, so their ``__call__`` replaces
Keras's (which would multiply the batch's scalar by the weights a second time).
Under ``tf.distribute`` their scalar is scaled by ``1 / num_replicas`` as Keras
scales every reduced loss: Keras multiplies the logged value back and sums the
replicas' gradients, so both equal those of the global batch.
"""

import inspect
from typing import Any, Callable

import keras
from keras import ops as _k

from VLAP.losses.combined import dual_head, weighted_sum
from VLAP.losses.functions import loss_value
from VLAP.ops import core, registry
from VLAP.ops.soft import replica_count

_PACKAGE = "VLAP"


# --------------------------------------------------------------------------
# Keras Loss classes: every constructor argument is an attribute and in get_config


class _VLAPLoss(keras.losses.Loss):
    """Base: ``call`` delegates to the loss function with the stored options.

    ``loss_name`` is the loss's canonical name in :mod:`VLAP.ops.registry`,
    whose checks the options pass at construction.
    """

    fn: "Callable[..., Any] | None" = None
    loss_name = None
    outputs_per_label = 1

    def __init__(self, *, name, reduction="sum_over_batch_size", dtype=None, **options):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        for key, value in options.items():
            setattr(self, key, value)
        self._option_names = tuple(options)
        # Validate the options now, in Python, so a bad one fails at construction.
        checked = {k: v for k, v in self._options().items() if k != "validate_args"}
        if self.loss_name is None:
            core.check_loss_options(**checked)
        else:
            registry.check_options(self.loss_name, checked)

    def _options(self):
        return {key: getattr(self, key) for key in self._option_names}

    def _compute(self, y_true, y_pred, **kwargs):
        fn = type(self).fn
        assert fn is not None  # every concrete class sets it (or overrides _compute)
        return fn(y_true, y_pred, **kwargs)

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


_R = "sum_over_batch_size"

# canonical name -> Keras class: made from the registry for every loss with a
# formula; composite and stateful ones are written by hand (keras_loss below).
_CLASSES: "dict[str, type]" = {}


def keras_loss(name):
    """Class decorator: the hand-written Keras class of the registered loss ``name``.

    Checks that the class has the registry's class name and that its constructor
    takes exactly the registry's options (then ``validate_args``, ``name``,
    ``reduction``, ``dtype``), and registers it for serialization.
    """
    spec = registry.loss_spec(name)

    def wrap(cls):
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        expected = [*spec.option_names, "validate_args", "name", "reduction", "dtype"]
        if cls.__name__ != spec.class_name or params != expected:
            raise TypeError(f"The Keras class of loss {spec.name!r} must be named "
                            f"{spec.class_name!r} and take {expected}. Received: "
                            f"{cls.__name__!r} taking {params}")
        cls.loss_name = spec.name
        cls.outputs_per_label = spec.outputs_per_label
        _CLASSES[spec.name] = _register(cls)
        return cls

    return wrap


def _signature(spec):
    P = inspect.Parameter
    params = [P("self", P.POSITIONAL_OR_KEYWORD)]
    params += [P(o.name, P.POSITIONAL_OR_KEYWORD, default=o.default) for o in spec.options]
    params += [P("validate_args", P.POSITIONAL_OR_KEYWORD, default=True),
               P("name", P.POSITIONAL_OR_KEYWORD, default=spec.function),
               P("reduction", P.POSITIONAL_OR_KEYWORD, default=_R),
               P("dtype", P.POSITIONAL_OR_KEYWORD, default=None)]
    return inspect.Signature(params)


def _make_class(spec):
    """The Keras class of a registered loss with a formula (see the module)."""
    made = _CLASSES.get(spec.name)
    if spec.formula is None or (made is not None and getattr(made, "spec", spec) is spec):
        return  # hand-written, or made already (a loss registered anew is made anew)
    signature = _signature(spec)
    base = BatchLoss if spec.kind == "batch" else _VLAPLoss

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        base.__init__(self, name=arguments.pop("name"), reduction=arguments.pop("reduction"),
                      dtype=arguments.pop("dtype"), **arguments)

    __init__.__signature__ = signature  # type: ignore[attr-defined]  # inspect reads it

    def _compute(self, y_true, y_pred, **kwargs):
        return loss_value(spec.name, y_true, y_pred, **kwargs)

    kind = ("batch-level: ``sample_weight`` inside the counts" if spec.kind == "batch"
            else "element-wise: one value per example, then ``reduction``")
    namespace = {
        "__init__": __init__, "_compute": _compute, "loss_name": spec.name, "spec": spec,
        "outputs_per_label": spec.outputs_per_label, "__module__": __name__,
        "__qualname__": spec.class_name,
        "__doc__": (f"Keras loss {spec.name!r} of :mod:`VLAP.ops.registry` ({kind}); "
                    f"options {list(spec.option_names)}, see "
                    f":func:`VLAP.losses.{spec.function}`."),
    }
    if getattr(spec.formula, "score", None):
        namespace["score"] = spec.formula.score
    _CLASSES[spec.name] = _register(type(spec.class_name, (base,), namespace))


registry.on_register(_make_class)


def loss_class(name):
    """The Keras class of a registered loss, by any of its names.

    Example:
    >>> loss_class("sigmoidF1").__name__, loss_class("asl")().clip
    ('SigmoidF1', 0.05)
    """
    spec = registry.loss_spec(name)
    if spec.name not in _CLASSES:
        raise ValueError(f"Loss {spec.name!r} has no Keras class: register a formula or "
                         "decorate a class with VLAP.losses.classes.keras_loss.")
    return _CLASSES[spec.name]


# The classes of the built-in losses under their public names.
SigmoidF1 = loss_class("sigmoid_f1")
UnboundedF1 = loss_class("unbounded_f1")
BinaryCrossentropy = loss_class("binary_crossentropy")
Focal = loss_class("focal")
Asymmetric = loss_class("asymmetric")
FBetaLoss = loss_class("fbeta")
PrecisionLoss = loss_class("precision")
RecallLoss = loss_class("recall")
JaccardLoss = loss_class("jaccard")
MCCLoss = loss_class("mcc")
LabelCountError = loss_class("label_count_error")
ZLPR = loss_class("zlpr")
TwoWay = loss_class("two_way")


@keras_loss("weighted_sum")
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
        super().__init__(name=name, reduction=reduction, dtype=dtype, surrogate=surrogate,
                         baseline=baseline, weight=weight,
                         surrogate_kwargs=dict(surrogate_kwargs or {}),
                         baseline_kwargs=dict(baseline_kwargs or {}),
                         from_logits=from_logits, validate_args=validate_args)


@keras_loss("dual_head")
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

    def __init__(self, surrogate="sigmoid_f1", baseline="binary_crossentropy", weight=1.0,
                 surrogate_kwargs=None, baseline_kwargs=None, from_logits=True,
                 validate_args=True, name="dual_head", reduction=_R, dtype=None):
        # WeightedSum's options and checks; only the function (one term per head) differs
        super().__init__(surrogate=surrogate, baseline=baseline, weight=weight,
                         surrogate_kwargs=surrogate_kwargs, baseline_kwargs=baseline_kwargs,
                         from_logits=from_logits, validate_args=validate_args, name=name,
                         reduction=reduction, dtype=dtype)
