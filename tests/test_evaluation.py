"""Tests for VLAP.evaluation: every score against scikit-learn, thresholds, errors."""

import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import random_multilabel
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    hamming_loss,
    jaccard_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

import VLAP
from VLAP.evaluation import (
    METRIC_NAMES,
    PAPER_NAMING,
    PER_LABEL_COLUMNS,
    evaluate,
    evaluate_predictions,
)
from VLAP.inference import predict_scores, tune_thresholds
from VLAP.inference.decision import tune_cut_points

EXPECTED_NAMES = [
    "f1_micro", "f1_macro", "f1_weighted", "f1_samples",
    "precision_micro", "precision_macro", "precision_weighted", "precision_samples",
    "recall_micro", "recall_macro", "recall_weighted", "recall_samples",
    "hamming_loss", "subset_accuracy", "jaccard_samples", "jaccard_macro",
    "average_precision_macro", "average_precision_micro",
    "roc_auc_macro", "roc_auc_micro",
    "label_count_mae", "label_count_accuracy",
    "mean_predicted_labels", "mean_true_labels",
    "precision_at_1", "precision_at_3", "precision_at_5",
    "recall_at_1", "recall_at_3", "recall_at_5",
    "ndcg_at_1", "ndcg_at_3", "ndcg_at_5",
    "label_ranking_average_precision", "coverage_error", "label_ranking_loss",
    "f1_macro_present", "average_precision_macro_present",  # issue 27: appended last
]


def _probs(logits):
    return 1.0 / (1.0 + np.exp(-logits.astype("float64")))


def _sklearn_reference(y, scores, y_pred):
    """Every metric, straight from scikit-learn / NumPy."""
    ref = {}
    for name, fn in (("f1", f1_score), ("precision", precision_score),
                     ("recall", recall_score)):
        for avg in ("micro", "macro", "weighted", "samples"):
            ref[f"{name}_{avg}"] = fn(y, y_pred, average=avg, zero_division=0)
    ref["hamming_loss"] = hamming_loss(y, y_pred)
    ref["subset_accuracy"] = accuracy_score(y, y_pred)
    ref["jaccard_samples"] = jaccard_score(y, y_pred, average="samples", zero_division=0)
    ref["jaccard_macro"] = jaccard_score(y, y_pred, average="macro", zero_division=0)
    pos = y.sum(0)
    keep = (pos > 0) & (pos < len(y))
    ref["average_precision_macro"] = (
        average_precision_score(y[:, keep], scores[:, keep], average="macro")
        if keep.sum() > 1 else np.nan)
    ref["roc_auc_macro"] = (roc_auc_score(y[:, keep], scores[:, keep], average="macro")
                            if keep.sum() > 1 else np.nan)
    ref["average_precision_micro"] = average_precision_score(y, scores, average="micro")
    ref["roc_auc_micro"] = roc_auc_score(y, scores, average="micro")
    pc, tc = y_pred.sum(1), y.sum(1)
    ref["label_count_mae"] = np.abs(pc - tc).mean()
    ref["label_count_accuracy"] = (pc == tc).mean()
    ref["mean_predicted_labels"] = pc.mean()
    ref["mean_true_labels"] = tc.mean()
    present = pos > 0
    ref["f1_macro_present"] = (f1_score(y[:, present], y_pred[:, present], average="macro",
                                        zero_division=0) if present.any() else np.nan)
    ref["average_precision_macro_present"] = (
        average_precision_score(y[:, present], scores[:, present], average="macro")
        if present.sum() > 1 else np.nan)
    return ref


def _assert_matches(df, ref):
    for name, want in ref.items():
        got = df.loc[name, "value"]
        if np.isnan(want):
            assert np.isnan(got), name
        else:
            assert np.isclose(got, want, atol=1e-10), (name, got, want)


def test_row_names_and_layout():
    y, logits = random_multilabel(n=30, num_labels=4, seed=0)
    df = evaluate_predictions(y, _probs(logits))
    assert list(df.index) == EXPECTED_NAMES == list(METRIC_NAMES)
    assert list(df.columns) == ["value"]
    assert df.index.name == "metric"
    assert df["value"].dtype == np.float64
    assert df.attrs["threshold"] == 0.5
    assert df.attrs["threshold_strategy"] == "fixed"
    assert "scikit-learn's names" in df.attrs["naming_note"]
    # the paper's tables were made by sklearn f1_score(average="macro") for macroF1
    assert PAPER_NAMING == {"paper_macroF1": "f1_macro", "paper_microF1": "f1_micro",
                            "paper_weightedF1": "f1_weighted"}
    assert df.attrs["paper_naming"] == PAPER_NAMING
    assert (df.attrs["n_samples"], df.attrs["num_labels"]) == (30, 4)


