"""Hostile inputs (issue 21): nothing lost, nothing silently wrong.

Each case is one a user met: a crash that must become one `vlap: error:` line,
or a silently wrong handling of the data that must reach the console.
"""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from VLAP import cli
from VLAP.datasets import DataFormatError, load_arxiv_snapshot, load_coco, load_mulan, load_table

ROOT = Path(__file__).resolve().parents[1]
DEEP = "[" * 10_000 + "]" * 10_000


def _run(tmp_path, capsys, table_text, *, dataset="", top="", name="own.csv", extra=()):
    """`vlap run` on a table written to tmp_path; returns (exit code, stderr, runs folder)."""
    (tmp_path / name).write_text(table_text)
    config = tmp_path / "own.toml"
    config.write_text(
        f'epochs = 1\nseeds = [0]\nlosses = ["bce"]\nplots = false\n{top}\n'
        f'[model]\nkind = "mlp"\nhidden = [8]\n'
        f'[dataset]\nkind = "csv"\npath = "{(tmp_path / name).as_posix()}"\n'
        f'text_column = "text"\nlabel_column = "labels"\nmax_features = 50\n{dataset}\n')
    out = tmp_path / "runs"
    code = cli.main(["run", str(config), "--out", str(out), *extra])
    return code, capsys.readouterr().err, out


