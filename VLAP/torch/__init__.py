"""VLAP's losses as native ``torch.nn.Module`` objects, for your own PyTorch loops.

Importing this module imports PyTorch only: no Keras, no TensorFlow. Every loss
of the registry (:mod:`VLAP.ops.registry`) has a module here, made from its
registration (:func:`module_class`, :func:`get_loss`; the composite and stateful
ones, :class:`WeightedSum`, :class:`DualHead`, :class:`Scheduled`,
:class:`EMASigmoidF1`, are written by hand on their registered options). The
formulas are the very functions the Keras losses use, evaluated on a thin
PyTorch namespace, so both give the same values (tests/test_loss_registry.py).

Example:
>>> import torch
>>> from VLAP.torch import SigmoidF1
>>> y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
>>> logits = torch.tensor([[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]], requires_grad=True)
>>> loss = SigmoidF1()(logits, y)
>>> round(float(loss), 4)
0.2405
>>> loss.backward()

Note the argument order: ``module(input, target)`` as in ``torch.nn`` losses
(the Keras side uses ``(y_true, y_pred)``).

Torch conventions:

* functional forms in :mod:`VLAP.torch.functional` (``sigmoid_f1(input, target,
  ...)``), the same values as the modules;
* ``reduction``: for the element-wise losses the mean, sum or per-example
  values; for the batch-level losses made from a formula ``"mean"`` is the
  loss of the batch's counts, ``"none"`` the per-label losses ``1 - score_j``
  (shape ``(num_labels,)``, ``average="macro"``) and ``"sum"`` their sum; with
  ``average="micro"`` the counts are pooled over labels into one loss, which
  all three return (as torchmetrics' micro average is one number);
* soft targets in [0, 1] (label smoothing, mixup) are accepted: the counts are
  the same sums with the fractional ``y`` (``tp = sum S y``, ``fp = sum S (1 -
  y)``, ``fn = sum (1 - S) y``);
* ``ignore_index`` (e.g. -100): those entries leave the counts (weight 0) and
  the element-wise means (the mean over the kept entries);
* options are checked once, in ``__init__``; tensors by :func:`check_tensors`
  on their own device, with no host copy and the same eager and compiled;
  messages name ``input`` and ``target``.

Under ``torch.distributed`` (DDP, FSDP, Lightning's ``strategy="ddp"``, the HF
Trainer) the batch-level losses (:class:`SigmoidF1`, :class:`JaccardLoss` and the other
soft scores, :class:`SoftScoreLoss`, :class:`WeightedSum`, :class:`DualHead`,
:class:`Scheduled`, :class:`EMASigmoidF1`, :class:`TwoWay`) are the loss of
the *global* batch by default: their soft counts (TwoWay: its exponential sums,
shifted by the ranks' maximum, found by one ``all_reduce(MAX)`` without gradient)
are summed across ranks with one differentiable ``all_reduce`` per call, scaled so
that DDP's gradient averaging gives the single-process gradient of the
concatenated batch. Their ``sync`` argument (``"auto"``, ``"global"``, ``"local"``)
is explained in :mod:`VLAP.torch.dist`. The element-wise losses
(:class:`BinaryCrossentropy`, :class:`Focal`, :class:`Asymmetric`,
:class:`LabelCountError`, :class:`ZLPR`) used on their own stay per-rank means, as
``torch.nn`` losses are.
"""

import inspect
import numbers
from typing import Any

import torch
import torch.nn.functional as F

from VLAP.ops import core, registry
from VLAP.ops.core import check_loss_options, check_option
from VLAP.torch._compat import assert_async
from VLAP.torch.dist import SYNC_OPTIONS, is_synced, max_across_ranks, sum_across_ranks


class _TorchNamespace:
    sigmoid = staticmethod(torch.sigmoid)
    log_sigmoid = staticmethod(F.logsigmoid)
    softplus = staticmethod(F.softplus)
    sum = staticmethod(torch.sum)
    mean = staticmethod(torch.mean)
    sqrt = staticmethod(torch.sqrt)
    abs = staticmethod(torch.abs)
    log = staticmethod(torch.log)
    clip = staticmethod(torch.clamp)
    power = staticmethod(torch.pow)
    reshape = staticmethod(torch.reshape)
    exp = staticmethod(torch.exp)

    @staticmethod
    def minimum(x, value):
        return torch.clamp(x, max=value)

    @staticmethod
    def maximum(x, value):
        return torch.clamp(x, min=value)

    @staticmethod
    def max(x, axis):
        return torch.amax(x, dim=axis)

    @staticmethod
    def cast_like(x, ref):
        return torch.as_tensor(x, device=ref.device).to(ref.dtype)


TORCH_OPS = _TorchNamespace()


REDUCTIONS = ("mean", "sum", "none")

