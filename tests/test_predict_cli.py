"""`vlap predict` never destroys a file, keeps ids, reads any encoding, skips bad rows
on request (issue 21, build item 1)."""

import os
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


# ------------------------------------------------- file modes, temporary files, Ctrl-C


def _mode(path):
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_out_gets_the_mode_an_ordinary_write_gives(tmp_path, model_file, capsys, umask):
    table = tmp_path / "new.csv"
    table.write_text("text\nthe app crashes\n")
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")  # what an ordinary write gives under this umask
        out = tmp_path / "predictions.csv"
        code, _, err = _predict(capsys, model_file, table, "--out", out)
    finally:
        os.umask(old)
    assert code == 0, err
    assert _mode(out) == _mode(plain) == 0o666 & ~umask


def test_force_keeps_the_mode_of_the_replaced_file(tmp_path, model_file, capsys):
    table = tmp_path / "new.csv"
    table.write_text("text\nthe app crashes\n")
    out = tmp_path / "predictions.csv"
    for mode in (0o644, 0o640, 0o600, 0o664):
        out.write_text("old\n")
        out.chmod(mode)
        code, _, err = _predict(capsys, model_file, table, "--out", out, "--force")
        assert code == 0, err
        assert _mode(out) == mode and out.read_text().startswith("id,labels")


def test_a_stale_temporary_file_is_removed_by_the_next_write(tmp_path, model_file, capsys):
    """A `kill -9` during a write leaves `.NAME.XXXXXXXX.tmp`; the next write to that
    --out removes it, and only files of that exact pattern for that name."""
    table = tmp_path / "new.csv"
    table.write_text("text\nthe app crashes\n")
    stale = [tmp_path / ".predictions.csv.a1b2_c3d.tmp", tmp_path / ".predictions.csv.zzzzzzzz.tmp"]
    kept = [tmp_path / ".other.csv.a1b2c3d4.tmp",        # another --out's
            tmp_path / ".predictions.csv.short.tmp",     # not mkstemp's 8 characters
            tmp_path / "predictions.csv.a1b2c3d4.tmp",   # not hidden
            tmp_path / ".predictions.csv.a1b2c3d4.tmp.bak"]
    for p in stale + kept:
        p.write_text("half")
    linked = tmp_path / ".predictions.csv.linkLINK.tmp"
    linked.symlink_to(table)  # a link is never followed nor removed
    code, _, err = _predict(capsys, model_file, table, "--out", tmp_path / "predictions.csv")
    assert code == 0, err
    assert not any(p.exists() for p in stale)
    assert all(p.read_text() == "half" for p in kept)
    assert linked.is_symlink() and table.read_text() == "text\nthe app crashes\n"


def test_ctrl_c_while_predicting_or_writing_leaves_no_file_and_one_line(tmp_path, model_file,
                                                                          capsys, monkeypatch):
    table = tmp_path / "new.csv"
    table.write_text("text\nthe app crashes\n")
    out = tmp_path / "predictions.csv"
    out.write_text("old\n")
    out.chmod(0o640)

    def interrupted(self, handle, **kwargs):
        handle.write("id,labels\n0,half")
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(pd.DataFrame, "to_csv", interrupted)
        code, _, err = _predict(capsys, model_file, table, "--out", out, "--force")
    assert code == 130 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line == (f"vlap: Ctrl-C: interrupted while predicting {table}; {out} was not "
                    "written (a file there is unchanged); run the same command again to "
                    "predict")
    assert out.read_text() == "old\n" and _mode(out) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "predictions.csv"]


