"""Interrupts that a library swallowed are not lost (the ``vlap`` command's SIGINT/SIGTERM).

``vlap``'s handler raises ``KeyboardInterrupt`` where the signal lands; if that is inside a
library call that catches and drops the exception (seen once on the JAX backend: the run went
on and ended with exit 0), the request would be gone, since the handler has already
restored the default handlers. So the handler also records the signal here, and the epoch
checkpoint (:class:`VLAP.training.run_dir.RunCheckpoint`), once an epoch is committed, raises
it again: the run stops at the next safe point with what it kept, as a delivered interrupt
does. Outside ``vlap`` nothing is recorded and nothing is raised. Standard library only.

Where Python itself drops the exception (the signal landed in a garbage-collector callback
such as JAX's ``_xla_gc_callback``, a weakref callback or a ``__del__``: "Exception ignored
in ..."), ``vlap``'s ``sys.unraisablehook`` sees it, puts its handler back and
:func:`redeliver` sends the signal again a moment later, when the main code runs again.
"""

from __future__ import annotations

import os
import threading

#: Signals received by ``vlap``'s handler and not yet handled, oldest first.
PENDING: list[int] = []


def request(signum: int) -> None:
    """Record a received signal (``vlap``'s handler)."""
    PENDING.append(signum)


def clear() -> None:
    """Forget recorded signals (when the command that received them ends)."""
    PENDING.clear()


def raise_if_pending() -> None:
    """Raise ``KeyboardInterrupt`` when a signal was recorded and not yet handled.

    Example:
    >>> raise_if_pending()  # nothing recorded: nothing happens
    >>> request(2)
    >>> try:
    ...     raise_if_pending()
    ... except KeyboardInterrupt:
    ...     print("interrupted")
    interrupted
    >>> PENDING
    []
    """
    if PENDING:
        PENDING.clear()  # raised once: the exception carries it from here
        raise KeyboardInterrupt


def redeliver(signum: int, delay: float = 0.05) -> None:
    """Send ``signum`` to this process again after ``delay`` seconds (from a thread, so
    the code that was interrupted first returns to where an exception is not dropped)."""
    timer = threading.Timer(delay, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()
