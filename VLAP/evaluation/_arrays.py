"""Array conversion and checks for evaluation (eager NumPy only)."""

import numpy as np
import pandas as pd

from VLAP._validation import check_indicator_matrix, check_scores as _check_scores
from VLAP._validation import to_numpy  # noqa: F401


def check_indicator(y, name):
    """``y`` as an int 0/1 matrix of shape (n_samples, num_labels), or raise."""
    return check_indicator_matrix(y, name, dtype=np.int64, min_labels=2)


def check_scores(scores, name, shape, y_name):
    """``scores`` as float64 probabilities of the given shape, or raise."""
    return _check_scores(scores, name, shape=shape, like=y_name)


def _check_label_names(label_names, num_labels):
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