#: The message of the tensor check on ``target`` (a RuntimeError, see :func:`check_tensors`).
TARGET_MESSAGE = ("`target` must hold values in [0, 1] (0/1 labels, or soft targets from "
                  "label smoothing or mixup) or `ignore_index`; it holds a value outside "
                  "[0, 1] or NaN")
INPUT_MESSAGE = "`input` must be finite; it holds NaN or an infinite value"
PROBS_MESSAGE = ("With from_logits=False, `input` must hold probabilities in [0, 1]; it "
                 "holds a value outside [0, 1] or NaN. Pass logits with from_logits=True")


def check_ignore_index(ignore_index):
    """Argument check of ``ignore_index``: None, or an integer other than 0 and 1."""
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise TypeError("`ignore_index` must be an integer or None. "
                        f"Received: ignore_index={ignore_index!r}")
    if ignore_index in (0, 1):
        raise ValueError("`ignore_index` must be a value no target takes (targets are in "
                         f"[0, 1]), such as -100. Received: ignore_index={ignore_index!r}")
    return int(ignore_index)


def check_shapes(input_shape, target_shape):
    """Static check (Python, on shapes only): ``(batch_size, num_labels)``, the same for both."""
    for name, shape in (("input", input_shape), ("target", target_shape)):
        if len(shape) != 2:
            raise ValueError(f"`{name}` must have shape (batch_size, num_labels). "
                             f"Received: {name}.shape={tuple(shape)}")
    if tuple(input_shape) != tuple(target_shape):
        raise ValueError("`input` and `target` must have the same shape. Received: "
                         f"input.shape={tuple(input_shape)}, "
                         f"target.shape={tuple(target_shape)}")


def check_tensors(input, target, *, from_logits=True):
    """Value checks with torch operations on the tensors' own device: no host copy.

    ``target`` must be in [0, 1] (soft targets included; entries equal to
    ``ignore_index`` are removed before this check), ``input`` finite (and in
    [0, 1] with ``from_logits=False``). Each check is one ``torch.aminmax`` pass
    and a ``torch._assert_async`` on the result (:mod:`VLAP.torch._compat`), so
    it never waits for the device: on CPU the assertion raises a
    ``RuntimeError`` with the message at once; on CUDA it is a device-side
    assertion, reported (as PyTorch's own index checks are) at the next
    synchronisation. Eager and under ``torch.compile`` (which keeps the
    assertion in its graph: one graph, no graph break) the checks and messages
    are the same.
    """
    if target.numel():
        low, high = torch.aminmax(target.detach())
        assert_async((low >= 0) & (high <= 1), TARGET_MESSAGE)  # NaN fails both
    if input.numel():
        low, high = torch.aminmax(input.detach())
        if from_logits:
            assert_async(torch.isfinite(low) & torch.isfinite(high), INPUT_MESSAGE)
        else:
            assert_async((low >= 0) & (high <= 1), PROBS_MESSAGE)


def _prepare(input, target, from_logits, validate_args, ignore_index=None):
    """``(input, target, keep)``: float tensors on ``input``'s device, checked;
    ``keep`` is the 0/1 mask of the entries whose target is not ``ignore_index``
    (None without ``ignore_index``); ignored entries get target 0 and input 0."""
    input = torch.as_tensor(input)
    if not torch.is_floating_point(input) or input.dtype in (torch.float16, torch.bfloat16):
        input = input.float()  # counts and logs in float32 under mixed precision
    target = torch.as_tensor(target, device=input.device)
    check_shapes(tuple(input.shape), tuple(target.shape))
    keep = None
    if ignore_index is not None:
        ignored = target == ignore_index
        target = target.masked_fill(ignored, 0)
        input = input.masked_fill(ignored, 0)
        keep = (~ignored).to(input.dtype)
    target = target.to(input.dtype)
    if validate_args:
        check_tensors(input, target, from_logits=from_logits)
    return input, target, keep


def _score_finish(score, options, reduction, finish):
    """The batch loss of counts for ``reduction``: ``finish`` (the scalar, today's
    value) for ``"mean"``; from the per-label losses ``1 - score`` for ``"sum"``
    and ``"none"`` (``average="macro"``). With ``average="micro"`` the counts are
    pooled over labels into one loss, which all three return."""
    if reduction == "mean" or options.get("average", "macro") == "micro":
        return finish

    def per_label(sums):
        value = 1.0 - core.reduce_score(TORCH_OPS, score, *sums, average=None,
                                        f_beta=options.get("f_beta", 1.0),
                                        epsilon=options.get("epsilon", core.DEFAULT_EPSILON))
        return value.sum() if reduction == "sum" else value

    return per_label


