"""Long runs survive interruption: Ctrl-C/SIGTERM end `vlap` with one line and exit
130/143, the run folder records its state, and `vlap run --resume RUN_DIR` ends with
the run folder an uninterrupted run writes (results.csv, models.json, weights)."""

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from VLAP import cli
from conftest import backend_env

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "own_texts.csv"
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
#: Columns of results.csv that differ between any two runs: wall-clock time, folder name.
TIMING_COLUMNS = ("train_seconds", "run_id")
LOSSES = ("sigmoid_f1", "binary_crossentropy")


def _config(tmp_path, epochs):
    """A tiny two-loss run on the README fixture: MLP with dropout, no early stop."""
    path = tmp_path / "tiny.toml"
    path.write_text(f'name = "tiny"\nseeds = [0]\nepochs = {epochs}\npatience = false\n'
                    'batch_size = 16\nlosses = ["sigmoidF1", "bce"]\nplots = false\n'
                    '[model]\nkind = "mlp"\nhidden = [8]\ndropout = 0.2\n'
                    f'[dataset]\nkind = "csv"\npath = "{FIXTURE}"\ntext_column = "text"\n'
                    'label_column = "labels"\n')
    return path


def _results(run_dir):
    with open(run_dir / "results.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS}
                for row in csv.DictReader(f)]


def _keras_weights(path):
    """The arrays of a .keras file's weights, by name (read from the archive itself)."""
    import h5py

    out = {}
    with zipfile.ZipFile(path) as archive:
        data = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(data, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, np.asarray(obj))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same_run(got, ref):
    """`got` ends as the uninterrupted `ref`: results.csv (but the time and folder
    name), models.json and every saved weight; exact on TensorFlow."""
    exact = BACKEND == "tensorflow"
    a, b = _results(got), _results(ref)
    assert [{k: v for k, v in r.items() if k != "value"} for r in a] == \
        [{k: v for k, v in r.items() if k != "value"} for r in b]
    values_a, values_b = (np.array([float(r["value"]) for r in rows]) for rows in (a, b))
    if exact:
        np.testing.assert_array_equal(values_a, values_b)
    else:
        np.testing.assert_allclose(values_a, values_b, rtol=1e-5, atol=1e-6)
    models_a, models_b = (json.loads((d / "models.json").read_text()) for d in (got, ref))
    if exact:
        assert models_a == models_b
    else:
        assert [(m["loss"], m["seed"], m["best"], m["decision"]["strategy"])
                for m in models_a["models"]] == [(m["loss"], m["seed"], m["best"],
                                                  m["decision"]["strategy"])
                                                 for m in models_b["models"]]
    files = sorted(p.relative_to(ref) for p in ref.rglob("*.keras"))
    assert files and files == sorted(p.relative_to(got) for p in got.rglob("*.keras"))
    for rel in files:
        wa, wb = _keras_weights(got / rel), _keras_weights(ref / rel)
        assert wa.keys() == wb.keys(), rel
        for name in wa:
            if exact:
                np.testing.assert_array_equal(wa[name], wb[name], err_msg=f"{rel}: {name}")
            else:
                np.testing.assert_allclose(wa[name], wb[name], rtol=0, atol=1e-6,
                                           err_msg=f"{rel}: {name}")


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _only_run(out):
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


