import numpy as np
import pandas as pd
import pytest

from VLAP.data import binarize


def test_fitted_on_train_only_and_float32():
    Y_tr, Y_va, Y_te, names = binarize([["a", "b"], ["c"]], [["a"]], [["c", "b"]])
    assert names == ["a", "b", "c"]
    assert Y_tr.dtype == np.float32 and Y_tr.tolist() == [[1, 1, 0], [0, 0, 1]]
    assert Y_va.tolist() == [[1, 0, 0]] and Y_te.tolist() == [[0, 1, 1]]


def test_optional_parts_are_none():
    Y_tr, Y_va, Y_te, names = binarize(pd.Series([["x"], ["y"]]))
    assert Y_va is None and Y_te is None and Y_tr.shape == (2, 2)


def test_unseen_labels_warned_with_counts_and_reported():
    with pytest.warns(UserWarning, match=r"`y_test`.*'z': 2"):
        *_, report = binarize([["a"]], None, [["z"], ["z", "a"]], return_report=True)
    assert report["unseen_in_train"] == {"y_test": {"z": 2}}


def test_min_count_and_top_n_are_explicit_and_reported():
    y = [["a"], ["a", "b"], ["a", "c"], ["b"], ["d"]]
    Y, _, _, names, report = binarize(y, min_count=2, return_report=True)
    assert names == ["a", "b"]
    assert report["cut_by_min_count"] == {"c": 1, "d": 1}
    assert report["rows_emptied_by_cut"]["y_train"] == 1
    _, _, _, names, report = binarize(y, top_n=1, return_report=True)
    assert names == ["a"] and report["cut_by_top_n"] == {"b": 2, "c": 1, "d": 1}


def test_empty_label_list_is_an_all_zero_row_and_counted():
    Y, _, _, names, report = binarize([["a"], []], return_report=True)
    assert Y.tolist() == [[1.0], [0.0]]
    assert report["rows_without_labels"]["y_train"] == 1


@pytest.mark.parametrize(
    "y,exc,match",
    [
        ([["a"], np.nan], ValueError, "`y_train` row 1 is missing"),
        ([["a", None]], ValueError, "missing label"),
        (["a", "b"], TypeError, "row 0 is a string"),
        ([[1.5]], TypeError, "str or int"),
        ([["a", 1]], TypeError, "all be int"),
        (np.eye(3), TypeError, "label matrix"),
        ([], ValueError, "`y_train` is empty"),
    ],
)
def test_bad_label_lists(y, exc, match):
    with pytest.raises(exc, match=match):
        binarize(y)


def test_bad_options():
    with pytest.raises(ValueError, match="min_count"):
        binarize([["a"]], min_count=0)
    with pytest.raises(ValueError, match="top_n"):
        binarize([["a"]], top_n=1.5)
    with pytest.raises(ValueError, match="No label is left"):
        binarize([["a"]], min_count=5)
    with pytest.raises(ValueError, match="`y_val` row 0"):
        binarize([["a"]], [float("nan")])
