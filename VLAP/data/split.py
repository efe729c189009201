"""Seeded train/validation/test split for multilabel data (the paper's ``VLAP.split``)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils import check_consistent_length

from VLAP._validation import is_missing as _is_missing


def split(X: Any, y: Any, fractions: Sequence[float] = (0.6, 0.2, 0.2), *, r: int | None = 44,
          stratify: bool = False, group_duplicates: bool = False) -> tuple[Any, ...]:
    """Split `X` and `y` into train, validation and test parts.

    Unlike the paper's helper, the seed `r` is honoured, every row lands in exactly
    one part, and part sizes follow `fractions` exactly (largest-remainder rounding,
    so they add up to the number of rows). Rows keep their original order inside a
    part, and pandas objects keep their index.

    Args:
        X: pandas Series/DataFrame, numpy array, list, or a dict of equal-length
            arrays (e.g. tokenizer output). The inputs.
        y: same kinds as `X`. Label lists (one list of labels per row) or a 0/1
            matrix of shape (n_samples, num_labels).
        fractions: sequence of 2 or 3 floats. Sizes of (train, [val,] test) as
            fractions of the rows; each >= 0, summing to 1. With 2 fractions the
            result has 4 items (no validation part), like sklearn's
            `train_test_split`.
        r: int or None. Seed. The same seed gives the same split; None draws a
            fresh one.
        stratify: bool. If True, use iterative stratification (Sechidis et al.,
            2011, from the `iterative-stratification` package) on the binarized
            labels, so rare labels appear in every part. Part sizes are then
            approximate.
        group_duplicates: bool. If True, rows with identical `X` land in the same
            part (no duplicate text straddles train and test). Part sizes are then
            approximate.

    `fractions` may be given by position, as in the paper's
    ``VLAP.split(X, y, [0.6, 0.2, 0.2], r=44)``; every argument after it is
    keyword-only.

    Returns:
        tuple. `X_train, X_val, X_test, y_train, y_val, y_test` (or
        `X_train, X_test, y_train, y_test` with 2 fractions), each of the input's
        type.

    Example:
    >>> X = [f"doc {i}" for i in range(10)]
    >>> y = [["a"] if i % 2 else ["b"] for i in range(10)]
    >>> X_train, X_val, X_test, y_train, y_val, y_test = split(X, y, r=0)
    >>> len(X_train), len(X_val), len(X_test)
    (6, 2, 2)
    >>> sorted(X_train + X_val + X_test) == sorted(X)
    True
    """
    shares = _check_fractions(fractions)  # float array, checked
    if r is not None and (isinstance(r, bool) or not isinstance(r, numbers.Integral)):
        raise TypeError(f"`r` must be an int seed or None. Received: r={r!r}")
    if not isinstance(stratify, bool):
        raise TypeError(f"`stratify` must be a bool. Received: stratify={stratify!r}")
    if not isinstance(group_duplicates, bool):
        raise TypeError(
            f"`group_duplicates` must be a bool. Received: group_duplicates={group_duplicates!r}"
        )
    n = _num_rows(X, "X")
    _num_rows(y, "y")
    check_consistent_length(_length_proxy(X), _length_proxy(y))
    if n == 0:
        raise ValueError("`X` is empty: there is nothing to split.")

    rng = np.random.default_rng(None if r is None else int(r))
    if group_duplicates:
        groups = _duplicate_groups(X)
    else:
        groups = np.arange(n)
    n_groups = groups.max() + 1

    if stratify:
        Y = _label_matrix(y)
        # One label row per group (union of the group's labels).
        Y_groups = np.zeros((n_groups, Y.shape[1]), dtype=bool)
        np.logical_or.at(Y_groups, groups, Y)
        part_of_group = _stratified_parts(Y_groups, shares, rng)
    else:
        sizes = np.bincount(groups, minlength=n_groups)
        part_of_group = _random_parts(sizes, shares, rng)

    part_of_row = part_of_group[groups]
    idx = [np.flatnonzero(part_of_row == k) for k in range(len(fractions))]
    xs = [take_rows(X, i) for i in idx]
    ys = [take_rows(y, i) for i in idx]
    return (*xs, *ys)


def _check_fractions(fractions: Any) -> np.ndarray:
    if isinstance(fractions, (str, bytes)) or not hasattr(fractions, "__len__"):
        raise TypeError(
            "`fractions` must be a sequence of 2 or 3 floats (train, [val,] test). "
            f"Received: fractions={fractions!r}"
        )
    try:
        values = np.asarray(fractions, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"`fractions` must hold numbers. Received: fractions={fractions!r}"
        ) from None
    if values.ndim != 1 or len(values) not in (2, 3):
        raise ValueError(
            "`fractions` must have 2 or 3 entries (train, [val,] test). "
            f"Received: fractions={fractions!r}"
        )
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(
            f"Each entry of `fractions` must be a finite number >= 0. Received: fractions={fractions!r}"
        )
    if not np.isclose(values.sum(), 1.0, atol=1e-6):
        raise ValueError(
            f"`fractions` must sum to 1. Received: fractions={fractions!r} (sum {values.sum():.6g})"
        )
    if values[0] == 0:
        raise ValueError(f"The train fraction must be > 0. Received: fractions={fractions!r}")
    return values


def _num_rows(a: Any, name: str) -> int:
    if a is None:
        raise TypeError(f"`{name}` must not be None.")
    if isinstance(a, Mapping):
        if not a:
            raise ValueError(f"`{name}` is an empty dict: expected arrays of equal length.")
        lengths = {k: len(v) for k, v in a.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"All arrays in `{name}` must have the same length. Received lengths {lengths}")
        return next(iter(lengths.values()))
    if isinstance(a, (str, bytes)) or not hasattr(a, "__len__"):
        raise TypeError(
            f"`{name}` must be a list, numpy array, pandas object or dict of arrays. "
            f"Received: {type(a).__name__}"
        )
    return len(a)


def _length_proxy(a: Any) -> Any:
    """Something `check_consistent_length` understands (it rejects dicts)."""
    if isinstance(a, Mapping):
        return np.empty(_num_rows(a, "X"))
    if isinstance(a, list):
        return np.empty(len(a))
    return a


def take_rows(a: Any, idx: Sequence[int] | np.ndarray | None) -> Any:
    """The rows ``idx`` of ``a`` in the container type it came in (all of ``a`` if ``idx`` is None).

    Handles numpy arrays, lists, tuples, pandas objects (by position) and dicts
    of such (every value is cut the same way).

    Example:
    >>> take_rows(["a", "b", "c"], [2, 0])
    ['c', 'a']
    >>> take_rows({"x": np.arange(3)}, [1])
    {'x': array([1])}
    """
    if idx is None:
        return a
    if isinstance(a, (pd.Series, pd.DataFrame)):
        return a.iloc[idx]
    if isinstance(a, Mapping):
        return {k: take_rows(v, idx) for k, v in a.items()}
    if isinstance(a, np.ndarray):
        return a[idx]
    if isinstance(a, list):
        return [a[i] for i in idx]
    if isinstance(a, tuple):
        return tuple(a[i] for i in idx)
    return np.asarray(a)[idx]


def _largest_remainder(total: int, fractions: np.ndarray) -> np.ndarray:
    """Integer sizes proportional to `fractions` that add up exactly to `total`."""
    raw = fractions * total
    sizes = np.floor(raw).astype(int)
    remainder = total - sizes.sum()
    order = np.argsort(-(raw - sizes), kind="stable")
    sizes[order[:remainder]] += 1
    return sizes


def _random_parts(group_sizes: np.ndarray, fractions: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Assign shuffled groups to parts by where their first row falls."""
    n = int(group_sizes.sum())
    bounds = np.cumsum(_largest_remainder(n, fractions))
    order = rng.permutation(len(group_sizes))
    starts = np.cumsum(group_sizes[order]) - group_sizes[order]
    parts_in_order = np.searchsorted(bounds, starts, side="right")
    parts = np.empty(len(group_sizes), dtype=int)
    parts[order] = np.minimum(parts_in_order, len(fractions) - 1)
    return parts


