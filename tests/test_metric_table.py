"""The metric table: each report row declared once, read by every consumer, and user metrics.

The report's rows, order and values are pinned by a case computed by scikit-learn (below),
so the table cannot change a published number.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score, get_scorer, get_scorer_names

import VLAP
from VLAP.evaluation import METRIC_NAMES, MultilabelEvaluator, evaluate_predictions
from VLAP.evaluation.counts import ThresholdedCounts
from VLAP.evaluation.metric_table import (
    COMPUTED_BY,
    MONITOR_METRICS,
    REPORT_METRICS,
    Metric,
    check_metrics,
    get_metric,
    monitor_higher_is_better,
    register_metric,
    registered_metrics,
    report_metrics,
    unregister_metric,
)
from VLAP.evaluation.ranking import ExampleRankingSums
from VLAP.evaluation.streaming import metric_names

#: Inputs and expected report of a small case (16 examples, 5 labels; label 4 and
#: examples 2, 3 without positives), computed by scikit-learn (and NumPy for the rows it
#: lacks: precision@k, recall@k, label counts), not by VLAP. Row order = report order.
_Y_TRUE = [
    [1, 1, 1, 0, 0],
    [1, 0, 0, 1, 0],
    [0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
    [0, 1, 0, 0, 0],
    [0, 0, 1, 1, 0],
    [1, 0, 0, 0, 0],
    [1, 1, 0, 1, 0],
    [1, 0, 0, 0, 0],
    [0, 1, 1, 0, 0],
    [1, 0, 0, 1, 0],
    [0, 1, 0, 1, 0],
    [1, 1, 1, 0, 0],
    [0, 1, 0, 0, 0],
    [0, 1, 0, 0, 0],
    [0, 0, 0, 1, 0],
]
_SCORES = [
    [0.243, 0.0826, 0.454, 0.0081, 0.0239],
    [0.719, 0.4966, 0.1488, 0.6182, 0.4477],
    [0.264, 0.3006, 0.7786, 0.2847, 0.0711],
    [0.9325, 0.2802, 0.554, 0.4375, 0.9085],
    [0.1338, 0.2116, 0.5105, 0.4171, 0.5332],
    [0.888, 0.674, 0.4319, 0.7792, 0.3487],
    [0.4676, 0.8862, 0.1428, 0.5599, 0.9355],
    [0.8078, 0.5173, 0.9236, 0.9273, 0.6241],
    [0.1165, 0.561, 0.2704, 0.2639, 0.2325],
    [0.1472, 0.9361, 0.7708, 0.433, 0.1083],
    [0.9707, 0.2416, 0.9428, 0.6499, 0.0932],
    [0.2382, 0.4247, 0.4582, 0.7587, 0.0758],
    [0.2383, 0.7702, 0.0819, 0.9355, 0.3069],
    [0.4934, 0.604, 0.2889, 0.4919, 0.4663],
    [0.8183, 0.1183, 0.7325, 0.5536, 0.1102],
    [0.2518, 0.6657, 0.5203, 0.2886, 0.6151],
]
_EXPECTED = {
    "threshold_0.5": {
        'f1_micro': 0.43333333333333335,
        'f1_macro': 0.3684981684981685,
        'f1_weighted': 0.4873260073260073,
        'f1_samples': 0.37604166666666666,
        'precision_micro': 0.37142857142857144,
        'precision_macro': 0.35,
        'precision_weighted': 0.47,
        'precision_samples': 0.38125,
        'recall_micro': 0.52,
        'recall_macro': 0.4023809523809524,
        'recall_weighted': 0.52,
        'recall_samples': 0.3958333333333333,
        'hamming_loss': 0.425,
        'subset_accuracy': 0.1875,
        'jaccard_samples': 0.32916666666666666,
        'jaccard_macro': 0.255959595959596,
        'average_precision_macro': 0.5059326090576091,
        'average_precision_micro': 0.40630525826171393,
        'roc_auc_macro': 0.5209945436507937,
        'roc_auc_micro': 0.5643636363636364,
        'label_count_mae': 1.25,
        'label_count_accuracy': 0.25,
        'mean_predicted_labels': 2.1875,
        'mean_true_labels': 1.5625,
        'precision_at_1': 0.4375,
        'precision_at_3': 0.33333333333333326,
        'precision_at_5': 0.31250000000000006,
        'recall_at_1': 0.22916666666666663,
        'recall_at_3': 0.46875,
        'recall_at_5': 0.875,
        'ndcg_at_1': 0.4375,
        'ndcg_at_3': 0.4516433990956823,
        'ndcg_at_5': 0.6353195299504296,
        'label_ranking_average_precision': 0.6659722222222222,
        'coverage_error': 3.0625,
        'label_ranking_loss': 0.3854166666666667,
        # issue 27: the same averages over the labels with a positive (0-3, not 4), last
        'f1_macro_present': 0.46062271062271065,
        'average_precision_macro_present': 0.5059326090576091,
    },
    "top_k_2": {
        'f1_micro': 0.42105263157894735,
        'f1_macro': 0.3727072927072927,
        'f1_weighted': 0.47177622377622375,
        'f1_samples': 0.3604166666666666,
        'precision_micro': 0.375,
        'precision_macro': 0.37587301587301586,
        'precision_weighted': 0.48469841269841274,
        'precision_samples': 0.375,
        'recall_micro': 0.48,
        'recall_macro': 0.3940476190476191,
        'recall_weighted': 0.48,
        'recall_samples': 0.3645833333333333,
        'hamming_loss': 0.4125,
        'subset_accuracy': 0.125,
        'jaccard_samples': 0.29166666666666663,
        'jaccard_macro': 0.2551948051948052,
        'average_precision_macro': 0.5059326090576091,
        'average_precision_micro': 0.40630525826171393,
        'roc_auc_macro': 0.5209945436507937,
        'roc_auc_micro': 0.5643636363636364,
        'label_count_mae': 0.8125,
        'label_count_accuracy': 0.3125,
        'mean_predicted_labels': 2.0,
        'mean_true_labels': 1.5625,
        'precision_at_1': 0.4375,
        'precision_at_3': 0.33333333333333326,
        'precision_at_5': 0.31250000000000006,
        'recall_at_1': 0.22916666666666663,
        'recall_at_3': 0.46875,
        'recall_at_5': 0.875,
        'ndcg_at_1': 0.4375,
        'ndcg_at_3': 0.4516433990956823,
        'ndcg_at_5': 0.6353195299504296,
        'label_ranking_average_precision': 0.6659722222222222,
        'coverage_error': 3.0625,
        'label_ranking_loss': 0.3854166666666667,
        'f1_macro_present': 0.4658841158841159,
        'average_precision_macro_present': 0.5059326090576091,
    },
}


def _report(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # label 4 has no positive
        return evaluate_predictions(np.array(_Y_TRUE), np.array(_SCORES), **kwargs)


@pytest.fixture
def registry():
    """Registered metrics added by a test are removed after it."""
    before = {m.name for m in registered_metrics()}
    yield
    for m in registered_metrics():
        if m.name not in before:
            unregister_metric(m.name)


# --- the report is unchanged -------------------------------------------------------


@pytest.mark.parametrize("case,kwargs", [("threshold_0.5", {}), ("top_k_2", {"top_k": 2})])
def test_report_rows_order_and_values_equal_scikit_learn(case, kwargs):
    df = _report(**kwargs)
    assert list(df.index) == list(_EXPECTED[case]) == list(METRIC_NAMES)
    np.testing.assert_allclose(df["value"].to_numpy(), list(_EXPECTED[case].values()),
                               rtol=0, atol=1e-12)


def test_streaming_result_equals_the_report_batch_by_batch():
    ev = MultilabelEvaluator(top_k=2)
    y, s = np.array(_Y_TRUE), np.array(_SCORES)
    for rows in (slice(0, 5), slice(5, 6), slice(6, 16)):
        ev.update(y[rows], s[rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        df = ev.result()
    assert list(df.index) == list(_EXPECTED["top_k_2"])
    np.testing.assert_allclose(df["value"].to_numpy(), list(_EXPECTED["top_k_2"].values()),
                               rtol=0, atol=1e-12)


# --- one table entry per report row, and the other way round ------------------------


@pytest.mark.parametrize("ks", [(1, 3, 5), (2,), (10, 1)])
def test_every_report_row_has_exactly_one_table_entry_and_vice_versa(ks):
    rows = report_metrics(ks)
    names = [m.name for m in rows]
    assert len(set(names)) == len(names)
    assert metric_names(ks) == tuple(names)
    df = _report(ks=ks)
    assert list(df.index) == names
    # each path computes exactly the rows the table assigns to it
    y, s = np.array(_Y_TRUE, dtype=np.uint8), np.array(_SCORES)
    counts = ThresholdedCounts(y.shape[1])
    counts.update(y, s, threshold=0.5)
    ranking = ExampleRankingSums(y.shape[1], ks)
    ranking.update(y, s)
    by_path = {path: [m.name for m in rows if m.computed_by == path] for path in COMPUTED_BY}
    assert sorted(counts.metrics()) == sorted(by_path["counts"])
    assert sorted(ranking.metrics()) == sorted(by_path["example_ranking"])
    assert by_path["label_ranking"] == ["average_precision_macro", "average_precision_micro",
                                        "roc_auc_macro", "roc_auc_micro",
                                        "average_precision_macro_present"]
    assert all(by_path[p] == [] for p in ("validation_scores", "epoch_logs", "arrays",
                                          "confusion"))


def test_every_table_entry_is_complete_and_found_by_name():
    for template in REPORT_METRICS + MONITOR_METRICS:
        metric = template.at(7) if template.per_k else template
        assert get_metric(metric.name) == metric
        assert metric.header and metric.averaged_over is not None and metric.description
        assert metric.compute is None
    assert get_metric("precision_at_12").header == "P@12"
    with pytest.raises(ValueError, match="Unknown metric.*Received: name='precision_at_0'"):
        get_metric("precision_at_0")
    with pytest.raises(ValueError, match="Received: name='f1_macr'"):
        get_metric("f1_macr")


def test_averaged_over_says_what_each_row_averages_today():
    over = {m.name: m.averaged_over for m in report_metrics()}
    assert over["f1_macro"] == over["jaccard_macro"] == "labels"
    assert over["f1_weighted"] == "labels_by_support"
    assert over["average_precision_macro"] == over["roc_auc_macro"] == "labels_with_both"
    assert over["f1_micro"] == over["hamming_loss"] == over["roc_auc_micro"] == "entries"
    assert over["f1_samples"] == over["ndcg_at_3"] == over["label_count_mae"] == "examples"
    # "labels" keeps a label without positives (F1 0); "labels_with_both" leaves it out
    y, s = np.array(_Y_TRUE), np.array(_SCORES)
    p = (s > 0.5).astype(int)
    df = _report()
    assert df.loc["f1_macro", "value"] == pytest.approx(
        f1_score(y, p, average=None, zero_division=0).mean(), abs=1e-12)
    assert df.loc["f1_macro", "value"] != pytest.approx(
        f1_score(y[:, :4], p[:, :4], average="macro", zero_division=0), abs=1e-6)
    # the *_present rows name their label set: the labels with a positive (0-3)
    assert over["f1_macro_present"] == over["average_precision_macro_present"] \
        == "labels_with_positives"
    assert df.loc["f1_macro_present", "value"] == pytest.approx(
        f1_score(y[:, :4], p[:, :4], average="macro", zero_division=0), abs=1e-12)
    assert df.attrs["labels_without_positives"] == [4]


# --- directions -----------------------------------------------------------------------

#: scikit-learn's function of each table row that it has; its naming rule says the
#: direction: "*_score" is maximised, "*_loss" and "*_error" are minimised.
_SKLEARN_FUNCTION = {
    "f1": "f1_score", "precision": "precision_score", "recall": "recall_score",
    "jaccard": "jaccard_score", "average_precision": "average_precision_score",
    "roc_auc": "roc_auc_score", "ndcg": "ndcg_score", "hamming_loss": "hamming_loss",
    "subset_accuracy": "accuracy_score", "coverage_error": "coverage_error",
    "label_ranking_loss": "label_ranking_loss",
    "label_ranking_average_precision": "label_ranking_average_precision_score",
}


def _sklearn_function(name):
    if name.startswith(("precision_at_", "recall_at_")):
        return None  # no scikit-learn counterpart (see VLAP.evaluation.ranking)
    for prefix, function in _SKLEARN_FUNCTION.items():
        if name == prefix or name.startswith(prefix + "_"):
            return function
    return None


def test_directions_agree_with_scikit_learn():
    checked = 0
    for m in report_metrics():
        function = _sklearn_function(m.name)
        if function is not None:
            assert m.higher_is_better is function.endswith("_score"), m.name
            assert function.endswith(("_score", "_loss", "_error")), function
            checked += 1
        if m.name in get_scorer_names():  # scikit-learn's scorers: sign +1 = maximised
            assert get_scorer(m.name)._sign == (1 if m.higher_is_better else -1), m.name
    assert checked == 28  # 26, then the two *_present rows (issue 27)
    assert get_metric("label_count_mae").higher_is_better is False
    assert get_metric("label_count_accuracy").higher_is_better is True
    assert get_metric("mean_predicted_labels").best == "closest"
    assert get_metric("mean_true_labels").best is None


def test_checkpoint_monitor_and_keras_metrics_read_the_direction():
    from VLAP.metrics import NAMES, get
    from VLAP.training.monitors import MONITORS, SCORE_FUNCTIONS
    from VLAP.training.run_dir import RunCheckpoint

    for m in report_metrics() + MONITOR_METRICS:
        if m.higher_is_better is None:
            with pytest.raises(ValueError, match="has none"):
                RunCheckpoint(None, f"val_{m.name}")
            continue
        assert RunCheckpoint(None, f"val_{m.name}").sign == (1.0 if m.higher_is_better
                                                             else -1.0), m.name
        assert monitor_higher_is_better(m.name) is m.higher_is_better
    for name in NAMES:  # the Keras metrics' own names are table rows
        want = get_metric(name).higher_is_better
        assert getattr(get(name), "_direction", None) == (
            None if want is None else "up" if want else "down"), name
    assert MONITORS == ("val_f1_macro_tuned", "val_map")
    assert set(SCORE_FUNCTIONS) == {m.name for m in MONITOR_METRICS}


def test_loss_logs_are_minimised_and_unknown_monitors_refused(registry):
    from VLAP.training.run_dir import RunCheckpoint

    assert RunCheckpoint(None, "val_loss").sign == -1.0
    assert monitor_higher_is_better("val_sigmoid_f1_loss") is False
    with pytest.raises(ValueError, match="direction VLAP knows.*Received: monitor='val_f1macro'"):
        RunCheckpoint(None, "val_f1macro")
    with pytest.raises(ValueError, match="has none"):
        monitor_higher_is_better("val_mean_predicted_labels")
    # a log written by a callback of yours: registered for its direction only
    register_metric(Metric("my_auc", higher_is_better=True, computed_by="epoch_logs"))
    assert RunCheckpoint(None, "val_my_auc").sign == 1.0
    with pytest.raises(ValueError, match="computed_by='epoch_logs'"):
        check_metrics(["my_auc"])


def test_config_monitor_check_reads_the_table(tmp_path):
    import VLAP.experiments as ex

    for monitor, match in (("val_f1macro", "direction VLAP knows"),
                           ("val_mean_predicted_labels", "has none")):
        path = tmp_path / "c.toml"
        path.write_text(f'monitor = "{monitor}"\n\n[[datasets]]\nkind = "synthetic"\n')
        with pytest.raises(ex.ConfigError, match=match):
            ex.load_config(path)
    cfg = ex.load_config({"monitor": "val_map", "datasets": [{"kind": "synthetic"}]})
    assert cfg["monitor"] == "val_map"


# --- metrics of yours ---------------------------------------------------------------


def f2_macro(y_true, decisions, scores):
    return fbeta_score(y_true, decisions, beta=2, average="macro", zero_division=0)


def balanced_accuracy_macro(tp, fp, tn, fn):
    tpr = np.divide(tp, tp + fn, out=np.zeros(len(tp)), where=tp + fn > 0)
    tnr = np.divide(tn, tn + fp, out=np.zeros(len(tn)), where=tn + fp > 0)
    return float(np.mean((tpr + tnr) / 2))


def _balanced_by_hand(y, p):
    values = []
    for j in range(y.shape[1]):
        pos, neg = y[:, j] == 1, y[:, j] == 0
        tpr = (p[pos, j] == 1).mean() if pos.any() else 0.0
        tnr = (p[neg, j] == 0).mean() if neg.any() else 0.0
        values.append((tpr + tnr) / 2)
    return float(np.mean(values))


@pytest.mark.parametrize("kwargs,decide", [
    ({}, lambda s: (s > 0.5).astype(int)),
    ({"threshold": 0.3}, lambda s: (s > 0.3).astype(int)),
    ({"top_k": 2}, lambda s: (s >= np.sort(s, 1)[:, -2:-1]).astype(int)),
])
def test_user_metrics_in_report_and_streaming_equal_the_function_by_hand(kwargs, decide):
    y, s = np.array(_Y_TRUE), np.array(_SCORES)
    p = decide(s)
    metrics = [Metric("f2_macro", f2_macro, higher_is_better=True, header="macro-F2"),
               Metric("balanced_accuracy_macro", balanced_accuracy_macro,
                      higher_is_better=True, computed_by="confusion")]
    df = _report(metrics=metrics, **kwargs)
    assert list(df.index) == list(METRIC_NAMES) + ["f2_macro", "balanced_accuracy_macro"]
    assert df.loc["f2_macro", "value"] == pytest.approx(f2_macro(y, p, s), abs=1e-12)
    assert df.loc["balanced_accuracy_macro", "value"] == pytest.approx(
        _balanced_by_hand(y, p), abs=1e-12)
    # the built-in rows do not move
    np.testing.assert_array_equal(df["value"].to_numpy()[:len(METRIC_NAMES)],
                                  _report(**kwargs)["value"].to_numpy())
    ev = MultilabelEvaluator(metrics=metrics, **kwargs)
    for rows in (slice(0, 7), slice(7, 16)):
        ev.update(y[rows], s[rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        streamed = ev.result()
    # per-example sums add up batch by batch: equal to the last bits
    np.testing.assert_allclose(streamed["value"].to_numpy(), df["value"].to_numpy(),
                               rtol=0, atol=1e-12)


def test_user_metric_reads_given_decisions_and_the_arrays_as_documented():
    seen = {}

    def spy(y_true, decisions, scores):
        seen.update(y=y_true, p=decisions, s=scores)
        return 0.5

    y, s = np.array(_Y_TRUE), np.array(_SCORES, dtype=np.float32)
    own = np.zeros_like(y)
    own[:, 0] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        df = evaluate_predictions(y, s, metrics=[spy], decisions=own)
    assert df.loc["spy", "value"] == 0.5
    assert seen["y"].dtype == seen["p"].dtype == np.uint8 and seen["s"].dtype == np.float32
    np.testing.assert_array_equal(seen["p"], own)
    np.testing.assert_array_equal(seen["y"], y)
    assert df.loc["mean_predicted_labels", "value"] == 1.0  # counted the same decisions


def test_registered_metrics_by_name_and_decorator(registry):
    @register_metric(higher_is_better=False, header="FP per example")
    def false_positives_per_example(y_true, decisions, scores):
        return float(np.sum(decisions & (1 - y_true)) / len(y_true))

    assert false_positives_per_example.__name__ == "false_positives_per_example"  # unchanged
    df = _report(metrics=["false_positives_per_example"])
    y, s = np.array(_Y_TRUE), np.array(_SCORES)
    p = (s > 0.5).astype(int)
    assert df.loc["false_positives_per_example", "value"] == pytest.approx(
        ((p == 1) & (y == 0)).sum() / len(y))
    assert monitor_higher_is_better("val_false_positives_per_example") is False
    with pytest.raises(ValueError, match="already registered"):
        register_metric(Metric("false_positives_per_example", f2_macro))
    with pytest.raises(ValueError, match="built-in metric"):
        register_metric(Metric("f1_macro", f2_macro))
    with pytest.raises(ValueError, match="built-in metric"):
        register_metric(Metric("ndcg_at_20", f2_macro))


def test_bad_user_metrics_are_named():
    with pytest.raises(ValueError, match="not a report row's.*'f1_macro'"):
        check_metrics([Metric("f1_macro", f2_macro)])
    with pytest.raises(ValueError, match="unique.*'f2_macro'"):
        check_metrics([f2_macro, f2_macro])
    with pytest.raises(ValueError, match="ranking_bins"):
        MultilabelEvaluator(metrics=[f2_macro], ranking_bins=10)
    MultilabelEvaluator(ranking_bins=10, metrics=[Metric(
        "bal", balanced_accuracy_macro, computed_by="confusion")])  # counts stream
    with pytest.raises(ValueError, match="needs a name"):
        check_metrics([lambda y, p, s: 0.0])
    with pytest.raises(TypeError, match="Each of `metrics`.*Received: 3"):
        check_metrics([3])
    with pytest.raises(TypeError, match="not a dict"):
        check_metrics({"f2": f2_macro})
    with pytest.raises(TypeError, match="`compute` of metric 'x' must be a function"):
        Metric("x", None)
    with pytest.raises(ValueError, match="Received: name='my metric'"):
        Metric("my metric", f2_macro)
    with pytest.raises(TypeError, match="higher_is_better=1"):
        Metric("x", f2_macro, higher_is_better=1)
    with pytest.raises(TypeError, match="Metric 'bad' must return a real number"):
        _report(metrics=[Metric("bad", lambda y, p, s: np.ones(3))])


def test_keras_evaluate_reports_user_metrics_on_its_decisions():
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (rng.random((40, 3)) < 0.4).astype("float32")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    df = VLAP.evaluate(model, (x, y), metrics=[f2_macro])
    logits = np.asarray(model.predict(x, verbose=0))
    assert df.loc["f2_macro", "value"] == pytest.approx(
        f2_macro(y.astype(int), (logits > 0).astype(int), None), abs=1e-12)
    with pytest.raises(ValueError, match="ranking_bins"):
        VLAP.evaluate(model, (x, y), metrics=[f2_macro], ranking_bins=8)


# --- results tables -----------------------------------------------------------------


def _rows(values):
    """results.csv-like rows: {(loss, metric): value}."""
    return [{"dataset": "d", "loss": loss, "variant": "", "loss_kwargs": "{}", "seed": 0,
             "metric": metric, "value": value} for (loss, metric), value in values.items()]


def test_results_best_row_follows_the_table(registry):
    from VLAP.experiments.results import TABLE_COLUMNS, best_per_column, markdown_tables

    keys = [("a", "", "{}"), ("b", "", "{}")]
    cell = {}
    for i, name in enumerate(TABLE_COLUMNS):
        cell[(keys[0], name)], cell[(keys[1], name)] = 1.0 + i, 2.0 + i  # b higher
    best = best_per_column(cell, keys)
    for name in TABLE_COLUMNS:
        m = get_metric(name)
        if m.best == "max":
            assert best[name] == {keys[1]}, name
        elif m.best == "min":
            assert best[name] == {keys[0]}, name
        elif m.best is None:
            assert name not in best
    # mean #pred: closest to the mean of mean #true (6.5 and 7.5 -> 7.0): a (6.0) vs b (7.0)
    assert best["mean_predicted_labels"] == {keys[1]}
    # a metric of yours, registered: its header and direction in results.md
    register_metric(Metric("fp_rate", f2_macro, higher_is_better=False, header="FP rate"))
    values = {("sigmoid_f1", "f1_macro"): 0.6, ("binary_crossentropy", "f1_macro"): 0.5,
              ("sigmoid_f1", "fp_rate"): 0.30, ("binary_crossentropy", "fp_rate"): 0.20}
    md = markdown_tables(_rows(values), {"name": "x", "seeds": [0], "threshold": 0.5})
    assert "| loss | macro-F1 | micro-F1 |" in md and "| FP rate |" in md
    assert "| **0.200** |" in md and "FP rate: BCE" in md
    unregister_metric("fp_rate")  # an unregistered name is not a column
    assert "FP rate" not in markdown_tables(_rows(values), {"name": "x", "seeds": [0],
                                                            "threshold": 0.5})


# --- framework-free ----------------------------------------------------------------

_NO_FRAMEWORK = """
import importlib.abc, sys, types
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("keras", "tensorflow", "torch", "jax"):
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
import VLAP
package = types.ModuleType("VLAP.evaluation")  # the submodule alone, not the package init
package.__path__ = [VLAP.__path__[0] + "/evaluation"]
sys.modules["VLAP.evaluation"] = package
from VLAP.evaluation import metric_table
print(len(metric_table.report_metrics()), metric_table.monitor_higher_is_better("val_loss"))
"""


def test_the_table_imports_no_framework():
    out = subprocess.run([sys.executable, "-c", _NO_FRAMEWORK], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["38", "False"]
