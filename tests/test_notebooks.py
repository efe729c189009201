"""The follow-along notebooks: stored executed and up to date, and executed with small settings.

The stored notebooks hold the outputs of a full run of ``notebooks/execute.py``; the tests check
that each one was executed by it, in order, from exactly its current code cells (an edited cell
without re-execution fails), with a provenance cell and no machine paths or library noise in the
outputs. The slow tests run every notebook again with the executor's SMALL settings into a
temporary copy (nbclient); a cell that raises fails the test. Notebooks 02 and 03 read the
shared data and skip (with a reason) when it is absent; 05 reads synthetic result files written
here (the study's real files are committed under experiments/beyond/ by the study itself).
"""

import copy
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
_spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOKS / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)

NAMES = execute.NAMES
LIMIT_S = 300  # the budget per notebook at small settings on 2 CPU cores
MAX_BYTES = 1_500_000  # a stored notebook, outputs and PNG figures included


def _stored(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _run_small(name, tmp_path, **params):
    """Execute `name` with SMALL settings (+ `params`) into tmp_path; return (nb, s, printed)."""
    start = time.perf_counter()
    nb = execute.execute(name, "small", out=tmp_path / name, cwd=tmp_path, params=params,
                         timeout=LIMIT_S)
    seconds = time.perf_counter() - start
    printed = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                      for out in cell.outputs if out.output_type == "stream")
    return nb, seconds, printed


# --- the stored notebooks ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_stored_notebook_is_executed_and_up_to_date(name):
    nb = _stored(name)
    nbformat.validate(nb)
    assert execute.check(nb, name) == []
    assert (NOTEBOOKS / name).stat().st_size < MAX_BYTES


def test_notebooks_are_listed_in_their_readme():
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)
    for name in NAMES:
        assert f"({name})" in readme


def _problems_after(edit, name="01_sigmoidF1_explained.ipynb"):
    nb = copy.deepcopy(_stored(name))
    edit(nb)
    return "\n".join(execute.check(nb, name))


def _code(nb, skip_provenance=True):
    return [c for c in nb.cells if c.cell_type == "code"
            and not (skip_provenance and "provenance" in c.metadata.get("tags", []))]


def test_check_reports_a_code_cell_edited_after_execution():
    def edit(nb):
        _code(nb)[2].source += "\nprint('edited')"

    assert "a code cell was edited after the notebook was executed" in _problems_after(edit)


def test_check_reports_a_notebook_never_executed_or_executed_out_of_order():
    assert "not executed by notebooks/execute.py" in _problems_after(
        lambda nb: nb.cells.__setitem__(slice(None), execute.strip(nb).cells))

    def rerun_one_cell(nb):
        _code(nb)[1].execution_count = 42

    assert "not executed once, in order" in _problems_after(rerun_one_cell)


def test_check_reports_other_settings_or_a_changed_provenance_cell():
    def small(nb):
        nb.metadata[execute.METADATA_KEY]["parameters"] = {"EPOCHS": 1}

    assert "but FULL says" in _problems_after(small)

    def provenance(nb):
        nb.cells[0].source += "\nimport os"

    problems = _problems_after(provenance)
    assert "differ from what notebooks/execute.py runs" in problems

    def no_commit(nb):
        nb.cells[0].outputs[0].text = nb.cells[0].outputs[0].text.replace("commit:", "c:")

    assert "provenance cell's output is missing or malformed" in _problems_after(no_commit)


@pytest.mark.parametrize("text, found", [
    ("saved to /home/alice/project/runs/x", "absolute path"),
    ("data: /work/shared/data/posters", "absolute path"),
    (r"C:\Users\alice\runs", "absolute path"),
    ("/venv/lib/python3.11/site-packages/keras/src/x.py:12: UserWarning: deprecated", "noise"),
    ("  warnings.warn(", "noise"),
    ("I0000 00:00:1796.5  1 port.cc:153] oneDNN custom operations are on", "noise"),
])
def test_check_reports_machine_paths_and_library_noise_in_outputs(text, found):
    def add_output(nb):
        _code(nb)[1].outputs.append(nbformat.v4.new_output("stream", name="stderr", text=text))

    assert found in _problems_after(add_output)


def test_scrub_replaces_the_machines_paths():
    repo = str(execute.REPO)
    assert execute.scrub(f"run directory: {repo}/notebooks/runs/x") == (
        "run directory: <repo>/notebooks/runs/x")
    assert execute.scrub(str(Path.home() / "data")) == "~/data"
    assert not execute.ABSOLUTE_PATH.search(execute.scrub(f"{repo}/a and {Path.home()}/b"))


def test_executor_doctests():
    import doctest

    assert doctest.testmod(execute).failed == 0


def test_prepare_only_adds_the_provenance_and_injected_cells():
    nb = execute.strip(_stored("04_your_own_data.ipynb"))
    prepared = execute.prepare(nb, {"EPOCHS": 3})
    added = [c for c in prepared.cells if c.source not in {d.source for d in nb.cells}]
    assert [c.metadata["tags"] for c in added] == [["provenance"], ["injected-parameters"]]
    assert added[1].source.endswith("EPOCHS = 3")
    assert execute.strip(prepared).cells == nb.cells


