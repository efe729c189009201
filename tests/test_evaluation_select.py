"""A report that computes what is asked (issue 29, item 3).

* ``metrics=`` names of the report's own rows: only those rows, in that order,
  equal to the full report's values, and the paths no selected row needs are
  not run (checked by making them fail);
* the pooled micro AP/AUROC from the per-label sorted keys (a sample-sort merge,
  :func:`VLAP.evaluation.ranking.merged_micro_scores`) and from one sort (what
  the report uses) equal scikit-learn's, whatever the ties and however small
  the pieces.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

import VLAP
from VLAP.evaluation import (
    METRIC_NAMES,
    Metric,
    MultilabelEvaluator,
    evaluate_predictions,
    ranking,
)
from VLAP.evaluation import streaming as streaming_module
from VLAP.evaluation.metric_table import select_metrics

TOL = 1e-9
MACRO = ["f1_macro", "precision_macro", "recall_macro", "jaccard_macro",
         "average_precision_macro", "roc_auc_macro"]


@st.composite
def tied_scores(draw, max_n=50, max_labels=6):
    """(y, scores): continuous, 2-decimal, few-level or all-equal scores; some
    labels without positives (or negatives)."""
    n = draw(st.integers(1, max_n))
    num_labels = draw(st.integers(1, max_labels))
    r = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["continuous", "decimals", "levels", "equal"]))
    scores = r.random((n, num_labels))
    if kind == "decimals":
        scores = np.round(scores, 2)
    elif kind == "levels":
        scores = r.integers(0, 3, (n, num_labels)) / 2.0
    elif kind == "equal":
        scores = np.full((n, num_labels), draw(st.sampled_from([0.0, 0.5, 1.0])))
    y = (r.random((n, num_labels)) < draw(st.sampled_from([0.02, 0.3, 0.9]))).astype(np.uint8)
    for j in range(num_labels):
        mode = draw(st.sampled_from(["free", "free", "zeros", "ones"]))
        if mode != "free":
            y[:, j] = mode == "ones"
    return y, scores.astype(draw(st.sampled_from([np.float64, np.float32])))


def _row_sorted_keys(y, s):
    keys = ranking.transposed_keys([(y, s)], y.shape[1])
    keys.sort(axis=1)
    return keys


@settings(max_examples=300, deadline=None)
@given(tied_scores(), st.sampled_from([1, 2, 3, 8, 64, 1 << 20]))
def test_merged_micro_equals_sklearn(data, chunk):
    y, s = data
    keys = _row_sorted_keys(y, s)
    before = keys.copy()
    ap, auc = ranking.merged_micro_scores(keys, chunk_elements=chunk)
    np.testing.assert_array_equal(keys, before)  # the keys are left as they are
    if 0 < y.sum() < y.size:
        assert abs(ap - average_precision_score(y.ravel(), s.ravel())) <= TOL
        assert abs(auc - roc_auc_score(y.ravel(), s.ravel())) <= TOL
        flat = ranking.sorted_micro_scores(ranking.pack_keys(s, y))
        assert abs(ap - flat[0]) <= TOL and abs(auc - flat[1]) <= TOL
    else:
        assert np.isnan(ap) and np.isnan(auc)


@pytest.mark.parametrize("slice_rows", [4096, 0])  # pieces gathered by slices, by index
def test_merged_micro_heavy_ties_across_pieces(monkeypatch, slice_rows):
    """A score held by most entries, across every label, is a piece of its own;
    the 2-decimal scores around it are gathered in many small pieces."""
    monkeypatch.setattr(ranking, "SLICE_ROWS", slice_rows)
    r = np.random.default_rng(3)
    s = np.round(r.random((2000, 9)), 2)
    s[r.random(s.shape) < 0.6] = 0.37
    y = (r.random(s.shape) < 0.1).astype(np.uint8)
    y[:, 4] = 0  # a label without positives
    keys = _row_sorted_keys(y, s.astype(np.float32))
    ref = (average_precision_score(y.ravel(), s.astype(np.float32).ravel()),
           roc_auc_score(y.ravel(), s.astype(np.float32).ravel()))
    for chunk in (16, 500, 4096, 1 << 20):
        ap, auc = ranking.merged_micro_scores(keys, int(y.sum()), chunk_elements=chunk)
        assert abs(ap - ref[0]) <= TOL and abs(auc - ref[1]) <= TOL


def _data(seed=0, n=120, num_labels=6):
    r = np.random.default_rng(seed)
    y = (r.random((n, num_labels)) < 0.3).astype(np.uint8)
    return y, np.round(r.random((n, num_labels)), 2)


def test_default_report_is_every_row():
    y, s = _data()
    df = evaluate_predictions(y, s)
    assert list(df.index) == list(METRIC_NAMES)
    assert df.attrs["ks"] == [1, 3, 5]


@pytest.mark.parametrize("names", [
    MACRO,
    ["roc_auc_micro", "f1_micro"],
    ["ndcg_at_3", "hamming_loss", "average_precision_micro"],
    ["label_ranking_loss", "average_precision_macro_present", "f1_macro_present"],
    list(reversed(METRIC_NAMES)),
])
def test_selection_equals_the_full_report(names):
    y, s = _data()
    full = evaluate_predictions(y, s)["value"]
    df = evaluate_predictions(y, s, metrics=names)
    assert list(df.index) == names
    np.testing.assert_allclose(df["value"].to_numpy(), full[names].to_numpy(), rtol=0, atol=0)


def test_selection_any_k_and_ks_attr():
    y, s = _data()
    df = evaluate_predictions(y, s, metrics=["precision_at_2", "ndcg_at_4", "ndcg_at_2"])
    ref = evaluate_predictions(y, s, ks=(2, 4))["value"]
    assert df.attrs["ks"] == [2, 4]
    for name in df.index:
        assert df.loc[name, "value"] == ref[name]


def _fail(*args, **kwargs):
    raise AssertionError("computed although no selected row needs it")


def test_macro_only_skips_the_micro_merge_and_per_example_sort(monkeypatch):
    y, s = _data()
    full = evaluate_predictions(y, s)["value"]
    monkeypatch.setattr(streaming_module, "sorted_micro_scores", _fail)
    monkeypatch.setattr(streaming_module, "ExampleRankingSums", _fail)
    df = evaluate_predictions(y, s, metrics=MACRO)
    assert df["value"].to_dict() == full[MACRO].to_dict()


def test_micro_only_sorts_all_keys_once(monkeypatch):
    """No transpose and no per-label sort; float32 and float64 batches mixed."""
    y, s = _data(n=200)
    s32 = s.astype(np.float32)
    whole = np.concatenate([s32[:80].astype(np.float64), s[80:]])
    full = evaluate_predictions(y, whole)["value"]
    monkeypatch.setattr(streaming_module, "transposed_keys", _fail)
    monkeypatch.setattr(streaming_module, "sorted_label_scores", _fail)
    ev = MultilabelEvaluator(metrics=["roc_auc_micro", "average_precision_micro"])
    ev.update(y[:80], s32[:80])
    ev.update(y[80:], s[80:])
    df = ev.result()
    assert df["value"].to_dict() == full[["roc_auc_micro", "average_precision_micro"]].to_dict()
    assert abs(df.loc["roc_auc_micro", "value"] - roc_auc_score(y.ravel(), whole.ravel())) <= TOL


def test_thresholded_only_keeps_no_scores(monkeypatch):
    y, s = _data()
    ref = evaluate_predictions(y, s)["value"]
    monkeypatch.setattr(streaming_module, "transposed_keys", _fail)
    monkeypatch.setattr(streaming_module, "ExampleRankingSums", _fail)
    ev = MultilabelEvaluator(metrics=["f1_macro", "subset_accuracy"])
    ev.update(y, s)
    assert ev._blocks == []
    assert ev.result()["value"].to_dict() == ref[["f1_macro", "subset_accuracy"]].to_dict()


def test_per_label_table_with_a_selection():
    y, s = _data()
    _, full = evaluate_predictions(y, s, per_label=True)
    df, table = evaluate_predictions(y, s, per_label=True, metrics=["f1_micro"])
    assert list(df.index) == ["f1_micro"]
    np.testing.assert_array_equal(table["average_precision"], full["average_precision"])
    ev = MultilabelEvaluator(metrics=["f1_micro"])
    ev.update(y, s)
    assert ev.result(per_label=True)[1]["roc_auc"].isna().all()  # not asked for


def test_selection_with_metrics_of_yours():
    y, s = _data()

    def false_positives(y_true, decisions, scores):
        return float(np.sum(decisions & (1 - y_true)))

    df = evaluate_predictions(y, s, metrics=[false_positives, "f1_macro",
                                             Metric("fp_count", lambda tp, fp, tn, fn:
                                                    float(fp.sum()), computed_by="confusion")])
    assert list(df.index) == ["false_positives", "f1_macro", "fp_count"]
    assert df.loc["false_positives", "value"] == df.loc["fp_count", "value"]
    alone = evaluate_predictions(y, s, metrics=[false_positives])  # no built-in name: all rows
    assert list(alone.index) == list(METRIC_NAMES) + ["false_positives"]


def test_selection_binned():
    y, s = _data()
    ref = evaluate_predictions(y, s, ranking_bins=16)
    df = evaluate_predictions(y, s, ranking_bins=16, metrics=["roc_auc_micro", "f1_macro"])
    assert df["value"].to_dict() == ref["value"][["roc_auc_micro", "f1_macro"]].to_dict()


def test_selection_warnings_only_for_selected_rows():
    y, s = _data()
    y[:, 2] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_predictions(y, s, metrics=["f1_micro", "roc_auc_micro"])
    with pytest.warns(UserWarning, match="left out of label averages"):
        evaluate_predictions(y, s, metrics=["average_precision_macro"])


@pytest.mark.parametrize("bad, message", [
    (["f1_macr"], r"Unknown metric 'f1_macr'\. Did you mean 'f1_macro'\?.*Received: "
                  r"metrics='f1_macr'"),
    (["ndcg_at_0"], r"Unknown metric 'ndcg_at_0'"),
    (["map"], "validation monitor"),
    (["f1_macro", "f1_macro"], r"named once.*\['f1_macro'\]"),
])
def test_selection_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        select_metrics(bad)
    y, s = _data()
    with pytest.raises(ValueError, match=message):
        evaluate_predictions(y, s, metrics=bad)


def test_evaluate_model_with_a_selection():
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    r = np.random.default_rng(0)
    x = r.normal(size=(16, 4)).astype("float32")
    y = (r.random((16, 3)) < 0.5).astype("float32")
    full = VLAP.evaluate(model, (x, y))["value"]
    df = VLAP.evaluate(model, (x, y), metrics=["roc_auc_micro", "f1_macro"])
    assert list(df.index) == ["roc_auc_micro", "f1_macro"]
    assert df["value"].to_dict() == full[["roc_auc_micro", "f1_macro"]].to_dict()
    with pytest.raises(ValueError, match="Did you mean 'roc_auc_micro'"):
        VLAP.evaluate(model, (x, y), metrics=["roc_auc_mirco"])
