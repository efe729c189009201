import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from VLAP import datasets
from VLAP.datasets import DataFormatError, ImageData, TextData

FIXTURE = Path(__file__).parent / "data" / "own_texts.csv"
ROWS = [("login fails", "bug|auth", "train"), ("add dark mode", "feature", "val"),
        ("crash on login", "bug | auth|bug", "test")]


def _accounted(report):
    return report.n_kept + report.n_skipped + report.n_dropped == report.n_read


def test_fixture_loads():
    data = datasets.load_table(FIXTURE, text_column="text", label_column="labels",
                               id_column="id")
    assert isinstance(data, TextData) and len(data) == 80 and data.split is None
    assert data.ids[0] == "t000" and data.labels[0] == ["bug"]
    assert {lab for labs in data.labels for lab in labs} == {
        "bug", "billing", "login", "feature", "mobile"}
    assert _accounted(data.report) and data.report.n_kept == 80


def _write(tmp_path, name, fmt):
    path = tmp_path / name
    if fmt == "jsonl":
        text = "".join(json.dumps({"t": t, "y": y, "s": s}) + "\n" for t, y, s in ROWS)
    else:
        sep = "," if fmt == "csv" else "\t"
        text = sep.join(["t", "y", "s"]) + "\n" + "".join(
            sep.join([t, y, s]) + "\n" for t, y, s in ROWS)
    raw = text.encode()
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") or "gzip" in name else raw)
    return path


@pytest.mark.parametrize("name,fmt", [("a.csv", "csv"), ("a.tsv", "tsv"), ("a.jsonl", "jsonl"),
                                      ("a.csv.gz", "csv"), ("a.ndjson", "jsonl"),
                                      ("gzip_in_a_plain.csv", "csv")])
def test_formats_by_extension_and_content(tmp_path, name, fmt):
    path = _write(tmp_path, name, fmt)
    data = datasets.load_table(path, text_column="t", label_column="y", split_column="s")
    assert data.texts == [t for t, _, _ in ROWS]
    assert data.labels == [["bug", "auth"], ["feature"], ["bug", "auth"]]  # stripped, deduped
    assert data.split == ["train", "val", "test"] and _accounted(data.report)


def test_format_argument_and_unknown_extension(tmp_path):
    path = _write(tmp_path, "a.txt", "tsv")
    with pytest.raises(ValueError, match=r"a.txt: cannot tell the format.*format="):
        datasets.load_table(path, text_column="t", label_column="y")
    assert len(datasets.load_table(path, text_column="t", label_column="y", format="tsv")) == 3
    with pytest.raises(ValueError, match="format"):
        datasets.load_table(path, text_column="t", label_column="y", format="xlsx")


def test_label_forms(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('t,y,a,b\none,"[\'x\', \'y\']",1,0\ntwo,"x, z",0,1\nthree,,true,false\n')
    data = datasets.load_table(path, text_column="t", label_column="y", label_separator=",")
    assert data.labels == [["x", "y"], ["x", "z"], []]
    assert "1 rows without any label kept" in data.report.notes[0]
    data = datasets.load_table(path, text_column="t", label_columns=["a", "b"])
    assert data.labels == [["a"], ["b"], ["a"]]
    jl = tmp_path / "a.jsonl"
    jl.write_text('{"t": "one", "y": ["p", "q"], "a": 1}\n\n{"t": "two", "y": "p", "a": false}\n')
    data = datasets.load_table(jl, text_column="t", label_column="y")
    assert data.labels == [["p", "q"], ["p"]] and data.report.dropped == {"blank line": 1}
    assert _accounted(data.report)
    assert datasets.load_table(jl, text_column="t", label_columns=["a"]).labels == [["a"], []]


def test_bad_rows_name_file_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("t,y,s,a\nok,x,train,1\n,x,train,1\nfine,\"['x'\",val,1\n"
                    "good,x,holdout,1\nyes,x,test,2\n")
    kwargs = dict(text_column="t", label_column="y", split_column="s")
    with pytest.raises(DataFormatError, match=r"bad.csv, row 2, column `t`: empty"):
        datasets.load_table(path, **kwargs)
    data = datasets.load_table(path, on_error="skip", **kwargs)
    assert data.texts == ["ok", "yes"] and _accounted(data.report)
    reasons = {s["row"]: s["reason"] for s in data.report.skipped}
    assert "not a Python literal" in reasons["3, column `y`"]
    assert "holdout" in reasons["4, column `s`"]
    data = datasets.load_table(path, text_column="t", label_columns=["a"], on_error="skip")
    assert any("`a` must be 0 or 1, got '2'" in s["reason"] for s in data.report.skipped)
    with pytest.raises(DataFormatError, match=r"bad.csv: missing column\(s\) \['text'\]. Found"):
        datasets.load_table(path, text_column="text", label_column="y")
    bad_json = tmp_path / "b.jsonl"
    bad_json.write_text('{"t": "a", "y": "x"}\n{"t": "b", "y"\n[1]\n')
    with pytest.raises(DataFormatError, match=r"b.jsonl, row 2: malformed JSON"):
        datasets.load_table(bad_json, text_column="t", label_column="y")
    data = datasets.load_table(bad_json, text_column="t", label_column="y", on_error="skip")
    assert data.texts == ["a"] and data.report.n_skipped == 2 and _accounted(data.report)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="exactly one of `text_column`"):
        datasets.load_table(FIXTURE, label_column="labels")
    with pytest.raises(ValueError, match="not both"):
        datasets.load_table(FIXTURE, text_column="text", label_column="labels",
                            label_columns=["a"])
    unlabeled = datasets.load_table(FIXTURE, text_column="text")
    assert unlabeled.labels is None and len(unlabeled) == 80
    with pytest.raises(ValueError, match="label_separator"):
        datasets.load_table(FIXTURE, text_column="text", label_column="labels",
                            label_separator="")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        datasets.load_table(tmp_path / "nope.csv", text_column="t", label_column="y")


