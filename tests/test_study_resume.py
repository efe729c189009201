"""`vlap reproduce beyond --resume` continues an interrupted study inside a dataset: the
finished models are kept, the interrupted one continues from its last epoch checkpoint,
the rest train as planned, and the study folder ends as an uninterrupted study's
(results.csv, selection.csv, every model's weights); exact on TensorFlow. Runs on a
tiny generated dataset named in ./experiments, so it needs no shared data."""

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from VLAP import cli
from conftest import backend_env
from test_interrupts import _keras_weights, _snapshot, _wait_for

ROOT = Path(__file__).resolve().parents[1]
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
EXACT = BACKEND == "tensorflow"
#: Files of a dataset's study folder that differ between any two studies: wall-clock time.
TIMED = ("run.json", "train_seconds.json", "versions.json")


def _experiment(cwd, seeds=(0, 1), epochs=3):
    """./experiments/tiny.toml under `cwd`: generated data, an MLP with dropout, no
    early stop (every model trains every epoch, so an epoch can be chosen to stop at)."""
    (cwd / "experiments").mkdir(parents=True, exist_ok=True)
    (cwd / "experiments" / "tiny.toml").write_text(
        f'name = "tiny"\nseeds = {list(seeds)}\nepochs = {epochs}\npatience = false\n'
        'batch_size = 32\nlearning_rate = 0.01\nlosses = ["bce"]\n'
        '[model]\nkind = "mlp"\nhidden = [8]\ndropout = 0.2\n'
        '[dataset]\nname = "tiny"\nkind = "synthetic"\nn_samples = 240\nn_features = 10\n'
        'n_classes = 4\nn_labels = 2\nrandom_state = 0\n')


