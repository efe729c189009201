"""Plain Keras opens what VLAP ships (issue 25, build item 8).

After ``import VLAP`` (before or after ``import keras``), ``keras.saving.load_model``
opens every ``.keras`` file ``vlap run`` writes and the model predicts exactly what
:func:`VLAP.inference.load_predictor`'s does; ``import VLAP`` and ``import
VLAP.torch`` still import no Keras. Each check runs in a fresh interpreter on the
backend of this test run (``KERAS_BACKEND``).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import backend_env, tensorflow_pass_only_test

ROOT = Path(__file__).resolve().parents[1]
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
TEXTS = ROOT / "tests" / "data" / "own_texts.csv"

#: Two datasets (generated features; your own texts, TF-IDF) and a stateful loss, so
#: the files hold VLAP's featurisers, Decision layer and Predictor; a second run
#: with a dual head adds DualHeadLogits.
CONFIG = f"""
name = "load_model_{{head}}"
seeds = [0]
epochs = 1
patience = false
batch_size = 32
losses = {{losses}}
plots = false
[model]
kind = "mlp"
hidden = [8]
head = "{{head}}"
[[datasets]]
kind = "synthetic"
n_samples = 90
n_features = 6
n_classes = 4
[[datasets]]
kind = "csv"
path = "{TEXTS.as_posix()}"
text_column = "text"
label_column = "labels"
max_features = 40
"""


def _python(code, *args, cwd=ROOT, timeout=900):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd,
                          env=backend_env(BACKEND, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    """Run folders of two tiny ``vlap run``s (a single and a dual head)."""
    out = tmp_path_factory.mktemp("load_model")
    dirs = []
    for head, losses in (("single", '["sigmoidF1", "bce", "ema_sigmoid_f1"]'),
                         ("dual", '["dual_head"]')):
        config = out / f"{head}.toml"
        config.write_text(CONFIG.format(head=head, losses=losses))
        proc = subprocess.run(
            [sys.executable, "-m", "VLAP", "run", str(config), "--out", str(out / head), "-q"],
            cwd=out, env=backend_env(BACKEND, PYTHONPATH=str(ROOT)), capture_output=True,
            text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        (run_dir,) = (out / head).iterdir()
        dirs.append(run_dir)
    return dirs


#: Loads every .keras file with plain Keras first (nothing of VLAP but ``import VLAP``):
#: the packaged models (models/<dataset>/<loss>.keras), compared with load_predictor's
#: on the same inputs, exactly; and the training checkpoints (compiled with VLAP's
#: losses and metrics), which must load and predict.
_LOAD = """
import sys
from pathlib import Path
if sys.argv[1] == "keras first":
    import keras
    import VLAP
else:
    import VLAP
    import keras

files = [f for d in sys.argv[2:] for f in sorted(Path(d).rglob("*.keras"))]
loaded = {f: keras.saving.load_model(f) for f in files}  # plain Keras, before any VLAP module

import numpy as np
import pandas as pd
from VLAP.inference import Predictor, load_predictor, predict

texts = list(pd.read_csv("__TEXTS__")["text"])
features = np.random.default_rng(0).normal(size=(25, 6)).astype("float32")
packaged = {f: m for f, m in loaded.items() if "models" in f.parts}
for f, model in packaged.items():
    assert type(model) is Predictor, (f, type(model))
    inputs = features if "synthetic" in f.parts else texts
    a = predict(model, inputs, logits=True)
    b = predict(load_predictor(f), inputs, logits=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(a) == len(inputs) and a.filter(like="logit_").shape[1] >= 2
checkpoints = {f: m for f, m in loaded.items() if f not in packaged}
for f, model in checkpoints.items():
    assert isinstance(model, keras.Model), (f, type(model))
    x = np.zeros((2,) + tuple(model.inputs[0].shape[1:]), "float32")
    assert np.isfinite(np.asarray(model.predict(x, verbose=0))).all(), f
print("COMPARED", len(packaged), "CHECKPOINTS", len(checkpoints),
      "HEADS", sorted({m.head for m in packaged.values()}))
"""


@pytest.mark.parametrize("order", ["keras first", "VLAP first"])
def test_plain_keras_loads_every_shipped_model_and_predicts_the_same(run_dirs, order):
    files = [f for d in run_dirs for f in d.rglob("*.keras")]
    packaged = [f for f in files if "models" in f.parts]
    assert len(packaged) == 3 * 2 + 1 * 2  # 3 losses x 2 datasets, then the dual head's 2
    assert len(files) > len(packaged)  # and the checkpoints of each training
    proc = _python(_LOAD.replace("__TEXTS__", TEXTS.as_posix()), order, *run_dirs)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (f"COMPARED {len(packaged)} CHECKPOINTS {len(files) - len(packaged)} "
            "HEADS ['dual', 'single']") in proc.stdout


def test_without_import_vlap_keras_cannot_load_it(run_dirs):
    # what the registration fixes: the file names VLAP's classes
    model = next(f for f in sorted(run_dirs[1].rglob("*.keras")) if "models" in f.parts)
    proc = _python("import sys, keras\nkeras.saving.load_model(sys.argv[1])", model)
    assert proc.returncode != 0 and "Predictor" in proc.stderr


_LIGHT = """
import sys
import VLAP
import VLAP.torch
heavy = sorted(m for m in ("keras", "tensorflow", "jax") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_import_vlap_and_vlap_torch_import_no_keras():
    proc = _python(_LIGHT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HEAVY []" in proc.stdout


#: Every module that registers a Keras class is imported once Keras is, whatever
#: imported Keras first; then the finder is gone.
_REGISTERED = """
import json, sys
import VLAP
from VLAP import _serializables
assert _serializables._FINDER in sys.meta_path
__import__(sys.argv[1])
import keras
print(json.dumps({"modules": sorted(m for m in sys.modules if m.startswith("VLAP")),
                  "finder": _serializables._FINDER in sys.meta_path,
                  "predictor": keras.saving.get_registered_object("VLAP>Predictor") is not None}))
"""


def _registering_modules():
    out = []
    for path in sorted((ROOT / "VLAP").rglob("*.py")):
        if "register_keras_serializable(" in path.read_text(encoding="utf-8"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


#: What the import-hook tests check (VLAP._serializables' finder on `import keras`) is the
#: same whatever backend Keras then starts.
_IMPORT_HOOK = "the registration hook on `import keras` does not depend on the backend"


@tensorflow_pass_only_test(_IMPORT_HOOK)
@pytest.mark.parametrize("first", ["keras", "VLAP.losses", "VLAP.metrics", "VLAP.ops.soft",
                                   "VLAP.evaluation"])
def test_every_registering_module_is_imported_whatever_imports_keras(first):
    proc = _python(_REGISTERED, first)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = _registering_modules()
    assert len(expected) >= 8  # the scan found the classes
    assert not set(expected) - set(state["modules"])
    assert state["predictor"] and not state["finder"]


@tensorflow_pass_only_test(_IMPORT_HOOK)
def test_a_failed_registration_warns_and_keeps_import_keras_working():
    code = """
import warnings
import VLAP
from VLAP import _serializables
_serializables.MODULES += ("VLAP.no_such_module",)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import keras
print("KERAS", keras.__version__, [str(w.message)[:60] for w in caught])
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "KERAS" in proc.stdout and "VLAP could not register its Keras classes" in proc.stdout