def test_encoding(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("t,y\ncaf\u00e9,x\n".encode("cp1252"))
    with pytest.raises(DataFormatError, match=r"a.csv: not valid utf-8.*encoding="):
        datasets.load_table(path, text_column="t", label_column="y")
    data = datasets.load_table(path, text_column="t", label_column="y", encoding="cp1252")
    assert data.texts == ["caf\u00e9"]


def test_images_relative_to_the_file_and_damaged_ones_reported(tmp_path):
    (tmp_path / "img").mkdir()
    for name in ("a.jpg", "b.jpg"):
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(tmp_path / "img" / name)
    raw = (tmp_path / "img" / "b.jpg").read_bytes()
    (tmp_path / "img" / "b.jpg").write_bytes(raw[: len(raw) // 2])  # truncated
    path = tmp_path / "images.csv"
    path.write_text("image,labels\nimg/a.jpg,cat\nimg/b.jpg,dog\nimg/c.jpg,cat|dog\n")
    with pytest.raises(DataFormatError, match=r"images.csv, row 2, column `image`: corrupt image"):
        datasets.load_table(path, image_column="image", label_column="labels")
    data = datasets.load_table(path, image_column="image", label_column="labels",
                               on_error="skip")
    assert isinstance(data, ImageData) and data.paths == [str(tmp_path / "img" / "a.jpg")]
    assert [s["row"] for s in data.report.skipped] == ["2, column `image`", "3, column `image`"]
    assert _accounted(data.report)
    data = datasets.load_table(path, image_column="image", label_column="labels",
                               check_images="exists", on_error="skip")
    assert len(data) == 2


# ------------------------------------------------- kind = "csv" in experiment configs


def _csv_config(**dataset):
    table = {"kind": "csv", "path": str(FIXTURE), "text_column": "text",
             "label_column": "labels"}
    table.update(dataset)
    return {"name": "own", "dataset": table}


def test_csv_config_defaults_and_validation():
    from VLAP.experiments import ConfigError, load_config
    from VLAP.experiments.schema import DEFAULTS, USER_DATA_DEFAULTS

    cfg = load_config(_csv_config())
    for key, value in USER_DATA_DEFAULTS.items():
        assert cfg[key] == value
    assert load_config(dict(_csv_config(), patience=3))["patience"] == 3  # the file wins
    demo = load_config({"name": "x", "dataset": {"kind": "synthetic"}})
    assert demo["monitor"] == DEFAULTS["monitor"]  # other kinds keep the paper defaults
    with pytest.raises(ConfigError, match="exactly one of `text_column` and `image_column`"):
        load_config(_csv_config(image_column="img"))
    with pytest.raises(ConfigError, match="exactly one of `label_column`"):
        load_config(_csv_config(label_columns=["a"]))
    with pytest.raises(ConfigError, match="needs `path`"):
        load_config({"dataset": {"kind": "csv", "text_column": "t", "label_column": "y"}})
    with pytest.raises(ConfigError, match=r"`dataset.format`. Expected one of"):
        load_config(_csv_config(format="xlsx"))


def test_csv_prepare_keeps_a_given_split_and_the_featurizer(tmp_path):
    from VLAP.experiments import ConfigError, load_config, prepare_dataset

    data = datasets.load_table(FIXTURE, text_column="text", label_column="labels")
    path = tmp_path / "split.jsonl"
    parts = ["train"] * 50 + ["val"] * 15 + ["test"] * 15
    path.write_text("".join(json.dumps({"t": t, "y": y, "part": p}) + "\n"
                            for t, y, p in zip(data.texts, data.labels, parts)))
    cfg = load_config({"dataset": {"kind": "csv", "path": str(path), "text_column": "t",
                                   "label_column": "y", "split_column": "part",
                                   "max_features": 30}})
    prep = prepare_dataset(cfg["datasets"][0])
    assert (len(prep.y_train), len(prep.y_val), len(prep.y_test)) == (50, 15, 15)
    assert prep.input_column == "t" and prep.x_train.shape == (50, 30)
    assert np.array_equal(prep.featurizer.transform(data.texts[65:]), prep.x_test.toarray())
    path.write_text("".join(json.dumps({"t": t, "y": y, "part": "train"}) + "\n"
                            for t, y in zip(data.texts, data.labels)))
    with pytest.raises(ConfigError, match=r"no \['val', 'test'\] rows"):
        prepare_dataset(cfg["datasets"][0])


def test_csv_dataset_is_named_after_its_file(tmp_path):
    """An unnamed `kind = "csv"` table takes its file's stem: runs and saved models
    say `models/own_texts/`, not `models/csv/`; a `name` given in the file wins, and two
    unnamed tables with the same stem are reported as a name clash, not merged."""
    from VLAP.experiments import ConfigError, load_config

    cfg = load_config(_csv_config())
    assert cfg["datasets"][0]["name"] == FIXTURE.stem
    assert load_config(_csv_config(name="mine"))["datasets"][0]["name"] == "mine"
    other = tmp_path / FIXTURE.name
    other.write_bytes(FIXTURE.read_bytes())
    twin = dict(_csv_config()["dataset"], path=str(other))
    with pytest.raises(ConfigError, match=f"two datasets named '{FIXTURE.stem}'"):
        load_config({"name": "own", "datasets": [_csv_config()["dataset"], twin]})