def _argv(out, candidates):
    return ["reproduce", "beyond", "--datasets", "tiny", "--candidates", candidates,
            "--out", str(out), "-q"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _assert_same_study(got, ref):
    """The study folder `got` ends as the uninterrupted `ref`: results.csv and
    selection.csv (byte for byte on TensorFlow), the same files, every model's
    history and weights."""
    files = sorted(str(p.relative_to(ref)) for p in ref.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(got)) for p in got.rglob("*") if p.is_file())
    assert any(f.endswith("last.keras") for f in files)
    for name in ("results.csv", "selection.csv"):
        if EXACT:
            assert (got / name).read_bytes() == (ref / name).read_bytes(), name
            continue
        a, b = _rows(got / name), _rows(ref / name)
        numeric = [k for k in a[0] if k.startswith("val_") or k == "value"]
        assert [{k: v for k, v in r.items() if k not in numeric} for r in a] == \
            [{k: v for k, v in r.items() if k not in numeric} for r in b], name
        np.testing.assert_allclose([[float(r[k]) for k in numeric] for r in a],
                                   [[float(r[k]) for k in numeric] for r in b],
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    for rel in files:
        if rel.endswith(".keras"):
            wa, wb = _keras_weights(got / rel), _keras_weights(ref / rel)
            assert wa.keys() == wb.keys(), rel
            for key in wa:
                if EXACT:
                    np.testing.assert_array_equal(wa[key], wb[key], err_msg=f"{rel}: {key}")
                else:
                    np.testing.assert_allclose(wa[key], wb[key], rtol=0, atol=1e-6,
                                               err_msg=f"{rel}: {key}")
        elif rel.endswith("history.csv"):
            a, b = _rows(got / rel), _rows(ref / rel)
            assert [r["epoch"] for r in a] == [r["epoch"] for r in b], rel
            np.testing.assert_allclose([float(r["loss"]) for r in a],
                                       [float(r["loss"]) for r in b],
                                       rtol=0 if EXACT else 1e-5, err_msg=rel)


# ---------------------------------------------------------------- in this process: Ctrl-C


def _stop_after(monkeypatch, model, epoch):
    """Patch RunCheckpoint.on_epoch_end: once epoch `epoch` of the model whose training
    folder ends with `model` (e.g. "bce/-/seed1") is committed, raise KeyboardInterrupt
    as Ctrl-C does."""
    from VLAP.training import run_dir as rd

    original = rd.RunCheckpoint.on_epoch_end

    def on_epoch_end(cb, e, logs=None):
        original(cb, e, logs)
        if cb.run_dir is not None and cb.run_dir.as_posix().endswith(model) and e == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(rd.RunCheckpoint, "on_epoch_end", on_epoch_end)


@contextlib.contextmanager
def _epochs_trained(folder):
    """Within: a list that records ``(training folder relative to `folder`, epoch)`` for
    every epoch any model trains (RunCheckpoint.on_epoch_end wrapped)."""
    from VLAP.training import run_dir as rd

    trained, original = [], rd.RunCheckpoint.on_epoch_end

    def on_epoch_end(cb, e, logs=None):
        trained.append((cb.run_dir.relative_to(folder).as_posix(), e))
        original(cb, e, logs)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(rd.RunCheckpoint, "on_epoch_end", on_epoch_end)
        yield trained


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted study of bce on two seeds (two models), in this process."""
    tmp = tmp_path_factory.mktemp("study-reference")
    _experiment(tmp)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        assert cli.main(_argv(tmp, "bce")) == 0
    finally:
        os.chdir(cwd)
    return tmp / "beyond" / "tiny"


@pytest.mark.slow
def test_ctrl_c_inside_a_model_then_resume_gives_the_uninterrupted_study(
        tmp_path, monkeypatch, capsys, reference):
    _experiment(tmp_path)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "beyond"
    with monkeypatch.context() as m:
        _stop_after(m, "bce/-/seed1", 1)  # bce's second seed, after its second epoch
        assert cli.main(_argv(tmp_path, "bce")) == 130
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in line
    assert line.startswith("vlap: Ctrl-C: interrupted while studying tiny, training tiny bce "
                           "- seed 1 (kept: 1 finished model and its checkpoint of epoch "
                           "2); kept the finished datasets (none yet)"), line
    assert line.endswith(f"--resume {out}"), line
    folder = out / "tiny"
    assert not (folder / "run.json").exists()
    finished = folder / "train" / "bce" / "-" / "seed0"
    before = _snapshot(finished)
    assert json.loads((folder / "train" / "bce" / "-" / "seed1" / "state.json")
                      .read_text())["last_epoch"] == 1

    # the same command with --resume: the finished model is kept as it was (no epoch
    # trained), the interrupted one trains only the epoch its checkpoint had not reached
    with _epochs_trained(folder) as trained:
        assert cli.main(_argv(tmp_path, "bce") + ["--resume", str(out)]) == 0
    assert trained == [("train/bce/-/seed1", 2)]
    capsys.readouterr()
    after = _snapshot(finished)
    assert {k: v for k, v in after.items() if k in before} == before
    history = _rows(folder / "train" / "bce" / "-" / "seed1" / "history.csv")
    assert [r["epoch"] for r in history] == ["0", "1", "2"]
    _assert_same_study(folder, reference)

    # resuming a finished study says so and changes nothing
    snapshot = _snapshot(out)
    assert cli.main(_argv(tmp_path, "bce") + ["--resume", str(out)]) == 0
    assert f"{out} was already complete; nothing was changed" in capsys.readouterr().out
    assert _snapshot(out) == snapshot
    from VLAP.experiments import load_config, study  # the same, through the study's entry

    said = []
    assert study.run_dataset(load_config("tiny"), out, ["bce"], log=said.append,
                             resume=True) == folder
    assert said == [f"{folder} is already complete; nothing was changed"]
    assert _snapshot(out) == snapshot


def test_a_resume_with_another_config_or_a_second_study_is_refused(tmp_path, monkeypatch,
                                                                     capsys):
    from VLAP.experiments import load_config, study

    _experiment(tmp_path, seeds=(0,), epochs=2)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "beyond"
    with monkeypatch.context() as m:
        _stop_after(m, "bce/-/seed0", 0)
        assert cli.main(_argv(tmp_path, "bce")) == 130
    capsys.readouterr()
    snapshot = _snapshot(out)
    # other options than the folder's beyond.json
    assert cli.main(_argv(tmp_path, "bce") + ["--epochs", "3", "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vlap: error: cannot resume {out}: the options differ"), err
    # a new study into the folder of an unfinished one: refused, its beyond.json kept
    assert cli.main(_argv(tmp_path, "bce") + ["--epochs", "3"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"vlap: error: {out} already holds a study of tiny; continue it with "
                    f"--resume {out} and the options its beyond.json records, or choose "
                    "another --out: a study is never overwritten"), line
    assert _snapshot(out) == snapshot
    # the same options, but the dataset's config changed since (its config.toml)
    _experiment(tmp_path, seeds=(0,), epochs=2)
    toml = tmp_path / "experiments" / "tiny.toml"
    toml.write_text(toml.read_text().replace("hidden = [8]", "hidden = [4]")
                    .replace("batch_size = 32", "batch_size = 16"))
    assert cli.main(_argv(tmp_path, "bce") + ["--resume", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"vlap: error: cannot resume {out / 'tiny'}: the config differs "
                           "from its config.toml in "), line
    assert "batch_size: stored 32, given 16" in line and \
        "model.hidden: stored [8], given [4]" in line, line
    assert _snapshot(out) == snapshot
    # the same, through the study's own entry
    _experiment(tmp_path, seeds=(0,), epochs=2)
    with pytest.raises(FileExistsError, match="already holds the models of an earlier study "
                                              r"\(bce\)"):
        study.run_dataset(load_config("tiny"), out, ["bce"], log=lambda *a: None)
    assert _snapshot(out) == snapshot


# ---------------------------------------------------------------- real signals, subprocess

#: The multi-model study of the signal test: bce, then sigmoid_f1's four slopes on the
#: first seed, then the two chosen settings on the second seed (seven models).
STUDY = "bce,sigmoid_f1"
MODELS = [("bce", "-", 0), *(("sigmoid_f1", f"beta={b}", 0) for b in (1, 5, 10, 30)),
          ("bce", "-", 1)]
EPOCHS = 4


def _vlap(args):
    return [sys.executable, "-m", "VLAP", *args]


def _env():
    return backend_env(BACKEND, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))


@pytest.fixture(scope="module")
def subprocess_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study-subprocess-reference")
    _experiment(tmp, epochs=EPOCHS)
    proc = subprocess.run(_vlap(_argv(tmp, STUDY)), cwd=tmp, env=_env(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return tmp / "beyond" / "tiny"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_a_signal_at_a_random_epoch_of_a_study_then_resume_gives_the_uninterrupted_study(
        tmp_path, how, subprocess_reference):
    rng = np.random.default_rng(28 + (how == "SIGKILL"))
    cand, label, seed = MODELS[int(rng.integers(len(MODELS)))]
    epoch = int(rng.integers(0, EPOCHS - 1))
    _experiment(tmp_path, epochs=EPOCHS)
    out = tmp_path / "beyond"
    folder = out / "tiny"
    env = _env()
    proc = subprocess.Popen(_vlap(_argv(tmp_path, STUDY)), cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(folder / "train" / cand / label / f"seed{seed}" / "state.json", epoch, proc,
                  timeout=600)
        proc.send_signal(getattr(signal, how))
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if how == "SIGINT":
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith(
            "vlap: Ctrl-C: interrupted while studying tiny, "), err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not (folder / "run.json").exists()
    resumed = subprocess.run(_vlap(_argv(tmp_path, STUDY) + ["--resume", str(out)]),
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert (folder / "run.json").is_file()
    _assert_same_study(folder, subprocess_reference)


@pytest.mark.slow
def test_the_dual_head_model_resumes_from_its_checkpoint_too(tmp_path, monkeypatch):
    """The study's own trainer (dual head) trains through the same resumable folder."""
    from VLAP.experiments import DEMO_CONFIG, load_config, study
    from VLAP.experiments.prepare import prepare_dataset

    cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0], "epochs": 3, "patience": False},
                      smoke=True)
    prep = prepare_dataset(cfg["datasets"][0], None)
    _, kw = study.loss_kwargs("dual_head", {"beta": 1.0, "weight": 0.3}, cfg["epochs"])
    full = study.train_dual_head(prep, cfg, 0, kw, run_dir=tmp_path / "full")
    with monkeypatch.context() as m:
        _stop_after(m, "killed", 0)
        with pytest.raises(KeyboardInterrupt):
            study.train_dual_head(prep, cfg, 0, kw, run_dir=tmp_path / "killed")
    assert json.loads((tmp_path / "killed" / "state.json").read_text())["last_epoch"] == 0
    resumed = study.train_dual_head(prep, cfg, 0, kw, run_dir=tmp_path / "killed", resume=True)
    assert resumed.epochs_run == full.epochs_run == 3
    a, b = (r.summaries[""]["value"].astype(float).to_numpy() for r in (resumed, full))
    if EXACT:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for rel in ("checkpoints/last.keras", "checkpoints/best.keras"):
        wa, wb = (_keras_weights(tmp_path / d / rel) for d in ("killed", "full"))
        for key in wa:
            np.testing.assert_allclose(wa[key], wb[key], rtol=0, atol=0 if EXACT else 1e-6,
                                       err_msg=f"{rel}: {key}")


