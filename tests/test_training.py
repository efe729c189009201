"""VLAP.train: run directory, determinism, resume, early stopping, errors, scale-out."""

import json
import textwrap

import keras
import numpy as np
import pytest

import VLAP
from conftest import run_on_backend


def _data(n=96, features=6, labels=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features, labels)).astype("float32")
    y = (x @ w > 0.5).astype("float32")
    return x, y


def _datasets(seed=0):
    x, y = _data()
    train = VLAP.createDataset(x[:64], y[:64], batch_size=16, seed=seed)
    val = VLAP.createDataset(x[64:], y[64:], batch_size=16, is_training=False)
    return train, val


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dropout(0.2), keras.layers.Dense(4)])


class _Kill(keras.callbacks.Callback):
    """Simulates a run killed right after epoch ``at`` was checkpointed."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("simulated kill")


def test_train_writes_a_complete_run_directory(tmp_path):
    train_ds, val_ds = _datasets()
    model, history = VLAP.train(_model(), train_ds, val_ds, 4, loss="sigmoidF1",
                                loss_kwargs={"beta": 2.0}, epochs=2, seed=0, verbose=0,
                                run_dir=tmp_path / "run")
    run = tmp_path / "run"
    for name in ("config.json", "versions.json", "history.csv", "state.json",
                 "checkpoints/last.keras", "checkpoints/best.keras"):
        assert (run / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    assert config["loss_config"]["beta"] == 2.0 and config["learning_rate"] == 1e-3
    assert "keras" in json.loads((run / "versions.json").read_text())
    assert len(history.history["val_f1_macro"]) == 2
    assert set(history.history) >= {"loss", "f1_macro", "f1_micro", "val_f1_macro",
                                    "val_loss", "mean_predicted_labels"}


@pytest.mark.parametrize("loss", ["sigmoidF1", "unboundedF1", "bce", "focal", "asl"])
def test_each_paper_loss_trains(tmp_path, loss):
    train_ds, val_ds = _datasets()
    _, history = VLAP.train(_model(), train_ds, val_ds, loss=loss, epochs=5, seed=0,
                            learning_rate=0.02, verbose=0, run_dir=tmp_path / loss,
                            patience=None)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_deterministic_given_seed(tmp_path):
    runs = []
    for i in range(2):
        train_ds, val_ds = _datasets(seed=3)
        model, history = VLAP.train(_model(seed=1), train_ds, val_ds, epochs=3, seed=7,
                                    verbose=0, run_dir=tmp_path / f"r{i}", patience=None)
        runs.append((history.history, model.get_weights()))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_resume_continues_a_killed_run_to_the_same_result(tmp_path):
    kwargs = dict(loss="sigmoidF1", epochs=5, seed=11, verbose=0, patience=None,
                  restore_best=False)
    train_ds, val_ds = _datasets(seed=5)
    full, full_hist = VLAP.train(_model(seed=2), train_ds, val_ds,
                                 run_dir=tmp_path / "full", **kwargs)

    train_ds, val_ds = _datasets(seed=5)
    with pytest.raises(KeyboardInterrupt):
        VLAP.train(_model(seed=2), train_ds, val_ds, run_dir=tmp_path / "killed",
                   callbacks=[_Kill(at=1)], **kwargs)
    state = json.loads((tmp_path / "killed" / "state.json").read_text())
    assert state["last_epoch"] == 1

    train_ds, val_ds = _datasets(seed=5)  # a fresh process would rebuild them
    resumed, hist = VLAP.train(_model(seed=99), train_ds, val_ds,
                               run_dir=tmp_path / "killed", resume=True, **kwargs)
    assert hist.epoch == list(range(5))
    for key in ("loss", "val_f1_macro", "val_loss"):
        np.testing.assert_allclose(hist.history[key], full_hist.history[key], rtol=1e-6)
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_early_stopping_restores_the_best_epoch(tmp_path):
    train_ds, val_ds = _datasets()
    model, history = VLAP.train(_model(), train_ds, val_ds, loss="bce", epochs=40,
                                learning_rate=0.05, patience=2, seed=0, verbose=0,
                                run_dir=tmp_path / "es")
    scores = history.history["val_f1_macro"]
    assert len(scores) < 40
    best = keras.saving.load_model(tmp_path / "es" / "checkpoints" / "best.keras", compile=False)
    for a, b in zip(model.get_weights(), best.get_weights()):
        np.testing.assert_array_equal(a, b)
    state = json.loads((tmp_path / "es" / "state.json").read_text())
    assert state["best"] == pytest.approx(max(scores))


def test_never_overwrites_an_earlier_run(tmp_path):
    train_ds, val_ds = _datasets()
    VLAP.train(_model(), train_ds, val_ds, epochs=1, verbose=0, run_dir=tmp_path / "r")
    before = (tmp_path / "r" / "history.csv").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a run"):
        VLAP.train(_model(), train_ds, val_ds, epochs=1, verbose=0, run_dir=tmp_path / "r")
    assert (tmp_path / "r" / "history.csv").read_bytes() == before


def test_argument_errors(tmp_path):
    train_ds, val_ds = _datasets()
    with pytest.raises(ValueError, match="`num_labels`=5 but the model outputs 4"):
        VLAP.train(_model(), train_ds, val_ds, 5, run_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="Unknown loss 'softF1'"):
        VLAP.train(_model(), train_ds, val_ds, loss="softF1", run_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="`epochs` must be a positive integer"):
        VLAP.train(_model(), train_ds, val_ds, epochs=0, run_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="`learning_rate` must be a positive number"):
        VLAP.train(_model(), train_ds, val_ds, learning_rate=-1, run_dir=tmp_path / "d")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        VLAP.train(_model(), train_ds, val_ds, resume=True, run_dir=tmp_path / "e")
    with pytest.raises(ValueError, match="needs the `run_dir`"):
        VLAP.train(_model(), train_ds, val_ds, resume=True)


_SCALE_OUT = {
    "tensorflow": """
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        kwargs = dict(strategy=strategy)
    """,
    "jax": """
        import jax
        assert len(jax.devices()) == 2, jax.devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
        kwargs = {}
    """,
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(_SCALE_OUT))
def test_scale_out_on_two_logical_cpu_devices(tmp_path, backend):
    pytest.importorskip(backend)
    code = textwrap.dedent("""
        import keras, numpy as np, VLAP
    """) + textwrap.dedent(_SCALE_OUT[backend]) + textwrap.dedent(f"""
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 6)).astype("float32")
        y = (x[:, :4] > 0).astype("float32")
        ds = VLAP.createDataset(x, y, batch_size=16, seed=0, drop_remainder=True)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
        model, history = VLAP.train(model, ds, ds, 4, epochs=2, verbose=0, seed=0,
                                    run_dir={str(tmp_path / backend)!r}, **kwargs)
        assert np.isfinite(history.history["loss"]).all()
        print("SCALE-OUT-OK", history.history["val_f1_macro"])
    """)
    proc = run_on_backend(backend, ["-c", code],
                          XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert proc.returncode == 0 and "SCALE-OUT-OK" in proc.stdout, proc.stderr[-4000:]


def test_monitor_val_loss_keeps_the_lowest_loss_epoch(tmp_path):
    train_ds, val_ds = _datasets()
    model, history = VLAP.train(_model(), train_ds, val_ds, loss="focal", epochs=6,
                                learning_rate=0.05, patience=2, seed=0, verbose=0,
                                monitor="val_loss", run_dir=tmp_path / "m")
    state = json.loads((tmp_path / "m" / "state.json").read_text())
    assert state["best"] == pytest.approx(min(history.history["val_loss"]))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["monitor"] == "val_loss"
    with pytest.raises(ValueError, match="`monitor` must name a validation log"):
        VLAP.train(_model(), train_ds, val_ds, monitor="f1_macro", run_dir=tmp_path / "x")