# --- executed with small settings -------------------------------------------------------------

@pytest.mark.slow
def test_01_sigmoidF1_explained_runs(tmp_path):
    name = NAMES[0]
    nb, seconds, printed = _run_small(name, tmp_path)
    assert "backend 'tensorflow'" in printed
    assert seconds < LIMIT_S, f"{name} took {seconds:.0f} s"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("name", NAMES[1:3])
def test_data_notebook_runs_on_the_shared_data(name, shared_data, tmp_path):
    nb, seconds, printed = _run_small(name, tmp_path, DATA_DIR=str(shared_data))
    assert "DATA NOT FOUND" not in printed
    assert "run directory:" in printed and (tmp_path / "runs").is_dir()
    assert seconds < LIMIT_S, f"{name} took {seconds:.0f} s"
    problems = [p for p in execute.check(nb, name) if "absolute path" in p or "noise" in p]
    assert problems == []
    if name.startswith("03"):  # the frozen ImageNet backbone beside the CNN, or the reason why not
        assert ("frozen ImageNet efficientnet_lite0 features" in printed
                or "Skipped the pretrained backbone:" in printed)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES[1:3])
def test_data_notebook_without_data_says_what_to_download_and_stops(name, tmp_path):
    missing = tmp_path / "no-data-here"
    nb, _, printed = _run_small(name, tmp_path, DATA_DIR=str(missing))
    assert "DATA NOT FOUND: <tmp>" in printed and "no-data-here" in printed
    assert "Kaggle" in printed and "The remaining cells are skipped." in printed
    assert not (tmp_path / "runs").exists()  # nothing was trained
    first_skipped = next(i for i, cell in enumerate(nb.cells)
                         if cell.cell_type == "code" and "DATA NOT FOUND" in cell.source) + 1
    assert all(cell.outputs == [] for cell in nb.cells[first_skipped:]
               if cell.cell_type == "code")


@pytest.mark.slow
def test_04_your_own_data_trains_both_ways_and_predicts(tmp_path):
    name = "04_your_own_data.ipynb"
    nb, seconds, printed = _run_small(name, tmp_path)
    assert "run directory:" in printed and "read 80, kept 80, skipped 0" in printed
    assert (tmp_path / "runs" / "own_data" / "tickets_sigmoidF1.keras").is_file()
    html = "".join(out.get("data", {}).get("text/html", "") for cell in nb.cells
                   if cell.cell_type == "code" for out in cell.outputs)
    for column in ("f1_macro", "average_precision_macro", "label_count_mae", "score_billing"):
        assert column in html
    assert seconds < LIMIT_S, f"{name} took {seconds:.0f} s"
    assert [p for p in execute.check(nb, name) if "absolute path" in p or "noise" in p] == []