@pytest.mark.parametrize("seed,n,num_labels,p", [(0, 80, 6, 0.3), (1, 40, 12, 0.1),
                                                 (2, 25, 3, 0.6)])
@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.85])
def test_every_metric_equals_sklearn_on_random_inputs(seed, n, num_labels, p, threshold):
    y, logits = random_multilabel(n=n, num_labels=num_labels, seed=seed, p=p)
    scores = _probs(logits)
    df = evaluate_predictions(y, scores, threshold=threshold)
    _assert_matches(df, _sklearn_reference(y, scores, (scores > threshold).astype(int)))


def test_hand_checked_tiny_example():
    y = [[1, 0, 1], [0, 1, 0], [1, 1, 0]]
    s = [[0.9, 0.2, 0.4], [0.6, 0.7, 0.1], [0.8, 0.3, 0.2]]
    # predictions [[1,0,0],[1,1,0],[1,0,0]]; per label (tp, fp, fn):
    # a (2,1,0) F1 .8, b (1,0,1) F1 2/3, c (0,0,1) F1 0 -> pooled (3,1,2)
    df, table = evaluate_predictions(y, s, label_names=["a", "b", "c"], per_label=True)
    v = df["value"]
    assert np.isclose(v["f1_macro"], (0.8 + 2 / 3 + 0) / 3)
    assert np.isclose(v["f1_micro"], 6 / 9)
    assert np.isclose(v["precision_micro"], 3 / 4)
    assert np.isclose(v["recall_micro"], 3 / 5)
    assert np.isclose(v["f1_weighted"], (2 * 0.8 + 2 * (2 / 3) + 1 * 0) / 5)
    assert np.isclose(v["hamming_loss"], 3 / 9)
    assert v["subset_accuracy"] == 0.0
    # samples: each row has tp 1 and one error -> F1 2/3, Jaccard 1/2
    assert np.isclose(v["f1_samples"], 2 / 3)
    assert np.isclose(v["jaccard_samples"], 1 / 2)
    assert np.isclose(v["label_count_mae"], 1.0)
    assert v["label_count_accuracy"] == 0.0
    assert np.isclose(v["mean_predicted_labels"], 4 / 3)
    assert np.isclose(v["mean_true_labels"], 5 / 3)
    # label a: scores of positives .9 .8 above the negative .6 -> AP 1, AUC 1
    assert table.loc["a", "average_precision"] == 1.0 and table.loc["a", "roc_auc"] == 1.0
    # label c: one positive (.4), highest score -> AP 1, AUC 1
    assert table.loc["c", "roc_auc"] == 1.0
    # label b: positives .7 .3, negative .2 -> AUC 1; AP 1
    assert np.isclose(v["roc_auc_macro"], 1.0)
    assert list(table.columns) == list(PER_LABEL_COLUMNS)
    assert table["support"].tolist() == [2, 2, 1]
    assert table["predicted"].tolist() == [3, 1, 0]
    assert np.allclose(table["f1"], [0.8, 2 / 3, 0.0])
    assert np.allclose(table["precision"], [2 / 3, 1.0, 0.0])
    assert np.allclose(table["recall"], [1.0, 0.5, 0.0])
    assert table["threshold"].tolist() == [0.5, 0.5, 0.5]
    assert table.index.tolist() == ["a", "b", "c"]


def test_label_without_positives_is_excluded_from_macro_ranking_scores():
    y, logits = random_multilabel(n=50, num_labels=5, seed=3)
    y[:, 2] = 0.0  # no positives
    y[:, 4] = 1.0  # no negatives
    scores = _probs(logits)
    with pytest.warns(UserWarning, match="2 of 5 labels"):
        df, table = evaluate_predictions(y, scores, per_label=True,
                                         label_names=list("abcde"))
    assert df.attrs["excluded_labels"] == ["c", "e"]
    _assert_matches(df, _sklearn_reference(y, scores, (scores > 0.5).astype(int)))
    assert np.isnan(table.loc["c", "average_precision"])
    assert np.isnan(table.loc["e", "roc_auc"])
    assert np.isclose(df.loc["roc_auc_macro", "value"],
                      table["roc_auc"].dropna().mean())
    # the *_present rows: labels with a positive (e has no negative: AP 1, as sklearn)
    from sklearn.metrics import average_precision_score, f1_score

    keep = [0, 1, 3, 4]
    p = (scores > 0.5).astype(int)
    assert df.attrs["labels_without_positives"] == ["c"]
    assert df.loc["f1_macro_present", "value"] == pytest.approx(
        f1_score(y[:, keep], p[:, keep], average="macro", zero_division=0), abs=1e-12)
    assert df.loc["average_precision_macro_present", "value"] == pytest.approx(
        average_precision_score(y[:, keep], scores[:, keep], average="macro"), abs=1e-12)


