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


__all__ = ["SigmoidF1", "UnboundedF1", "SoftScoreLoss", "BinaryCrossentropy", "Focal",
           "Asymmetric", "TORCH_OPS"]