class _StopAfter:
    """Patch RunCheckpoint.on_epoch_end: after model `which`'s epoch `epoch` is
    committed (state.json written), send `signum` to this process, or raise
    KeyboardInterrupt as Ctrl-C does."""

    def __init__(self, monkeypatch, which, epoch, signum=None):
        from VLAP.training import run_dir as rd

        original = rd.RunCheckpoint.on_epoch_end

        def on_epoch_end(cb, e, logs=None):
            original(cb, e, logs)
            if cb.run_dir is not None and cb.run_dir.parent.name == which and e == epoch:
                if signum is None:
                    raise KeyboardInterrupt
                os.kill(os.getpid(), signum)
                time.sleep(5)  # the handler raises before this ends

        monkeypatch.setattr(rd.RunCheckpoint, "on_epoch_end", on_epoch_end)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the tiny config (3 epochs), in this process."""
    tmp = tmp_path_factory.mktemp("reference")
    assert cli.main(["run", str(_config(tmp, 3)), "--out", str(tmp / "runs"), "-q"]) == 0
    return _only_run(tmp / "runs")


def test_ctrl_c_records_the_state_and_resume_ends_as_an_uninterrupted_run(
        tmp_path, monkeypatch, capsys, reference):
    cfg = _config(tmp_path, 3)
    with monkeypatch.context() as m:
        _StopAfter(m, "binary_crossentropy", 0)
        status = cli.main(["run", str(cfg), "--out", str(tmp_path / "runs"), "-q"])
    assert status == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    run_dir = _only_run(tmp_path / "runs")
    assert line.startswith("vlap: Ctrl-C: interrupted while training "
                           "own_texts/binary_crossentropy seed 0;"), line
    assert "kept 1 finished model and" in line and "checkpoint of epoch 1" in line
    assert line.endswith(f"resume with: vlap run --resume {run_dir}")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["state"] == "interrupted" and meta["resume"] == f"vlap run --resume {run_dir}"
    assert meta["interrupted"] == {"model": "own_texts/binary_crossentropy seed 0",
                                   "last_epoch": 0, "finished_models": 1}
    assert not (run_dir / "error.txt").exists() and not (run_dir / "results.csv").exists()
    finished = run_dir / "train" / "own_texts" / "sigmoid_f1" / "seed0"
    before = _snapshot(finished)

    assert cli.main(["run", "--resume", str(run_dir), "-q"]) == 0
    assert json.loads((run_dir / "run.json").read_text())["state"] == "done"
    after = _snapshot(finished)  # the finished model was kept as it was
    assert {k: v for k, v in after.items() if k in before} == before
    _assert_same_run(run_dir, reference)
    capsys.readouterr()

    # resuming a finished run says so and changes nothing
    snapshot = _snapshot(run_dir)
    assert cli.main(["run", "--resume", str(run_dir)]) == 0
    out = capsys.readouterr()
    assert f"{run_dir} was already complete; nothing was changed" in out.out
    assert _snapshot(run_dir) == snapshot


def test_sigterm_ends_a_run_with_143_and_one_line(tmp_path, monkeypatch, capsys):
    cfg = _config(tmp_path, 2)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with monkeypatch.context() as m:
        _StopAfter(m, "sigmoid_f1", 0, signum=signal.SIGTERM)
        status = cli.main(["run", str(cfg), "--out", str(tmp_path / "runs"), "-q"])
    assert status == 143
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("vlap: SIGTERM: interrupted while training "
                           "own_texts/sigmoid_f1 seed 0; kept 0 finished models and "
                           "own_texts/sigmoid_f1 seed 0's checkpoint of epoch 1"), line
    # the handlers of the program that called main() are back
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    run_dir = _only_run(tmp_path / "runs")
    assert json.loads((run_dir / "run.json").read_text())["state"] == "interrupted"


def test_a_resume_with_another_config_is_refused_naming_the_keys(tmp_path, monkeypatch,
                                                                 capsys):
    cfg = _config(tmp_path, 2)
    with monkeypatch.context() as m:
        _StopAfter(m, "sigmoid_f1", 0)
        assert cli.main(["run", str(cfg), "--out", str(tmp_path / "runs"), "-q"]) == 130
    run_dir = _only_run(tmp_path / "runs")
    capsys.readouterr()
    snapshot = _snapshot(run_dir)
    assert cli.main(["run", "--resume", str(run_dir), "--epochs", "5",
                     "--set", "batch_size=8"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"vlap: error: cannot resume {run_dir}: the config differs"), line
    assert "batch_size: stored 16, given 8" in line and "epochs: stored 2, given 5" in line
    other = tmp_path / "other.toml"
    other.write_text(cfg.read_text().replace("hidden = [8]", "hidden = [4]"))
    assert cli.main(["run", str(other), "--resume", str(run_dir)]) == 2
    assert "model.hidden: stored [8], given [4]" in capsys.readouterr().err
    assert _snapshot(run_dir) == snapshot
    # not a run folder at all
    assert cli.main(["run", "--resume", str(tmp_path)]) == 2
    assert "is not a run folder of `vlap run`" in capsys.readouterr().err
    assert cli.main(["run"]) == 2
    assert "needs a config file" in capsys.readouterr().err


def test_a_failed_run_records_failed_and_keeps_error_txt(tmp_path, monkeypatch):
    from VLAP.training import run_dir as rd

    def broken(cb, epoch, logs=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rd.RunCheckpoint, "on_epoch_end", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        cli.main(["run", str(_config(tmp_path, 1)), "--out", str(tmp_path / "runs"), "-q"])
    run_dir = _only_run(tmp_path / "runs")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["state"] == "failed" and meta["error"] == "RuntimeError: disk on fire"
    assert (run_dir / "error.txt").read_text() == "RuntimeError: disk on fire\n"


def test_unseeded_dropout_resumes_exactly(tmp_path):
    """The runner trains without `seed=` (its dropout draws from the backend's global
    generator, on PyTorch torch's, which a resumed `fit`'s data iterator draws from
    once more): a resumed run still ends with the uninterrupted weights."""
    import keras

    import VLAP

    def data():
        r = np.random.default_rng(0)
        x = r.normal(size=(96, 6)).astype("float32")
        y = (x[:, :4] > 0).astype("float32")
        return (VLAP.createDataset(x[:64], y[:64], batch_size=16, seed=5),
                VLAP.createDataset(x[64:], y[64:], batch_size=16, is_training=False))

    def model():
        keras.utils.set_random_seed(2)
        net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                keras.layers.Dropout(0.3), keras.layers.Dense(4)])
        keras.utils.set_random_seed(2)
        return net

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    kw = dict(loss="bce", epochs=4, verbose=0, patience=None, restore_best=False)
    full, _ = VLAP.train(model(), *data(), run_dir=tmp_path / "full", **kw)
    with pytest.raises(KeyboardInterrupt):
        VLAP.train(model(), *data(), run_dir=tmp_path / "killed", callbacks=[Kill()], **kw)
    resumed, _ = VLAP.train(model(), *data(), run_dir=tmp_path / "killed", resume=True, **kw)
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- real signals, subprocess


def _vlap(args):
    return [sys.executable, "-m", "VLAP", *args]


def _wait_for(path, last_epoch, proc, timeout=300):
    """Wait until `path` (a state.json) records `last_epoch` or later."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.is_file():
            try:
                if json.loads(path.read_text())["last_epoch"] >= last_epoch:
                    return
            except (ValueError, KeyError):
                pass
        assert proc.poll() is None, f"the process ended before epoch {last_epoch + 1} of {path}"
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached epoch {last_epoch + 1}")


