"""The private PyTorch APIs VLAP.torch uses, in one place (each guarded, each tested).

* ``torch._assert_async(condition, message)``: an assertion on a one-element tensor
  that never waits for the device (on CPU it raises ``RuntimeError(message)`` at
  once, on CUDA it is a device-side assertion reported at the next
  synchronisation) and that ``torch.compile`` keeps in its graph. Its message
  argument exists since torch 2.1. tests/test_torch_conventions.py fails when
  it changes (eager and compiled raise tests).
"""

import torch

_VERSION = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
HAS_ASSERT_ASYNC = _VERSION >= (2, 1) and hasattr(torch, "_assert_async")


def assert_async(condition, message):
    """Raise ``RuntimeError(message)`` where the one-element bool ``condition`` is
    False, without a host sync where torch allows."""
    if HAS_ASSERT_ASYNC:
        torch._assert_async(condition, message)
    elif not torch.compiler.is_compiling() and not bool(condition):  # older torch: syncs
        raise RuntimeError(message)
