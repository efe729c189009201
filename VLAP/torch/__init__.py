"""VLAP's losses as native ``torch.nn.Module`` objects, for your own PyTorch loops.

Importing this module imports PyTorch only: no Keras, no TensorFlow. The formulas
are the very functions the Keras losses use (:mod:`VLAP.ops.core`), evaluated on
a thin PyTorch namespace, so both give the same values.

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
"""

import torch
import torch.nn.functional as F

from VLAP.ops import core
from VLAP.ops.core import check_loss_options, check_option
from VLAP._validation import check_shapes, check_values


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

    @staticmethod
    def minimum(x, value):
        return torch.clamp(x, max=value)

    @staticmethod
    def cast_like(x, ref):
        return torch.as_tensor(x, device=ref.device).to(ref.dtype)


TORCH_OPS = _TorchNamespace()


def _prepare(input, target, from_logits, validate_args):
    input = torch.as_tensor(input)
    if not torch.is_floating_point(input) or input.dtype in (torch.float16, torch.bfloat16):
        input = input.float()  # counts and logs in float32 under mixed precision
    target = torch.as_tensor(target, device=input.device).to(input.dtype)
    check_shapes(tuple(target.shape), tuple(input.shape))
    if validate_args and not torch.compiler.is_compiling():
        check_values(target.detach().cpu().numpy(), input.detach().cpu().numpy(),
                     from_logits=from_logits)
    return input, target


class _Loss(torch.nn.Module):
    reduction_kind = None  # "batch" (scalar from counts) or "elementwise"

    def __init__(self, reduction="mean", validate_args=True, **options):
        super().__init__()
        check_option("reduction", reduction, ("mean", "sum", "none"))
        # the very checks the Keras losses make (VLAP.ops.core.check_loss_options)
        check_loss_options(**options)
        self.reduction = reduction
        self.validate_args = validate_args
        self.options = options

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())

    def _value(self, input, target, sample_weight):
        raise NotImplementedError

    def forward(self, input, target, sample_weight=None):
        input, target = _prepare(input, target, self.options.get("from_logits", True),
                                 self.validate_args)
        value = self._value(input, target, sample_weight)
        if self.reduction_kind == "elementwise":
            if sample_weight is not None:
                sample_weight = torch.as_tensor(sample_weight, device=value.device,
                                                dtype=value.dtype)
                if tuple(sample_weight.shape) not in ((value.shape[0],),
                                                      (value.shape[0], 1)):
                    raise ValueError(
                        "`sample_weight` of an element-wise loss must have shape "
                        f"(batch_size,) = ({value.shape[0]},). Received: "
                        f"sample_weight.shape={tuple(sample_weight.shape)}")
                value = value * sample_weight.reshape(-1)
            if self.reduction == "mean":
                return value.mean()
            if self.reduction == "sum":
                return value.sum()
        return value


class SoftScoreLoss(_Loss):
    """``1 - soft score`` for ``score`` in ``("fbeta", "precision", "recall",
    "jaccard", "mcc")``; options as :func:`VLAP.losses.soft_score_loss`.

    A batch-level loss: ``forward(input, target, sample_weight)`` takes row
    weights ``(batch,)`` or entry weights ``(batch, num_labels)`` inside the soft
    counts. Under ``torch.nn.parallel.DistributedDataParallel`` each rank sees
    its own batch: the loss is the F1 of the local batch, not the global one.
    """

    reduction_kind = "batch"

    def __init__(self, score="fbeta", *, f_beta=1.0, beta=1.0, eta=0.0,
                 average="macro", from_logits=True, epsilon=core.DEFAULT_EPSILON,
                 validate_args=True):
        check_option("score", score, core.SCORES)
        check_option("average", average, ("macro", "micro"))
        self.score = score
        super().__init__(validate_args=validate_args, f_beta=f_beta, beta=beta,
                         eta=eta, average=average, from_logits=from_logits,
                         epsilon=epsilon)

    def _value(self, input, target, sample_weight):
        if sample_weight is not None:
            sample_weight = torch.as_tensor(sample_weight, device=input.device,
                                            dtype=input.dtype)
            # (batch,), (batch, 1) or (batch, num_labels): weights inside the counts
            core.sample_weight_shape(tuple(sample_weight.shape), tuple(input.shape))
        return 1.0 - core.soft_score(TORCH_OPS, self.score, target, input,
                                     sample_weight=sample_weight, **self.options)


