"""Label lists -> 0/1 matrices, fitted on the training part only (the paper's ``VLAP.binarize``)."""

from __future__ import annotations

import numbers
import warnings
from collections import Counter
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
from sklearn.preprocessing import MultiLabelBinarizer

from VLAP._validation import check_positive_int as _check_positive_int
from VLAP._validation import is_missing as _is_missing


#: ``(Y_train, Y_val, Y_test, label_names)``: float32 0/1 matrices. Y_val and Y_test are
#: None when that part was not given: typed Any, since which one it is depends on the
#: call's values (an Optional would make every caller that passed the part check for None).
Binarized = tuple[np.ndarray, Any, Any, list[Any]]


@overload
def binarize(y_train: Any, y_val: Any = ..., y_test: Any = ..., *, min_count: int | None = ...,
             top_n: int | None = ..., return_report: Literal[False] = ...) -> Binarized: ...
@overload
def binarize(y_train: Any, y_val: Any = ..., y_test: Any = ..., *, min_count: int | None = ...,
             top_n: int | None = ...,
             return_report: Literal[True]) -> tuple[np.ndarray, Any, Any, list[Any],
                                                    dict[str, Any]]: ...
@overload
def binarize(y_train: Any, y_val: Any = ..., y_test: Any = ..., *, min_count: int | None = ...,
             top_n: int | None = ..., return_report: bool) -> tuple[Any, ...]: ...
def binarize(y_train: Any, y_val: Any = None, y_test: Any = None, *, min_count: int | None = None,
             top_n: int | None = None, return_report: bool = False) -> tuple[Any, ...]:
    """Turn label lists into float32 0/1 matrices with the label set of `y_train`.

    The label set is fitted on `y_train` only (sklearn's `MultiLabelBinarizer`),
    in sorted order. Labels that appear only in `y_val`/`y_test` cannot be
    predicted by a model trained on `y_train`; their occurrences are counted and
    reported with `warnings.warn` (and in the report), never dropped silently.

    Args:
        y_train: sequence of label lists (list, numpy array or pandas Series whose
            rows are lists, tuples or sets of str/int labels). An empty list is a
            valid row (an example with no label) and is counted in the report.
            NaN/None rows or labels raise a ValueError naming the row.
        y_val: same type as `y_train`, or None.
        y_test: same type as `y_train`, or None.
        min_count: int or None. Keep only labels with at least `min_count`
            training examples (the paper's rare-label cut).
        top_n: int or None. Keep only the `top_n` most frequent training labels
            (ties broken by label name). Applied after `min_count`.
        return_report: bool. If True, also return a dict with the counts: label
            frequencies, labels cut by `min_count`/`top_n`, labels unseen in
            training per part, rows left without any label per part.

    Every argument after `y_test` is keyword-only.

    Returns:
        tuple. `(Y_train, Y_val, Y_test, label_names)` where each `Y_*` is a
        float32 array of shape (n_rows, num_labels) or None when the matching
        input is None, and `label_names` is a list of the column labels. With
        `return_report=True`, a fifth item: the report dict.

    Example:
    >>> import warnings
    >>> with warnings.catch_warnings():  # 'c' is only in y_val: a UserWarning
    ...     warnings.simplefilter("ignore")
    ...     Y_train, Y_val, _, names = binarize([["a", "b"], ["b"]], [["b", "c"]])
    >>> names
    ['a', 'b']
    >>> Y_train.tolist(), Y_val.tolist()
    ([[1.0, 1.0], [0.0, 1.0]], [[0.0, 1.0]])
    """
    _check_positive_int("min_count", min_count, allow_none=True)
    _check_positive_int("top_n", top_n, allow_none=True)
    if not isinstance(return_report, bool):
        raise TypeError(f"`return_report` must be a bool. Received: return_report={return_report!r}")

    parts = {"y_train": y_train, "y_val": y_val, "y_test": y_test}
    rows = {name: _check_label_lists(y, name) for name, y in parts.items() if y is not None}
    if not rows["y_train"]:
        raise ValueError("`y_train` is empty: binarize needs at least one training row.")

    counts = Counter(label for row in rows["y_train"] for label in row)
    kept = sorted(counts, key=_sort_key)
    cut_min: dict[Any, int] = {}
    cut_top: dict[Any, int] = {}
    if min_count is not None:
        cut_min = {lab: counts[lab] for lab in kept if counts[lab] < min_count}
        kept = [lab for lab in kept if counts[lab] >= min_count]
    if top_n is not None and len(kept) > top_n:
        ranked = sorted(kept, key=lambda lab: (-counts[lab], _sort_key(lab)))
        keep = set(ranked[:top_n])
        cut_top = {lab: counts[lab] for lab in ranked[top_n:]}
        kept = [lab for lab in kept if lab in keep]
    if not kept:
        raise ValueError(
            f"No label is left after the cut (min_count={min_count!r}, top_n={top_n!r}); "
            f"the most frequent training label has {max(counts.values(), default=0)} examples."
        )

    mlb = MultiLabelBinarizer(classes=kept)
    mlb.fit([kept])
    kept_set = set(kept)
    train_set = set(counts)
    report: dict[str, Any] = {
        "label_names": list(kept),
        "train_label_counts": dict(sorted(counts.items(), key=lambda kv: _sort_key(kv[0]))),
        "cut_by_min_count": cut_min,
        "cut_by_top_n": cut_top,
        "unseen_in_train": {},
        "rows_without_labels": {},
        "rows_emptied_by_cut": {},
    }
    outputs: dict[str, np.ndarray] = {}  # a part not given has no entry (None)
    for name in ("y_train", "y_val", "y_test"):
        if name not in rows:
            continue
        part = rows[name]
        report["rows_without_labels"][name] = sum(1 for row in part if not row)
        report["rows_emptied_by_cut"][name] = sum(
            1 for row in part if row and not (set(row) & kept_set)
        )
        if name != "y_train":
            unseen = Counter(lab for row in part for lab in row if lab not in train_set)
            if unseen:
                report["unseen_in_train"][name] = dict(unseen.most_common())
                shown = ", ".join(f"{lab!r}: {c}" for lab, c in unseen.most_common(10))
                warnings.warn(
                    f"{len(unseen)} label(s) of `{name}` never occur in `y_train` and get no "
                    f"column ({sum(unseen.values())} occurrences in "
                    f"{sum(1 for row in part if set(row) - train_set)} rows): {shown}"
                    f"{', ...' if len(unseen) > 10 else ''}",
                    UserWarning,
                    stacklevel=2,
                )
        filtered = [[lab for lab in row if lab in kept_set] for row in part]
        outputs[name] = mlb.transform(filtered).astype("float32") if filtered else np.zeros(
            (0, len(kept)), dtype="float32"
        )

    result = (outputs["y_train"], outputs.get("y_val"), outputs.get("y_test"), list(kept))
    return (*result, report) if return_report else result


