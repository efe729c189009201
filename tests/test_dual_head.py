"""The dual head (issue 20): one trunk, a decision head trained with sigmoidF1 and a
score head trained with λ·BCE, one output of 2·num_labels logits; the loss, the layer,
the compiled metrics on the decision half, and training on TensorFlow, PyTorch and JAX."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import VLAP
from conftest import run_on_backend

HERE = Path(__file__).parent


def _case(seed=0, n=16, labels=4):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < 0.4).astype("float32")
    return y, rng.normal(size=(n, labels)).astype("float32"), \
        rng.normal(size=(n, labels)).astype("float32")


def test_each_term_sees_its_own_half():
    y, decide, score = _case()
    both = np.concatenate([decide, score], axis=1)
    total = float(VLAP.losses.dual_head(y, both, weight=0.3))
    f1 = float(VLAP.losses.sigmoid_f1(y, decide))
    bce = float(keras.ops.mean(VLAP.losses.binary_crossentropy(y, score)))
    assert total == pytest.approx(f1 + 0.3 * bce, abs=1e-5)
    # the score head never enters the surrogate: with weight 0 it is irrelevant
    other = np.concatenate([decide, score + 5.0], axis=1)
    assert float(VLAP.losses.dual_head(y, other, weight=0.0)) == pytest.approx(f1, abs=1e-6)


def test_gradients_reach_each_head_from_its_own_term():
    """The surrogate's gradient lies in the decision columns only, λ·BCE's in the score
    columns only; both finite and non-zero (on the current backend)."""
    from test_losses import _grad

    y, decide, score = _case(seed=2)
    both = np.concatenate([decide, score], axis=1)
    f1_only = _grad(lambda u: VLAP.losses.dual_head(y, u, weight=0.0), both)
    total = _grad(lambda u: VLAP.losses.dual_head(y, u, weight=0.5), both)
    assert np.isfinite(total).all()
    assert np.abs(f1_only[:, :4]).sum() > 0 and np.abs(f1_only[:, 4:]).max() == 0
    assert np.abs(total[:, 4:]).sum() > 0
    np.testing.assert_allclose(total[:, :4], f1_only[:, :4], rtol=1e-5, atol=1e-7)


def test_dtype_of_the_value():
    if keras.config.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip("JAX computes float64 only with jax_enable_x64")
    loss = VLAP.losses.DualHead(dtype="float64")
    y, decide, score = _case()
    value = loss(y, np.concatenate([decide, score], axis=1).astype("float64"))
    assert keras.backend.standardize_dtype(value.dtype) == "float64"


def test_loss_is_registered_and_round_trips():
    loss = VLAP.losses.get("dual_head", weight=0.1, surrogate_kwargs={"beta": 10.0})
    assert isinstance(loss, VLAP.losses.DualHead) and loss.outputs_per_label == 2
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is VLAP.losses.DualHead
    assert again.get_config() == loss.get_config()


def test_bad_shapes_are_clear_errors():
    y, decide, _ = _case()
    with pytest.raises(ValueError, match="2 \\* num_labels columns"):
        VLAP.losses.dual_head(y, decide[:, :3])
    with pytest.raises(ValueError, match="for 4 labels has 8 columns"):
        VLAP.losses.dual_head(y, decide)


def test_metrics_score_the_decision_half():
    y, decide, score = _case()
    m = VLAP.training.compile.DecisionHeadF1(average="macro")
    m.update_state(y, np.concatenate([decide, -score], axis=1))
    plain = VLAP.metrics.MultilabelF1(average="macro")
    plain.update_state(y, decide)
    assert float(m.result()) == pytest.approx(float(plain.result()))


def test_train_checks_the_output_width():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    data = VLAP.data.create_dataset(np.zeros((8, 5), "float32"), np.zeros((8, 3), "float32"),
                                    batch_size=4)
    with pytest.raises(ValueError, match="a dual-head loss needs 6"):
        VLAP.train(model, data, data, 3, loss="dual_head", epochs=1, verbose=0)


def test_threshold_free_monitors_read_their_head():
    """monitor="val_f1_macro_tuned": the decision head's tuned F1, the score head's mAP."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = (x[:, :3] > 0).astype("float32")
    ds = VLAP.data.create_dataset(x, y, batch_size=16, seed=0)
    # in row order: the tuned figure is out of fold, its folds dealt by row position
    val = VLAP.data.create_dataset(x, y, batch_size=16, is_training=False)
    model = keras.Sequential([keras.Input((5,)), VLAP.models.DualHeadLogits(3)])
    model, history = VLAP.train(model, ds, val, 3, loss="dual_head", epochs=1, seed=0,
                                verbose=0, monitor="val_f1_macro_tuned")
    logits = model.predict(x, verbose=0).astype(np.float64)
    scores = 1 / (1 + np.exp(-logits))
    from VLAP.training.monitors import mean_average_precision, tuned_macro_f1_oof

    assert history.history["val_map"][-1] == pytest.approx(
        mean_average_precision(y, scores[:, 3:]))
    assert history.history["val_f1_macro_tuned"][-1] == pytest.approx(
        tuned_macro_f1_oof(y, logits[:, :3]))


def test_build_model_dual_head():
    from types import SimpleNamespace

    from VLAP.experiments.runner import build_model

    prep = SimpleNamespace(x_train=np.zeros((4, 7)), num_labels=5)
    model = build_model({"kind": "mlp", "hidden": [8], "head": "dual"}, prep)
    assert model.outputs[0].shape[-1] == 10
    assert isinstance(model.layers[-1], VLAP.models.DualHeadLogits)
    with pytest.raises(ValueError, match="needs an MLP"):
        build_model({"kind": "image", "head": "dual"}, prep)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "torch", "jax"])
def test_dual_head_trains_saves_and_reloads(backend, tmp_path):
    pytest.importorskip({"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}[backend])
    proc = run_on_backend(backend, [str(HERE / "_dual_head_worker.py"), str(tmp_path)])
    assert proc.returncode == 0, f"{backend}:\n{proc.stderr[-4000:]}"
    line = [l for l in proc.stdout.splitlines() if l.startswith("VLAP-RESULT ")][-1]
    out = json.loads(line[len("VLAP-RESULT "):])
    assert out["shape"] == [64, 6] and out["loss"] == "DualHead"
    assert {"f1_macro", "val_f1_macro", "mean_predicted_labels"} <= set(out["logs"])
    assert out["f1_finite"] and out["reload_max_diff"] < 1e-5
    assert {"val_map", "val_f1_macro_tuned"} <= set(out["monitored"])
