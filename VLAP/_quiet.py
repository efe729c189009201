"""A quiet console: the backend without TensorFlow's start-up noise, and progress bars.

TensorFlow writes its start-up lines from C++ to file descriptor 2 before
``TF_CPP_MIN_LOG_LEVEL`` is read, so they are caught at the descriptor and every
line that is not known noise is written back. A user's ``TF_CPP_MIN_LOG_LEVEL``
only filters more (the level is at least 2, and the noise lines are dropped
whatever it is); ``TF_CPP_MIN_LOG_LEVEL=0`` asks for everything and filters
nothing.
"""

import contextlib
import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar, overload

from VLAP._extras import require

_T = TypeVar("_T")

#: Native start-up lines of TensorFlow that say nothing a user can act on: absl's
#: notice before its logging starts, INFO lines (oneDNN, "Could not find cuda
#: drivers"), and the CUDA errors of a CPU-only machine.
NATIVE_NOISE = ("WARNING: All log messages before absl::InitializeLog()", "I0000 ",
                "failed call to cuInit", "Unable to register cu", "computation placer already",
                "TF-TRT Warning")


def min_log_level(user: str | None) -> str:
    """The ``TF_CPP_MIN_LOG_LEVEL`` to use given the user's value (None: unset).

    Example:
    >>> min_log_level(None), min_log_level("3"), min_log_level("1"), min_log_level("0")
    ('2', '3', '2', '0')
    """
    if user is None:
        return "2"
    user = user.strip()
    if user == "0":
        return "0"
    try:
        return str(max(int(user), 2))
    except ValueError:
        return "2"


def import_backend_quietly() -> None:
    """Import Keras (and TensorFlow, which VLAP's data pipeline uses on every backend)
    with the start-up noise filtered; nothing happens if Keras is already imported."""
    if "keras" in sys.modules:
        return
    require("keras")  # not installed: one line naming the extra (VLAP._extras)
    level = min_log_level(os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = level
    if level == "0":
        import keras  # noqa: F401

        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 (some embedded interpreters)
        import keras  # noqa: F401

        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import keras  # noqa: F401

            # start TensorFlow now, so its start-up lines come here and are filtered
            if importlib.util.find_spec("tensorflow") is not None:
                import tensorflow as tf

                tf.config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True):
                if not any(marker in line for marker in NATIVE_NOISE):
                    sys.stderr.write(line)


class DropRetracingNotices(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" notices.

    Every new model (each model of an experiment, each packaged model loaded by
    ``VLAP.predict``) traces Keras' predict and train steps again: expected, and
    not something a user can act on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def no_retracing_notices() -> Iterator[None]:
    """Within the block, TensorFlow's retracing notices are dropped."""
    tf_logger, notice_filter = logging.getLogger("tensorflow"), DropRetracingNotices()
    tf_logger.addFilter(notice_filter)
    try:
        yield
    finally:
        tf_logger.removeFilter(notice_filter)


@overload
def progress(iterable: None, *, total: int | None = None, desc: str | None = None,
             unit: str = "it") -> Any: ...


@overload
def progress(iterable: Iterable[_T], *, total: int | None = None, desc: str | None = None,
             unit: str = "it") -> Iterator[_T]: ...


def progress(iterable: Iterable[_T] | None, *, total: int | None = None,
             desc: str | None = None, unit: str = "it") -> Any:
    """`iterable` with a tqdm progress bar on standard error, shown only when
    standard error is a terminal (never in logs, CI or notebooks' captured output).

    With `iterable=None` it returns the bar itself, to `update(n)` by hand
    inside a `with` block (a loop over batches of several items).

    Example:
    >>> list(progress(range(3), total=3, desc="demo"))  # no bar: not a terminal here
    [0, 1, 2]
    >>> with progress(None, total=5, desc="demo") as bar:
    ...     bar.update(5)
    """
    import sys

    from tqdm.auto import tqdm

    tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not tty, leave=False,
                file=sys.stderr)