def test_labels_left_out_are_named_once_with_the_rows_they_leave():
    y = np.array([[1, 0, 1], [1, 0, 0], [1, 0, 1]])
    with pytest.warns(UserWarning) as caught:
        evaluate_predictions(y, [[0.9, 0.1, 0.6], [0.4, 0.2, 0.3], [0.8, 0.3, 0.7]],
                             label_names=["sky", "sea", "sun"])
    messages = [str(w.message) for w in caught if "left out" in str(w.message)]
    assert len(messages) == 1
    assert "1 with no positive example" in messages[0] and ": sea" in messages[0]
    assert "f1_macro_present" in messages[0]
    assert "1 with no negative example" in messages[0] and ": sky" in messages[0]


def test_no_label_left_gives_nan():
    y = np.array([[1, 0], [1, 0]])
    with pytest.warns(UserWarning, match="no label left"):
        df = evaluate_predictions(y, [[0.9, 0.1], [0.4, 0.2]])
    assert np.isnan(df.loc["average_precision_macro", "value"])
    assert np.isnan(df.loc["roc_auc_macro", "value"])
    assert np.isfinite(df.loc["roc_auc_micro", "value"])


def test_no_predicted_labels_at_all():
    y, logits = random_multilabel(n=30, num_labels=4, seed=4)
    scores = _probs(logits) * 0.4  # all below 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero_division=0: no sklearn warnings
        df = evaluate_predictions(y, scores)
    _assert_matches(df, _sklearn_reference(y, scores, np.zeros_like(y, dtype=int)))
    v = df["value"]
    assert v["f1_macro"] == v["precision_micro"] == v["recall_samples"] == 0.0
    assert v["mean_predicted_labels"] == 0.0
    assert np.isclose(v["label_count_mae"], y.sum(1).mean())


def test_everything_correct():
    y, _ = random_multilabel(n=30, num_labels=4, seed=5)
    scores = np.where(y == 1, 0.9, 0.1)
    v = evaluate_predictions(y, scores)["value"]
    samples = [n for n in EXPECTED_NAMES if n.endswith("_samples")]
    others = [n for n in EXPECTED_NAMES[:12] if n not in samples]
    for name in others + ["subset_accuracy", "jaccard_macro", "average_precision_macro",
                          "roc_auc_micro", "label_count_accuracy"]:
        assert v[name] == 1.0, name
    assert v["hamming_loss"] == 0.0 and v["label_count_mae"] == 0.0
    # zero_division=0, as scikit-learn: an example with no true and no predicted
    # label scores 0 in the *_samples averages (row 1 of random_multilabel)
    has_label = (y.sum(1) > 0).mean()
    assert has_label < 1
    for name in samples:
        assert np.isclose(v[name], has_label), name


def test_single_example():
    y = [[1, 0, 1]]
    s = [[0.7, 0.6, 0.2]]
    with pytest.warns(UserWarning, match="3 of 3 labels"):
        v = evaluate_predictions(y, s)["value"]
    assert np.isclose(v["f1_samples"], f1_score(y, [[1, 1, 0]], average="samples"))
    assert np.isclose(v["hamming_loss"], 2 / 3)
    assert np.isnan(v["roc_auc_macro"])
    assert np.isclose(v["roc_auc_micro"], roc_auc_score([1, 0, 1], [0.7, 0.6, 0.2]))


def test_per_label_threshold_array():
    y, logits = random_multilabel(n=60, num_labels=4, seed=6)
    scores = _probs(logits)
    t = np.array([0.2, 0.4, 0.6, 0.8])
    df, table = evaluate_predictions(y, scores, threshold=t, per_label=True)
    _assert_matches(df, _sklearn_reference(y, scores, (scores > t).astype(int)))
    assert df.attrs["threshold_strategy"] == "per_label"
    assert df.attrs["threshold"] == t.tolist()
    assert table["threshold"].tolist() == t.tolist()