def _sort_key(label: Any) -> tuple[str, Any]:
    return (str(type(label).__name__), label)


def _check_label_lists(y: Any, name: str) -> list[tuple[Any, ...]]:
    """Return `y` as a list of tuples of labels, or raise naming the argument and row."""
    if isinstance(y, (str, bytes)):
        raise TypeError(f"`{name}` must be a sequence of label lists. Received a string: {y!r}")
    if isinstance(y, pd.DataFrame) or (isinstance(y, np.ndarray) and y.ndim == 2 and y.dtype != object):
        raise TypeError(
            f"`{name}` looks like a label matrix (shape {np.shape(y)}); binarize expects "
            "one list of labels per row. A 0/1 matrix needs no binarizing."
        )
    if isinstance(y, (pd.Series, np.ndarray)):
        y = y.tolist()
    if not hasattr(y, "__iter__"):
        raise TypeError(f"`{name}` must be a sequence of label lists. Received: {type(y).__name__}")
    out = []
    label_type = None
    for i, row in enumerate(y):
        if isinstance(row, (str, bytes)):
            raise TypeError(
                f"`{name}` row {i} is a string ({row!r}), expected a list of labels. Wrap "
                "single labels in a list, or split delimited strings explicitly."
            )
        if not isinstance(row, (list, tuple, set, frozenset, np.ndarray)):
            if _is_missing(row):
                raise ValueError(
                    f"`{name}` row {i} is missing (NaN/None). Use an empty list for an "
                    "example without labels, or drop the row."
                )
            raise TypeError(f"`{name}` row {i} must be a list of labels. Received: {row!r}")
        row = list(row.tolist() if isinstance(row, np.ndarray) else row)
        for lab in row:
            if _is_missing(lab):
                raise ValueError(f"`{name}` row {i} contains a missing label (NaN/None): {row!r}")
            if isinstance(lab, bool) or not isinstance(lab, (str, numbers.Integral)):
                raise TypeError(
                    f"Labels must be str or int. `{name}` row {i} has {type(lab).__name__}: {lab!r}"
                )
            kind = "str" if isinstance(lab, str) else "int"
            if label_type is None:
                label_type = kind
            elif kind != label_type:
                raise TypeError(
                    f"Labels must all be str or all be int. `{name}` row {i} mixes in {lab!r}."
                )
        out.append(tuple(dict.fromkeys(row)))  # drop repeated labels within a row
    return out
