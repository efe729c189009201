"""Results name what ran (issue 27): composite losses by their parts and weights, and
the labels a split leaves out of label averages once per split, by name."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from VLAP.experiments.results import display_name
from VLAP.experiments.runner import left_out_notes
from VLAP.ops import registry

FIXTURE = Path(__file__).parent / "data" / "own_texts.csv"


@pytest.mark.parametrize("loss,kwargs,expected", [
    ("weighted_sum", {"baseline": "asymmetric", "weight": 0.3,
                      "surrogate_kwargs": {"beta": 1.0}}, "sigmoidF1(β=1) + 0.3·ASL"),
    ("weighted_sum", {"baseline": "bce", "weight": 0.1, "surrogate_kwargs": {"beta": 1.0}},
     "sigmoidF1(β=1) + 0.1·BCE"),
    ("weighted_sum", {}, "sigmoidF1(β=1) + 0.5·BCE"),  # the registry's defaults
    ("weighted_sum", {"surrogate": "jaccard", "baseline": "focal", "weight": 2,
                      "baseline_kwargs": {"gamma": 1.5}}, "jaccard(β=1) + 2·focal(γ=1.5)"),
    ("weighted_sum", {"weight": 0.0}, "sigmoidF1(β=1)"),
    ("dual_head", {"weight": 0.3}, "dual head: sigmoidF1(β=1) decides, 0.3·BCE ranks"),
    ("scheduled", {"start_epoch": 5}, "BCE → sigmoidF1(β=1) (from epoch 5 over 10)"),
    ("ema_sigmoid_f1", {}, "sigmoidF1 on moving-average counts (m=0.9)"),
])
def test_composite_losses_are_named_by_their_parts(loss, kwargs, expected):
    assert display_name(loss, "", kwargs) == expected
    assert display_name(loss, "tuned", kwargs) == expected + " + tuned thresholds"


def test_no_registered_loss_is_shown_by_a_bare_composite_name():
    for spec in registry.specs():
        if spec.formula is None:
            assert spec.name not in display_name(spec.name)


def test_left_out_labels_are_named_once_per_split():
    y_val = np.array([[1, 0, 1], [1, 0, 0]])        # "sea" absent, "sky" always there
    y_test = np.array([[1, 1, 0], [0, 1, 1]])       # "sea" always there
    prep = SimpleNamespace(name="toy", y_val=y_val, y_test=y_test,
                           label_names=["sky", "sea", "sun"])
    val, test = left_out_notes(prep)
    assert val.startswith("toy validation split: 2 of 3 labels are left out")
    assert "no positive example" in val and ": sea" in val and ": sky" in val
    assert test.startswith("toy test split: 1 of 3 labels") and ": sea" in test
    assert "no positive" not in test
    prep.y_test = np.array([[1, 0, 1], [0, 1, 0]])
    assert len(left_out_notes(prep)) == 1  # a split that leaves none out says nothing


def test_vlap_run_names_composites_everywhere_and_warns_once_per_split(tmp_path):
    import pandas as pd

    from VLAP.experiments import load_config, run_experiment

    data = pd.read_csv(FIXTURE)
    data.loc[0, "labels"] += "|rare"  # one row: the other splits have no positive of it
    data.to_csv(tmp_path / "texts.csv", index=False)
    cfg_file = tmp_path / "tickets.toml"
    cfg_file.write_text(
        'name = "tickets"\nlosses = ["weighted_sum"]\nseeds = [0]\nepochs = 2\n'
        'plots = false\n\n[loss_kwargs.weighted_sum]\nbaseline = "asymmetric"\n'
        'weight = 0.3\nsurrogate_kwargs = {beta = 1.0}\n\n'
        '[dataset]\nkind = "csv"\n'
        f'path = "{(tmp_path / "texts.csv").as_posix()}"\n'
        'text_column = "text"\nlabel_column = "labels"\nlabel_separator = "|"\n'
        'features = "tfidf"\n')
    lines = []
    run_dir = run_experiment(load_config(cfg_file), out=tmp_path / "runs", log=lines.append)
    name = "sigmoidF1(β=1) + 0.3·ASL"
    console = "\n".join(lines)
    assert name in console and "weighted_sum" not in console.replace("weighted_sum.keras", "")
    assert name in (run_dir / "results.md").read_text()
    (entry,) = json.loads((run_dir / "models.json").read_text())["models"]
    assert entry["display"] == name and entry["loss"] == "weighted_sum"  # old keys kept
    left_out = [line for line in lines if "left out of label averages" in line]
    assert 1 <= len(left_out) == len({line.split(" split:")[0] for line in left_out}) <= 2
    assert all("split:" in line and "rare" in line for line in left_out)
    notes = (run_dir / "notes.txt").read_text()
    assert notes.count("left out of label averages") == len(left_out)
