"""Tests for VLAP.metrics: stateful thresholded multilabel metrics."""

import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import backend_runs_for, random_multilabel
from sklearn.metrics import f1_score, precision_score, recall_score

import VLAP
from VLAP.metrics import (
    LabelCountMAE,
    MeanPredictedLabels,
    MultilabelF1,
    MultilabelPrecision,
    MultilabelRecall,
)

ROOT = Path(__file__).resolve().parents[1]
SKLEARN = {MultilabelF1: f1_score, MultilabelPrecision: precision_score,
           MultilabelRecall: recall_score}
CLASSES = list(SKLEARN)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _run_batches(metric, y, y_pred, batch_size=16, sample_weight=None):
    for start in range(0, len(y), batch_size):
        sl = slice(start, start + batch_size)
        sw = None if sample_weight is None else sample_weight[sl]
        metric.update_state(y[sl], y_pred[sl], sample_weight=sw)
    return keras.ops.convert_to_numpy(metric.result())


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_equals_sklearn_on_concatenated_batches(cls, average):
    y, logits = random_multilabel(n=70, num_labels=6, seed=1)
    got = _run_batches(cls(average=average), y, logits, batch_size=16)
    want = SKLEARN[cls](y, logits > 0, average=average, zero_division=0)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_accumulates_counts_not_per_batch_scores():
    y, logits = random_multilabel(n=64, num_labels=5, seed=2)
    metric = MultilabelF1()
    whole = _run_batches(MultilabelF1(), y, logits, batch_size=64)
    batched = _run_batches(metric, y, logits, batch_size=7)
    per_batch_mean = np.mean([
        f1_score(y[i:i + 7], logits[i:i + 7] > 0, average="macro", zero_division=0)
        for i in range(0, 64, 7)
    ])
    assert np.isclose(batched, whole, atol=1e-6)
    assert not np.isclose(batched, per_batch_mean, atol=1e-3)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("from_logits", [True, False])
def test_threshold_is_on_probability(threshold, from_logits):
    y, logits = random_multilabel(n=50, num_labels=4, seed=3)
    probs = _sigmoid(logits.astype("float64")).astype("float32")
    metric = MultilabelF1(average="micro", threshold=threshold, from_logits=from_logits)
    got = _run_batches(metric, y, logits if from_logits else probs)
    want = f1_score(y, probs > threshold, average="micro", zero_division=0)
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_sample_weight_matches_sklearn(cls, average):
    y, logits = random_multilabel(n=40, num_labels=5, seed=4)
    w = np.random.default_rng(0).uniform(0.0, 2.0, size=40).astype("float32")
    got = _run_batches(cls(average=average), y, logits, sample_weight=w)
    want = SKLEARN[cls](y, logits > 0, average=average, sample_weight=w,
                        zero_division=0)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("cls", CLASSES)
def test_edge_cases_match_sklearn_zero_division_0(cls):
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], "float32")  # label 2: no positives
    nothing = np.full_like(y, -5.0)  # no predicted labels at all
    perfect = np.where(y == 1, 5.0, -5.0).astype("float32")
    for logits in (nothing, perfect):
        for average in ("macro", "micro", "weighted"):
            got = _run_batches(cls(average=average), y, logits)
            want = SKLEARN[cls](y, logits > 0, average=average, zero_division=0)
            np.testing.assert_allclose(got, want, atol=1e-6)


def test_hand_computed_and_reset():
    # label 0: tp 2 fp 1 fn 0 -> 0.8; label 1: 1.0; label 2: tp 0 fp 1 fn 1 -> 0
    metric = MultilabelF1(num_labels=3)
    metric.update_state([[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, -0.5], [0.5, 1.5, -2.0]])
    metric.update_state([[1, 1, 0]], [[1.0, 0.3, 0.2]])
    assert round(float(metric.result()), 4) == 0.6
    metric.reset_state()
    assert float(metric.result()) == 0.0
    metric.update_state([[1, 0, 0]], [[1.0, -1.0, -1.0]])
    assert round(float(metric.result()), 4) == round(1 / 3, 4)


def test_result_before_update_is_zero():
    assert float(MultilabelF1().result()) == 0.0


def test_label_count_metrics():
    y, logits = random_multilabel(n=45, num_labels=6, seed=5)
    pred_count = (logits > 0).sum(1)
    true_count = y.sum(1)
    got_mean = _run_batches(MeanPredictedLabels(), y, logits)
    got_mae = _run_batches(LabelCountMAE(), y, logits)
    np.testing.assert_allclose(got_mean, pred_count.mean(), atol=1e-5)
    np.testing.assert_allclose(got_mae, np.abs(pred_count - true_count).mean(), atol=1e-5)
    w = np.linspace(0.0, 1.0, 45).astype("float32")
    got_w = _run_batches(MeanPredictedLabels(), y, logits, sample_weight=w)
    np.testing.assert_allclose(got_w, np.average(pred_count, weights=w), atol=1e-5)


@pytest.mark.parametrize("metric", [
    MultilabelF1(average="micro", threshold=0.3, from_logits=False, name="f"),
    MultilabelPrecision(average=None, num_labels=4),
    MultilabelRecall(average="weighted"),
    MeanPredictedLabels(threshold=0.7),
    LabelCountMAE(from_logits=False),
])
def test_config_round_trip(metric):
    config = metric.get_config()
    clone = type(metric).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(metric))
    assert type(restored) is type(metric)
    assert restored.get_config() == config
    assert keras.saving.get_registered_name(type(metric)).startswith("VLAP>")


