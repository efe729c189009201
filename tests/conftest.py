import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VLAP_DATA_DIR", ROOT.parent / "shared" / "data"))


def _other_pass(why):
    """The skip reason of a test that runs once, in the TensorFlow pass, when this process
    runs another Keras backend; else None."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow":
        return None
    return f"{why}: runs once, in the TensorFlow pass (KERAS_BACKEND={backend})"


def tensorflow_pass_only(why):
    """Skip this test module in CI's torch and jax passes (``KERAS_BACKEND`` torch or jax):
    its tests do not depend on the Keras backend (``why``), so running them again there
    would test nothing new. Call at module level; the TensorFlow pass (the default, and
    any process without ``KERAS_BACKEND``, e.g. CI's torch-only venv) runs them."""
    reason = _other_pass(why)
    if reason is not None:
        pytest.skip(reason, allow_module_level=True)


def tensorflow_pass_only_test(why):
    """:func:`tensorflow_pass_only` for one test: a mark that skips it in CI's torch and
    jax passes, where it would test nothing new (``why``).

    Example: ``@tensorflow_pass_only_test("an import hook on keras: the same on every
    backend")``."""
    reason = _other_pass(why)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


@pytest.fixture
def shared_data():
    """Path to ../shared/data (or $VLAP_DATA_DIR); skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA} "
                    "(set VLAP_DATA_DIR to run this test)")
    return SHARED_DATA


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_multilabel(n=64, num_labels=7, seed=0, p=0.3):
    """Random 0/1 labels (every label has a positive and a negative) and logits."""
    r = np.random.default_rng(seed)
    y = (r.random((n, num_labels)) < p).astype("float32")
    y[0, :] = 1.0
    y[1, :] = 0.0
    logits = r.normal(0.0, 2.0, size=(n, num_labels)).astype("float32")
    return y, logits


def backend_env(backend, **extra):
    """Environment for a subprocess on one Keras backend: CPU only, quiet logs."""
    return dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="",
                JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", **extra)


def run_on_backend(backend, args, timeout=600, **extra_env):
    """Run ``python *args`` with KERAS_BACKEND=backend; returns the CompletedProcess."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=backend_env(backend, **extra_env),
                          capture_output=True, text=True, timeout=timeout)


def backend_runs_for(request, test_name, make_args):
    """Start, in the background, one subprocess per backend that ``test_name`` (in the
    requesting module) is parametrized with, so they overlap the module's other tests.
    Yields ``{backend: Popen}``; backends that are not installed are left out."""
    wanted = {item.callspec.params["backend"] for item in request.session.items
              if getattr(item, "originalname", "") == test_name
              and item.module is request.module}
    procs = {}
    for backend in sorted(wanted):
        if importlib.util.find_spec(backend) is not None:
            procs[backend] = subprocess.Popen(
                [sys.executable, *make_args(backend)], cwd=ROOT, env=backend_env(backend),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def pytest_collection_modifyitems(config, items):
    """A test parametrized by ``backend`` starts that Keras backend itself, in a subprocess
    (:func:`run_on_backend`, :func:`backend_runs_for`): the same work whatever backend this
    process runs, so CI's torch and jax passes skip it and the TensorFlow pass runs it."""
    reason = _other_pass("starts its backend in a subprocess")
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "backend" in callspec.params:
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    """A run in which nothing passed (all skipped or deselected) must not look green."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != 0:
        return
    if not reporter.stats.get("passed") and not session.config.getoption("collectonly"):
        session.exitstatus = 5  # pytest.ExitCode.NO_TESTS_COLLECTED