class _Loss(torch.nn.Module):
    reduction_kind: "str | None" = None  # "batch" (scalar from counts) or "elementwise"
    loss_name = None  # canonical name in VLAP.ops.registry (None: SoftScoreLoss)

    def __init__(self, reduction="mean", validate_args=True, ignore_index=None, **options):
        super().__init__()
        check_option("reduction", reduction, REDUCTIONS)
        if not isinstance(validate_args, bool):
            raise TypeError("`validate_args` must be a bool. "
                            f"Received: validate_args={validate_args!r}")
        self.ignore_index = check_ignore_index(ignore_index)
        # the very checks the Keras losses make (VLAP.ops.registry, VLAP.ops.core)
        if self.loss_name is None:
            check_loss_options(**options)
        else:
            registry.check_options(self.loss_name, options)
        self.reduction = reduction
        self.validate_args = validate_args
        self.options = options

    def extra_repr(self):
        shown = dict(self.options)
        if self.reduction != "mean":
            shown["reduction"] = self.reduction
        if self.ignore_index is not None:
            shown["ignore_index"] = self.ignore_index
        return ", ".join(f"{k}={v!r}" for k, v in shown.items())

    def _value(self, input, target, sample_weight):
        raise NotImplementedError

    def forward(self, input, target, sample_weight=None):
        input, target, keep = _prepare(input, target, self.options.get("from_logits", True),
                                       self.validate_args, self.ignore_index)
        if self.reduction_kind == "batch":
            if keep is not None:  # ignored entries: weight 0 inside the counts
                sample_weight = keep if sample_weight is None else \
                    _entry_weights(sample_weight, input) * keep
            return self._value(input, target, sample_weight)
        if sample_weight is not None:
            sample_weight = torch.as_tensor(sample_weight, device=input.device,
                                            dtype=input.dtype)
            if tuple(sample_weight.shape) not in ((input.shape[0],), (input.shape[0], 1)):
                raise ValueError(
                    "`sample_weight` of an element-wise loss must have shape "
                    f"(batch_size,) = ({input.shape[0]},). Received: "
                    f"sample_weight.shape={tuple(sample_weight.shape)}")
            sample_weight = sample_weight.reshape(-1)
        if keep is None:
            value = self._value(input, target, None)
            if sample_weight is not None:
                value = value * sample_weight
            if self.reduction == "mean":
                return value.mean()
            if self.reduction == "sum":
                return value.sum()
            return value
        return self._masked(input, target, keep, sample_weight)

    def _masked(self, input, target, keep, sample_weight):
        """An element-wise loss with ``ignore_index``: each example's value over its
        kept entries (0 when none is kept); ``"mean"`` is over the kept entries, as
        ``torch.nn.CrossEntropyLoss(ignore_index=...)`` and the Trainer count them."""
        spec = getattr(self, "spec", None)
        if spec is not None and spec.weights_inside:  # a per-example sum (label count)
            value = spec.formula(TORCH_OPS, target, input, sample_weight=keep,
                                 **self._formula_options)
            rows = (keep.sum(-1) > 0).to(value.dtype)  # each example with a kept entry
            value = value * rows
            weighted = value if sample_weight is None else value * sample_weight
            count = rows.sum()
        else:  # one value per entry, then the mean over each example's kept entries
            batch, labels = input.shape
            entries = self._value(input.reshape(-1, 1), target.reshape(-1, 1), None)
            entries = entries.reshape(batch, labels) * keep
            kept = keep.sum(-1)
            value = entries.sum(-1) / kept.clamp(min=1)
            total = entries.sum(-1)
            weighted = total if sample_weight is None else total * sample_weight
            count = kept.sum()
            if self.reduction != "mean" and sample_weight is not None:
                value = value * sample_weight
            if self.reduction == "mean":
                return weighted.sum() / count.clamp(min=1)
            return value.sum() if self.reduction == "sum" else value
        if self.reduction == "mean":
            return weighted.sum() / count.clamp(min=1)
        return weighted.sum() if self.reduction == "sum" else weighted


class _BatchLoss(_Loss):
    """A loss computed from per-batch sums ("parts"): soft counts, sums of
    element-wise losses and row counts. ``_parts`` returns the local sums and a
    function that turns (possibly rank-summed) sums into the loss."""

    reduction_kind = "batch"

    def __init__(self, sync="auto", process_group=None, **kwargs):
        check_option("sync", sync, SYNC_OPTIONS)
        super().__init__(**kwargs)
        self.sync = sync
        self.process_group = process_group

    def extra_repr(self):
        return ", ".join([super().extra_repr(), f"sync={self.sync!r}"]).strip(", ")

    def _parts(self, input, target, sample_weight):
        raise NotImplementedError

    def _value(self, input, target, sample_weight):
        tensors, finish = self._parts(input, target, sample_weight)
        if is_synced(self.sync, input, self.process_group):
            tensors = sum_across_ranks(tensors, self.process_group)
        return finish(tensors)