def _stratified_parts(Y: np.ndarray, fractions: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    from iterstrat.ml_stratifiers import IterativeStratification

    parts = np.full(len(Y), -1, dtype=int)
    nonzero = np.flatnonzero(fractions > 0)
    if len(nonzero) == 1:
        parts[:] = nonzero[0]
        return parts
    order = rng.permutation(len(Y))
    seed = int(rng.integers(2**31 - 1))
    ratios = fractions[nonzero] / fractions[nonzero].sum()
    folds = IterativeStratification(
        labels=Y[order], r=ratios, random_state=np.random.RandomState(seed)
    )
    parts[order] = nonzero[np.asarray(folds, dtype=int)]
    return parts


def _label_matrix(y: Any) -> np.ndarray:
    """0/1 matrix from label lists or an indicator matrix (for stratification only)."""
    if isinstance(y, (pd.DataFrame, np.ndarray)) and np.ndim(y) == 2:
        arr = np.asarray(y)
        if arr.dtype.kind in "biuf":
            if arr.dtype.kind == "f" and np.isnan(arr).any():
                raise ValueError("`y` contains NaN: stratification needs complete labels.")
            return arr.astype(bool)
    rows = list(y.tolist() if isinstance(y, (pd.Series, np.ndarray)) else y)
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__iter__"):
            if _is_missing(row):
                raise ValueError(f"`y` row {i} is missing (NaN/None): stratification needs labels.")
            raise TypeError(
                f"With stratify=True, each row of `y` must be a list of labels or a 0/1 row. "
                f"Row {i} is {type(row).__name__}: {row!r}"
            )
    try:
        matrix: np.ndarray | None = np.asarray(rows)
    except ValueError:  # ragged label lists
        matrix = None
    if (matrix is not None and matrix.ndim == 2 and matrix.dtype.kind in "biuf"
            and np.isin(matrix, (0, 1)).all()):
        return matrix.astype(bool)
    return MultiLabelBinarizer(sparse_output=False).fit_transform(rows).astype(bool)


def _duplicate_groups(X: Any) -> np.ndarray:
    """Group id per row: identical X values share an id."""
    if isinstance(X, Mapping):
        keys = sorted(X)
        cols = [
            pd.Series([np.asarray(v).tobytes() for v in X[k]]) for k in keys
        ]
        frame = pd.concat(cols, axis=1)
        hashed = pd.util.hash_pandas_object(frame, index=False)
        return pd.factorize(hashed)[0]
    if isinstance(X, pd.DataFrame):
        return pd.factorize(pd.util.hash_pandas_object(X, index=False))[0]
    if isinstance(X, np.ndarray) and X.ndim > 1:
        rows = np.ascontiguousarray(X).reshape(len(X), -1)
        return pd.factorize(pd.Series([row.tobytes() for row in rows]))[0]
    values = X.tolist() if isinstance(X, (pd.Series, np.ndarray)) else list(X)
    try:
        return pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)[0]
    except TypeError:  # unhashable rows (lists)
        return pd.factorize(pd.Series([repr(v) for v in values]))[0]
