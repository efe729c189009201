"""`vlap predict` never destroys a file, keeps ids, reads any encoding, skips bad rows
on request (issue 21, build item 1)."""

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import VLAP
from VLAP import cli, datasets, features
from VLAP.inference import package_model

FIXTURE = Path(__file__).parent / "data" / "own_texts.csv"
NAMES = ["billing", "bug", "feature", "login", "mobile"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small packaged text model saved as .keras (trained for 1 epoch)."""
    data = datasets.load_table(FIXTURE, text_column="text", label_column="labels")
    y = np.array([[n in labs for n in NAMES] for labs in data.labels], "float32")
    featurizer = features.TfidfFeaturizer(max_features=40)
    x = featurizer.fit_transform(data.texts)
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(len(NAMES))])
    net.compile(optimizer="adam", loss="binary_crossentropy")
    net.fit(x, y, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    package_model(net, NAMES, featurizer=featurizer, input_column="text").save(path)
    return path


def _predict(capsys, *argv):
    code = cli.main(["predict", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vlap: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_out_never_overwrites_the_input_or_the_model(tmp_path, model_file, capsys):
    table = tmp_path / "new.csv"
    table.write_text("text\nthe app crashes\nplease add dark mode\n")
    before, model_before = table.read_bytes(), model_file.read_bytes()
    for out in (table, model_file):
        for force in ((), ("--force",)):
            code, _, err = _predict(capsys, model_file, table, "--out", out, *force)
            assert code == 2
            assert "--out" in _one_error_line(err)
    assert table.read_bytes() == before and model_file.read_bytes() == model_before


def test_out_refuses_an_existing_file_unless_force(tmp_path, model_file, capsys):
    table = tmp_path / "new.csv"
    table.write_text("text\nthe app crashes\n")
    out = tmp_path / "predictions.csv"
    out.write_text("keep me\n")
    code, _, err = _predict(capsys, model_file, table, "--out", out)
    assert code == 2 and "--force" in _one_error_line(err)
    assert out.read_text() == "keep me\n"
    code, _, err = _predict(capsys, model_file, table, "--out", out, "--force")
    assert code == 0, err
    assert pd.read_csv(out)["id"].tolist() == [0]
    # written whole: no temporary file is left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "predictions.csv"]


def test_out_is_written_atomically(tmp_path, model_file, monkeypatch):
    """A write that fails half-way leaves the old file as it was and no temporary file."""
    out = tmp_path / "predictions.csv"
    out.write_text("old\n")

    def broken(self, handle, **kwargs):
        handle.write("id,labels\n0,half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        cli._write_atomically(pd.DataFrame({"id": [0]}), out)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]


def test_the_input_id_column_is_kept(tmp_path, model_file, capsys):
    code, out, err = _predict(capsys, model_file, FIXTURE)  # has an `id` column
    assert code == 0, err
    frame = pd.read_csv(pd.io.common.StringIO(out))
    assert frame["id"].tolist()[:2] == ["t000", "t001"]
    table = tmp_path / "tickets.tsv"
    table.write_text("ticket\ttext\nA-7\tthe app crashes\nB-9\tadd dark mode\n")
    code, out, err = _predict(capsys, model_file, table, "--id-column", "ticket")
    assert code == 0, err
    assert pd.read_csv(pd.io.common.StringIO(out))["id"].tolist() == ["A-7", "B-9"]
    code, _, err = _predict(capsys, model_file, table, "--id-column", "tickt")
    assert code == 2 and "did you mean 'ticket'" in _one_error_line(err)


def test_blank_lines_do_not_renumber_and_bad_rows_can_be_skipped(tmp_path, model_file,
                                                                capsys):
    table = tmp_path / "new.csv"
    table.write_text("text\nthe app crashes\n\n   \nadd dark mode\n")
    code, _, err = _predict(capsys, model_file, table)
    line = _one_error_line(err)
    assert code == 2 and "row 3" in line and "--on-error skip" in line
    assert "on_error=" not in line  # CLI wording, not Python's
    code, out, err = _predict(capsys, model_file, table, "--on-error", "skip")
    assert code == 0, err
    assert pd.read_csv(pd.io.common.StringIO(out))["id"].tolist() == [0, 3]
    assert "skipped 1 of 4 rows" in err and "row 3" in err
    frame = VLAP.predict(model_file, table, on_error="skip")
    assert frame.attrs["report"].n_skipped == 1 and frame.attrs["report"].unaccounted() == 0


def test_encoding_option(tmp_path, model_file, capsys):
    table = tmp_path / "latin.csv"
    table.write_bytes("text\nle caf\xe9 plante\n".encode("latin-1"))
    code, _, err = _predict(capsys, model_file, table)
    assert code == 2 and "--encoding latin-1" in _one_error_line(err)
    code, out, err = _predict(capsys, model_file, table, "--encoding", "latin-1")
    assert code == 0, err
    assert len(pd.read_csv(pd.io.common.StringIO(out))) == 1


def test_a_text_file_named_keras_is_not_file_not_found(tmp_path, capsys):
    fake = tmp_path / "model.keras"
    fake.write_text("not a model")
    table = tmp_path / "new.csv"
    table.write_text("text\nhello\n")
    code, _, err = _predict(capsys, fake, table)
    line = _one_error_line(err)
    assert code == 2 and "not a Keras model file" in line and "not found" not in line
