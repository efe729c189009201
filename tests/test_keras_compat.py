"""One test per private member VLAP uses (VLAP/_compat.py): each fails when Keras,
keras-hub or TensorFlow changes what VLAP relies on, so the version range in
``VLAP._compat.VERIFIED`` is only widened after these pass."""

import importlib.metadata

import keras
import numpy as np
import pytest

import VLAP
from VLAP import _compat

BACKEND = keras.config.backend()


def _mlp(dropout=0.5, seed=None):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(6, activation="relu")(inputs)
    hidden = keras.layers.Dropout(dropout, seed=seed)(hidden)
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)], name="inner")
    return keras.Model(inputs, inner(hidden))


# === the version guard ===


def test_installed_versions_are_the_verified_ones():
    # a new release must pass this file before VERIFIED is widened
    for library, dist in (("keras", "keras"), ("keras_hub", "keras-hub"),
                          ("tensorflow", "tensorflow")):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            continue
        assert _compat.verified(library, version), (library, version, _compat.VERIFIED)


def test_outside_the_range_a_missing_member_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    assert not _compat.verified("keras")
    generator = keras.random.SeedGenerator(1)
    monkeypatch.delattr(type(generator), "_initial_seed", raising=False)
    vars(generator).pop("_initial_seed")
    with pytest.raises(RuntimeError, match=r"_initial_seed.*keras 3\.99\.0.*>=3\.15,<3\.16"):
        _compat.mark_seeded(generator, 3)


def test_outside_the_range_flatten_layers_falls_back_to_the_public_lists(monkeypatch):
    model = _mlp()
    expected = _compat.flatten_layers(model)
    monkeypatch.setattr(keras, "__version__", "3.99.0")

    class NoPrivate:  # a model-like object without _flatten_layers
        layers = model.layers

    walked = _compat.flatten_layers(NoPrivate(), include_self=False)
    names = [layer.name for layer in expected[1:] if not isinstance(layer, keras.layers.InputLayer)]
    assert [layer.name for layer in walked
            if not isinstance(layer, keras.layers.InputLayer)] == names


# === Keras ===


def test_metric_direction_decides_mode_auto():
    # Keras' callbacks read `_direction` for mode="auto": max for VLAP's F1, min for
    # the label-count error, without it an F1 name cannot be told apart
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    f1 = VLAP.metrics.MultilabelF1(average="macro", name="f1_macro")
    mae = VLAP.metrics.LabelCountMAE(name="count_mae")
    model.compile(loss="binary_crossentropy", metrics=[f1, mae])
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (np.random.default_rng(1).random((16, 3)) < 0.5).astype("float32")
    model.fit(x, y, epochs=1, verbose=0)
    up = keras.callbacks.EarlyStopping(monitor="f1_macro", mode="auto")
    up.set_model(model)
    up._set_monitor_op()
    assert up.monitor_op(2.0, 1.0) and not up.monitor_op(1.0, 2.0)
    down = keras.callbacks.EarlyStopping(monitor="count_mae", mode="auto")
    down.set_model(model)
    down._set_monitor_op()
    assert down.monitor_op(1.0, 2.0) and not down.monitor_op(2.0, 1.0)
    plain = keras.metrics.Mean(name="plain")
    _compat.set_metric_direction(plain, "down")
    assert plain._direction == "down"
    with pytest.raises(ValueError, match="direction"):
        _compat.set_metric_direction(plain, "sideways")


def test_attach_metric_puts_it_in_model_metrics():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(loss="binary_crossentropy")
    model.build((None, 4))
    state = keras.metrics.Sum(name="state")
    _compat.attach_metric(model, "_vlap_state", state)
    assert any(m is state for m in model.metrics)


def test_flatten_layers_lists_nested_layers_and_the_model():
    model = _mlp()
    names = [layer.name for layer in _compat.flatten_layers(model)]
    assert names[0] == model.name
    assert "inner" in names and any(name.startswith("dense") for name in names)
    inner_dense = model.get_layer("inner").layers[0]
    assert any(layer is inner_dense for layer in _compat.flatten_layers(model))


def test_layer_seed_generators_are_the_dropout_state():
    model = _mlp(seed=None)
    dropout = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dropout))
    (generator,) = _compat.layer_seed_generators(dropout)
    assert isinstance(generator, keras.random.SeedGenerator)
    assert _compat.layer_seed_generators(model.layers[1]) == []  # a Dense has none
    assert _compat.layer_seed_generators(object()) == []


def test_mark_seeded_sets_an_unseeded_generator_only():
    unseeded = keras.layers.Dropout(0.5)
    (generator,) = _compat.layer_seed_generators(unseeded)
    assert generator._initial_seed is None and generator.get_config()["seed"] is None
    _compat.mark_seeded(generator, 7)
    assert generator.get_config()["seed"] == 7  # get_config reports _initial_seed
    seeded = keras.random.SeedGenerator(3)
    _compat.mark_seeded(seeded, 9)
    assert seeded.get_config()["seed"] == 3


