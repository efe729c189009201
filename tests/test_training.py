"""VLAP.train: run directory, determinism, resume, early stopping, errors, scale-out."""

import dataclasses
import json
import random
import signal
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import VLAP
from conftest import run_on_backend

WORKER = str(Path(__file__).parent / "_training_worker.py")
BACKENDS = ["tensorflow", "torch", "jax"]


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
    with pytest.raises(ValueError, match="Unknown loss 'softF1'.*Valid names"):
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


# --- issue 10: correct on every backend --------------------------------------------

def _worker(backend, mode, out, **env):
    proc = run_on_backend(backend, [WORKER, mode, str(out)], **env)
    assert proc.returncode == 0, f"{backend} {mode} failed:\n{proc.stderr[-4000:]}"
    line = [l for l in proc.stdout.splitlines() if l.startswith("VLAP-RESULT ")][-1]
    return json.loads(line[len("VLAP-RESULT "):])


def _weights(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_after_a_kill_equals_the_uninterrupted_run(tmp_path, backend):
    """SIGKILL in the middle of epoch 3, then resume=True in a fresh process: the same
    losses per epoch and the same weights as an uninterrupted run, with dropout (and
    without, interrupted after epoch 2), on every backend."""
    pytest.importorskip(backend)
    full = _worker(backend, "resume-full", tmp_path)
    kill = run_on_backend(backend, [WORKER, "resume-kill", str(tmp_path)])
    assert kill.returncode == -signal.SIGKILL, kill.stderr[-3000:]
    state = json.loads((tmp_path / "killed" / "state.json").read_text())
    assert state["last_epoch"] == 1
    resumed = _worker(backend, "resume-continue", tmp_path)
    for dropout, source in (("True", resumed), ("False", full)):
        ref, got = full[f"full-{dropout}"], source[f"resumed-{dropout}"]
        for key in ("loss", "val_loss", "val_f1_macro"):
            assert len(got[key]) == 5, (dropout, key)
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-6, err_msg=f"{dropout} {key}")
        for a, b in zip(_weights(tmp_path / f"full-{dropout}.npz"),
                        _weights(tmp_path / f"resumed-{dropout}.npz")):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_batch_losses_mean_the_global_batch_across_replicas(tmp_path, backend):
    """The first SGD step with 1 and with 2 replicas agrees, and the logged loss is the
    loss of the global batch (TF MirroredStrategy on 2 logical CPUs; JAX DataParallel
    on 2 host devices)."""
    pytest.importorskip(backend)
    res = _worker(backend, "distribute", tmp_path,
                  XLA_FLAGS="--xla_force_host_platform_device_count=2")
    for loss in ("sigmoidF1", "bce", "jaccard", "two_way", "zlpr"):
        one, two = res[loss]["1"], res[loss]["2"]
        for a, b in zip(one["weights"], two["weights"]):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=loss)
        assert two["loss"] == pytest.approx(res[loss]["expected_loss"], abs=1e-5), loss
        assert one["loss"] == pytest.approx(res[loss]["expected_loss"], abs=1e-5), loss
        if backend == "jax":
            assert two["devices"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_training_smoke_on_each_backend(tmp_path, backend):
    """Logged metrics follow the loss's from_logits (== scikit-learn on the same
    predictions); every paper loss trains under mixed_bfloat16 with float32 counts."""
    pytest.importorskip(backend)
    res = _worker(backend, "smoke", tmp_path)
    assert res["logged_f1_macro"] == pytest.approx(res["sklearn_f1_macro"], abs=1e-6)
    assert res["logged_mean_predicted_labels"] == pytest.approx(
        res["mean_predicted_labels"], abs=1e-6)
    for name, out in res["mixed"].items():
        assert np.isfinite(out["loss"]).all(), (name, out)
        assert (out["compute_dtype"], out["logits_dtype"]) == ("bfloat16", "bfloat16"), name
        assert out["loss_dtype"] == "float32", name
    assert res["global_policy"] == "float32"


def test_metrics_follow_the_losss_from_logits(tmp_path):
    from sklearn.metrics import f1_score

    train_ds, val_ds = _datasets()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="sigmoid")])
    model, history = VLAP.train(model, train_ds, val_ds,
                                loss=VLAP.losses.SigmoidF1(from_logits=False), epochs=2,
                                patience=None, restore_best=False, learning_rate=0.01,
                                verbose=0)
    x, y = _data()
    pred = (keras.ops.convert_to_numpy(model.predict(x[64:], verbose=0)) > 0.5).astype(int)
    assert history.history["val_f1_macro"][-1] == pytest.approx(
        f1_score(y[64:], pred, average="macro", zero_division=0), abs=1e-6)
    assert history.history["val_mean_predicted_labels"][-1] == pytest.approx(
        pred.sum(1).mean(), abs=1e-6)


