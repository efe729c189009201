"""Selection sees validation only (issue 20): every choice goes through
VLAP.experiments.selection, which refuses test columns, and changing any test number
changes no choice (the study's settings, the recommendation, the leave-one-out picks)."""

import ast
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import tensorflow_pass_only
from VLAP.experiments import DEMO_CONFIG, load_config, selection, study, study_report

tensorflow_pass_only("which setting, loss and pick is chosen is read from the study's files "
                     "and validation scores: the same logic on every backend")

BEYOND = Path(__file__).parents[1] / "experiments" / "beyond"
#: The study before issue 27 (no rules.csv: every comparison at the 0.5 cut), kept as it was.
ISSUE20 = Path(__file__).parents[1] / "experiments" / "beyond_issue20"


def _choices(folder):
    rec = study_report.write_recommendation(folder)
    picks = selection.leave_one_out(study_report.load_selection(folder))
    return ({k: rec[k] for k in ("candidate", "setting", "loss", "loss_kwargs")},
            picks.to_dict("records"))


def _perturb_tests(folder, seed):
    """Replace every test value of the study's files by a random number."""
    rng = np.random.default_rng(seed)
    for name in ("results.csv", "lodo.csv", "batch_size.csv"):
        if (folder / name).exists():
            df = pd.read_csv(folder / name, dtype=str)
            df["value"] = rng.random(len(df))
            df.to_csv(folder / name, index=False)


def test_changing_every_test_number_changes_no_choice(tmp_path):
    folder = tmp_path / "beyond"
    shutil.copytree(BEYOND, folder)
    before = _choices(folder)
    selection_csv = (folder / "selection.csv").read_text()
    for seed in (0, 1):
        _perturb_tests(folder, seed)
        assert _choices(folder) == before
    assert (folder / "selection.csv").read_text() == selection_csv
    # ... while a change of validation scores does move the choice (the check is not vacuous)
    sel = pd.read_csv(folder / "selection.csv")
    best = (sel.candidate == "ema_f1") & (sel.setting == "beta=1,momentum=0.9")
    sel.loc[best, ["val_f1_macro", "val_average_precision_macro"]] += 0.5
    sel.loc[best, "val_label_count_mae"] = 0.0
    sel.to_csv(folder / "selection.csv", index=False)
    assert _choices(folder)[0]["candidate"] == "ema_f1"


def test_selection_refuses_test_columns():
    results = pd.read_csv(BEYOND / "results.csv")
    with pytest.raises(ValueError, match="validation scores only.*'value'"):
        selection.recommend(results)
    sel = pd.read_csv(BEYOND / "selection.csv").assign(f1_macro=0.5)
    with pytest.raises(ValueError, match="test column 'f1_macro'"):
        selection.recommend(sel)
    with pytest.raises(ValueError, match="test column 'average_precision_macro'"):
        selection.choose_setting([{"val_f1_macro": 0.5, "average_precision_macro": 0.4}])
    with pytest.raises(ValueError, match="`key` must be a validation score"):
        selection.best_index([{"f1_macro": 0.5}], "f1_macro")


def test_study_choices_do_not_move_when_test_scores_do(tmp_path, monkeypatch):
    """Train the study twice on generated data, the second time with every test score
    replaced by noise before the study sees it: the same settings are chosen."""
    from VLAP.experiments import runner

    cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0]}, smoke=True)
    cands = ["bce", "f1_plus_count"]
    study.run_dataset(cfg, tmp_path / "a", cands, log=lambda *a: None)
    real = runner.train_and_evaluate
    rng = np.random.default_rng(0)

    def noisy(*args, **kwargs):
        res = real(*args, **kwargs)
        for table in res.summaries.values():
            table["value"] = rng.random(len(table))
        return res

    monkeypatch.setattr(runner, "train_and_evaluate", noisy)
    study.run_dataset(cfg, tmp_path / "b", cands, log=lambda *a: None)
    a, b = (pd.read_csv(tmp_path / x / "synthetic" / "selection.csv") for x in "ab")
    pd.testing.assert_frame_equal(a, b)
    ra, rb = (pd.read_csv(tmp_path / x / "synthetic" / "results.csv") for x in "ab")
    assert not np.allclose(ra.value, rb.value)  # the test numbers did change


def test_study_chooses_each_setting_at_the_rule_it_would_ship(tmp_path, monkeypatch):
    """Issue 27: a setting whose model ships tuned cuts is chosen by its tuned (out-of-fold)
    validation macro-F1, not by its 0.5 figure. Here beta=1 is best at 0.5 and beta=30
    best as shipped: the study must choose beta=30 and report its rows."""
    from VLAP.experiments import runner

    cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0]}, smoke=True)
    real = runner.train_and_evaluate
    at_half = {1.0: .9, 5.0: .5, 10.0: .5, 30.0: .3}       # validation macro-F1 at 0.5
    tuned = {1.0: .6, 5.0: .5, 10.0: .5, 30.0: .95}        # out of fold, with tuned cuts

    def rigged(*args, **kwargs):
        res = real(*args, **kwargs)
        beta = float(res.loss_kwargs.get("beta", 1.0))
        res.val_summary.loc["f1_macro", "value"] = at_half[beta]
        res.shipped = {**(res.shipped or {}), "val_f1_macro_fixed": at_half[beta],
                       "val_f1_macro_tuned_oof": tuned[beta],
                       "strategy": "tuned" if tuned[beta] > at_half[beta] else "fixed"}
        return res

    monkeypatch.setattr(runner, "train_and_evaluate", rigged)
    folder = study.run_dataset(cfg, tmp_path, ["sigmoid_f1"], log=lambda *a: None)
    sel = pd.read_csv(folder / "selection.csv")
    assert sel.loc[sel.chosen, "setting"].tolist() == ["beta=30"]
    assert set(pd.read_csv(folder / "results.csv").setting) == {"beta=30"}
    rules = pd.read_csv(folder / "rules.csv")
    assert rules[["setting", "rule"]].values.tolist() == [["beta=30", "tuned"]]
    # the same rows read at 0.5 only (a study without rule columns) choose beta=1
    rows = sel.drop(columns=["rule", "val_f1_macro_tuned_oof"]).to_dict("records")
    assert rows[selection.choose_setting(rows, goal_aware=False)]["setting"] == "beta=1"