def write_synthetic_beyond(folder, seed=0):
    """Result files in the layout of the beyond-the-paper study, with made-up values.

    Test input only: written into a temporary folder, never committed.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["dataset,candidate,setting,seed,threshold,metric,value"]
    candidates = {"bce": ("", "0.5"), "bce_tuned": ("", "tuned"), "sigmoid_f1": ("beta=1", "0.5"),
                  "f1_plus_bce": ("beta=1,weight=0.3", "0.5"), "ema_f1": ("decay=0.9", "0.5")}
    for d, dataset in enumerate(("mulan_yeast", "mulan_scene", "arxiv")):
        for c, (candidate, (setting, threshold)) in enumerate(candidates.items()):
            for s in range(3):
                f1 = 0.4 + 0.05 * c + 0.01 * rng.standard_normal() - 0.04 * d * (c == 3)
                values = {"f1_macro": f1, "f1_micro": f1 + 0.1,
                          "average_precision_macro": 0.6 + 0.01 * c * (-1) ** d,
                          "label_count_mae": 1.0 - 0.05 * c, "mean_predicted_labels": 2 + 0.1 * c,
                          "mean_true_labels": 2.1}
                rows += [f"{dataset},{candidate},\"{setting}\",{s},{threshold},{m},{v:.6f}"
                         for m, v in values.items()]
    (folder / "results.csv").write_text("\n".join(rows) + "\n")
    rows = ["dataset,candidate,batch_size,seed,metric,value"]
    for dataset in ("mulan_yeast", "mulan_scene"):
        for candidate in ("sigmoid_f1", "f1_plus_bce", "ema_f1"):
            for b in (16, 64, 256, 1024):
                for s in range(2):
                    for metric in ("f1_macro", "average_precision_macro", "label_count_mae"):
                        v = 0.5 - 0.02 * np.log2(b) * (candidate == "sigmoid_f1") + 0.01 * s
                        rows.append(f"{dataset},{candidate},{b},{s},{metric},{v:.6f}")
    (folder / "batch_size.csv").write_text("\n".join(rows) + "\n")
    rows = ["dataset,candidate,setting,seed,val_f1_macro,val_average_precision_macro,"
            "val_label_count_mae,val_mean_predicted_labels,epochs_run,chosen"]
    for d, dataset in enumerate(("mulan_yeast", "mulan_scene", "arxiv")):
        for c, (candidate, setting) in enumerate((("bce", "-"), ("sigmoid_f1", "beta=1"),
                                                  ("f1_plus_bce", "beta=1,weight=0.3"),
                                                  ("ema_f1", "decay=0.9"))):
            rows.append(f"{dataset},{candidate},\"{setting}\",0,{0.4 + 0.05 * c:.3f},"
                        f"{0.6 + 0.01 * c * (-1) ** d:.3f},{1.0 - 0.05 * c:.3f},2.0,10,True")
    (folder / "selection.csv").write_text("\n".join(rows) + "\n")
    (folder / "recommendation.json").write_text(json.dumps({
        "candidate": "f1_plus_bce", "setting": "beta=1,weight=0.3", "loss": "weighted_sum",
        "loss_kwargs": {"surrogate_kwargs": {"beta": 1.0}, "weight": 0.3},
        "summary": "Synthetic test input: the sum of sigmoidF1 and a small BCE weight."}))
    return folder


@pytest.mark.slow
def test_05_which_loss_draws_the_study_files(tmp_path):
    name = "05_which_loss.ipynb"
    folder = write_synthetic_beyond(tmp_path / "beyond")
    nb, seconds, printed = _run_small(name, tmp_path, RESULTS_DIR=str(folder))
    assert "RESULTS NOT FOUND" not in printed
    assert "3 datasets, 5 candidate rows" in printed
    markdown = "".join(out.get("data", {}).get("text/markdown", "") for cell in nb.cells
                       if cell.cell_type == "code" for out in cell.outputs)
    assert "**Recommended: `f1_plus_bce` (beta=1,weight=0.3)**" in markdown
    assert "Synthetic test input" in markdown
    assert "Held out, the recommended loss beat BCE's macro-F1 on" in markdown
    assert "no `default` rows" in printed and "conflicts with macro-F1 on" in printed
    assert "rules.csv not found in beyond/: this study predates the rule choice" in printed
    images = sum("image/png" in out.get("data", {}) for cell in nb.cells
                 if cell.cell_type == "code" for out in cell.outputs)
    assert images == 3  # macro-F1 vs mAP, vs label-count error, batch size
    assert seconds < LIMIT_S


@pytest.mark.slow
def test_05_which_loss_leads_with_each_loss_at_its_shipped_rule(tmp_path):
    """With rules.csv (issue 27), section 1b shows each loss at the rule its models ship."""
    folder = write_synthetic_beyond(tmp_path / "beyond")
    results = pd.read_csv(folder / "results.csv", dtype={"setting": str, "threshold": str})
    results["setting"] = results["setting"].fillna("-")  # as the study writes "no setting"
    models = results[results.candidate != "bce_tuned"][
        ["dataset", "candidate", "setting", "seed"]].drop_duplicates()
    # BCE ships its tuned cuts (its rows are the synthetic bce_tuned ones), the rest ship 0.5
    results.loc[results.candidate == "bce_tuned", "candidate"] = "bce"
    results.to_csv(folder / "results.csv", index=False)
    models.assign(rule=np.where(models.candidate == "bce", "tuned", "0.5"),
                  val_f1_macro_fixed=0.5, val_f1_macro_tuned_oof=0.5, epoch_at_0_5=1,
                  epoch_tuned=1).to_csv(folder / "rules.csv", index=False)
    nb, _, printed = _run_small("05_which_loss.ipynb", tmp_path, RESULTS_DIR=str(folder))
    assert "rules.csv not found" not in printed
    markdown = "".join(out.get("data", {}).get("text/markdown", "") for cell in nb.cells
                       if cell.cell_type == "code" for out in cell.outputs)
    assert "Each loss with the rule it would ship" in markdown
    assert "| bce | 3/3 |" in markdown and "| sigmoid_f1 | 0/3 |" in markdown


@pytest.mark.slow
def test_05_which_loss_without_results_says_so_and_stops(tmp_path):
    nb, _, printed = _run_small("05_which_loss.ipynb", tmp_path,
                                RESULTS_DIR=str(tmp_path / "nothing"))
    assert "RESULTS NOT FOUND: results.csv in nothing/" in printed
    assert "The remaining cells are skipped." in printed
    assert not any(out.get("output_type") == "error" for cell in nb.cells
                   if cell.cell_type == "code" for out in cell.outputs)


@pytest.mark.slow
def test_05_rejects_a_results_file_with_other_columns(tmp_path):
    folder = write_synthetic_beyond(tmp_path / "beyond")
    text = (folder / "results.csv").read_text().replace("threshold,metric", "thr,metric", 1)
    (folder / "results.csv").write_text(text)
    with pytest.raises(Exception, match="columns must be exactly"):
        _run_small("05_which_loss.ipynb", tmp_path, RESULTS_DIR=str(folder))
