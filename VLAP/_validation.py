"""VLAP's one layer of argument and array checks (framework-free).

Two kinds of check live here, as in scikit-learn and torchmetrics:

* **argument checks** (``check_option``, ``check_positive_int``, ``check_number``,
  ``check_bool``, ``check_threshold``, ``check_dropout``) run in Python when a
  function or constructor is entered, before any tracing;
* **array checks** (``check_indicator_matrix``, ``check_scores``,
  ``check_shapes``, ``check_values``, ``to_numpy``) run on concrete arrays:
  NumPy, lists, eager tensors. Traced ``keras.ops`` code gets the static
  ``check_shapes`` only, so a graph is never made to synchronise for a check.

Every message names the argument, what was expected and what was received
(``!r``): ``ValueError`` for a bad value, ``TypeError`` for a bad type.

Example:
>>> from VLAP._validation import check_option
>>> check_option("average", "mean", ("macro", "micro"))
Traceback (most recent call last):
...
ValueError: Invalid value for argument `average`. Expected one of ['macro', 'micro']. Received: average='mean'
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Sequence
from typing import Any, Literal, TypeVar, overload

import numpy as np

_T = TypeVar("_T")

# --- argument checks ---------------------------------------------------------


def check_option(name: str, value: _T, allowed: Collection[Any]) -> _T:
    """Raise a ValueError naming ``name`` when ``value`` is not in ``allowed``."""
    if value not in allowed:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of {list(allowed)}. "
            f"Received: {name}={value!r}"
        )
    return value


def check_bool(name: str, value: Any) -> bool:
    """Raise a TypeError unless ``value`` is a bool; return it."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)


@overload
def check_positive_int(name: str, value: Any, allow_none: Literal[False] = ...) -> int: ...
@overload
def check_positive_int(name: str, value: Any, allow_none: bool) -> int | None: ...
def check_positive_int(name: str, value: Any, allow_none: bool = False) -> int | None:
    """Raise a ValueError unless ``value`` is an integer >= 1 (or None if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer{' or None' if allow_none else ''}. "
            f"Received: {name}={value!r}"
        )
    return int(value)


@overload
def check_number(name: str, value: Any, *, low: float | None = ..., low_inclusive: bool = ...,
                 high: float | None = ..., high_inclusive: bool = ...,
                 allow_none: Literal[False] = ...) -> float: ...
@overload
def check_number(name: str, value: Any, *, low: float | None = ..., low_inclusive: bool = ...,
                 high: float | None = ..., high_inclusive: bool = ...,
                 allow_none: bool) -> float | None: ...
def check_number(name: str, value: Any, *, low: float | None = None,
                 low_inclusive: bool = True, high: float | None = None,
                 high_inclusive: bool = True, allow_none: bool = False) -> float | None:
    """Return ``value`` as a float, or raise unless it is a real number in range.

    ``low``/``high`` bound the range (None: unbounded); NaN is always refused.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number. Received: {name}={value!r}")
    value = float(value)
    bad_low = low is not None and (value < low if low_inclusive else value <= low)
    bad_high = high is not None and (value > high if high_inclusive else value >= high)
    if bad_low or bad_high or value != value:
        lo = f"{'[' if low_inclusive else '('}{low if low is not None else '-inf'}"
        hi = f"{high if high is not None else 'inf'}{']' if high_inclusive else ')'}"
        raise ValueError(f"`{name}` must be in {lo}, {hi}. Received: {name}={value!r}")
    return value


def check_threshold(threshold: Any, name: str = "threshold") -> float:
    """Return ``threshold`` as a float, or raise unless it is a probability in (0, 1)."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in (0, 1). Received: {name}={threshold!r}")
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"`{name}` must be a probability strictly between 0 and 1. "
                         f"Received: {name}={threshold!r}")
    return float(threshold)


def check_dropout(value: Any, name: str = "dropout") -> float:
    """Raise a ValueError unless ``value`` is a rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_integer(name: str, value: Any, *, low: int | None = None,
                  high: int | None = None) -> int:
    """Return ``value`` as an int, or raise unless it is an integer in ``[low, high)``.

    Example:
    >>> check_integer("seed", 2**32, low=0, high=2**32)
    Traceback (most recent call last):
    ...
    ValueError: `seed` must be an integer in [0, 4294967296). Received: seed=4294967296
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer. Received: {name}={value!r}")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number >= high):
        raise ValueError(f"`{name}` must be an integer in [{'-inf' if low is None else low}, "
                         f"{'inf' if high is None else high}). Received: {name}={value!r}")
    return number


# --- array checks (concrete arrays only) ---------------------------------------


def to_numpy(x: Any) -> np.ndarray:
    """NumPy view of a NumPy/TensorFlow/PyTorch/JAX array (or nested lists)."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy") and callable(x.numpy):
        return x.numpy()
    return np.asarray(x)


