import numpy as np
import pandas as pd
import pytest

from VLAP.data import split


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.Series([f"text {i % 150}" for i in range(n)], index=np.arange(1000, 1000 + n))
    labels = ["a", "b", "c", "d", "rare"]
    y = pd.Series(
        [[lab for lab in labels[:4] if rng.random() < 0.4] + (["rare"] if i % 40 == 0 else [])
         for i in range(n)],
        index=X.index,
    )
    return X, y


def test_every_row_in_exactly_one_part_and_index_kept():
    X, y = _data()
    X_tr, X_va, X_te, y_tr, y_va, y_te = split(X, y)
    assert (len(X_tr), len(X_va), len(X_te)) == (120, 40, 40)
    idx = np.concatenate([X_tr.index, X_va.index, X_te.index])
    assert sorted(idx) == sorted(X.index)
    for xs, ys in ((X_tr, y_tr), (X_va, y_va), (X_te, y_te)):
        assert (xs.index == ys.index).all()


def test_sizes_add_up_for_awkward_n():
    X = list(range(7))
    parts = split(X, X, fractions=(0.6, 0.2, 0.2))
    assert sum(len(p) for p in parts[:3]) == 7
    assert sorted(sum(parts[:3], [])) == X


def test_seeded_and_seed_matters():
    X, y = _data()
    a = split(X, y, r=3)
    b = split(X, y, r=3)
    c = split(X, y, r=4)
    assert all((p.index == q.index).all() for p, q in zip(a, b))
    assert not (a[0].index.equals(c[0].index))


def test_numpy_list_and_dict_inputs():
    X = np.arange(20).reshape(10, 2)
    y = np.eye(10)[:, :3]
    out = split(X, y, r=0)
    assert isinstance(out[0], np.ndarray) and out[0].shape[1] == 2
    out = split(list("abcdefghij"), [[c] for c in "abcdefghij"], (0.5, 0.5))
    assert len(out) == 4 and isinstance(out[0], list)
    tokens = {"input_ids": np.arange(30).reshape(10, 3), "attention_mask": np.ones((10, 3))}
    out = split(tokens, y, r=0)
    assert set(out[0]) == {"input_ids", "attention_mask"} and len(out[0]["input_ids"]) == 6


def test_zero_validation_fraction_gives_empty_part():
    parts = split(list(range(10)), list(range(10)), fractions=(0.8, 0.0, 0.2))
    assert [len(p) for p in parts[:3]] == [8, 0, 2]


def test_stratify_puts_rare_label_in_every_part():
    X, y = _data(n=400)
    X_tr, X_va, X_te, y_tr, y_va, y_te = split(X, y, stratify=True, r=1)
    assert len(X_tr) + len(X_va) + len(X_te) == 400
    for part in (y_tr, y_va, y_te):
        assert sum("rare" in row for row in part) >= 1
    assert abs(len(X_tr) - 240) <= 4


def test_stratify_accepts_indicator_matrix():
    rng = np.random.default_rng(0)
    Y = (rng.random((100, 4)) < 0.3).astype(int)
    out = split(np.arange(100), Y, stratify=True)
    assert sum(len(p) for p in out[:3]) == 100


def test_group_duplicates_keeps_identical_texts_together():
    X, y = _data()
    X_tr, X_va, X_te, *_ = split(X, y, group_duplicates=True, r=5)
    assert not set(X_tr) & set(X_te) and not set(X_tr) & set(X_va) and not set(X_va) & set(X_te)
    X_tr, X_va, X_te, *_ = split(X, y, group_duplicates=True, stratify=True, r=5)
    assert not set(X_tr) & set(X_te)
    assert len(X_tr) + len(X_va) + len(X_te) == len(X)


@pytest.mark.parametrize(
    "fractions,match",
    [((0.5, 0.2, 0.2), "sum to 1"), ((1.2, -0.2), ">= 0"), ((1.0,), "2 or 3"),
     ((0.0, 0.5, 0.5), "train fraction"), ("0.6", "fractions")],
)
def test_bad_fractions(fractions, match):
    with pytest.raises((ValueError, TypeError), match=match):
        split([1, 2, 3], [1, 2, 3], fractions=fractions)


def test_mismatched_lengths_and_bad_seed():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        split([1, 2, 3], [1, 2])
    with pytest.raises(TypeError, match="`r`"):
        split([1, 2, 3], [1, 2, 3], r=0.5)
    with pytest.raises(ValueError, match="`X` is empty"):
        split([], [])


def test_stratify_rejects_missing_labels():
    with pytest.raises(ValueError, match="row 1"):
        split(["a", "b", "c"], [["x"], np.nan, ["y"]], stratify=True)