@pytest.mark.slow
def test_ctrl_c_inside_a_batch_size_model_then_resume_gives_the_uninterrupted_runs(
        tmp_path, monkeypatch, capsys):
    """`--batch-sizes` models resume as the study's do: the finished ones are kept, the
    interrupted one continues from its last epoch, batch_size.csv ends as uninterrupted."""
    argv = _argv(tmp_path / "ref", "bce") + ["--batch-sizes", "16"]
    _experiment(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 0  # the reference: uninterrupted
    reference = tmp_path / "ref" / "beyond" / "tiny" / "batch_size.csv"
    out = tmp_path / "beyond"
    argv = _argv(tmp_path, "bce") + ["--batch-sizes", "16"]
    with monkeypatch.context() as m:
        _stop_after(m, "bs16/bce/seed1", 1)
        assert cli.main(argv) == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "batch 16 bce seed 1" in line and "--resume" in line, line
    folder = out / "tiny"
    assert not (folder / "batch_size.json").exists()
    with _epochs_trained(folder) as trained:
        assert cli.main(argv + ["--resume", str(out)]) == 0
    assert trained == [("train_batch_size/bs16/bce/seed1", 2)]
    got, want = _rows(folder / "batch_size.csv"), _rows(reference)
    if EXACT:
        assert got == want
    else:
        assert [{k: v for k, v in r.items() if k != "value"} for r in got] == \
            [{k: v for k, v in r.items() if k != "value"} for r in want]
        np.testing.assert_allclose([float(r["value"]) for r in got],
                                   [float(r["value"]) for r in want], rtol=1e-5, atol=1e-6)


def test_lodo_picks_resume_from_their_checkpoints(tmp_path, monkeypatch):
    """`python -m VLAP.experiments.study lodo ... --resume`: the picks' models keep epoch
    checkpoints; a model whose training stopped part-way continues from its last epoch,
    finished ones are not trained again, and lodo.csv ends as an uninterrupted run's."""
    from VLAP.experiments import load_config, study

    _experiment(tmp_path, seeds=(0,), epochs=3)
    monkeypatch.chdir(tmp_path)
    cfg = load_config("tiny")
    ref = study.run_picks(cfg, tmp_path / "ref", [("bce", "-")], log=lambda m: None)
    with monkeypatch.context() as m:
        _stop_after(m, "bce/-/seed0", 0)
        with pytest.raises(KeyboardInterrupt):
            study.run_picks(cfg, tmp_path / "out", [("bce", "-")], log=lambda m: None)
    with _epochs_trained(tmp_path / "out") as trained:
        got = study.run_picks(cfg, tmp_path / "out", [("bce", "-")], log=lambda m: None,
                              resume=True)
    assert trained == [("tiny/train_picks/bce/-/seed0", 1),  # epoch 0 was kept
                       ("tiny/train_picks/bce/-/seed0", 2)]
    a, b = _rows(got / "lodo.csv"), _rows(ref / "lodo.csv")
    if EXACT:
        assert a == b
    else:
        np.testing.assert_allclose([float(r["value"]) for r in a],
                                   [float(r["value"]) for r in b], rtol=1e-5, atol=1e-6)