def _entry_weights(sample_weight, input):
    """``sample_weight`` of a batch-level loss as a 2-D tensor (broadcasts over labels)."""
    w = torch.as_tensor(sample_weight, device=input.device, dtype=input.dtype)
    return w.reshape(core.sample_weight_shape(tuple(w.shape), tuple(input.shape)))


def _check_batch_weight(sample_weight, input):
    if sample_weight is None:
        return None
    sample_weight = torch.as_tensor(sample_weight, device=input.device, dtype=input.dtype)
    # (batch,), (batch, 1) or (batch, num_labels): weights inside the counts
    core.sample_weight_shape(tuple(sample_weight.shape), tuple(input.shape))
    return sample_weight


class SoftScoreLoss(_BatchLoss):
    """``1 - soft score`` for ``score`` in ``("fbeta", "precision", "recall",
    "jaccard", "mcc")``; options as :func:`VLAP.losses.soft_score_loss`.

    A batch-level loss: ``forward(input, target, sample_weight)`` takes row
    weights ``(batch,)`` or entry weights ``(batch, num_labels)`` inside the soft
    counts. Under ``torch.distributed`` the counts are summed across ranks
    (``sync``, see :mod:`VLAP.torch.dist`): the loss is the score of the global
    batch, and DDP's update is the single-process update on it.

    Example:
    >>> import torch
    >>> from VLAP.torch import SoftScoreLoss
    >>> y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(SoftScoreLoss("jaccard")(torch.tensor([[2.0, -1.0], [0.5, 1.0]]), y)), 4)
    0.4405
    """

    def __init__(self, score: str = "fbeta", *, f_beta: float = 1.0, beta: float = 1.0,
                 eta: float = 0.0, average: str = "macro", from_logits: bool = True,
                 epsilon: float = core.DEFAULT_EPSILON, reduction: str = "mean",
                 ignore_index: int | None = None, validate_args: bool = True,
                 sync: str = "auto", process_group=None):
        check_option("score", score, core.SCORES)
        check_option("average", average, ("macro", "micro"))
        self.score = score
        super().__init__(sync=sync, process_group=process_group, reduction=reduction,
                         ignore_index=ignore_index, validate_args=validate_args,
                         f_beta=f_beta, beta=beta, eta=eta, average=average,
                         from_logits=from_logits, epsilon=epsilon)

    def _parts(self, input, target, sample_weight):
        o = self.options
        counts = core.soft_confusion(TORCH_OPS, target, input, from_logits=o["from_logits"],
                                     beta=o["beta"], eta=o["eta"],
                                     sample_weight=_check_batch_weight(sample_weight, input),
                                     from_totals=True)

        def finish(counts):
            return 1.0 - core.reduce_score(TORCH_OPS, self.score, *counts,
                                           average=o["average"], f_beta=o["f_beta"],
                                           epsilon=o["epsilon"])
        return list(counts), _score_finish(self.score, o, self.reduction, finish)



# --- every registered loss as a module ---------------------------------------------------


class _RegisteredBatchLoss(_BatchLoss):
    """A batch-level loss of :mod:`VLAP.ops.registry`: its formula's counts, then finish."""

    spec: Any = None  # the registry record (VLAP.ops.registry.LossSpec) of the made class

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.reduction != "mean" and not self.spec.formula.score:
            raise ValueError(
                f"The loss {self.spec.name!r} gives the batch's scalar only (its formula "
                "has no per-label score): `reduction` must be 'mean'. "
                f"Received: reduction={self.reduction!r}")
        formula = self.spec.formula
        # the options each function takes, bound once (not looked up at every call)
        self._counts_options = registry.formula_options(formula.counts, self.options)
        self._finish_options = registry.formula_options(formula.finish, self.options)
        if _takes(formula.counts, "from_totals"):
            # tp, predicted, positives: the same counts with one product over the batch
            self._counts_options["from_totals"] = True

    def _parts(self, input, target, sample_weight):
        formula = self.spec.formula
        weights = _check_batch_weight(sample_weight, input)
        extra = {}
        if formula.shift is not None:  # one shift for every rank's sums of exponentials
            shift = registry.call_formula(formula.shift, TORCH_OPS, target, input,
                                          options=self.options, sample_weight=weights)
            shift = [t.detach() for t in shift]
            if is_synced(self.sync, input, self.process_group):
                shift = max_across_ranks(shift, self.process_group)
            extra["shift"] = tuple(shift)
        counts = formula.counts(TORCH_OPS, target, input, sample_weight=weights,
                                **self._counts_options, **extra)

        def finish(sums):
            return formula.finish(TORCH_OPS, tuple(sums), **self._finish_options, **extra)
        if formula.score:
            finish = _score_finish(formula.score, self.options, self.reduction, finish)
        return list(counts), finish


def _takes(fn, name):
    """Whether ``fn`` names the keyword ``name`` (``**kwargs`` does not count: a
    formula of one's own gets only what it asks for)."""
    return name in inspect.signature(fn).parameters