def test_state_json_is_written_after_the_history_row(tmp_path, monkeypatch):
    """A kill between the two writes must not lose a row: state.json commits the epoch."""
    from VLAP.training import run_dir as run_dir_module

    seen = []
    real = run_dir_module.write_json

    def spy(path, obj):
        if Path(path).name == "state.json":
            rows = run_dir_module.history_rows(Path(path).parent / "history.csv")
            seen.append((obj["last_epoch"], [int(r["epoch"]) for r in rows]))
        real(path, obj)

    monkeypatch.setattr(run_dir_module, "write_json", spy)
    train_ds, val_ds = _datasets()
    VLAP.train(_model(), train_ds, val_ds, epochs=3, patience=None, verbose=0,
               run_dir=tmp_path / "r")
    assert seen == [(0, [0]), (1, [0, 1]), (2, [0, 1, 2])]


def test_resume_drops_history_rows_past_the_committed_epoch(tmp_path):
    kwargs = dict(epochs=4, seed=1, verbose=0, patience=None, restore_best=False)
    train_ds, val_ds = _datasets(seed=5)
    with pytest.raises(KeyboardInterrupt):
        VLAP.train(_model(seed=2), train_ds, val_ds, run_dir=tmp_path / "k",
                   callbacks=[_Kill(at=1)], **kwargs)
    # a kill after the history row of epoch 2 but before its state.json
    history = tmp_path / "k" / "history.csv"
    lines = history.read_text().splitlines()
    history.write_text("\n".join(lines + [lines[-1].replace("1,", "2,", 1)]) + "\n")
    _, hist = VLAP.train(_model(seed=2), train_ds, val_ds, run_dir=tmp_path / "k",
                         resume=True, **kwargs)
    assert hist.epoch == [0, 1, 2, 3]


@pytest.mark.parametrize("change,match", [
    (dict(loss="bce", loss_kwargs=None), r"loss: stored 'sigmoid_f1', given 'binary_crossentropy'"),
    (dict(loss_kwargs={"beta": 3.0}), r"loss_config: beta=2.0 -> 3.0"),
    (dict(learning_rate=0.1), r"learning_rate: stored 0.001, given 0.1"),
    (dict(threshold=0.3), r"threshold: stored 0.5, given 0.3"),
    (dict(monitor="val_loss"), r"monitor: stored 'val_f1_macro', given 'val_loss'"),
    (dict(epochs=9), r"epochs: stored 3, given 9"),
])
def test_resume_with_other_arguments_names_what_differs(tmp_path, change, match):
    kwargs = dict(loss="sigmoidF1", loss_kwargs={"beta": 2.0}, epochs=3, verbose=0,
                  patience=None)
    train_ds, val_ds = _datasets()
    with pytest.raises(KeyboardInterrupt):
        VLAP.train(_model(), train_ds, val_ds, run_dir=tmp_path / "r",
                   callbacks=[_Kill(at=0)], **kwargs)
    with pytest.raises(ValueError, match=match):
        VLAP.train(_model(), train_ds, val_ds, run_dir=tmp_path / "r", resume=True,
                   **{**kwargs, **change})


def test_train_leaves_no_global_state_and_no_files_unless_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train_ds, val_ds = _datasets()
    model = _model()
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    _, history = VLAP.train(model, train_ds, val_ds, epochs=1, seed=7, verbose=0)
    assert (np.random.rand(), random.random()) == expected  # no global reseeding
    assert list(tmp_path.iterdir()) == [] and history.run_dir is None  # run_dir=None
    assert keras.config.dtype_policy().name == "float32"


def test_seed_makes_dropout_reproducible_without_a_global_seed(tmp_path):
    runs = []
    for i in range(2):
        train_ds, val_ds = _datasets(seed=3)
        model = _model(seed=1)
        keras.utils.set_random_seed(100 + i)  # a different global state each time
        model, history = VLAP.train(model, train_ds, val_ds, epochs=2, seed=7, verbose=0,
                                    patience=None, learning_rate=0.05)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_new_run_dir_never_reuses_a_folder(tmp_path):
    from VLAP.training import new_run_dir

    a = new_run_dir(tmp_path, name="x")
    b = new_run_dir(tmp_path, name="x")
    c = new_run_dir(tmp_path / "deep" / "er")
    assert a.is_dir() and b.is_dir() and c.is_dir() and len({a, b, c}) == 3
    with pytest.raises(ValueError, match="`name` must be a non-empty folder name"):
        new_run_dir(tmp_path, name="a/b")


