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

Under ``torch.distributed`` (DDP, FSDP, Lightning's ``strategy="ddp"``, the HF
Trainer) the batch-level losses (:class:`SoftScoreLoss` and its subclasses,
:class:`WeightedSum`, :class:`Scheduled`, :class:`EMASigmoidF1`) are the loss of
the *global* batch by default: their soft counts are summed across ranks with
one differentiable ``all_reduce`` per call, scaled so that DDP's gradient
averaging gives the single-process gradient of the concatenated batch. Their
``sync`` argument (``"auto"``, ``"global"``, ``"local"``) is explained in
:mod:`VLAP.torch.dist`. The element-wise losses (:class:`BinaryCrossentropy`,
:class:`Focal`, :class:`Asymmetric`, :class:`LabelCountError`) used on their own
stay per-rank means, as ``torch.nn`` losses are.
"""

import torch
import torch.nn.functional as F

from VLAP.ops import core
from VLAP.ops.core import check_loss_options, check_option
from VLAP._validation import check_shapes, check_values
from VLAP.torch.dist import SYNC_OPTIONS, is_synced, sum_across_ranks


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
                 epsilon: float = core.DEFAULT_EPSILON, validate_args: bool = True,
                 sync: str = "auto", process_group=None):
        check_option("score", score, core.SCORES)
        check_option("average", average, ("macro", "micro"))
        self.score = score
        super().__init__(sync=sync, process_group=process_group,
                         validate_args=validate_args, f_beta=f_beta, beta=beta,
                         eta=eta, average=average, from_logits=from_logits,
                         epsilon=epsilon)

    def _parts(self, input, target, sample_weight):
        o = self.options
        counts = core.soft_confusion(TORCH_OPS, target, input, from_logits=o["from_logits"],
                                     beta=o["beta"], eta=o["eta"],
                                     sample_weight=_check_batch_weight(sample_weight, input))

        def finish(counts):
            return 1.0 - core.reduce_score(TORCH_OPS, self.score, *counts,
                                           average=o["average"], f_beta=o["f_beta"],
                                           epsilon=o["epsilon"])
        return list(counts), finish


class SigmoidF1(SoftScoreLoss):
    """sigmoidF1: ``1 - F1`` from ``S(u) = sigmoid(beta * (u + eta))`` (see
    :func:`VLAP.losses.sigmoid_f1`)."""

    def __init__(self, beta: float = 1.0, eta: float = 0.0, average: str = "macro",
                 from_logits: bool = True, epsilon: float = core.DEFAULT_EPSILON,
                 validate_args: bool = True, sync: str = "auto", process_group=None):
        super().__init__("fbeta", f_beta=1.0, beta=beta, eta=eta, average=average,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args, sync=sync,
                         process_group=process_group)


class UnboundedF1(SoftScoreLoss):
    """unboundedF1: ``1 - F1`` with plain probabilities (sigmoidF1 at beta=1, eta=0)."""

    def __init__(self, average: str = "macro", from_logits: bool = True,
                 epsilon: float = core.DEFAULT_EPSILON, validate_args: bool = True,
                 sync: str = "auto", process_group=None):
        super().__init__("fbeta", average=average, from_logits=from_logits,
                         epsilon=epsilon, validate_args=validate_args, sync=sync,
                         process_group=process_group)


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


def _parts_of(module, input, target, sample_weight):
    """``(sums, finish)`` of a loss inside a combination: a batch-level one's own
    parts; for an element-wise one ``(sum of weighted losses, count)``, whose ratio
    is its batch mean (``sum(w * loss) / count``, count = rows, or entries with
    entry weights), so that summed across ranks it is the global batch's mean
    whatever the ranks' batch sizes."""
    if module.reduction_kind == "batch":
        return module._parts(input, target, sample_weight)
    rows = input.new_tensor(float(input.shape[0]))
    if sample_weight is None:
        total, count = module._value(input, target, None).sum(), rows
    else:
        w = torch.as_tensor(sample_weight, device=input.device, dtype=input.dtype)
        w = w.reshape(core.sample_weight_shape(tuple(w.shape), tuple(input.shape)))
        if isinstance(module, LabelCountError):
            p = torch.sigmoid(input) if module.options["from_logits"] else input
            total, count = torch.abs(torch.sum(w * (p - target), -1)).sum(), rows
        elif w.shape[-1] == 1:
            total, count = (w[:, 0] * module._value(input, target, None)).sum(), rows
        else:
            flat = module._value(input.reshape(-1, 1), target.reshape(-1, 1), None)
            total, count = (w.reshape(-1) * flat).sum(), rows * input.shape[-1]
    return [total, count], lambda sums: sums[0] / sums[1]


class WeightedSum(_BatchLoss):
    """``surrogate + weight * mean(baseline)``, see :func:`VLAP.losses.weighted_sum`.

    ``surrogate`` and ``baseline`` are VLAP.torch modules or names
    (``"sigmoid_f1"``, ``"bce"``, ``"asl"``, ``"focal"``, ``"label_count_error"``).
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

    def __init__(self, surrogate="sigmoid_f1", baseline="bce", weight: float = 0.5,
                 surrogate_kwargs: dict | None = None, baseline_kwargs: dict | None = None,
                 validate_args: bool = True, sync: str = "auto", process_group=None):
        super().__init__(sync=sync, process_group=process_group,
                         validate_args=validate_args, weight=weight)
        self.surrogate = _module("surrogate", surrogate, _BATCH, surrogate_kwargs)
        self.baseline = _module("baseline", baseline, _ELEMENTWISE, baseline_kwargs)
        if self.surrogate.options.get("from_logits", True) != \
                self.baseline.options.get("from_logits", True):
            raise ValueError("`surrogate` and `baseline` must agree on `from_logits`.")
        self.options["from_logits"] = self.surrogate.options.get("from_logits", True)

    def _parts(self, input, target, sample_weight):
        first, finish_first = _parts_of(self.surrogate, input, target, sample_weight)
        weight = self.options["weight"]
        if not weight:
            return first, finish_first
        second, finish_second = _parts_of(self.baseline, input, target, sample_weight)
        k = len(first)
        return first + second, lambda sums: (finish_first(sums[:k])
                                             + weight * finish_second(sums[k:]))


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

    def __init__(self, start="bce", end="sigmoid_f1", start_epoch: int = 0,
                 ramp_epochs: int = 10, start_kwargs: dict | None = None,
                 end_kwargs: dict | None = None, validate_args: bool = True,
                 sync: str = "auto", process_group=None):
        super().__init__(sync=sync, process_group=process_group,
                         validate_args=validate_args, start_epoch=start_epoch,
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

    def _parts(self, input, target, sample_weight):
        first, finish_first = _parts_of(self.start, input, target, sample_weight)
        second, finish_second = _parts_of(self.end, input, target, sample_weight)
        k, mix = len(first), self.mix
        return first + second, lambda sums: ((1.0 - mix) * finish_first(sums[:k])
                                             + mix * finish_second(sums[k:]))


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
                                     sample_weight=_check_batch_weight(sample_weight, input))
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


__all__ = ["SigmoidF1", "UnboundedF1", "SoftScoreLoss", "BinaryCrossentropy", "Focal",
           "LabelCountError", "WeightedSum", "Scheduled", "EMASigmoidF1",
           "Asymmetric", "TORCH_OPS"]