class _RegisteredElementwiseLoss(_Loss):
    """An element-wise loss of :mod:`VLAP.ops.registry`: one value per example."""

    reduction_kind = "elementwise"
    spec: Any = None  # the registry record (VLAP.ops.registry.LossSpec) of the made class

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._formula_options = registry.formula_options(self.spec.formula, self.options)

    def _value(self, input, target, sample_weight):
        return self.spec.formula(TORCH_OPS, target, input, **self._formula_options)


# canonical name -> module class: made from the registry for every loss with a
# formula; composite and stateful ones are written by hand (torch_loss below).
_MODULES: "dict[str, Any]" = {}
_FRONT_END = {"batch": ("validate_args", "sync", "process_group"),
              "elementwise": ("reduction", "validate_args")}
# the modules made from a formula also take `reduction` and `ignore_index`
_MADE_FRONT_END = {"batch": ("reduction", "ignore_index", "validate_args", "sync",
                             "process_group"),
                   "elementwise": ("reduction", "ignore_index", "validate_args")}


def torch_loss(name, extra=()):
    """Class decorator: the hand-written module of the registered loss ``name``.

    Checks that the class has the registry's class name and that its constructor
    takes the registry's options, then ``extra`` (module-only arguments, such as
    ``num_labels``) and ``validate_args``, ``sync``, ``process_group``.
    """
    spec = registry.loss_spec(name)

    def wrap(cls):
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        expected = [*spec.option_names, *extra, *_FRONT_END[spec.kind]]
        if cls.__name__ != spec.class_name or params != expected:
            raise TypeError(f"The VLAP.torch module of loss {spec.name!r} must be named "
                            f"{spec.class_name!r} and take {expected}. Received: "
                            f"{cls.__name__!r} taking {params}")
        cls.loss_name, cls.spec = spec.name, spec
        _MODULES[spec.name] = cls
        return cls

    return wrap


def _signature(spec):
    P = inspect.Parameter
    defaults = {"reduction": "mean", "ignore_index": None, "validate_args": True,
                "sync": "auto", "process_group": None}
    params = [P("self", P.POSITIONAL_OR_KEYWORD)]
    params += [P(o.name, P.POSITIONAL_OR_KEYWORD, default=o.default) for o in spec.options]
    params += [P(n, P.POSITIONAL_OR_KEYWORD, default=defaults[n])
               for n in _MADE_FRONT_END[spec.kind]]
    return inspect.Signature(params)


def _make_module(spec):
    """The module class of a registered loss with a formula."""
    made = _MODULES.get(spec.name)
    if spec.formula is None or (made is not None and made.spec is spec):
        return  # hand-written, or made already (a loss registered anew is made anew)
    signature = _signature(spec)
    base = _RegisteredBatchLoss if spec.kind == "batch" else _RegisteredElementwiseLoss

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        base.__init__(self, **arguments)

    __init__.__signature__ = signature  # type: ignore[attr-defined]  # inspect reads it
    kind = ("batch-level: ``forward(input, target, sample_weight)`` with weights inside "
            "the counts, the global batch's under ``torch.distributed``"
            if spec.kind == "batch" else
            "element-wise: one value per example, then ``reduction``")
    namespace = {
        "__init__": __init__, "loss_name": spec.name, "spec": spec,
        "__module__": __name__, "__qualname__": spec.class_name,
        "__doc__": (f"The loss {spec.name!r} of :mod:`VLAP.ops.registry` ({kind}); "
                    f"options {list(spec.option_names)}, as "
                    f":func:`VLAP.losses.{spec.function}`."),
    }
    if getattr(spec.formula, "score", None):
        namespace["score"] = spec.formula.score
    _MODULES[spec.name] = type(spec.class_name, (base,), namespace)


registry.on_register(_make_module)


def module_class(name):
    """The ``VLAP.torch`` module class of a registered loss, by any of its names.

    Example:
    >>> module_class("sigmoidF1").__name__, module_class("asl")().options["clip"]
    ('SigmoidF1', 0.05)
    """
    spec = registry.loss_spec(name)
    if spec.name not in _MODULES:
        raise ValueError(f"Loss {spec.name!r} has no VLAP.torch module: register a formula "
                         "or decorate a module with VLAP.torch.torch_loss.")
    return _MODULES[spec.name]


def get_loss(loss="sigmoid_f1", **kwargs):
    """A VLAP.torch loss module from any registered loss name, with its options.

    Example:
    >>> get_loss("bce")
    BinaryCrossentropy(from_logits=True, epsilon=1e-07)
    >>> get_loss("jaccard", average="micro")
    JaccardLoss(beta=1.0, eta=0.0, average='micro', from_logits=True, epsilon=1e-07, sync='auto')
    """
    if isinstance(loss, torch.nn.Module):
        if kwargs:
            raise ValueError("Options can only be given with a loss name, not a module. "
                             f"Received: loss={loss!r}, options={sorted(kwargs)}")
        return loss
    if not isinstance(loss, str) or loss not in registry.names():
        valid = registry.names()
        hint = registry.suggest(loss, valid) if isinstance(loss, str) else ""
        raise ValueError("`loss` must be a VLAP.torch loss module or one of "
                         f"{list(valid)}. Received: loss={loss!r}.{hint}")
    return module_class(loss)(**kwargs)


