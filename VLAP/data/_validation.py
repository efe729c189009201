"""Argument and array checks shared by ``split``, ``binarize`` and ``create_dataset``."""


import numpy as np


from VLAP._checks import check_option as _check_option  # noqa: F401,E402
from VLAP._checks import check_positive_int as _check_positive_int  # noqa: F401,E402


def _is_missing(value):
    """True for None and float NaN (pandas' NA markers included)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pd.NA raises or is NA
    except (TypeError, ValueError):
        return True


def _check_indicator_matrix(y, name):
    """Return ``y`` as a float32 (n_samples, num_labels) 0/1 matrix or raise ValueError."""
    if isinstance(y, (str, bytes)):
        raise TypeError(f"`{name}` must be a 0/1 indicator matrix. Received a {type(y).__name__}.")
    try:
        arr = np.asarray(y)
    except ValueError as err:  # ragged lists
        raise ValueError(
            f"`{name}` must be a 0/1 indicator matrix of shape (n_samples, num_labels); "
            f"it could not be converted to a rectangular array ({err}). If it holds label "
            "lists, convert it with VLAP.binarize first."
        ) from None
    if arr.dtype == object or arr.dtype.kind in "USO":
        raise ValueError(
            f"`{name}` must be a 0/1 indicator matrix of shape (n_samples, num_labels). "
            f"Received an array of dtype {arr.dtype} (label lists or strings?). "
            "Convert label lists with VLAP.binarize first."
        )
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 0/1 indicator matrix of shape (n_samples, num_labels). "
            f"Received: {name}.shape={arr.shape}"
        )
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        rows = np.unique(np.nonzero(np.isnan(arr))[0])
        raise ValueError(
            f"`{name}` contains NaN in {len(rows)} rows (first rows: {rows[:5].tolist()}). "
            "Fix or drop those rows explicitly."
        )
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = np.unique(arr[~np.isin(arr, (0, 1))])[:5]
        raise ValueError(
            f"`{name}` must hold only 0 and 1. Received other values: {bad.tolist()}"
        )
    return arr.astype("float32")
