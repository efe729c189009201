"""The follow-along notebooks: stored clean, and executed top to bottom with small settings.

Each notebook's first code cell is tagged "parameters"; like papermill, the tests insert a cell
after it that overrides those values, then run every cell with nbclient. A cell that raises fails
the test. Notebooks 02 and 03 read the shared data and skip (with a reason) when it is absent.
"""

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_sigmoidF1_explained.ipynb", "02_arxiv_distilbert.ipynb",
         "03_movie_posters_cnn.ipynb")
LIMIT_S = 300  # the budget per notebook on 2 CPU cores

# CI settings: a few hundred examples, one epoch, short inputs, no pretrained download.
SMALL = {
    "01_sigmoidF1_explained.ipynb": {},
    "02_arxiv_distilbert.ipynb": {"SAMPLE_SIZE": 200, "EPOCHS": 1, "CHECKPOINT": None,
                                  "MAX_LENGTH": 64},
    "03_movie_posters_cnn.ipynb": {"SAMPLE_SIZE": 300, "EPOCHS": 1, "IMAGE_SIZE": 64,
                                   "N_SHOW": 6},
}


def _read(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _parameters_index(nb):
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert "parameters" in cell.metadata.get("tags", []), (
                "the first code cell must be the one tagged 'parameters'")
            return i
    raise AssertionError("no code cell")


def _execute(name, tmp_path, monkeypatch, **params):
    """Run the notebook with `params` injected; return (notebook, seconds, printed text)."""
    nb = _read(name)
    source = "# injected by tests/test_notebooks.py\n" + "\n".join(
        f"{key} = {value!r}" for key, value in params.items())
    nb.cells.insert(_parameters_index(nb) + 1, nbformat.v4.new_code_cell(
        source, metadata={"tags": ["injected-parameters"]}))
    # the kernel inherits this environment; the notebooks write their runs/ into its cwd
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    client = nbclient.NotebookClient(nb, timeout=LIMIT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError when a cell raises
    seconds = time.perf_counter() - start
    printed = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                      for out in cell.outputs if out.output_type == "stream")
    return nb, seconds, printed


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_clean(name):
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    _parameters_index(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}: outputs must be cleared before committing")
    assert (NOTEBOOKS / name).stat().st_size < 100_000


def test_notebooks_are_listed_in_their_readme():
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)
    for name in NAMES:
        assert f"({name})" in readme


@pytest.mark.slow
def test_01_sigmoidF1_explained_runs(tmp_path, monkeypatch):
    name = NAMES[0]
    _, seconds, printed = _execute(name, tmp_path, monkeypatch, **SMALL[name])
    assert "backend 'tensorflow'" in printed
    assert seconds < LIMIT_S, f"{name} took {seconds:.0f} s"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("name", NAMES[1:])
def test_data_notebook_runs_on_the_shared_data(name, shared_data, tmp_path, monkeypatch):
    _, seconds, printed = _execute(name, tmp_path, monkeypatch, DATA_DIR=str(shared_data),
                                   **SMALL[name])
    assert "DATA NOT FOUND" not in printed
    assert "run directory:" in printed and (tmp_path / "runs").is_dir()
    assert seconds < LIMIT_S, f"{name} took {seconds:.0f} s"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES[1:])
def test_data_notebook_without_data_says_what_to_download_and_stops(name, tmp_path,
                                                                    monkeypatch):
    missing = tmp_path / "no-data-here"
    nb, _, printed = _execute(name, tmp_path, monkeypatch, DATA_DIR=str(missing))
    assert f"DATA NOT FOUND: {missing}" in printed
    assert "Kaggle" in printed and "The remaining cells are skipped." in printed
    assert not (tmp_path / "runs").exists()  # nothing was trained
    first_skipped = next(i for i, cell in enumerate(nb.cells)
                         if cell.cell_type == "code" and "DATA NOT FOUND" in cell.source) + 1
    assert all(cell.outputs == [] for cell in nb.cells[first_skipped:]
               if cell.cell_type == "code")