def test_symbolic_build_builds_model_optimizer_loss_and_metrics():
    model = keras.Sequential([keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[VLAP.metrics.MultilabelF1(num_labels=3)])
    assert _compat.can_build_symbolically(model) and not model.built
    batch = (keras.KerasTensor((None, 4), "float32"), keras.KerasTensor((None, 3), "float32"))
    assert _compat.symbolic_build(model, batch) is True
    loss, metrics = _compat.compiled_parts(model)
    assert model.built and model.optimizer.built
    assert loss is not None and loss.built and metrics is not None and metrics.built


def test_compiled_parts_are_none_before_compile():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert _compat.compiled_parts(model) == (None, None)


def test_distribute_strategy_and_the_build_at_fit():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    if BACKEND != "tensorflow":
        assert _compat.distribute_strategy(model) is None
        return
    import tensorflow as tf

    assert _compat.distribute_strategy(model) is None
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        scoped = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert _compat.distribute_strategy(scoped) is strategy
    # fit calls _maybe_symbolic_build(iterator=...) first; the context makes it a no-op
    assert _compat.has_symbolic_build_at_fit(scoped)
    calls = []
    original = scoped._maybe_symbolic_build
    scoped._maybe_symbolic_build = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    scoped.compile(optimizer="sgd", loss="mse")
    x = np.zeros((8, 4), "float32")
    scoped.fit(x, np.zeros((8, 3), "float32"), epochs=1, verbose=0)
    assert calls, "Keras' fit no longer calls _maybe_symbolic_build"
    del scoped._maybe_symbolic_build
    with _compat.no_symbolic_build_at_fit(scoped):
        assert scoped._maybe_symbolic_build(data_batch=None) is None
        scoped.fit(x, np.zeros((8, 3), "float32"), epochs=1, verbose=0)
    assert "_maybe_symbolic_build" not in vars(scoped)


# === keras-hub ===


def test_encoder_feedforward_dense_takes_the_activation():
    keras_hub = pytest.importorskip("keras_hub")
    encoder = keras_hub.layers.TransformerEncoder(intermediate_dim=8, num_heads=2)
    assert _compat.encoder_feedforward_dense(encoder) is None  # not built yet
    encoder(np.zeros((1, 3, 4), "float32"))
    dense = _compat.encoder_feedforward_dense(encoder)
    assert isinstance(dense, keras.layers.Dense) and dense.units == 8
    assert dense.activation is keras.activations.get(encoder.activation) or \
        dense.activation.__name__ == keras.activations.get(encoder.activation).__name__


def test_encoder_sublayers_compose_the_encoder(monkeypatch):
    keras_hub = pytest.importorskip("keras_hub")
    encoder = keras_hub.layers.TransformerEncoder(intermediate_dim=8, num_heads=2)
    assert _compat.encoder_sublayers(encoder) is None  # not built yet
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    expected = keras.ops.convert_to_numpy(encoder(x, padding_mask=mask))
    parts = _compat.encoder_sublayers(encoder)
    assert set(parts) == set(_compat.ENCODER_SUBLAYERS)
    assert isinstance(parts["attention"], keras.layers.MultiHeadAttention)
    assert all(isinstance(parts[k], keras.layers.LayerNormalization)
               for k in ("attention_norm", "feedforward_norm"))
    assert all(isinstance(parts[k], keras.layers.Dense) for k in ("intermediate", "output"))
    assert parts["intermediate"] is _compat.encoder_feedforward_dense(encoder)
    # the roles are what VLAP's forward pass computes with them (post-norm encoder)
    assert not encoder.normalize_first
    attention_mask = mask[:, None, :]
    x = keras.ops.convert_to_tensor(x)
    h = parts["attention_norm"](x + parts["attention"](x, x, attention_mask=attention_mask))
    out = parts["feedforward_norm"](h + parts["output"](parts["intermediate"](h)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), expected, rtol=0, atol=1e-6)
    # one of them gone (a keras-hub that renamed it): None, and the caller uses the call
    monkeypatch.delattr(encoder, "_feedforward_output_dense")
    assert _compat.encoder_sublayers(encoder) is None


# === TensorFlow ===


def test_pinned_global_seed_restores_the_previous_seed():
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.eager import context

    tf.random.set_seed(123)
    ctx = context.context()
    before = (ctx._seed, ctx._rng)
    with _compat.pinned_global_seed(5) as pinned:
        assert pinned and ctx._seed == 5
    assert (ctx._seed, ctx._rng) == before
