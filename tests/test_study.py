"""The loss study (`vlap reproduce beyond`): what it trains, how it chooses settings (the
validation split of the first seed only), the files it writes, merging and the report.
Runs on the demo's generated data, so it needs no shared data."""

import csv
import json
from pathlib import Path

import pytest

from VLAP import cli
from VLAP.experiments import DEMO_CONFIG, load_config, study, study_report
from VLAP.experiments.prepare import prepare_dataset
from VLAP.experiments.runner import train_and_evaluate
from VLAP.experiments.study_candidates import load_shipped

CANDIDATES = ["bce", "zlpr", "two_way", "sigmoid_f1", "f1_plus_count"]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0, 1]}, smoke=True)
    out = tmp_path_factory.mktemp("study")
    study.run_dataset(cfg, out, CANDIDATES, log=lambda *a: None)
    return cfg, out


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_results_hold_every_candidate_seed_threshold_and_metric(study_dir):
    _, out = study_dir
    rows = _read(out / "synthetic" / "results.csv")
    assert list(rows[0]) == list(study.RESULT_COLUMNS)
    keys = {(r["candidate"], r["seed"], r["threshold"], r["metric"]) for r in rows}
    assert len(keys) == len(rows) == len(CANDIDATES) * 2 * 2 * len(study.METRICS)
    for r in rows:  # one setting per candidate across its seeds
        assert r["setting"] == next(x["setting"] for x in rows if x["candidate"] == r["candidate"])


def test_selection_is_made_on_validation_with_the_documented_rule(study_dir):
    _, out = study_dir
    sel = _read(out / "synthetic" / "selection.csv")
    for cand in CANDIDATES:
        mine = [r for r in sel if r["candidate"] == cand]
        assert len(mine) == len(study.CANDIDATES[cand][2])
        assert sum(r["chosen"] == "True" for r in mine) == 1
    def val(r):  # what the study chose on: each setting at the rule its model ships
        return {**{"val_" + k: float(r["val_" + k]) for k in
                   ("f1_macro", "average_precision_macro", "label_count_mae")},
                "rule": r["rule"], "val_f1_macro_tuned_oof": r["val_f1_macro_tuned_oof"]}
    bce = val(next(r for r in sel if r["candidate"] == "bce"))
    count = [r for r in sel if r["candidate"] == "f1_plus_count"]
    pick = study.choose([val(r) for r in count], bce, goal_aware=True)
    assert count[pick]["chosen"] == "True"
    f1 = [r for r in sel if r["candidate"] == "sigmoid_f1"]  # the baseline: best macro-F1
    assert f1[study.choose([val(r) for r in f1], goal_aware=False)]["chosen"] == "True"


def test_first_seed_result_is_what_a_fresh_run_of_the_chosen_setting_gives(study_dir):
    cfg, out = study_dir
    chosen = study.chosen_settings(out / "synthetic")
    loss, kw = study.loss_kwargs("f1_plus_count", chosen["f1_plus_count"], cfg["epochs"])
    prep = prepare_dataset(cfg["datasets"][0], None)
    res = train_and_evaluate(prep, study.study_config(cfg), loss, 0, loss_kwargs=kw)
    rows = _read(out / "synthetic" / "results.csv")
    stored = next(float(r["value"]) for r in rows if r["candidate"] == "f1_plus_count"
                  and r["seed"] == "0" and r["threshold"] == "0.5" and r["metric"] == "f1_macro")
    assert float(res.summaries[""]["value"]["f1_macro"]) == pytest.approx(stored, abs=1e-9)


def test_every_model_records_the_rule_it_would_ship_chosen_on_validation(study_dir):
    cfg, out = study_dir
    folder = out / "synthetic"
    assert load_config(folder / "config.toml")["monitor"] == list(study.MONITOR)
    rules = _read(folder / "rules.csv")
    assert list(rules[0]) == list(study.RULE_COLUMNS)
    results = _read(folder / "results.csv")
    assert ({(r["candidate"], r["setting"], r["seed"]) for r in rules}
            == {(r["candidate"], r["setting"], r["seed"]) for r in results})
    assert len(rules) == len(CANDIDATES) * len(cfg["seeds"])
    for r in rules:  # tuned cuts only when their out-of-fold macro-F1 is strictly higher
        fixed, oof = float(r["val_f1_macro_fixed"]), r["val_f1_macro_tuned_oof"]
        assert r["rule"] == ("tuned" if oof != "" and float(oof) > fixed else "0.5"), r
        assert int(r["epoch_at_0.5"]) >= 1 and int(r["epoch_tuned"]) >= 1
    sel = _read(folder / "selection.csv")
    first = {(r["candidate"], r["setting"]): r for r in rules if r["seed"] == "0"}
    for s in sel:  # the first seed's record, also beside every setting tried
        if s["chosen"] == "True":
            assert s["rule"] == first[(s["candidate"], s["setting"])]["rule"]
        assert s["rule"] in ("0.5", "tuned")
    # the fixed rule's validation macro-F1 is the one selection reads (val_f1_macro)
    for s in sel:
        r = first.get((s["candidate"], s["setting"]))
        if r is not None:
            assert float(s["val_f1_macro"]) == pytest.approx(float(r["val_f1_macro_fixed"]),
                                                             abs=1e-6)


