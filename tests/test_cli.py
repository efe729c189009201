"""The `vlap` command: demo, reproduce, run, overrides, errors, run directories."""

import csv
import json
import gzip
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import VLAP
from VLAP import cli
from VLAP.experiments.results import RESULT_COLUMNS
from VLAP.losses import PAPER_LOSSES
from VLAP.evaluation import METRIC_NAMES

RUN_FILES = {"results.csv", "results.md", "config.toml", "versions.json", "notes.txt",
             "run.json", "surrogate_vs_f1.png"}
ROOT = Path(__file__).resolve().parents[1]
NAMED = ("mulan_emotions", "mulan_yeast", "mulan_scene", "reuters", "arxiv", "posters",
         "posters_pretrained")


def _run_dirs(out):
    return sorted(p for p in out.iterdir() if p.is_dir())


def _check_run_dir(run_dir, datasets, n_losses, n_seeds, tuned=True, grid=0):
    names = {p.name for p in run_dir.iterdir()}
    assert RUN_FILES <= names, RUN_FILES - names
    for d in datasets:
        assert {f"{d}_learning_curves.png", f"{d}_per_label_f1.png",
                f"{d}_label_counts.png"} <= names
    with open(run_dir / "results.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == RESULT_COLUMNS
        rows = list(reader)
    models = len(datasets) * (n_losses + (1 if tuned else 0) + grid) * n_seeds
    assert len(rows) == models * len(METRIC_NAMES)
    assert {r["backend"] for r in rows} and all(r["VLAP_version"] for r in rows)
    assert all(r["keras_version"] for r in rows)
    md = (run_dir / "results.md").read_text()
    assert "macro-F1" in md and "mAP" in md and "label-count MAE" in md and "mean #true" in md
    assert "as in the paper's tables" in md  # the naming note
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    return rows, cfg


def test_demo_smoke_writes_a_complete_run_directory(tmp_path, capsys):
    assert cli.main(["demo", "--smoke", "--out", str(tmp_path)]) == 0
    (run_dir,) = _run_dirs(tmp_path)
    rows, cfg = _check_run_dir(run_dir, ["synthetic"], 5, 1)
    assert "smoke_mode" not in cfg and "source" not in cfg  # provenance is in run.json
    assert json.loads((run_dir / "run.json").read_text())["smoke"] is True
    assert {r["loss"] for r in rows} == set(PAPER_LOSSES)
    assert {r["variant"] for r in rows if r["loss"] == "binary_crossentropy"} == {"", "tuned"}
    out = capsys.readouterr().out
    for header in ("macroF1@thr", "mAP", "count MAE", "#pred", "#true"):
        assert header in out
    assert "BCE + tuned thresholds" in out and str(run_dir) in out


def test_overrides_win_and_runs_are_never_overwritten(tmp_path):
    cfg = tmp_path / "mine.toml"
    cfg.write_text('name = "mine"\nseeds = [0, 1, 2]\nepochs = 30\nlosses = ["focal"]\n'
                   '[dataset]\nkind = "synthetic"\nn_samples = 120\nn_classes = 4\n')
    argv = ["run", str(cfg), "--out", str(tmp_path / "runs"), "--epochs", "1",
            "--seeds", "5", "--losses", "bce,sigmoidF1", "--set", "batch_size=16",
            "--set", "loss_kwargs.sigmoidF1.beta=5.0", "--no-plots", "-q"]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0  # the same command again: a second, new folder
    first, second = _run_dirs(tmp_path / "runs")
    assert first != second
    written = tomllib.loads(first.joinpath("config.toml").read_text())
    assert written["epochs"] == 1 and written["seeds"] == [5] and written["batch_size"] == 16
    assert written["losses"] == ["binary_crossentropy", "sigmoid_f1"]
    assert written["loss_kwargs"] == {"sigmoid_f1": {"beta": 5.0}}
    rows = list(csv.DictReader(open(first / "results.csv")))
    assert {r["seed"] for r in rows} == {"5"} and {r["epochs_run"] for r in rows} == {"1"}
    assert not any(p.suffix == ".png" for p in first.iterdir())


def test_grid_adds_a_validation_chosen_sigmoid_f1(tmp_path):
    argv = ["demo", "--smoke", "--grid", "--losses", "sigmoidF1", "--no-plots", "-q",
            "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    (run_dir,) = _run_dirs(tmp_path)
    grid = list(csv.DictReader(open(run_dir / "grid.csv")))
    assert [(float(r["beta"]), float(r["eta"])) for r in grid] == [(1.0, 0.0), (10.0, 0.0)]
    rows = list(csv.DictReader(open(run_dir / "results.csv")))
    assert {r["variant"] for r in rows} == {"", "grid"}
    assert "(grid: β=" in (run_dir / "results.md").read_text()


@pytest.mark.parametrize("argv,match", [
    (["reproduce", "no_such_experiment"], "Unknown experiment 'no_such_experiment'"),
    (["run", "absent.toml"], "Config file not found"),
    (["demo", "--losses", "sigmoidF1,hinge"], "Unknown loss 'hinge'"),
    (["demo", "--set", "epoch=3"], "override 'epoch'"),
    (["demo", "--set", "epochs"], "--set expects key=value"),
])
def test_errors_are_clear_and_exit_2(tmp_path, capsys, argv, match):
    assert cli.main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vlap: error:") and match in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_bad_dataset_in_config_and_missing_data(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[dataset]\nkind = "imagenet"\n')
    assert cli.main(["run", str(cfg), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vlap: error: {cfg}: ") and "dataset.kind='imagenet'" in err
    cfg.write_text('[dataset]\nkind = "mulan"\nmulan_name = "yeast"\n')
    code = cli.main(["run", str(cfg), "--out", str(tmp_path / "o"), "--data-dir",
                     str(tmp_path / "nowhere"), "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("vlap: error:") and "yeast" in err and err.count("\n") == 1
    for hint in ("--data-dir", "VLAP_DATA_DIR", str(tmp_path / "nowhere")):
        assert hint in err  # says how to point VLAP at the data
    assert not (tmp_path / "o").exists()  # checked before anything is written


def test_config_errors_come_before_data_errors(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('threshold = 1.0\n[dataset]\nkind = "mulan"\nmulan_name = "yeast"\n')
    argv = ["run", str(cfg), "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path / "no")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "`threshold` must be a probability strictly between 0 and 1" in err


def _data_error(tmp_path, capsys, name, files):
    root = tmp_path / "data"
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    argv = ["reproduce", name, "--smoke", "--no-plots", "-q", "--data-dir", str(root),
            "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vlap: error:") and err.count("\n") == 1, err
    return err, root


def test_data_errors_are_one_line_naming_the_file(tmp_path, capsys):
    csv_path = "arxiv/arxiv_abstracts_sample.csv"
    text = 'titles,summaries,terms\nA title,An abstract,"[\'cs.LG\']"\n'
    err, root = _data_error(tmp_path, capsys, "arxiv", {csv_path: text.encode("utf-16")})
    assert str(root / csv_path) in err and "arxiv" in err
    err, root = _data_error(tmp_path, capsys, "mulan_yeast", {
        "mulan/yeast.arff.gz": gzip.compress(b"@relation yeast\n@data\n1,2\n"),
        "mulan/yeast.xml.gz": gzip.compress(b"<labels><label name='a'/></labels>"[:20])})
    assert "yeast" in err


@pytest.mark.parametrize("argv,match", [
    (["demo", "--set", "threshold=1"], "override threshold=1: `threshold` must be a probability"),
    (["demo", "--set", "dataset.min_count=0"], "override dataset.min_count=0:"),
    (["demo", "--set", "model.dropout=2"], "override model.dropout=2:"),
])
def test_a_bad_override_names_the_override(tmp_path, capsys, argv, match):
    assert cli.main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vlap: error: {match}")
    assert not list(tmp_path.iterdir())


def test_bad_flag_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--epochs", "0"])
    assert info.value.code == 2
    assert "expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["demo", "--seeds", "a,b"])


def test_list_names_the_configs(capsys):
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out.split()
    assert set(NAMED) <= set(listed)


def _vlap(*argv, cwd=None, env=None, timeout=300):
    """``python -m VLAP argv`` in a subprocess, TensorFlow's log level left unset."""
    env = {k: v for k, v in (env or os.environ).items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.setdefault("PYTHONPATH", str(ROOT))
    return subprocess.run([sys.executable, "-m", "VLAP", *argv], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env)


def test_python_dash_m_vlap_help_and_version():
    out = _vlap("--help")
    assert out.returncode == 0 and "reproduce" in out.stdout and "demo" in out.stdout
    out = _vlap("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"vlap {VLAP.__version__}"


_NO_BACKEND = """
import sys
import VLAP
from VLAP import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("keras", "tensorflow", "torch", "jax", "pandas", "sklearn",
                           "matplotlib") if m in sys.modules)
print("IMPORTED", heavy, "CODE", code)
"""


@pytest.mark.parametrize("argv,code", [
    (["list"], 0), (["--help"], 0), (["--version"], 0), (["demo", "--help"], 0),
    (["demo", "--epochs", "0"], 2), (["frobnicate"], 2), (["demo", "--set", "epochs"], 2),
    ([], 2),
])
def test_quick_commands_import_no_backend(argv, code):
    out = subprocess.run([sys.executable, "-c", _NO_BACKEND, *argv], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert f"IMPORTED [] CODE {code}" in out.stdout, out.stdout + out.stderr


def test_runs_are_quiet_notes_are_about_the_run_and_config_toml_reruns(tmp_path):
    # all five losses: enough new models for TensorFlow's retracing notice
    out = _vlap("demo", "--smoke", "--no-plots", "--out", str(tmp_path / "a"))
    assert out.returncode == 0, out.stderr
    for noise in ("absl::InitializeLog", "I0000", "oneDNN", "cuda drivers", "retracing"):
        assert noise not in out.stderr, out.stderr
    (first,) = _run_dirs(tmp_path / "a")
    notes = (first / "notes.txt").read_text()
    assert "DeprecationWarning" not in notes and "synthetic" in notes
    # the run's own config.toml runs again, with the same numbers
    assert cli.main(["run", str(first / "config.toml"), "--out", str(tmp_path / "b"),
                     "-q"]) == 0
    (second,) = _run_dirs(tmp_path / "b")

    def values(run_dir):
        with open(run_dir / "results.csv", newline="") as f:
            return [(r["dataset"], r["loss"], r["variant"], r["seed"], r["metric"], r["value"],
                     r["epochs_run"]) for r in csv.DictReader(f)]

    assert values(first) == values(second)
    assert (first / "config.toml").read_text() == (second / "config.toml").read_text()


@pytest.mark.slow
def test_the_wheel_ships_the_named_configs(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "VLAP", src / "VLAP",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", str(src), "-w", str(tmp_path / "wheel")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"VLAP/experiments/configs/{n}.toml" for n in NAMED} <= set(names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # an installed, non-editable copy
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "experiments").mkdir(parents=True)
    (elsewhere / "experiments" / "mine.toml").write_text('[dataset]\nkind = "synthetic"\n')
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = _vlap("list", cwd=elsewhere, env=env)
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == set(NAMED) | {"mine"}  # ./experiments adds
    code = ("import VLAP.experiments as ex; print(ex.config.find_config('posters'))")
    where = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=elsewhere, env=env, timeout=120)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout + where.stderr


def test_library_never_imports_the_cli():
    code = ("import sys, VLAP, VLAP.experiments, VLAP.plots; "
            "assert 'VLAP.cli' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


@pytest.mark.data
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[] if n == "mulan_emotions" else [pytest.mark.slow])
    for n in NAMED])
def test_reproduce_smoke_on_shared_data(tmp_path, shared_data, name, capsys):
    argv = ["reproduce", name, "--smoke", "--data-dir", str(shared_data), "--out", str(tmp_path),
            "--compare-paper"]
    assert cli.main(argv) == 0
    (run_dir,) = _run_dirs(tmp_path)
    rows, cfg = _check_run_dir(run_dir, [name], 5, 1)
    assert cfg["name"] == name and cfg["data_dir"] == str(shared_data)
    md = (run_dir / "results.md").read_text()
    assert "Comparison with the paper's published numbers" in md
    if name in ("arxiv", "posters"):
        assert "0.300 / 0.224 / 0.158 / 0.104" in md or "0.106 / 0.106 / 0.093 / 0.096" in md
