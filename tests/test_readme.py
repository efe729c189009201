"""The README's "Use your own data" code blocks run exactly as written.

Each block follows a `<!-- readme-test: NAME -->` marker in README.md. The
config is written to a file and run with `python -m VLAP run` (with fewer
seeds and epochs, given on the command line, so the test is quick), then the
run folder is used by `python -m VLAP predict`; the Python block runs as a
script. Both run in a folder where `tests/data/` is the repository's, so the
relative paths of the README resolve as they do from the repository root.
"""

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import backend_env

ROOT = Path(__file__).resolve().parents[1]


def readme_block(name):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- readme-test: {re.escape(name)} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README.md has no code block after <!-- readme-test: {name} -->"
    return match.group(1)


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(ROOT / "tests" / "data")
    return tmp_path


def _run(args, cwd, timeout=900):
    env = dict(backend_env("tensorflow"), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_blocks_are_short():
    for name in ("own-data-config", "own-data-python"):
        lines = [ln for ln in readme_block(name).splitlines() if ln.strip()]
        assert len(lines) <= 13, (name, len(lines))


def test_readme_config_runs_and_predicts(workdir):
    (workdir / "tickets.toml").write_text(readme_block("own-data-config"))
    proc = _run(["-m", "VLAP", "run", "tickets.toml", "--out", "runs", "--seeds", "0",
                 "--epochs", "3", "--no-plots", "-q"], workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sigmoidF1" in proc.stdout and "BCE" in proc.stdout
    (run_dir,) = (workdir / "runs").iterdir()
    assert (run_dir / "models.json").is_file()
    assert sorted(p.name for p in (run_dir / "models").rglob("*.keras")) == [
        "binary_crossentropy.keras", "sigmoid_f1.keras"]
    proc = _run(["-m", "VLAP", "predict", str(run_dir), "tests/data/own_texts.csv",
                 "--out", "predictions.csv"], workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(workdir / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 80 and list(rows[0])[:2] == ["id", "labels"]
    proc = _run(["-m", "VLAP", "predict", str(run_dir), "missing.csv"], workdir)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(
        "vlap: error: input not found")


def test_readme_python_runs(workdir):
    (workdir / "example.py").write_text(readme_block("own-data-python"))
    proc = _run(["example.py"], workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (workdir / "tickets.keras").is_file()
    printed = eval(proc.stdout.strip().splitlines()[-1])  # the list the README shows
    assert "bug" in printed[0].split("|") and "billing" in printed[1].split("|")