def is_missing(value: Any) -> bool:
    """True for None and float NaN (pandas' NA markers included)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pd.NA raises or is NA
    except (TypeError, ValueError):
        return True


def check_indicator_matrix(y: Any, name: str = "y", *, dtype: Any = "float32",
                           min_labels: int = 1, min_samples: int = 1) -> np.ndarray:
    """Return ``y`` as a 0/1 matrix of shape (n_samples, num_labels) or raise.

    Refuses strings and label lists (with a hint to ``VLAP.binarize``), ragged
    input, other ranks, NaN (naming the first rows), values other than 0 and 1,
    no examples, and fewer than ``min_labels`` columns.
    """
    if isinstance(y, (str, bytes)):
        raise TypeError(f"`{name}` must be a 0/1 indicator matrix. Received a {type(y).__name__}.")
    try:
        arr = to_numpy(y)
    except ValueError as err:  # ragged lists
        raise ValueError(
            f"`{name}` must be a 0/1 indicator matrix of shape (n_samples, num_labels); "
            f"it could not be converted to a rectangular array ({err}). If it holds label "
            "lists, convert it with VLAP.binarize first."
        ) from None
    if arr.dtype == object or arr.dtype.kind in "USO":
        raise TypeError(
            f"`{name}` must be a 0/1 indicator matrix of shape (n_samples, num_labels). "
            f"Received an array of dtype {arr.dtype} (label lists or strings?). "
            "Convert label lists with VLAP.binarize first."
        )
    if arr.ndim != 2:
        hint = " Use y.reshape(-1, 1) for a single label." if arr.ndim == 1 else ""
        raise ValueError(
            f"`{name}` must be a 0/1 indicator matrix of shape (n_samples, num_labels). "
            f"Received: {name}.shape={arr.shape}.{hint}"
        )
    if arr.shape[0] < min_samples:
        raise ValueError(f"`{name}` has no examples. Received: {name}.shape={arr.shape}")
    if arr.shape[1] < min_labels:
        raise ValueError(
            f"`{name}` must have at least {min_labels} labels (columns). "
            f"Received: {name}.shape={arr.shape}"
        )
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        rows = np.unique(np.nonzero(np.isnan(arr))[0])
        raise ValueError(
            f"`{name}` contains NaN in {len(rows)} rows (first rows: {rows[:5].tolist()}). "
            "Fix or drop those rows explicitly."
        )
    if arr.dtype != bool and arr.size:
        is_01 = (arr == 0) | (arr == 1)
        if not is_01.all():
            bad = np.unique(arr[~is_01])[:5]
            raise ValueError(
                f"`{name}` must be a 0/1 indicator matrix holding only 0 and 1. "
                f"Received values other than 0 and 1: {bad.tolist()}"
            )
    return arr.astype(dtype, copy=False)


def check_scores(scores: Any, name: str = "scores", *, shape: Sequence[int] | None = None,
                 like: str = "y_true", probabilities: bool = True,
                 dtype: Any = np.float64) -> np.ndarray:
    """Return ``scores`` as a finite float array (of ``shape`` when given) or raise.

    With ``probabilities=True`` the values must lie in [0, 1].
    """
    scores = to_numpy(scores)
    try:
        scores = np.asarray(scores, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a numeric array. "
            f"Received: {name}.dtype={np.asarray(scores).dtype}"
        ) from None
    if shape is not None and scores.shape != tuple(shape):
        raise ValueError(
            f"`{name}` must have the same shape as `{like}`. Received: "
            f"{name}.shape={scores.shape}, {like}.shape={tuple(shape)}"
        )
    if probabilities and scores.size and scores.dtype.kind == "f":
        # one pass each for min and max, no mask: NaN and infinities fail this range
        # check too, and then the checks below name what is wrong
        if 0.0 <= scores.min() and scores.max() <= 1.0:
            return scores
    finite = np.isfinite(scores)
    if not finite.all():
        raise ValueError(
            f"`{name}` contains NaN or infinite values "
            f"({int((~finite).sum())} of {scores.size})."
        )
    if probabilities and scores.size and (scores.min() < 0.0 or scores.max() > 1.0):
        raise ValueError(
            f"`{name}` must hold probabilities in [0, 1]. Received values in "
            f"[{scores.min()!r}, {scores.max()!r}]. For logits, apply a sigmoid "
            "first, or pass from_logits=True."
        )
    return scores


def check_shapes(y_true_shape: Sequence[int | None],
                 y_pred_shape: Sequence[int | None]) -> None:
    """Static check: ``(batch_size, num_labels)`` for both, and the same shape."""
    for name, shape in (("y_true", y_true_shape), ("y_pred", y_pred_shape)):
        if len(shape) != 2:
            raise ValueError(
                f"`{name}` must have shape (batch_size, num_labels). "
                f"Received: {name}.shape={tuple(shape)}"
            )
    for a, b in zip(y_true_shape, y_pred_shape):
        if a is not None and b is not None and a != b:
            raise ValueError(
                "`y_true` and `y_pred` must have the same shape. Received: "
                f"y_true.shape={tuple(y_true_shape)}, y_pred.shape={tuple(y_pred_shape)}"
            )


def check_values(y_true: Any, y_pred: Any, *, from_logits: bool) -> None:
    """Value checks on concrete arrays (call only when inputs are concrete)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.size and not np.isin(y_true, (0, 1)).all():
        bad = np.unique(y_true[~np.isin(y_true, (0, 1))])[:5]
        raise ValueError(
            "`y_true` must be a 0/1 indicator matrix of shape (batch_size, "
            f"num_labels). Received values other than 0 and 1: {bad.tolist()}"
        )
    if not np.isfinite(y_pred).all():
        raise ValueError(
            "`y_pred` contains NaN or infinite values "
            f"({int((~np.isfinite(y_pred)).sum())} of {y_pred.size})."
        )
    if not from_logits and y_pred.size and (y_pred.min() < 0 or y_pred.max() > 1):
        raise ValueError(
            "With from_logits=False, `y_pred` must hold probabilities in [0, 1]. "
            f"Received values in [{y_pred.min()}, {y_pred.max()}]. Pass logits with "
            "from_logits=True."
        )