def test_default_names_match_evaluate_rows():
    assert MultilabelF1().name == "f1_macro"
    assert MultilabelRecall(average="micro").name == "recall_micro"
    assert MultilabelPrecision(average=None).name == "precision_per_label"
    assert MeanPredictedLabels().name == "mean_predicted_labels"
    assert LabelCountMAE().name == "label_count_mae"


def test_get_and_training_metrics():
    for name in VLAP.metrics.NAMES:
        assert VLAP.metrics.get(name).name == name
    metric = MultilabelF1()
    assert VLAP.metrics.get(metric) is metric
    with pytest.raises(ValueError, match="identifier"):
        VLAP.metrics.get("accuracy")
    with pytest.raises(TypeError, match="identifier"):
        VLAP.metrics.get(3)
    names = [m.name for m in VLAP.metrics.training_metrics(num_labels=3)]
    assert names == ["f1_macro", "f1_micro", "mean_predicted_labels"]


@pytest.mark.parametrize("kwargs,error,match", [
    ({"average": "samples"}, ValueError, "average"),
    ({"threshold": 1.0}, ValueError, "threshold"),
    ({"threshold": 0}, ValueError, "threshold"),
    ({"threshold": "0.5"}, TypeError, "threshold"),
    ({"threshold": True}, TypeError, "threshold"),
    ({"from_logits": 1}, TypeError, "from_logits"),
    ({"num_labels": 0}, ValueError, "num_labels"),
])
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        MultilabelF1(**kwargs)


def test_shape_errors():
    with pytest.raises(ValueError, match="y_pred"):
        MultilabelF1().update_state(np.zeros((4, 3)), np.zeros((4,)))
    with pytest.raises(ValueError, match="same number of labels"):
        MultilabelF1().update_state(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="built for 3 labels"):
        MultilabelF1(num_labels=3).update_state(np.zeros((4, 2)), np.zeros((4, 2)))


def _tiny_model(num_labels, num_features=8, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((num_features,))
    outputs = keras.layers.Dense(num_labels)(inputs)
    return keras.Model(inputs, outputs)


def test_in_compiled_training_equals_sklearn_and_reloads(tmp_path):
    y, _ = random_multilabel(n=96, num_labels=5, seed=6)
    x = np.random.default_rng(6).normal(size=(96, 8)).astype("float32")
    model = _tiny_model(5)
    model.compile(optimizer="adam",
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=VLAP.metrics.training_metrics() + [LabelCountMAE()])
    history = model.fit(x, y, batch_size=32, epochs=2, validation_data=(x, y),
                        verbose=0)
    assert "val_f1_macro" in history.history
    results = model.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    logits = model.predict(x, verbose=0)
    assert np.isclose(results["f1_macro"],
                      f1_score(y, logits > 0, average="macro", zero_division=0),
                      atol=1e-5)
    assert np.isclose(results["f1_micro"],
                      f1_score(y, logits > 0, average="micro", zero_division=0),
                      atol=1e-5)

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    again = reloaded.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    for name in ("f1_macro", "f1_micro", "mean_predicted_labels", "label_count_mae"):
        assert np.isclose(again[name], results[name], atol=1e-5), name
    compiled = str(reloaded.get_compile_config()["metrics"])
    assert "VLAP>MultilabelF1" in compiled and "VLAP>LabelCountMAE" in compiled


_BACKEND_SCRIPT = textwrap.dedent("""
    import numpy as np, keras, sys
    sys.path.insert(0, "tests")
    from conftest import backend_runs_for, random_multilabel
    from sklearn.metrics import f1_score, recall_score
    from VLAP.metrics import MultilabelF1, MultilabelRecall, MeanPredictedLabels
    assert keras.config.backend() == sys.argv[1], keras.config.backend()
    y, logits = random_multilabel(n=60, num_labels=4, seed=7)
    for avg in ("macro", "micro", "weighted"):
        m = MultilabelF1(average=avg)
        for i in range(0, 60, 16):
            m.update_state(y[i:i + 16], logits[i:i + 16])
        want = f1_score(y, logits > 0, average=avg, zero_division=0)
        assert abs(float(m.result()) - want) < 1e-6, (avg, float(m.result()), want)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(60, 8)).astype("float32")
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[MultilabelF1(), MultilabelRecall(average="micro"),
                           MeanPredictedLabels()])
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    res = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0) > 0
    assert abs(res["f1_macro"] - f1_score(y, pred, average="macro", zero_division=0)) < 1e-5
    assert abs(res["recall_micro"] - recall_score(y, pred, average="micro")) < 1e-5
    assert abs(res["mean_predicted_labels"] - pred.sum(1).mean()) < 1e-5
    print("OK")
""")


_BACKENDS = ("torch", "jax")


@pytest.fixture(scope="module", autouse=True)
def backend_runs(request):
    """Start the torch/jax subprocesses first, so they overlap the other tests."""
    yield from backend_runs_for(request, "test_other_backends_in_subprocess",
                                lambda backend: ["-c", _BACKEND_SCRIPT, backend])


@pytest.mark.parametrize("backend", _BACKENDS)
def test_other_backends_in_subprocess(backend, backend_runs):
    if backend not in backend_runs:
        pytest.skip(f"{backend} is not installed")
    stdout, stderr = backend_runs[backend].communicate(timeout=300)
    assert backend_runs[backend].returncode == 0 and "OK" in stdout, stderr[-3000:]