class SigmoidF1(SoftScoreLoss):
    """sigmoidF1: ``1 - F1`` from ``S(u) = sigmoid(beta * (u + eta))`` (see
    :func:`VLAP.losses.sigmoid_f1`)."""

    def __init__(self, beta=1.0, eta=0.0, average="macro", from_logits=True,
                 epsilon=core.DEFAULT_EPSILON, validate_args=True):
        super().__init__("fbeta", f_beta=1.0, beta=beta, eta=eta, average=average,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


class UnboundedF1(SoftScoreLoss):
    """unboundedF1: ``1 - F1`` with plain probabilities (sigmoidF1 at beta=1, eta=0)."""

    def __init__(self, average="macro", from_logits=True, epsilon=core.DEFAULT_EPSILON,
                 validate_args=True):
        super().__init__("fbeta", average=average, from_logits=from_logits,
                         epsilon=epsilon, validate_args=validate_args)


class BinaryCrossentropy(_Loss):
    """Binary cross-entropy, mean over labels per example, then ``reduction``."""

    reduction_kind = "elementwise"

    def __init__(self, from_logits=True, epsilon=core.DEFAULT_EPSILON,
                 reduction="mean", validate_args=True):
        super().__init__(reduction=reduction, validate_args=validate_args,
                         from_logits=from_logits, epsilon=epsilon)

    def _value(self, input, target, sample_weight):
        return core.binary_crossentropy(TORCH_OPS, target, input, **self.options)


class Focal(_Loss):
    """Focal loss (Lin et al. 2017), see :func:`VLAP.losses.focal`."""

    reduction_kind = "elementwise"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=True,
                 epsilon=core.DEFAULT_EPSILON, reduction="mean", validate_args=True):
        super().__init__(reduction=reduction, validate_args=validate_args, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, epsilon=epsilon)

    def _value(self, input, target, sample_weight):
        return core.focal(TORCH_OPS, target, input, **self.options)


class Asymmetric(_Loss):
    """ASL with the probability margin ``clip`` applied, see
    :func:`VLAP.losses.asymmetric`."""

    reduction_kind = "elementwise"

    def __init__(self, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, from_logits=True,
                 epsilon=1e-8, reduction="mean", validate_args=True):
        super().__init__(reduction=reduction, validate_args=validate_args,
                         gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip,
                         from_logits=from_logits, epsilon=epsilon)

    def _value(self, input, target, sample_weight):
        return core.asymmetric(TORCH_OPS, target, input, **self.options)


class LabelCountError(_Loss):
    """Soft label-count error ``|sum p - sum y|`` per example, see
    :func:`VLAP.losses.label_count_error` (a calibration term for :class:`WeightedSum`)."""

    reduction_kind = "elementwise"

    def __init__(self, from_logits=True, reduction="mean", validate_args=True):
        super().__init__(reduction=reduction, validate_args=validate_args,
                         from_logits=from_logits)

    def _value(self, input, target, sample_weight):
        return core.label_count_error(TORCH_OPS, target, input, **self.options)


_BATCH = {"sigmoid_f1": SigmoidF1, "sigmoidF1": SigmoidF1, "unbounded_f1": UnboundedF1,
          "unboundedF1": UnboundedF1}
_ELEMENTWISE = {"binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
                "focal": Focal, "asymmetric": Asymmetric, "asl": Asymmetric,
                "label_count_error": LabelCountError}


def _module(role, value, table, options):
    if isinstance(value, _Loss):
        if options:
            raise ValueError(f"`{role}_kwargs` can only be given with a name, not a module.")
        return value
    if value not in table:
        raise ValueError(f"`{role}` must be a VLAP.torch loss or one of {sorted(table)}. "
                         f"Received: {role}={value!r}")
    return table[value](**(options or {}))


def _batch_mean(module, input, target, sample_weight):
    """Batch mean of a (prepared) loss: a batch-level one as is, an element-wise
    one averaged with row or entry weights (``sum(w * loss) / count``)."""
    if module.reduction_kind == "batch":
        return module._value(input, target, sample_weight)
    if sample_weight is None:
        return module._value(input, target, None).mean()
    w = torch.as_tensor(sample_weight, device=input.device, dtype=input.dtype)
    w = w.reshape(core.sample_weight_shape(tuple(w.shape), tuple(input.shape)))
    if isinstance(module, LabelCountError):
        p = torch.sigmoid(input) if module.options["from_logits"] else input
        return torch.abs(torch.sum(w * (p - target), -1)).mean()
    if w.shape[-1] == 1:
        return (w[:, 0] * module._value(input, target, None)).mean()
    flat = module._value(input.reshape(-1, 1), target.reshape(-1, 1), None)
    return (w.reshape(-1) * flat).mean()