def __getattr__(name):
    spec = next((s for s in registry.specs() if s.class_name == name), None)
    if spec is not None and spec.name in _MODULES:  # a loss registered after this import
        return _MODULES[spec.name]
    raise AttributeError(f"module 'VLAP.torch' has no attribute {name!r}")


# The modules of the built-in losses under their public names.
SigmoidF1 = module_class("sigmoid_f1")
UnboundedF1 = module_class("unbounded_f1")
BinaryCrossentropy = module_class("binary_crossentropy")
Focal = module_class("focal")
Asymmetric = module_class("asymmetric")
FBetaLoss = module_class("fbeta")
PrecisionLoss = module_class("precision")
RecallLoss = module_class("recall")
JaccardLoss = module_class("jaccard")
MCCLoss = module_class("mcc")
LabelCountError = module_class("label_count_error")
ZLPR = module_class("zlpr")
TwoWay = module_class("two_way")


# --- composite and stateful losses ----------------------------------------------------------


def _module(role, value, kinds, options, from_logits):
    """One part of a composite: a module as given, or the registered loss ``value``
    (checked by :func:`VLAP.ops.registry.resolve_part`) built with ``options``."""
    if isinstance(value, _Loss):
        if options:
            raise ValueError(f"`{role}_kwargs` can only be given with a name, not a module.")
        if value.options.get("from_logits", True) != from_logits:
            raise ValueError(f"`{role}` and the loss must agree on `from_logits`. "
                             f"Received: from_logits={from_logits!r}, {role}={value!r}")
        return value
    spec = registry.resolve_part(role, value, kinds, options, also="a VLAP.torch loss or ")
    extra = {"from_logits": from_logits} if "from_logits" in spec.option_names else {}
    return module_class(spec.name)(**extra, **(options or {}))


def _parts_of(module, input, target, sample_weight):
    """``(sums, finish)`` of a loss inside a combination: a batch-level one's own
    parts; for an element-wise one ``(sum of weighted losses, count)``, whose ratio
    is its batch mean (``sum(w * loss) / count``, count = rows, or entries with
    entry weights), so that summed across ranks it is the global batch's mean
    whatever the ranks' batch sizes."""
    if module.reduction_kind == "batch":
        return module._parts(input, target, sample_weight)
    # a fill, not a tensor copied from the host (that would sync with a GPU)
    rows = torch.full((), float(input.shape[0]), device=input.device, dtype=input.dtype)
    if sample_weight is None:
        total, count = module._value(input, target, None).sum(), rows
    else:
        w = torch.as_tensor(sample_weight, device=input.device, dtype=input.dtype)
        w = w.reshape(core.sample_weight_shape(tuple(w.shape), tuple(input.shape)))
        spec = getattr(module, "spec", None)
        if spec is not None and spec.weights_inside:
            value = spec.formula(TORCH_OPS, target, input, sample_weight=w,
                                 **module._formula_options)
            total, count = value.sum(), rows
        elif w.shape[-1] == 1:
            total, count = (w[:, 0] * module._value(input, target, None)).sum(), rows
        else:
            flat = module._value(input.reshape(-1, 1), target.reshape(-1, 1), None)
            total, count = (w.reshape(-1) * flat).sum(), rows * input.shape[-1]
    return [total, count], lambda sums: sums[0] / sums[1]


_PARTS = {"surrogate": ("batch",), "baseline": ("elementwise",)}


