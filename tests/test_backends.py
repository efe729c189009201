"""Backend parity: the same inputs give the same loss values on TensorFlow,
PyTorch and JAX (each in a subprocess with KERAS_BACKEND set) and in VLAP.torch;
a tiny model trains with each loss on each backend and reloads."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import random_multilabel, run_on_backend

HERE = Path(__file__).parent
BACKENDS = ["tensorflow", "torch", "jax"]


def _run_worker(backend):
    proc = run_on_backend(backend, [str(HERE / "_backend_worker.py")])
    assert proc.returncode == 0, f"{backend} worker failed:\n{proc.stderr[-4000:]}"
    line = [l for l in proc.stdout.splitlines() if l.startswith("VLAP-RESULT ")][-1]
    return json.loads(line[len("VLAP-RESULT "):])


@pytest.fixture(scope="module")
def results():
    out = {}
    for backend in BACKENDS:
        try:
            __import__({"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}[backend])
        except ImportError:
            continue
        out[backend] = _run_worker(backend)
    if len(out) < 2:
        pytest.skip(f"needs at least two Keras backends installed; found {sorted(out)}")
    return out


def _torch_values():
    torch = pytest.importorskip("torch")
    import VLAP.torch as vt
    sys.path.insert(0, str(HERE))
    from _backend_worker import CASES

    y, u = random_multilabel(n=48, num_labels=5, seed=123)
    yt, ut = torch.tensor(y), torch.tensor(u)
    make = {
        "sigmoid_f1": lambda kw: vt.SigmoidF1(**kw),
        "sigmoid_f1_micro": lambda kw: vt.SigmoidF1(**kw),
        "unbounded_f1": lambda kw: vt.UnboundedF1(**kw),
        "binary_crossentropy": lambda kw: vt.BinaryCrossentropy(**kw),
        "focal": lambda kw: vt.Focal(**kw),
        "asymmetric": lambda kw: vt.Asymmetric(**kw),
    }
    values = {}
    for case, kw in CASES.items():
        module = make[case](kw) if case in make else vt.SoftScoreLoss(case, **kw)
        values[case] = float(module(ut, yt))
    return values


@pytest.mark.slow
def test_loss_values_agree_across_backends(results):
    ref = results[next(iter(results))]["values"]
    for backend, res in results.items():
        for case, value in res["values"].items():
            assert value == pytest.approx(ref[case], abs=1e-5), (backend, case)


@pytest.mark.slow
def test_vlap_torch_agrees_with_keras_backends(results):
    torch_values = _torch_values()
    for backend, res in results.items():
        for case, value in res["values"].items():
            assert torch_values[case] == pytest.approx(value, abs=1e-5), (backend, case)


@pytest.mark.slow
def test_tiny_model_trains_with_each_loss_on_each_backend(results):
    for backend, res in results.items():
        for name, (first, last) in res["train"].items():
            assert np.isfinite([first, last]).all(), (backend, name)
            assert last < first, f"{name} did not decrease on {backend}: {first} -> {last}"


@pytest.mark.slow
def test_model_with_vlap_loss_reloads_on_each_backend(results):
    for backend, res in results.items():
        config = res["reload_loss_config"]
        assert (config["beta"], config["eta"], config["average"]) == (4.0, 0.5, "micro"), backend
        assert res["reload_same_predictions"], backend
