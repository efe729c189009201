"""Array conversion and checks for evaluation (eager NumPy only)."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from VLAP._validation import (
    check_indicator_matrix,
    to_numpy,
)
from VLAP._validation import check_scores as _check_scores


def check_indicator(y: Any, name: str) -> np.ndarray:
    """``y`` as an int 0/1 matrix of shape (n_samples, num_labels), or raise."""
    return check_indicator_matrix(y, name, dtype=np.int64, min_labels=2)


def check_labels(y: Any, name: str, min_labels: int = 2) -> np.ndarray:
    """``y`` as a uint8 0/1 matrix (1 byte per entry; a bool input is not copied)."""
    return check_indicator_matrix(y, name, dtype=bool, min_labels=min_labels).view(np.uint8)


def check_scores(scores: Any, name: str, shape: Sequence[int] | None,
                 y_name: str) -> np.ndarray:
    """``scores`` as float64 probabilities of the given shape, or raise."""
    return _check_scores(scores, name, shape=shape, like=y_name)


def check_probabilities(scores: Any, name: str, shape: Sequence[int] | None,
                        y_name: str) -> np.ndarray:
    """``scores`` as probabilities of the given shape, float32 kept (not up-cast).

    float32 and float64 arrays are used as they are; any other type becomes
    float64 (float16 becomes float32).
    """
    arr = np.asarray(to_numpy(scores))
    dtype = {np.dtype(np.float32): np.float32, np.dtype(np.float16): np.float32}.get(
        arr.dtype, np.float64)
    return _check_scores(arr, name, shape=shape, like=y_name, dtype=dtype)


def check_label_names(label_names: Sequence[Any] | None, num_labels: int) -> pd.Index:
    """A pandas Index of one unique name per label (a RangeIndex for None)."""
    if label_names is None:
        return pd.RangeIndex(num_labels, name="label")
    if isinstance(label_names, (str, bytes)):
        raise TypeError(
            "`label_names` must be a sequence of names, one per label. "
            f"Received: label_names={label_names!r}"
        )
    names = list(label_names)
    if len(names) != num_labels:
        raise ValueError(
            f"`label_names` must have one name per label: expected {num_labels}, "
            f"received {len(names)}. Received: label_names={names!r}"
        )
    if len(set(names)) != len(names):
        dupes = sorted({str(n) for n in names if names.count(n) > 1})
        raise ValueError(
            f"`label_names` must be unique. Received duplicates: {dupes!r}"
        )
    return pd.Index(names, name="label")