@torch_loss("weighted_sum")
class WeightedSum(_BatchLoss):
    """``surrogate + weight * mean(baseline)``, see :func:`VLAP.losses.weighted_sum`.

    ``surrogate`` and ``baseline`` are VLAP.torch modules or names of registered
    losses (a batch-level one: ``"sigmoid_f1"``, ``"jaccard"``, ...; an
    element-wise one: ``"bce"``, ``"asl"``, ``"focal"``, ``"label_count_error"``).
    Under ``torch.distributed`` both terms are the global batch's (one
    ``all_reduce`` for both): the surrogate's counts and the baseline's mean
    over all ranks' rows, also when the ranks' batches differ in size. This
    module's ``sync`` decides; the parts' own ``sync`` is not used.

    Example:
    >>> import torch
    >>> from VLAP.torch import WeightedSum
    >>> y = torch.tensor([[1.0, 0.0]])
    >>> round(float(WeightedSum(weight=0.3)(torch.tensor([[2.0, -1.0]]), y)), 4)
    0.5977
    """

    def __init__(self, surrogate="sigmoid_f1", baseline="binary_crossentropy",
                 weight: float = 0.5, surrogate_kwargs: dict | None = None,
                 baseline_kwargs: dict | None = None, from_logits: bool = True,
                 validate_args: bool = True, sync: str = "auto", process_group=None):
        super().__init__(sync=sync, process_group=process_group,
                         validate_args=validate_args, surrogate=surrogate, baseline=baseline,
                         weight=weight, surrogate_kwargs=surrogate_kwargs,
                         baseline_kwargs=baseline_kwargs, from_logits=from_logits)
        for option in ("surrogate", "baseline", "surrogate_kwargs", "baseline_kwargs"):
            del self.options[option]  # the parts are modules (in repr and state_dict)
        self.surrogate = _module("surrogate", surrogate, _PARTS["surrogate"],
                                 surrogate_kwargs, from_logits)
        self.baseline = _module("baseline", baseline, _PARTS["baseline"], baseline_kwargs,
                                from_logits)

    def _parts(self, input, target, sample_weight):
        first, finish_first = _parts_of(self.surrogate, input, target, sample_weight)
        weight = self.options["weight"]
        if not weight:
            return first, finish_first
        second, finish_second = _parts_of(self.baseline, input, target, sample_weight)
        k = len(first)
        return first + second, lambda sums: (finish_first(sums[:k])
                                             + weight * finish_second(sums[k:]))


@torch_loss("dual_head")
class DualHead(WeightedSum):
    """The loss of a dual-head model, see :func:`VLAP.losses.dual_head`: ``input`` is
    ``(batch, 2 * num_labels)`` (decision head, then score head), ``target``
    ``(batch, num_labels)``; the surrogate scores the decision head, ``weight``
    times the baseline the score head.

    Example:
    >>> import torch
    >>> from VLAP.torch import DualHead
    >>> y = torch.tensor([[1.0, 0.0]])
    >>> round(float(DualHead(weight=0.3)(torch.tensor([[2.0, -1.0, 2.0, -1.0]]), y)), 4)
    0.5977
    """

    def __init__(self, surrogate="sigmoid_f1", baseline="binary_crossentropy",
                 weight: float = 1.0, surrogate_kwargs: dict | None = None,
                 baseline_kwargs: dict | None = None, from_logits: bool = True,
                 validate_args: bool = True, sync: str = "auto", process_group=None):
        # WeightedSum's options, checks and parts; only the split by head differs
        super().__init__(surrogate=surrogate, baseline=baseline, weight=weight,
                         surrogate_kwargs=surrogate_kwargs, baseline_kwargs=baseline_kwargs,
                         from_logits=from_logits, validate_args=validate_args, sync=sync,
                         process_group=process_group)

    def forward(self, input, target, sample_weight=None):
        input = torch.as_tensor(input)
        target = torch.as_tensor(target, device=input.device)
        decision, score = core.split_dual_logits(input, target.shape[-1])
        from_logits = self.options["from_logits"]
        decision, target, _ = _prepare(decision, target, from_logits, self.validate_args)
        score, _, _ = _prepare(score, target, from_logits, self.validate_args)
        return self._value(torch.cat([decision, score], -1), target, sample_weight)

    def _parts(self, input, target, sample_weight):
        decision, score = core.split_dual_logits(input, target.shape[-1])
        first, finish_first = _parts_of(self.surrogate, decision, target, sample_weight)
        weight = self.options["weight"]
        if not weight:
            return first, finish_first
        second, finish_second = _parts_of(self.baseline, score, target, sample_weight)
        k = len(first)
        return first + second, lambda sums: (finish_first(sums[:k])
                                             + weight * finish_second(sums[k:]))