def _error_line(err):
    lines = [line for line in err.splitlines() if line.startswith("vlap: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _table(n=40, labels=lambda i: "a|b" if i % 3 == 0 else "ab"[i % 2]):
    return "text,labels\n" + "".join(f"text number {i} word{i % 7},{labels(i)}\n"
                                     for i in range(n))


# === Crashes become one-line errors ===

def test_deep_json_line_is_a_data_error(tmp_path):
    table = tmp_path / "deep.jsonl"
    table.write_text(json.dumps({"text": "ok", "labels": ["a"]}) + "\n" + DEEP + "\n")
    with pytest.raises(DataFormatError, match="row 2.*nested too deeply"):
        load_table(table, text_column="text", label_column="labels")
    data = load_table(table, text_column="text", label_column="labels", on_error="skip")
    assert data.texts == ["ok"] and data.report.n_skipped == 1
    assert data.report.unaccounted() == 0
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(DEEP + "\n")
    report = load_arxiv_snapshot(snapshot, on_error="skip").report
    assert report.n_skipped == 1 and "nested too deeply" in report.skipped[0]["reason"]


def test_huge_hidden_layer_names_the_setting(tmp_path, capsys):
    code, err, out = _run(tmp_path, capsys, _table(), top="",
                          extra=["--set", "model.hidden=[200000000]"])
    line = _error_line(err)
    assert code == 2 and "model.hidden=[200000000]" in line and "memory" in line
    assert not out.exists() or not list(out.iterdir())  # no run folder left behind


def test_non_finite_loss_names_learning_rate_and_epoch(tmp_path, capsys):
    code, err, _ = _run(tmp_path, capsys, _table(), top="learning_rate = 1e308")
    line = _error_line(err)
    assert code == 2 and "learning_rate=1e+308" in line and "epoch 1" in line


def test_too_few_rows_says_which_split_and_the_minimum(tmp_path, capsys):
    code, err, out = _run(tmp_path, capsys, "text,labels\na b,x\nc d,y\ne f,x\n")
    line = _error_line(err)
    assert code == 2 and "['test'] split is empty" in line and "At least 5 rows" in line
    assert "TfidfTransformer" not in line
    assert not out.exists() or not list(out.iterdir())


def test_patience_zero_is_refused_and_false_turns_early_stopping_off(tmp_path, capsys):
    code, err, _ = _run(tmp_path, capsys, _table(), top="patience = 0")
    line = _error_line(err)
    assert code == 2 and "patience" in line and "false" in line
    from VLAP.experiments import load_config

    cfg = load_config(tmp_path / "own.toml", overrides={"patience": False})
    assert cfg["patience"] is False


def test_wrong_label_column_says_did_you_mean_and_leaves_no_run_folder(tmp_path, capsys):
    code, err, out = _run(tmp_path, capsys, _table(), dataset="",
                          extra=["--set", "dataset.label_column=lables"])
    line = _error_line(err)
    assert code == 2 and "did you mean 'labels'" in line
    assert not out.exists() or not list(out.iterdir())


def test_header_only_table_is_checked_against_its_header(tmp_path):
    table = tmp_path / "empty.csv"
    table.write_text("body,tags\n")
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['text'.*Found: \['body'"):
        load_table(table, text_column="text", label_column="labels")


def test_cli_advice_uses_config_wording(tmp_path, capsys):
    code, err, _ = _run(tmp_path, capsys, "text,labels\nok,a\n   ,b\n" + _table()[12:])
    line = _error_line(err)
    assert code == 2 and 'on_error = "skip"' in line and "on_error='skip'" not in line


# === Silently wrong cases reach the console ===

def test_wrong_separator_is_warned_with_the_fix(tmp_path, capsys):
    text = "text,labels\n" + "".join(f"text {i} w{i % 5},\"{'ab'[i % 2]},{'cd'[i % 3 % 2]}\"\n"
                                     for i in range(40))
    code, err, _ = _run(tmp_path, capsys, text)
    assert code == 0, err
    assert "warning: no row has two labels" in err and "label_separator = ','" in err


def test_data_summary_counts_empty_label_cells_and_labels_absent_from_train(tmp_path,
                                                                           capsys):
    def labels(i):
        return "" if i % 5 == 0 else ("a" if i % 2 else "b")
    text = _table(40, labels) + "only in one row,rare\n"
    code, err, _ = _run(tmp_path, capsys, text, dataset='split = [0.5, 0.25, 0.25]')
    assert code == 0, err
    assert "rows: read 41, kept 41, skipped 0" in err
    assert "empty label cells (kept as all-zero label rows)" in err
    assert "labels: " in err and "per training example" in err
    # the single 'rare' row is in one split; in val/test it cannot be learned or scored
    assert "absent from" in err


def test_csv_duplicates_are_grouped_by_default_and_reported(tmp_path, capsys):
    text = "text,labels\n" + "".join(f"same text {i % 10},{'ab'[i % 2]}\n" for i in range(60))
    code, err, out = _run(tmp_path, capsys, text)
    assert code == 0, err
    assert "duplicates: 60 rows share 10 inputs; grouped" in err
    from VLAP.experiments import load_config

    assert load_config(tmp_path / "own.toml")["datasets"][0]["group_duplicates"] is True


def test_na_values_option_and_note(tmp_path):
    table = tmp_path / "na.csv"
    table.write_text("text,labels\none,a\ntwo,NA\nthree,b|N/A\n")
    data = load_table(table, text_column="text", label_column="labels")
    assert data.labels[1] == ["NA"]
    assert any("na_values=['N/A', 'NA']" in n for n in data.report.notes)
    data = load_table(table, text_column="text", label_column="labels",
                      na_values=["NA", "N/A"])
    assert data.labels[1] == [] and any("read as missing" in n for n in data.report.notes)


def test_duplicate_ids_are_reported(tmp_path):
    table = tmp_path / "ids.csv"
    table.write_text("id,text,labels\n1,one,a\n1,two,b\n2,three,a\n")
    data = load_table(table, text_column="text", label_column="labels", id_column="id")
    assert data.ids == ["1", "1", "2"]
    assert any("2 rows share 1 ids" in n for n in data.report.notes)


def test_blank_csv_line_keeps_row_numbers(tmp_path):
    table = tmp_path / "blank.csv"
    table.write_text("text\nfirst\n\nthird\n")
    data = load_table(table, text_column="text")
    assert data.ids == [0, 2] and data.report.dropped == {"blank line": 1}
    assert data.report.unaccounted() == 0


# === Loader gaps ===

ARFF = """@relation toy
@attribute f1 numeric
@attribute flag {0,1}
@attribute colour {red,green,blue}
@attribute yes_no {no,yes}
@attribute l1 {0,1}
@attribute l2 {0,1}
@data
0.5,1,green,yes,1,0
1.5,0,blue,no,0,1
{0 2.5,2 red,5 1}
"""
XML = ('<labels xmlns="http://mulan.sourceforge.net/labels">'
       '<label name="l1"></label><label name="l2"></label></labels>')


def test_mulan_nominal_features_binary_and_one_hot(tmp_path):
    (tmp_path / "toy.arff").write_text(ARFF)
    (tmp_path / "toy.xml").write_text(XML)
    data = load_mulan("toy", path=tmp_path)
    assert data.feature_names == ["f1", "flag", "colour=red", "colour=green", "colour=blue",
                                  "yes_no=yes"]
    assert data.X.tolist() == [[0.5, 1, 0, 1, 0, 1], [1.5, 0, 0, 0, 1, 0],
                               [2.5, 0, 1, 0, 0, 0]]
    assert data.Y.tolist() == [[1, 0], [0, 1], [0, 1]]
    assert any("nominal" in n for n in data.report.notes)


def test_mulan_unknown_nominal_value_is_a_row_error(tmp_path):
    (tmp_path / "toy.arff").write_text(ARFF.replace("1.5,0,blue", "1.5,0,purple"))
    (tmp_path / "toy.xml").write_text(XML)
    with pytest.raises(DataFormatError, match="purple"):
        load_mulan("toy", path=tmp_path)
    data = load_mulan("toy", path=tmp_path, on_error="skip")
    assert len(data.X) == 2 and data.report.unaccounted() == 0


def test_coco_skip_counts_add_up(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
           "categories": [{"id": 1, "name": "cat"}],
           "annotations": [{"image_id": 1, "category_id": 1},
                           {"image_id": 99, "category_id": 1},
                           {"image_id": 2, "category_id": 7}]}
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(doc))
    data = load_coco(path, check_images=False, on_error="skip")
    assert data.report.unaccounted() == 0
    assert len(data.report.skipped_parts) == 2 and data.report.n_skipped == 0
    assert data.ids == [1]


# === Progress and a quiet start-up ===

def test_progress_is_off_when_stderr_is_not_a_tty():
    from VLAP.features import progress

    bar = progress(range(3), total=3, desc="x")
    assert bar.disable  # pytest captures stderr: no TTY
    assert list(bar) == [0, 1, 2]


@pytest.mark.skipif(sys.platform == "win32", reason="file descriptors")
def test_python_start_up_is_quiet_and_user_log_level_filters_more():
    code = "import VLAP; VLAP.losses; print('ok')"
    for level in (None, "3", "1"):
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        env.update(KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="")
        if level is not None:
            env["TF_CPP_MIN_LOG_LEVEL"] = level
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
        for noise in ("absl::InitializeLog", "I0000 ", "cuInit", "cuda drivers"):
            assert noise not in proc.stderr, (level, proc.stderr)


def test_one_label_left_after_the_cut_is_one_error_line(tmp_path, capsys):
    """Found by the mutated-config property test: a table left with one label (here by
    min_count = 2) failed in evaluation with a traceback."""
    table = _table(labels=lambda i: "a" if i else "b")  # 'b' once: cut by min_count = 2
    code, err, out = _run(tmp_path, capsys, table, dataset="min_count = 2")
    line = _error_line(err)
    assert code == 2 and "1 label (['a']) left in the training split" in line
    assert "min_count=2" in line and "needs at least 2" in line
    assert line.count("'own'") == 1  # the dataset is named once


def test_skip_run_names_the_dataset_once(tmp_path, capsys):
    table = "text,labels\nok one,a\n   ,b\n,c\nok two,b\n"
    code, err, out = _run(tmp_path, capsys, table, dataset='on_error = "skip"')
    line = _error_line(err)
    assert code == 2 and "too few for split" in line
    assert line.count("dataset 'own'") == 1 and line.count("own.csv") == 1, line
    assert "run directory" in err and "removed: nothing was trained or written" in err
    assert not out.exists() or not list(out.iterdir())


def test_load_predictor_on_a_text_file_named_keras_says_so(tmp_path):
    from VLAP.inference import load_predictor

    fake = tmp_path / "x.keras"
    fake.write_text("not a model\n")
    with pytest.raises(ValueError, match=r"x\.keras is not a Keras model file \(a \.keras file "
                                         r"is a zip archive"):
        load_predictor(fake)
