"""The `vlap` command: demo, reproduce, run, overrides, errors, run directories."""

import csv
import subprocess
import sys
import tomllib

import pytest

from VLAP import cli
from VLAP.experiments.results import RESULT_COLUMNS
from VLAP.losses import PAPER_LOSSES
from VLAP.evaluation import METRIC_NAMES

RUN_FILES = {"results.csv", "results.md", "config.toml", "versions.json", "notes.txt",
             "run.json", "surrogate_vs_f1.png"}
NAMED = ("mulan_emotions", "mulan_yeast", "mulan_scene", "reuters", "arxiv", "posters")


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
    assert "the paper's 'microF1'" in md  # the naming note
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    return rows, cfg


def test_demo_smoke_writes_a_complete_run_directory(tmp_path, capsys):
    assert cli.main(["demo", "--smoke", "--out", str(tmp_path)]) == 0
    (run_dir,) = _run_dirs(tmp_path)
    rows, cfg = _check_run_dir(run_dir, ["synthetic"], 5, 1)
    assert cfg["smoke_mode"] is True
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
    assert "unknown dataset kind 'imagenet'" in capsys.readouterr().err
    cfg.write_text('[dataset]\nkind = "mulan"\nmulan_name = "yeast"\n')
    code = cli.main(["run", str(cfg), "--out", str(tmp_path / "o"), "--data-dir",
                     str(tmp_path / "nowhere"), "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("vlap: error:") and "yeast" in err
    (run_dir,) = _run_dirs(tmp_path / "o")  # the folder says why it is incomplete
    assert "FileNotFoundError" in (run_dir / "error.txt").read_text()


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


def test_python_dash_m_vlap_help():
    out = subprocess.run([sys.executable, "-m", "VLAP", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "reproduce" in out.stdout and "demo" in out.stdout


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