class WeightedSum(_Loss):
    """``surrogate + weight * mean(baseline)``, see :func:`VLAP.losses.weighted_sum`.

    ``surrogate`` and ``baseline`` are VLAP.torch modules or names
    (``"sigmoid_f1"``, ``"bce"``, ``"asl"``, ``"focal"``, ``"label_count_error"``).

    Example:
    >>> import torch
    >>> from VLAP.torch import WeightedSum
    >>> y = torch.tensor([[1.0, 0.0]])
    >>> round(float(WeightedSum(weight=0.3)(torch.tensor([[2.0, -1.0]]), y)), 4)
    0.5977
    """

    reduction_kind = "batch"

    def __init__(self, surrogate="sigmoid_f1", baseline="bce", weight=0.5,
                 surrogate_kwargs=None, baseline_kwargs=None, validate_args=True):
        super().__init__(validate_args=validate_args, weight=weight)
        self.surrogate = _module("surrogate", surrogate, _BATCH, surrogate_kwargs)
        self.baseline = _module("baseline", baseline, _ELEMENTWISE, baseline_kwargs)
        if self.surrogate.options.get("from_logits", True) != \
                self.baseline.options.get("from_logits", True):
            raise ValueError("`surrogate` and `baseline` must agree on `from_logits`.")
        self.options["from_logits"] = self.surrogate.options.get("from_logits", True)

    def _value(self, input, target, sample_weight):
        value = _batch_mean(self.surrogate, input, target, sample_weight)
        if self.options["weight"]:
            value = value + self.options["weight"] * _batch_mean(
                self.baseline, input, target, sample_weight)
        return value


class Scheduled(_Loss):
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

    reduction_kind = "batch"

    def __init__(self, start="bce", end="sigmoid_f1", start_epoch=0, ramp_epochs=10,
                 start_kwargs=None, end_kwargs=None, validate_args=True):
        super().__init__(validate_args=validate_args, start_epoch=start_epoch,
                         ramp_epochs=ramp_epochs)
        table = {**_BATCH, **_ELEMENTWISE}
        self.start = _module("start", start, table, start_kwargs)
        self.end = _module("end", end, table, end_kwargs)
        self.options["from_logits"] = self.end.options.get("from_logits", True)
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

    def _value(self, input, target, sample_weight):
        return ((1.0 - self.mix) * _batch_mean(self.start, input, target, sample_weight)
                + self.mix * _batch_mean(self.end, input, target, sample_weight))


class EMASigmoidF1(_Loss):
    """sigmoidF1 on soft counts averaged over training batches, see
    :func:`VLAP.losses.ema_sigmoid_f1`.

    The averages are buffers (saved in ``state_dict``, so a resumed run is
    exact); they change only in training mode (``module.train()``); in
    ``eval()`` mode the loss is the batch's own sigmoidF1. Give ``num_labels``
    to load a saved ``state_dict`` into a fresh module.
    """

    reduction_kind = "batch"

    def __init__(self, momentum=0.9, beta=1.0, eta=0.0, average="macro", from_logits=True,
                 epsilon=core.DEFAULT_EPSILON, num_labels=None, validate_args=True):
        super().__init__(validate_args=validate_args, momentum=momentum, beta=beta, eta=eta,
                         average=average, from_logits=from_logits, epsilon=epsilon)
        self.register_buffer("decay", torch.ones(()))
        for name in ("tp", "fp", "tn", "fn"):
            self.register_buffer(name, torch.zeros(int(num_labels or 0)))

    def reset(self):
        """Forget the averages (the next batch starts them afresh)."""
        self.decay.fill_(1.0)
        for name in ("tp", "fp", "tn", "fn"):
            getattr(self, name).zero_()

    def _value(self, input, target, sample_weight):
        o = self.options
        if sample_weight is not None:
            sample_weight = torch.as_tensor(sample_weight, device=input.device,
                                            dtype=input.dtype)
            core.sample_weight_shape(tuple(sample_weight.shape), tuple(input.shape))
        counts = core.soft_confusion(TORCH_OPS, target, input, from_logits=o["from_logits"],
                                     beta=o["beta"], eta=o["eta"], sample_weight=sample_weight)
        reduce = dict(average=o["average"], f_beta=1.0, epsilon=o["epsilon"])
        if not self.training:
            return 1.0 - core.reduce_score(TORCH_OPS, "fbeta", *counts, **reduce)
        if self.tp.numel() != input.shape[-1]:
            for name in ("tp", "fp", "tn", "fn"):
                setattr(self, name, torch.zeros(input.shape[-1], device=input.device,
                                                dtype=input.dtype))
            self.decay = torch.ones((), device=input.device, dtype=input.dtype)
        state = (self.tp, self.fp, self.tn, self.fn, self.decay)
        new, corrected = core.ema_update(state, counts, momentum=o["momentum"])
        with torch.no_grad():
            for name, value in zip(("tp", "fp", "tn", "fn", "decay"), new):
                getattr(self, name).copy_(value.detach())
        return 1.0 - core.reduce_score(TORCH_OPS, "fbeta", *corrected, **reduce)


__all__ = ["SigmoidF1", "UnboundedF1", "SoftScoreLoss", "BinaryCrossentropy", "Focal",
           "LabelCountError", "WeightedSum", "Scheduled", "EMASigmoidF1",
           "Asymmetric", "TORCH_OPS"]
