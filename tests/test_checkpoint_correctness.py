"""Issue 19, item 6: a checkpointed run keeps the right epoch and resumes exactly.

* a loss schedule's warm-up is never the kept epoch (its losses are on another scale);
* EMASigmoidF1's moving counts survive a kill and a resume;
* under tf.distribute (1 and 2 replicas) and JAX DataParallel, resume is exact and
  training reads one shuffle iterator (see ``_training_worker.py``).
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import VLAP
from VLAP.training import RunCheckpoint
from test_training import _Kill, _model  # the same small MLP and simulated kill



def _data(n=96, features=6, labels=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features, labels)).astype("float32")
    return x, (x @ w > 0.5).astype("float32")


def _datasets(seed=5):
    x, y = _data()
    return (VLAP.createDataset(x[:64], y[:64], batch_size=16, seed=seed),
            VLAP.createDataset(x[64:], y[64:], batch_size=16, is_training=False))


def _replay(checkpoint, values, monitor="val_loss"):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.stop_training = False
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    for epoch, value in enumerate(values):
        checkpoint.on_epoch_end(epoch, {monitor: value})
        if model.stop_training:
            break
    checkpoint.on_train_end()
    return checkpoint


def test_the_best_epoch_is_tracked_only_after_the_warm_up():
    # BCE-phase losses (epochs 0-1) are smaller than any sigmoidF1-phase loss
    ckpt = _replay(RunCheckpoint(None, "val_loss", patience=2, start_from_epoch=2),
                   [0.10, 0.12, 0.50, 0.40, 0.45, 0.46])
    assert ckpt.state["best_epoch"] == 3
    assert ckpt.state["best"] == pytest.approx(0.40)
    assert ckpt.kept["epoch"] == 3 and ckpt.kept["epochs"] == 6
    from VLAP.training.run_dir import describe_kept

    assert describe_kept(ckpt.kept) == ("kept epoch 4 of 6 (best val_loss 0.400 from epoch 3 "
                                        "on, after the warm-up; stopped: no improvement "
                                        "for 2 epochs)")


def test_a_run_that_ends_inside_the_warm_up_keeps_its_last_epoch():
    ckpt = _replay(RunCheckpoint(None, "val_loss", patience=2, start_from_epoch=5),
                   [0.10, 0.12, 0.50])
    assert ckpt.state.get("best_epoch") is None
    assert ckpt.kept["epoch"] == 2
    assert "warm-up" in ckpt.kept["reason"]


def test_scheduled_with_val_loss_never_keeps_a_warm_up_epoch(tmp_path):
    train_ds, val_ds = _datasets()
    # focal's losses are a fraction of sigmoidF1's: without the rule epoch 0 or 1 wins
    loss = VLAP.losses.Scheduled(start="focal", start_epoch=1, ramp_epochs=2)
    model, history = VLAP.train(_model(2), train_ds, val_ds, 4, loss=loss, epochs=6,
                                monitor="val_loss", patience=None, seed=0, verbose=0,
                                learning_rate=0.01, run_dir=tmp_path / "s")
    state = json.loads((tmp_path / "s" / "state.json").read_text())
    assert state["best_epoch"] >= loss.warmup_epochs
    after = history.history["val_loss"][loss.warmup_epochs:]
    assert state["best"] == pytest.approx(min(after))
    assert history.kept["epoch"] == state["best_epoch"]


@pytest.mark.parametrize("loss", [VLAP.losses.EMASigmoidF1(momentum=0.9), "sigmoidF1"],
                         ids=["ema", "sigmoidF1"])
def test_resume_continues_the_moving_counts_exactly(tmp_path, loss):
    kwargs = dict(epochs=4, seed=11, verbose=0, patience=None, restore_best=False,
                  learning_rate=0.02)
    train_ds, val_ds = _datasets()
    full, full_hist = VLAP.train(_model(2), train_ds, val_ds, 4, loss=loss,
                                 run_dir=tmp_path / "full", **kwargs)
    train_ds, val_ds = _datasets()
    with pytest.raises(KeyboardInterrupt):
        VLAP.train(_model(2), train_ds, val_ds, 4, loss=loss, run_dir=tmp_path / "killed",
                   callbacks=[_Kill(at=1)], **kwargs)
    train_ds, val_ds = _datasets()
    resumed, hist = VLAP.train(_model(99), train_ds, val_ds, 4, loss=loss,
                               run_dir=tmp_path / "killed", resume=True, **kwargs)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(hist.history[key], full_hist.history[key], rtol=1e-6)
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


# --- resume and the data order under distribution (subprocesses, 2 devices) ----------

def _run_worker(backend, mode, out, expect_kill=False):
    from conftest import run_on_backend

    worker = str(Path(__file__).parent / "_training_worker.py")
    proc = run_on_backend(backend, [worker, mode, str(out)],
                          XLA_FLAGS="--xla_force_host_platform_device_count=2")
    if expect_kill:
        assert proc.returncode == -9, f"{backend} {mode}: not killed\n{proc.stderr[-3000:]}"
        return None
    assert proc.returncode == 0, f"{backend} {mode} failed:\n{proc.stderr[-4000:]}"
    line = [l for l in proc.stdout.splitlines() if l.startswith("VLAP-RESULT ")][-1]
    return json.loads(line[len("VLAP-RESULT "):])


def _weights(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_distributed_runs_read_one_shuffle_and_resume_exactly(tmp_path, backend):
    """TF MirroredStrategy (2 logical CPUs) / JAX DataParallel (2 host devices): a
    1-replica run equals a run without distribution (one shuffle iterator, the same
    batches), a 2-replica run equals it up to float summation order, and a run
    SIGKILLed mid-epoch 3 and resumed in a fresh process equals the uninterrupted run
    with the same replicas."""
    pytest.importorskip(backend)
    full = _run_worker(backend, "dist-full", tmp_path)
    for replicas in (1, 2):
        _run_worker(backend, f"dist-kill-{replicas}", tmp_path, expect_kill=True)
        state = json.loads((tmp_path / f"killed-{replicas}" / "state.json").read_text())
        assert state["last_epoch"] == 1
        resumed = _run_worker(backend, f"dist-continue-{replicas}", tmp_path)
        ref, got = full[f"full-{replicas}"], resumed[f"resumed-{replicas}"]
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-6,
                                       err_msg=f"{replicas} replicas, {key}")
        for a, b in zip(_weights(tmp_path / f"full-{replicas}.npz"),
                        _weights(tmp_path / f"killed-{replicas}.npz")):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6,
                                       err_msg=f"{replicas} replicas: resumed weights")
    none = _weights(tmp_path / "full-0.npz")
    for replicas, atol in ((1, 1e-6), (2, 1e-4)):
        np.testing.assert_allclose(full[f"full-{replicas}"]["loss"], full["full-0"]["loss"],
                                   rtol=0, atol=atol, err_msg=f"{replicas} replicas: losses")
        for a, b in zip(none, _weights(tmp_path / f"full-{replicas}.npz")):
            np.testing.assert_allclose(a, b, rtol=0, atol=atol,
                                       err_msg=f"{replicas} replicas vs no distribution")


def test_the_runner_console_names_the_kept_epoch_and_why(tmp_path):
    from VLAP.experiments import load_config, run_experiment

    fixture = Path(__file__).parent / "data" / "own_texts.csv"
    cfg = load_config({"name": "kept", "losses": ["bce"], "seeds": [0], "epochs": 4,
                       "patience": 2, "plots": False, "save_models": False,
                       "tuned_bce": False,
                       "dataset": {"kind": "csv", "path": str(fixture), "text_column": "text",
                                   "label_column": "labels"}})
    lines = []
    run_experiment(cfg, out=tmp_path, log=lines.append)
    at = next(i for i, l in enumerate(lines) if "seed=0:" in l)
    line = lines[at]
    monitor, other = cfg["monitor"]  # one best epoch per rule on your own data
    assert f"epochs, " in line and "kept epoch " in line, line
    assert f"(best {monitor} " in line and "; stopped: " in line, line
    assert "also kept epoch " in line and f"(best {other} " in line, line
    # the next line says which epoch each row kind used, and why
    assert "rows at 0.5: epoch " in lines[at + 1], lines[at + 1]
    assert "best validation macro-F1 at 0.5 (" in lines[at + 1], lines[at + 1]


def test_own_data_configs_stop_on_the_tuned_validation_macro_f1():
    from VLAP.experiments import load_config

    cfg = load_config({"name": "own", "dataset": {
        "kind": "csv", "path": "tests/data/own_texts.csv", "text_column": "text",
        "label_column": "labels"}})
    assert cfg["monitor"] == ["val_f1_macro_tuned", "val_f1_macro"]  # one per rule
    assert cfg["patience"] == 15


def test_tuned_macro_f1_and_map_monitors_match_scikit_learn(tmp_path):
    from sklearn.metrics import average_precision_score, f1_score

    from VLAP.inference import predict_scores
    from VLAP.inference.tuning import MIN_TUNING_SUPPORT, RULE_FOLDS, tune_cut_points

    train_ds, val_ds = _datasets()
    model, history = VLAP.train(_model(2), train_ds, val_ds, 4, loss="bce", epochs=3,
                                patience=None, restore_best=False, seed=0, verbose=0,
                                learning_rate=0.02, monitor="val_f1_macro_tuned")
    y, s = predict_scores(model, val_ds)
    # the tuned figure is out of fold (as vlap run's rule choice): each fold decided
    # with cuts tuned on the other folds' logits
    logits = np.concatenate([keras.ops.convert_to_numpy(model.predict_on_batch(
        np.asarray(b[0]))) for b in val_ds]).astype(np.float64)
    part = np.random.default_rng(0).permutation(len(y)) % RULE_FOLDS
    pred = np.zeros(y.shape, int)
    for f in range(RULE_FOLDS):
        cuts = tune_cut_points(y[part != f], logits[part != f], min_support=MIN_TUNING_SUPPORT)
        pred[part == f] = logits[part == f] > cuts
    expected_f1 = f1_score(y, pred, average="macro", zero_division=0)
    has_both = (y.sum(0) > 0) & (y.sum(0) < len(y))
    expected_map = np.mean([average_precision_score(y[:, j], s[:, j])
                            for j in np.flatnonzero(has_both)])
    assert history.history["val_f1_macro_tuned"][-1] == pytest.approx(expected_f1, abs=1e-9)
    assert history.history["val_map"][-1] == pytest.approx(expected_map, abs=1e-9)
    assert history.kept["monitor"] == "val_f1_macro_tuned"


def test_verbose_train_prints_the_kept_epoch(capsys):
    train_ds, val_ds = _datasets()
    _, history = VLAP.train(_model(2), train_ds, val_ds, 4, loss="bce", epochs=2,
                            patience=None, seed=0, verbose=2, learning_rate=0.02)
    best = history.history["val_f1_macro"]
    epoch = int(np.argmax(best))
    out = capsys.readouterr().out
    assert (f"kept epoch {epoch + 1} of 2 (best val_f1_macro {max(best):.3f}; "
            "stopped: ran all 2 epochs)") in out, out[-500:]