def test_tuned_thresholds_improve_or_equal_val_f1_per_label():
    y_val, logits_val = random_multilabel(n=120, num_labels=6, seed=7, p=0.2)
    s_val = _probs(logits_val)
    t = tune_thresholds(y_val, s_val)
    tuned = f1_score(y_val, s_val > t, average=None, zero_division=0)
    default = f1_score(y_val, s_val > 0.5, average=None, zero_division=0)
    assert (tuned >= default - 1e-12).all()
    assert (tuned > default).any()
    # brute force: no threshold on a fine grid beats the tuned one
    grid = np.concatenate([np.linspace(0, 1, 201), s_val.ravel()])
    pred = s_val[None, :, :] > grid[:, None, None]  # (grid, n, labels)
    tp = (pred & (y_val == 1)).sum(1)
    f1_grid = 2 * tp / (pred.sum(1) + y_val.sum(0))
    assert np.allclose(tuned, f1_grid.max(0))

    y, logits = random_multilabel(n=50, num_labels=6, seed=8, p=0.2)
    df, table = evaluate_predictions(y, _probs(logits), threshold="tuned",
                                     y_val=y_val, scores_val=s_val, per_label=True)
    assert df.attrs["threshold_strategy"] == "tuned"
    assert np.allclose(table["threshold"], t)
    _assert_matches(df, _sklearn_reference(y, _probs(logits),
                                           (_probs(logits) > t).astype(int)))


def test_tuned_with_label_without_val_positives_keeps_default():
    y_val = np.array([[1, 0], [0, 0], [1, 0]])
    with pytest.warns(UserWarning, match="1 of 2 labels"):
        t = tune_thresholds(y_val, [[0.9, 0.3], [0.2, 0.1], [0.6, 0.8]])
    assert t[1] == 0.5 and 0.2 < t[0] < 0.6


def test_top_k_predicts_exactly_k_per_row():
    y, logits = random_multilabel(n=40, num_labels=7, seed=9)
    scores = _probs(logits)
    for k in (1, 3, 7):
        df = evaluate_predictions(y, scores, top_k=k)
        idx = np.argsort(-scores, axis=1)[:, :k]
        y_pred = np.zeros_like(y, dtype=int)
        np.put_along_axis(y_pred, idx, 1, axis=1)
        assert df.loc["mean_predicted_labels", "value"] == k
        assert df.attrs["threshold_strategy"] == "top_k" and df.attrs["top_k"] == k
        assert df.attrs["threshold"] is None
        _assert_matches(df, _sklearn_reference(y, scores, y_pred))
    tied = evaluate_predictions(y, np.full_like(scores, 0.5), top_k=2)
    assert tied.loc["mean_predicted_labels", "value"] == 2


@pytest.mark.parametrize("kwargs,error,match", [
    ({"y_true": [1, 0, 1]}, ValueError, r"`y_true` must be a 0/1 indicator matrix .*reshape"),
    ({"y_true": [[1, 2], [0, 1]]}, ValueError, r"`y_true` .*other than 0 and 1: \[2\]"),
    ({"y_true": [[1], [0]], "scores": [[0.1], [0.2]]}, ValueError, "at least 2 labels"),
    ({"y_true": [["a", "b"]]}, TypeError, "y_true"),
    ({"scores": [[0.1, 0.2]]}, ValueError, r"`scores` must have the same shape .*\(1, 2\)"),
    ({"scores": [[0.1, np.nan], [0.2, 0.3]]}, ValueError, "`scores` contains NaN"),
    ({"scores": [[1.5, 0.2], [0.2, 0.3]]}, ValueError, r"`scores` must hold probabilities in \[0, 1\]"),
    ({"label_names": ["a"]}, ValueError, "`label_names` .*expected 2, received 1"),
    ({"label_names": ["a", "a"]}, ValueError, "`label_names` must be unique"),
    ({"label_names": "ab"}, TypeError, "label_names"),
    ({"threshold": 1.2}, ValueError, r"`threshold` must be a probability .*threshold=1.2"),
    ({"threshold": "best"}, ValueError, r"`threshold`.*'tuned'.*threshold='best'"),
    ({"threshold": [0.5, 0.5, 0.5]}, ValueError, r"shape \(num_labels,\) = \(2,\)"),
    ({"threshold": "tuned"}, ValueError, "y_val"),
    ({"top_k": 3}, ValueError, r"`top_k` must be between 1 and num_labels=2.*top_k=3"),
    ({"top_k": 1.5}, TypeError, "top_k"),
    ({"top_k": 1, "threshold": 0.3}, ValueError, "either `threshold` or `top_k`"),
    ({"threshold": "tuned", "y_val": [[1, 0, 0]], "scores_val": [[0.1, 0.1, 0.1]]},
     ValueError, "`y_val` must have num_labels=2"),
    ({"per_label": "yes"}, TypeError, "per_label"),
])
def test_input_errors(kwargs, error, match):
    args = {"y_true": [[1, 0], [0, 1]], "scores": [[0.9, 0.1], [0.2, 0.7]]}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        evaluate_predictions(**args)