#: `vlap predict` in a child process whose input step blocks (the stand-in for a slow input:
#: a big table, a network file system) once it has said so, so that the test's SIGINT lands
#: while predicting, whatever the machine's load (a timed sleep raced the imports).
_BLOCKING_PREDICT = """
import importlib, pathlib, sys, time
predict = importlib.import_module("VLAP.inference.predict")  # the module, not the function

def blocking_inputs(*args, **kwargs):
    pathlib.Path(sys.argv[1]).write_text("reading the input")
    while True:
        time.sleep(0.05)

predict._inputs = blocking_inputs
from VLAP.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_sigint_in_a_predict_subprocess_exits_130_without_traceback(tmp_path, model_file):
    """A real SIGINT while `vlap predict` works (here: while it reads its input)."""
    import signal
    import subprocess
    import sys
    import time

    from conftest import backend_env

    table = tmp_path / "new.csv"
    table.write_text("text\nthe app crashes\n")
    ready = tmp_path / "ready"
    out = tmp_path / "predictions.csv"
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING_PREDICT, str(ready), "predict",
                             str(model_file), str(table), "--out", str(out)],
                            cwd=Path(__file__).parents[1],
                            env=backend_env(os.environ.get("KERAS_BACKEND", "tensorflow")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "vlap predict never reached its input"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("vlap: Ctrl-C: interrupted while "
                                                   "predicting"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "ready"]


# ------------------------------------------------------------- --on-error with images


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (12, 10, 3), np.uint8)).save(folder / f"{i}.png")
    # a BMP cut short: its header reads (a table's image check passes it), its pixels
    # do not decode
    (folder / "1.png").unlink()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(folder / "1.bmp")
    (folder / "1.bmp").write_bytes((folder / "1.bmp").read_bytes()[:2000])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not a JPEG")
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255),
                            keras.layers.Flatten(), keras.layers.Dense(2)])
    path = folder.parent / "image_model.keras"
    package_model(net, ["cat", "dog"], featurizer=features.ImageFeaturizer(image_size=8),
                  input_column="image").save(path)
    return path, folder


def test_on_error_skip_leaves_out_undecodable_images_of_a_folder(image_model, capsys):
    model, folder = image_model
    code, _, err = _predict(capsys, model, folder)
    line = _one_error_line(err)
    assert code == 2 and "Cannot decode image file" in line and "--on-error skip" in line
    code, out, err = _predict(capsys, model, folder, "--on-error", "skip")
    assert code == 0, err
    assert pd.read_csv(pd.io.common.StringIO(out))["id"].tolist() == ["0.png", "2.png",
                                                                      "3.png"]
    assert "skipped 3 of 6 files of" in err
    for name in ("1.bmp", "empty.jpg", "text.jpg"):
        assert f"  {name}: Cannot decode image file" in err, err
    frame = VLAP.predict(model, folder, on_error="skip")
    report = frame.attrs["report"]
    assert report.n_read == 6 and report.n_kept == 3 and report.unaccounted() == 0
    with pytest.raises(VLAP.data.ImageDecodeError, match="1.bmp"):  # still that type
        VLAP.predict(model, folder)
    with pytest.raises(ValueError, match="on_error"):
        VLAP.predict(model, folder, on_error="ignore")


def test_on_error_skip_leaves_out_undecodable_images_of_a_table(image_model, capsys,
                                                                 tmp_path):
    model, folder = image_model
    table = tmp_path / "images.csv"
    # the table loader's own check finds text.jpg and missing.png; the truncated 1.bmp
    # opens, and fails only when decoded
    table.write_text(f"id,image\na,{folder / '0.png'}\nb,{folder / 'text.jpg'}\n"
                     f"c,{folder / 'missing.png'}\nd,{folder / '1.bmp'}\n"
                     f"e,{folder / '3.png'}\n")
    only_truncated = tmp_path / "truncated.csv"
    only_truncated.write_text(f"image\n{folder / '0.png'}\n{folder / '1.bmp'}\n")
    for bad in (table, only_truncated):
        code, _, err = _predict(capsys, model, bad)
        assert code == 2 and "--on-error skip" in _one_error_line(err)
    code, out, err = _predict(capsys, model, table, "--on-error", "skip")
    assert code == 0, err
    assert pd.read_csv(pd.io.common.StringIO(out))["id"].tolist() == ["a", "e"]
    assert "skipped 3 of 5 rows" in err and "id d: Cannot decode image file" in err, err
    assert "text.jpg" in err and "missing.png" in err
    expected = VLAP.predict(model, [str(folder / "0.png"), str(folder / "3.png")])
    got = VLAP.predict(model, table, on_error="skip")
    np.testing.assert_array_equal(got.iloc[:, 2:].to_numpy(), expected.iloc[:, 2:].to_numpy())
    assert got.attrs["report"].unaccounted() == 0
    bad = tmp_path / "all_bad.csv"
    bad.write_text(f"image\n{folder / '1.bmp'}\n")
    code, _, err = _predict(capsys, model, bad, "--on-error", "skip")
    assert code == 2 and "no images to predict (1 could not be decoded)" in _one_error_line(err)