def test_num_labels_is_the_fourth_positional_argument(tmp_path):
    train_ds, val_ds = _datasets()
    with pytest.raises(ValueError, match="`num_labels`=3 but the model outputs 4"):
        VLAP.train(_model(), train_ds, val_ds, 3)
    with pytest.raises(TypeError):
        VLAP.train(_model(), train_ds, val_ds, num_classes=4)
    with pytest.raises(TypeError, match="positional"):  # loss and the rest: keyword-only
        VLAP.train(_model(), train_ds, val_ds, 4, "bce")


class _EpochRecorder(keras.callbacks.Callback):
    """Records the epochs it saw (an extra callback must reach model.fit in both forms)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_run_options_and_the_separate_keywords_give_the_same_run(tmp_path):
    from VLAP.training import RunOptions

    kwargs = dict(epochs=3, seed=7, verbose=0, patience=None, restore_best=False)
    runs = []
    for form in ("keywords", "run"):
        seen = _EpochRecorder()
        train_ds, val_ds = _datasets(seed=3)
        options = dict(run_dir=tmp_path / form, tensorboard=False, callbacks=[seen],
                       deterministic=False)
        if form == "run":
            model, history = VLAP.train(_model(seed=1), train_ds, val_ds, 4,
                                        run=RunOptions(**options), **kwargs)
        else:
            model, history = VLAP.train(_model(seed=1), train_ds, val_ds, 4, **options, **kwargs)
        assert seen.epochs == [0, 1, 2], form
        assert history.run_dir == tmp_path / form
        config = json.loads((tmp_path / form / "config.json").read_text())
        runs.append((history.history, model.get_weights(), config))
    assert runs[0][0] == runs[1][0]
    assert runs[0][2] == runs[1][2]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_run_options_resume_a_killed_run(tmp_path):
    from VLAP.training import RunOptions

    kwargs = dict(epochs=3, seed=11, verbose=0, patience=None, restore_best=False)
    train_ds, val_ds = _datasets(seed=5)
    _, full = VLAP.train(_model(seed=2), train_ds, val_ds, run_dir=tmp_path / "full", **kwargs)
    killed = RunOptions(run_dir=tmp_path / "killed", callbacks=[_Kill(at=0)])
    train_ds, val_ds = _datasets(seed=5)
    with pytest.raises(KeyboardInterrupt):
        VLAP.train(_model(seed=2), train_ds, val_ds, run=killed, **kwargs)
    train_ds, val_ds = _datasets(seed=5)
    resume = dataclasses.replace(killed, resume=True, callbacks=())
    _, hist = VLAP.train(_model(seed=99), train_ds, val_ds, run=resume, **kwargs)
    assert hist.epoch == [0, 1, 2]
    np.testing.assert_allclose(hist.history["loss"], full.history["loss"], rtol=1e-6)


def test_run_options_errors(tmp_path):
    from VLAP.training import RunOptions

    with pytest.raises(TypeError, match="unexpected keyword argument 'rundir'"):
        RunOptions(rundir=tmp_path)
    with pytest.raises(TypeError, match="positional"):  # fields by name only
        RunOptions(tmp_path)
    with pytest.raises(TypeError, match="`resume` must be a bool"):
        RunOptions(resume="yes")
    with pytest.raises(TypeError, match="`callbacks` must be a list of Keras callbacks"):
        RunOptions(callbacks=_EpochRecorder())
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunOptions().resume = True
    train_ds, val_ds = _datasets()
    # a dict of the fields works like RunOptions; an unknown name is refused with a hint
    with pytest.raises(TypeError, match=r"Unknown run option\(s\) \['tensorbord'\] "
                                        r"\(did you mean 'tensorboard'\?\)"):
        VLAP.train(_model(), train_ds, val_ds, run={"tensorbord": True})
    # not both forms in one call, and nothing else as `run`
    with pytest.raises(TypeError, match="either as `run=RunOptions.*run_dir="):
        VLAP.train(_model(), train_ds, val_ds, run=RunOptions(), run_dir=tmp_path / "x")
    with pytest.raises(TypeError, match="`run` must be a VLAP.training.RunOptions"):
        VLAP.train(_model(), train_ds, val_ds, run=str(tmp_path))
    assert not (tmp_path / "x").exists()