def test_shipped_rows_are_each_models_rows_at_its_own_rule(study_dir):
    _, out = study_dir
    folder = out / "synthetic"
    shipped = load_shipped(folder)
    rules = {(r["candidate"], r["seed"]): r["rule"] for r in _read(folder / "rules.csv")}
    results = _read(folder / "results.csv")
    assert len(shipped) == len(rules) * len(study.METRICS)
    for row in shipped.itertuples():
        rule = rules[(row.candidate, str(row.seed))]
        assert row.threshold == rule == row.rule
        (same,) = [float(r["value"]) for r in results if r["candidate"] == row.candidate
                   and r["seed"] == str(row.seed) and r["threshold"] == rule
                   and r["metric"] == row.metric]
        assert row.value == same
    assert load_shipped(Path(__file__).parents[1] / "experiments" / "beyond_issue20") is None


def test_report_leads_with_each_loss_at_its_shipped_rule(study_dir, tmp_path):
    _, out = study_dir
    merged = study.collect(out, tmp_path / "merged")
    table = study_report.shipped_table(merged)
    rules = _read(out / "synthetic" / "rules.csv")
    for r in table.itertuples():
        mine = [x for x in rules if x["candidate"] == r.candidate]
        assert (r.tuned, r.models) == (sum(x["rule"] == "tuned" for x in mine), len(mine))
    text = study_report.markdown(merged)
    assert text.startswith("#### Headline: test macro-F1, each model decided by the rule")
    assert "\n#### Each loss with the rule it would ship" in text
    # the headline's cells are the shipped rows' means (BCE's tuned cuts where it ships them)
    shipped = load_shipped(merged)
    (row,) = [x for x in study_report.headline_markdown(merged).splitlines()
              if x.startswith("| synthetic |")]
    bce = shipped[(shipped.candidate == "bce") & (shipped.metric == "f1_macro")]["value"]
    assert row.split(" | ")[1].strip("*").startswith(f"{bce.mean():.3f}")
    for cand in CANDIDATES:
        assert f"| {cand} | " in text.split("\n#### synthetic")[0]
    assert "sigmoidF1 as shipped: " in text
    # the goal, Pareto and count tables compare the same shipped rows, BCE's included
    view = study_report.decided_stats(merged)
    shipped = load_shipped(merged)
    means = view[view.metric == "f1_macro"].set_index("candidate")["mean"]
    for cand, d in shipped[shipped.metric == "f1_macro"].groupby("candidate"):
        assert means[cand] == pytest.approx(d["value"].mean(), abs=1e-12)
    assert not any(c.endswith("_tuned") for c in view.candidate)
    assert "Goal: macro-F1 at the rule each model would ship" in text
    # a study without rules.csv (the archived issue-20 one) reports as before
    assert study_report.shipped_markdown(Path(__file__).parents[1] / "experiments"
                                         / "beyond_issue20") == ""


def test_collect_merges_runs_and_refuses_a_candidate_twice(study_dir, tmp_path):
    _, out = study_dir
    merged = study.collect([out], tmp_path / "merged")
    assert len(_read(merged / "results.csv")) == len(_read(out / "synthetic" / "results.csv"))
    assert json.loads((merged / "runs.json").read_text())["synthetic"]["seeds"] == [0, 1]
    with pytest.raises(ValueError, match="also in"):
        study.collect([out, out], tmp_path / "twice")


def test_report_and_recommendation_come_from_the_files(study_dir, tmp_path):
    _, out = study_dir
    merged = study.collect(out, tmp_path / "merged")
    text = study_report.markdown(merged)
    assert "#### synthetic" in text and "| f1_plus_count |" in text and "goal" in text
    rec = study_report.write_recommendation(merged)
    assert rec["candidate"] == "f1_plus_count"  # the only candidate beside the baselines
    assert json.loads((merged / "recommendation.json").read_text()) == rec
    assert rec["loss"] == "weighted_sum" and "weight" in rec["loss_kwargs"]


@pytest.mark.parametrize("argv,match", [
    (["reproduce", "beyond", "--candidates", "nope"], "unknown candidate"),
    (["reproduce", "mulan_yeast", "--candidates", "bce"], "belong to `vlap reproduce beyond`"),
    (["reproduce", "beyond", "--skip-main"], "--skip-main needs --batch-sizes"),
])
def test_study_command_errors_are_one_line(argv, match, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vlap: error:") and match in err[0]


def test_dual_head_is_skipped_on_a_config_without_an_mlp(tmp_path):
    cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0]}, smoke=True)
    cfg["model"] = {**cfg["model"], "kind": "image"}
    said = []
    folder = study.run_dataset(cfg, tmp_path, ["dual_head"], log=said.append)
    meta = json.loads((folder / "run.json").read_text())
    assert meta["skipped"] == ["dual_head"] and meta["candidates"] == []
    assert any("dual_head: skipped" in m for m in said)
    assert not (folder / "results.csv").exists()