@torch_loss("scheduled")
class Scheduled(_BatchLoss):
    """``(1 - mix) * start + mix * end`` with ``mix`` set per epoch, see
    :class:`VLAP.losses.Scheduled`. Call ``loss.set_epoch(epoch)`` at the start
    of every epoch (0-based); ``mix`` depends on the epoch only, so a resumed
    run continues the schedule exactly.

    Example:
    >>> from VLAP.torch import Scheduled
    >>> loss = Scheduled(start_epoch=1, ramp_epochs=2)
    >>> [loss.set_epoch(e) for e in range(4)]
    [0.0, 0.0, 0.5, 1.0]
    """

    def __init__(self, start="binary_crossentropy", end="sigmoid_f1", start_epoch: int = 0,
                 ramp_epochs: int = 10, start_kwargs: dict | None = None,
                 end_kwargs: dict | None = None, from_logits: bool = True,
                 validate_args: bool = True, sync: str = "auto", process_group=None):
        super().__init__(sync=sync, process_group=process_group,
                         validate_args=validate_args, start=start, end=end,
                         start_epoch=start_epoch, ramp_epochs=ramp_epochs,
                         start_kwargs=start_kwargs, end_kwargs=end_kwargs,
                         from_logits=from_logits)
        for option in ("start", "end", "start_kwargs", "end_kwargs"):
            del self.options[option]  # the parts are modules (in repr and state_dict)
        kinds = registry.KINDS
        self.start = _module("start", start, kinds, start_kwargs, from_logits)
        self.end = _module("end", end, kinds, end_kwargs, from_logits)
        self.mix = 0.0

    def set_epoch(self, epoch):
        """Set and return the weight of ``end`` for ``epoch``."""
        start, ramp = self.options["start_epoch"], self.options["ramp_epochs"]
        if epoch < start:
            self.mix = 0.0
        elif ramp == 0:
            self.mix = 1.0
        else:
            self.mix = min(1.0, (epoch - start) / ramp)
        return self.mix

    def _parts(self, input, target, sample_weight):
        first, finish_first = _parts_of(self.start, input, target, sample_weight)
        second, finish_second = _parts_of(self.end, input, target, sample_weight)
        k, mix = len(first), self.mix
        return first + second, lambda sums: ((1.0 - mix) * finish_first(sums[:k])
                                             + mix * finish_second(sums[k:]))


@torch_loss("ema_sigmoid_f1", extra=("num_labels",))
class EMASigmoidF1(_BatchLoss):
    """sigmoidF1 on soft counts averaged over training batches, see
    :func:`VLAP.losses.ema_sigmoid_f1`.

    The averages are buffers (saved in ``state_dict``, so a resumed run is
    exact); they change only in training mode (``module.train()``); in
    ``eval()`` mode the loss is the batch's own sigmoidF1. Give ``num_labels``
    to load a saved ``state_dict`` into a fresh module.

    Under ``torch.distributed`` the average is of the global batches' counts
    (summed across ranks before the update), so every rank holds the same state.
    """

    def __init__(self, momentum: float = 0.9, beta: float = 1.0, eta: float = 0.0,
                 average: str = "macro", from_logits: bool = True,
                 epsilon: float = core.DEFAULT_EPSILON, num_labels: int | None = None,
                 validate_args: bool = True, sync: str = "auto", process_group=None):
        super().__init__(sync=sync, process_group=process_group,
                         validate_args=validate_args, momentum=momentum, beta=beta, eta=eta,
                         average=average, from_logits=from_logits, epsilon=epsilon)
        self.register_buffer("decay", torch.ones(()))
        for name in ("tp", "fp", "tn", "fn"):
            self.register_buffer(name, torch.zeros(int(num_labels or 0)))

    def reset(self):
        """Forget the averages (the next batch starts them afresh)."""
        self.decay.fill_(1.0)
        for name in ("tp", "fp", "tn", "fn"):
            getattr(self, name).zero_()

    def _parts(self, input, target, sample_weight):
        o = self.options
        counts = core.soft_confusion(TORCH_OPS, target, input, from_logits=o["from_logits"],
                                     beta=o["beta"], eta=o["eta"],
                                     sample_weight=_check_batch_weight(sample_weight, input),
                                     from_totals=True)
        return list(counts), self._finish

    def _finish(self, counts):
        o = self.options
        reduce = dict(average=o["average"], f_beta=1.0, epsilon=o["epsilon"])
        if not self.training:
            return 1.0 - core.reduce_score(TORCH_OPS, "fbeta", *counts, **reduce)
        like = counts[0]
        if self.tp.numel() != like.shape[-1]:
            for name in ("tp", "fp", "tn", "fn"):
                setattr(self, name, torch.zeros(like.shape[-1], device=like.device,
                                                dtype=like.dtype))
            self.decay = torch.ones((), device=like.device, dtype=like.dtype)
        state = (self.tp, self.fp, self.tn, self.fn, self.decay)
        new, corrected = core.ema_update(state, counts, momentum=o["momentum"])
        with torch.no_grad():
            for name, value in zip(("tp", "fp", "tn", "fn", "decay"), new):
                getattr(self, name).copy_(value.detach())
        return 1.0 - core.reduce_score(TORCH_OPS, "fbeta", *corrected, **reduce)


from VLAP.torch import functional  # noqa: E402  (as torch.nn.functional with torch.nn)

__all__ = ["functional", "SigmoidF1", "UnboundedF1", "SoftScoreLoss", "BinaryCrossentropy", "Focal",
           "Asymmetric", "LabelCountError", "FBetaLoss", "PrecisionLoss", "RecallLoss",
           "JaccardLoss", "MCCLoss", "WeightedSum", "DualHead", "Scheduled", "EMASigmoidF1",
           "ZLPR", "TwoWay", "TORCH_OPS", "get_loss", "module_class", "torch_loss"]