def test_unused_validation_data_warns():
    y, s = [[1, 0], [0, 1]], [[0.9, 0.1], [0.2, 0.7]]
    with pytest.warns(UserWarning, match="only used with threshold='tuned'"):
        evaluate_predictions(y, s, y_val=y, scores_val=s)


# --- evaluate on a Keras model -------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    y, _ = random_multilabel(n=50, num_labels=4, seed=10)
    x = np.random.default_rng(10).normal(size=(50, 6)).astype("float32")
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    return model, x, y


def test_evaluate_tuple_and_dataset_agree(tiny):
    tf = pytest.importorskip("tensorflow")
    model, x, y = tiny
    probs = _probs(model.predict(x, verbose=0))
    df_tuple = VLAP.evaluate(model, (x, y), label_names=list("wxyz"))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    df_ds, table = evaluate(model, ds, label_names=list("wxyz"), per_label=True)
    assert VLAP.evaluate is evaluate
    np.testing.assert_allclose(df_tuple["value"], df_ds["value"], atol=1e-6)
    _assert_matches_loose(df_tuple, _sklearn_reference(y, probs, (probs > 0.5).astype(int)))
    assert table.index.tolist() == list("wxyz")

    # a shuffled dataset is read once: labels and predictions stay aligned
    shuffled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(50, seed=1).batch(8)
    df_sh = evaluate(model, shuffled)
    np.testing.assert_allclose(df_sh["value"], df_tuple["value"], atol=1e-6)


def _assert_matches_loose(df, ref):
    for name, want in ref.items():
        assert np.isclose(df.loc[name, "value"], want, atol=1e-6, equal_nan=True), name


def test_evaluate_tuned_and_top_k_and_probabilities(tiny):
    model, x, y = tiny
    val = (x[:25], y[:25])
    df = evaluate(model, (x[25:], y[25:]), threshold="tuned", val_data=val)
    y_val, logits_val = predict_scores(model, val, from_logits=False)  # raw logits
    cuts = tune_cut_points(y_val, logits_val)
    assert np.allclose(df.attrs["threshold"], 1 / (1 + np.exp(-cuts)))
    with pytest.raises(ValueError, match="val_data"):
        evaluate(model, (x, y), threshold="tuned")
    top = evaluate(model, (x, y), top_k=2)
    assert top.loc["mean_predicted_labels", "value"] == 2.0

    class ProbabilityModel:  # anything with .predict
        def predict(self, inputs):
            return _probs(keras.ops.convert_to_numpy(model(inputs)))

    df_p = evaluate(ProbabilityModel(), (x, y), from_logits=False)
    df_l = evaluate(model, (x, y))
    np.testing.assert_allclose(df_p["value"], df_l["value"], atol=1e-6)


def test_predict_scores_outputs_and_errors(tiny):
    model, x, y = tiny

    class DictModel:
        def predict(self, inputs, verbose=0):
            return {"logits": keras.ops.convert_to_numpy(model(inputs))}

    y_true, probs = predict_scores(DictModel(), (x, y))
    assert y_true.shape == probs.shape == (50, 4)
    assert ((probs > 0) & (probs < 1)).all()
    with pytest.raises(TypeError, match="`model` must have a `predict` method"):
        predict_scores(object(), (x, y))
    with pytest.raises(ValueError, match="shape of the labels"):
        predict_scores(model, (x, y[:, :3]))
    with pytest.raises(TypeError, match="`data` must be"):
        predict_scores(model, x)
    with pytest.raises(ValueError, match="Each batch of `data`"):
        predict_scores(model, iter([x[:5], x[5:10]]))
    with pytest.raises(ValueError, match="no batches"):
        predict_scores(model, iter([]))
    with pytest.raises(TypeError, match="from_logits"):
        predict_scores(model, (x, y), from_logits="yes")


def test_evaluate_returns_dataframe_usable_downstream(tiny):
    model, x, y = tiny
    df = evaluate(model, (x, y))
    assert isinstance(df, pd.DataFrame)
    row = df["value"].to_dict()
    assert set(row) == set(EXPECTED_NAMES)