@pytest.fixture(scope="module")
def subprocess_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subprocess-reference")
    out = tmp / "runs"
    proc = subprocess.run(_vlap(["run", str(_config(tmp, 6)), "--out", str(out), "-q"]),
                          cwd=ROOT, env=backend_env(BACKEND), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return _only_run(out)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_a_signal_at_a_random_epoch_then_resume_gives_the_uninterrupted_run(
        tmp_path, how, subprocess_reference):
    rng = np.random.default_rng(28 + (how == "SIGKILL"))
    which, epoch = LOSSES[rng.integers(len(LOSSES))], int(rng.integers(0, 3))
    out = tmp_path / "runs"
    env = backend_env(BACKEND)
    proc = subprocess.Popen(_vlap(["run", str(_config(tmp_path, 6)), "--out", str(out), "-q"]),
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 300
        while not out.is_dir() or not any(out.iterdir()):
            assert proc.poll() is None and time.time() < deadline, "no run folder appeared"
            time.sleep(0.02)
        run_dir = _only_run(out)
        _wait_for(run_dir / "train" / "own_texts" / which / "seed0" / "state.json", epoch, proc)
        proc.send_signal(getattr(signal, how))
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    state = json.loads((run_dir / "run.json").read_text())["state"]
    if how == "SIGINT":
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("vlap: Ctrl-C: interrupted "), err
        assert state == "interrupted"
    else:
        assert proc.returncode == -signal.SIGKILL
        assert state == "running"  # nothing could record the kill
    assert not (run_dir / "results.csv").exists()
    resumed = subprocess.run(_vlap(["run", "--resume", str(run_dir), "-q"]), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "run.json").read_text())["state"] == "done"
    _assert_same_run(run_dir, subprocess_reference)


def test_beyond_resume_keeps_finished_datasets_and_refuses_other_options(
        tmp_path, monkeypatch, capsys):
    """`vlap reproduce beyond --resume`: datasets whose study finished are kept, the
    others resumed (inside a dataset: tests/test_study_resume.py); options that differ
    from the folder's are refused."""
    from VLAP.experiments import prepare, study

    studied, resumed = [], []

    def run_dataset(cfg, out, candidates, log=print, *, resume=False, progress=None):
        name = cfg["datasets"][0]["name"]
        studied.append(name)
        resumed.append(resume)
        if name == "mulan_yeast" and len(studied) == 2:
            raise KeyboardInterrupt
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "run.json").write_text("{}")
        return out / name

    monkeypatch.setattr(study, "run_dataset", run_dataset)
    monkeypatch.setattr(prepare, "check_data", lambda d, data_dir=None: None)
    argv = ["reproduce", "beyond", "--datasets", "mulan_emotions,mulan_yeast",
            "--candidates", "bce", "--epochs", "2", "--out", str(tmp_path), "-q"]
    assert cli.main(argv) == 130
    out = tmp_path / "beyond"
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"vlap: Ctrl-C: interrupted while studying mulan_yeast; kept the finished "
                    f"datasets (mulan_emotions) in {out}; resume with: vlap reproduce beyond "
                    f"--datasets mulan_emotions,mulan_yeast --candidates bce --epochs 2 "
                    f"--out {tmp_path} -q --resume {out}")
    assert cli.main(argv + ["--resume", str(out)]) == 0
    assert studied == ["mulan_emotions", "mulan_yeast", "mulan_yeast"]
    assert resumed == [False, False, True]
    assert cli.main(argv[:-3] + ["--epochs", "3", "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"vlap: error: cannot resume {out}: the options differ" in err
    assert "overrides: stored {'epochs': 2}, given {'epochs': 3}" in err
    assert cli.main(argv + ["--resume", str(tmp_path)]) == 2
    assert "no beyond.json" in capsys.readouterr().err


def test_ctrl_c_before_training_says_what_is_unchanged(tmp_path, monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_import_backend_quietly", interrupted)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"state": "interrupted"}')
    (run_dir / "config.toml").write_text('name = "x"\n')
    assert cli.main(["run", "--resume", str(run_dir)]) == 130
    assert capsys.readouterr().err == (f"vlap: Ctrl-C: interrupted before the resume started; "
                                       f"{run_dir} is unchanged\n")
    assert cli.main(["run", str(_config(tmp_path, 1)), "--out", str(tmp_path / "runs")]) == 130
    assert capsys.readouterr().err == ("vlap: Ctrl-C: interrupted before any model was "
                                       "trained; nothing was kept\n")
    assert not (tmp_path / "runs").exists()


def test_an_interrupt_that_a_library_swallowed_still_stops_the_run(tmp_path, monkeypatch,
                                                                   capsys):
    """A Ctrl-C whose KeyboardInterrupt a library caught and dropped (seen once on JAX: the
    run went on to exit 0) still stops the run at the next committed epoch, with 130 and
    the one line, and the run resumes from there."""
    from VLAP.training import run_dir as rd

    original = rd.RunCheckpoint.on_epoch_end

    def on_epoch_end(cb, e, logs=None):
        if cb.run_dir is not None and cb.run_dir.parent.name == "binary_crossentropy" \
                and e == 0:
            try:  # the library: the handler's KeyboardInterrupt is caught and dropped
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                pass
        original(cb, e, logs)

    cfg = _config(tmp_path, 3)
    monkeypatch.setattr(rd.RunCheckpoint, "on_epoch_end", on_epoch_end)
    status = cli.main(["run", str(cfg), "--out", str(tmp_path / "runs"), "-q"])
    assert status == 130
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vlap: Ctrl-C: interrupted while training "
                           "own_texts/binary_crossentropy seed 0;"), line
    run_dir = _only_run(tmp_path / "runs")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["state"] == "interrupted" and meta["interrupted"]["last_epoch"] == 0
    from VLAP import _signals

    assert _signals.PENDING == []  # nothing left over for a later command


def test_a_signal_inside_a_gc_callback_is_delivered_again():
    """A SIGINT that lands in a garbage-collector callback (JAX registers one: its
    `_xla_gc_callback`) or a weakref callback, where Python drops any exception ("Exception
    ignored in ..."), is sent again and raised in the main code, instead of being lost (seen
    in test_sigint_in_a_predict_subprocess_exits_130_without_traceback under load)."""
    import gc

    fired = []

    def callback(phase, info):
        if phase == "start" and not fired:
            fired.append(True)
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs here, inside the callback
                pass

    with cli._interruptible() as received:
        gc.callbacks.append(callback)
        try:
            with pytest.raises(KeyboardInterrupt):
                gc.collect()
                time.sleep(5)  # the signal, sent again, interrupts this
        finally:
            gc.callbacks.remove(callback)
    assert fired and received == [signal.SIGINT]
