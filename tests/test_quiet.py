"""Quiet in Python as in the CLI: no native start-up noise, no retracing notices (issue 21)."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import VLAP
from VLAP.inference import package_model

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("I0000 ", "absl::InitializeLog", "failed call to cuInit", "oneDNN")


@pytest.mark.parametrize("statement", ["import VLAP.inference", "import VLAP.losses",
                                       "from VLAP.training import train",
                                       "import VLAP; VLAP.evaluate"])
def test_importing_a_keras_part_of_vlap_prints_no_native_noise(statement):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", statement], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    assert not [line for line in out.stderr.splitlines() if any(n in line for n in NOISE)], \
        out.stderr


def test_repeated_predict_logs_no_retracing_notice(tmp_path, caplog):
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    predictor = package_model(net, ["a", "b"])
    file = tmp_path / "m.keras"
    predictor.save(file)
    rng = np.random.default_rng(0)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for n in range(7):  # new shapes and newly loaded models: both trace again
            VLAP.predict(str(file), rng.random((10 + n, 3)).astype("float32"))
            VLAP.predict(predictor, rng.random((20 + n, 3)).astype("float32"))
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


class _Terminal(__import__("io").StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_evaluate_shows_progress_over_batches_on_a_terminal_only(monkeypatch, terminal):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x[:, :2] > 0).astype("float32")
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    data = VLAP.createDataset(x, y, batch_size=8, is_training=False)
    stream = _Terminal() if terminal else __import__("io").StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    VLAP.evaluate(net, data)
    assert ("evaluating" in stream.getvalue()) is terminal
