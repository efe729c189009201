"""Global-batch losses under ``torch.distributed`` (DDP, FSDP, Lightning, HF Trainer).

A batch-level loss (sigmoidF1, the soft-score family, :class:`~VLAP.torch.WeightedSum`)
is a function of soft counts summed over the batch. Under data parallelism the
batch is split over ranks, so the loss of the *global* batch needs the counts of
every rank. :func:`sum_across_ranks` sums them with one ``all_reduce`` per loss
call and keeps the autograd graph:

* forward: every rank gets the same global sums ``C = sum_r c_r``, so every rank
  computes the same global loss ``L(C)`` (also the value it reports);
* backward: the gradient reaching ``c_r`` is ``world_size * dL/dC``. Each rank's
  parameter gradient is then ``world_size * dL/dC . dc_r/dtheta`` and the
  gradient *averaging* of DDP (and FSDP, Lightning, the HF Trainer: all of them
  average) gives ``sum_r dL/dC . dc_r/dtheta``: the gradient of ``L`` on the
  concatenated batch, the single-process update.

``world_size * dL/dC`` is what ``torch.distributed.nn.functional.all_reduce``'s
backward computes with a second ``all_reduce`` of the (identical) upstream
gradients of all ranks; as every rank computes the same ``L`` from the same
``C``, those gradients are equal and the second collective is skipped.

Element-wise terms (BCE in ``WeightedSum``) enter as ``(sum of losses, number of
rows)`` pairs in the same ``all_reduce``, so their mean is over the global batch
even when the ranks' last batches have different sizes.

When a loss syncs (its ``sync`` argument):

* ``"auto"`` (default): when ``torch.distributed`` is initialised with more than
  one rank *and* the loss is computed with gradients (training). Evaluation
  under ``torch.no_grad()`` stays local, so code that evaluates on rank 0 only
  does not hang waiting for the other ranks;
* ``"global"``: always (every rank must call the loss the same number of times);
  an error when ``torch.distributed`` is not initialised;
* ``"local"``: never; each rank's loss is the score of its own batch.

Example (single process: ``"auto"`` is local, the loss is unchanged):
>>> import torch
>>> from VLAP.torch import SigmoidF1
>>> y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
>>> logits = torch.tensor([[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]], requires_grad=True)
>>> round(float(SigmoidF1(sync="auto")(logits, y)), 4)
0.2405
>>> is_synced("auto", logits)
False
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.distributed as dist

SYNC_OPTIONS = ("auto", "global", "local")


def world_size(group=None) -> int:
    """Ranks in ``group`` (default: the world), 1 when ``torch.distributed`` is not
    initialised.

    Example:
    >>> world_size()
    1
    """
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


def is_synced(sync: str, input: torch.Tensor, group=None) -> bool:
    """Whether a loss with this ``sync`` option sums its counts across ranks now.

    Args:
        sync: str. ``"auto"``, ``"global"`` or ``"local"`` (see the module doc).
        input: torch.Tensor. The logits the loss is computed on.
        group: ProcessGroup or None. The ranks to sum over (default: all).

    Returns:
        bool.

    Example:
    >>> import torch
    >>> is_synced("local", torch.zeros(2, 3))
    False
    """
    if sync == "local":
        return False
    initialised = dist.is_available() and dist.is_initialized()
    if sync == "global":
        if not initialised:
            raise RuntimeError(
                "sync='global' sums the soft counts across ranks, but torch.distributed "
                "is not initialised (call torch.distributed.init_process_group first, or "
                "use sync='auto', which is local in a single process). Received: "
                "sync='global'")
        return True
    return (initialised and dist.get_world_size(group) > 1 and torch.is_grad_enabled()
            and input.requires_grad)


class _SumAcrossRanks(torch.autograd.Function):
    """``all_reduce(SUM)`` whose backward multiplies by the world size (see the module
    doc: every rank's upstream gradient is the same, so this equals the backward of
    ``torch.distributed.nn.functional.all_reduce`` without its second collective)."""

    @staticmethod
    def forward(ctx, flat, group, size):
        ctx.size = size
        out = flat.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.size, None, None


def sum_across_ranks(tensors: Sequence[torch.Tensor], group=None) -> list[torch.Tensor]:
    """Sum each tensor over the ranks of ``group`` with one ``all_reduce``.

    The tensors are flattened into one buffer (float32 or wider), reduced, and
    split back to their shapes and dtypes. Differentiable: the gradient of every
    input is ``world_size`` times the gradient of its output (see the module
    doc), so that DDP's averaging yields the global-batch gradient.

    Args:
        tensors: sequence of torch.Tensor. Per-rank partial sums (soft counts,
            sums of element-wise losses, row counts).
        group: ProcessGroup or None. The ranks to sum over (default: all).

    Returns:
        list of torch.Tensor. The global sums, in the order given.

    Example (a single process: the sums are the tensors themselves):
    >>> import torch
    >>> import torch.distributed as dist
    >>> dist.init_process_group("gloo", init_method="tcp://127.0.0.1:0", rank=0,
    ...                         world_size=1)
    >>> tp, n = sum_across_ranks([torch.tensor([1.5, 2.0]), torch.tensor(3.0)])
    >>> tp.tolist(), float(n)
    ([1.5, 2.0], 3.0)
    >>> dist.destroy_process_group()
    """
    tensors = list(tensors)
    dtype = torch.promote_types(torch.float32, tensors[0].dtype)
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    flat = torch.cat([t.reshape(-1).to(dtype) for t in tensors])
    total = _SumAcrossRanks.apply(flat, group, dist.get_world_size(group))
    out, start = [], 0
    for t in tensors:
        out.append(total[start:start + t.numel()].reshape(t.shape).to(t.dtype))
        start += t.numel()
    return out


def max_across_ranks(tensors: Sequence[torch.Tensor], group=None) -> list[torch.Tensor]:
    """The element-wise maximum of each tensor over the ranks of ``group``.

    Not differentiable: for the shifts of sums of exponentials (the Two-way
    loss's class-wise log-sum-exps), which every rank must share for its sums to
    add. One ``all_reduce(MAX)`` of the detached tensors, flattened together.
    """
    tensors = [t.detach() for t in tensors]
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.MAX, group=group)
    out, start = [], 0
    for t in tensors:
        out.append(flat[start:start + t.numel()].reshape(t.shape))
        start += t.numel()
    return out


__all__ = ["SYNC_OPTIONS", "is_synced", "max_across_ranks", "sum_across_ranks",
           "world_size"]