@pytest.mark.parametrize("folder", [BEYOND, ISSUE20], ids=["issue27", "issue20"])
def test_recommendation_json_is_the_committed_choice(folder):
    """Each committed recommendation.json is what selection makes of its selection.csv
    (the archived one too: without rule columns it compares at the 0.5 cut, as it did)."""
    rec = json.loads((folder / "recommendation.json").read_text())
    cand, setting, _ = selection.recommend(study_report.load_selection(folder))
    assert (rec["candidate"], rec["setting"]) == (cand, setting)


def test_recommendation_names_the_studys_own_candidates(tmp_path):
    """recommendation.json's `candidates` is the pool the study chose among (its
    selection.csv), not the library's candidate table at report time."""
    folder = tmp_path / "beyond"
    shutil.copytree(BEYOND, folder)
    sel = pd.read_csv(folder / "selection.csv")
    sel = sel[sel.candidate != "ema_f1"]  # a study run without one candidate
    sel.to_csv(folder / "selection.csv", index=False)
    rec = study_report.write_recommendation(folder)
    assert rec["candidates"] == sorted(sel.candidate.unique())
    assert "ema_f1" not in rec["candidates"] and "default" not in rec["candidates"]


def _readme_loss_settings():
    """Every ``loss="...", loss_kwargs={...}`` the README's "Which loss should I use?"
    section writes, as (loss, kwargs) pairs."""
    text = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Which loss should I use?", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r'loss="([a-z_]+)",\s*loss_kwargs=(\{[^`]*\})`', section)
    return [(loss, ast.literal_eval(kwargs)) for loss, kwargs in found]


def test_every_setting_the_readme_recommends_is_the_validation_choice():
    """Issue 27 item 4: the README recommends no setting but the one the validation-only
    selection chose (recommendation.json, itself checked against selection.csv above)."""
    rec = json.loads((BEYOND / "recommendation.json").read_text())
    settings = _readme_loss_settings()
    assert settings, "the README's 'Which loss should I use?' names no loss setting"
    for loss, kwargs in settings:
        assert (loss, kwargs) == (rec["loss"], rec["loss_kwargs"]), (
            f"README recommends {loss} {kwargs}, the validation choice is "
            f"{rec['loss']} {rec['loss_kwargs']}")


def test_shipped_rule_decides_the_comparison(tmp_path):
    """Issue 27: the recommendation compares macro-F1 at the rule each model would ship:
    a candidate that beats BCE at 0.5 but not BCE with its tuned cuts does not beat BCE."""
    base = {"dataset": "a", "seed": 0, "val_average_precision_macro": .7,
            "val_label_count_mae": .5}
    rows = pd.DataFrame([
        {**base, "candidate": "bce", "setting": "-", "val_f1_macro": .50,
         "val_f1_macro_tuned_oof": .62, "rule": "tuned"},
        {**base, "candidate": "sigmoid_f1", "setting": "beta=1", "val_f1_macro": .55,
         "val_f1_macro_tuned_oof": .54, "rule": "0.5"},
        {**base, "candidate": "x", "setting": "w=1", "val_f1_macro": .60,
         "val_f1_macro_tuned_oof": .58, "rule": "0.5"}])
    goals = selection.validation_goals(rows)
    assert goals.beats_sigmoid_f1_f1.tolist() == [True]
    assert goals.beats_bce_f1.tolist() == [False]          # .60 < BCE's tuned .62
    assert goals.val_f1_gain_over_bce.round(6).tolist() == [-0.02]
    # without the rule columns (a study written before the rule choice): the 0.5 cut
    old = selection.validation_goals(rows.drop(columns=["rule", "val_f1_macro_tuned_oof"]))
    assert old.beats_bce_f1.tolist() == [True]
    with pytest.raises(ValueError, match="no out-of-fold"):
        selection.shipped_val_f1(rows.assign(val_f1_macro_tuned_oof=[None, .54, .58]))


def test_collect_keeps_every_runs_provenance(tmp_path):
    """Two extra runs of one dataset (leave-one-out picks, then the recommended one) each
    keep their run.json entry in runs.json; one must not overwrite the other."""
    metas = {"main": {"dataset": "d", "candidates": ["bce"]},
             "lodo": {"dataset": "d", "picks": ["f1_plus_bce:beta=1,weight=1"]},
             "rec": {"dataset": "d", "picks": ["f1_plus_bce:beta=1,weight=1"]}}
    for name, meta in metas.items():
        folder = tmp_path / name / "d"
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(meta))
    runs = json.loads((study.collect([tmp_path / n for n in metas], tmp_path / "out")
                       / "runs.json").read_text())
    assert sorted(runs) == ["d", "d:f1_plus_bce:beta=1,weight=1",
                            "d:f1_plus_bce:beta=1,weight=1#2"]
