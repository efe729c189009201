import json
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import VLAP
from VLAP import datasets, features
from VLAP.inference import Decision, Predictor, load_predictor, package_model, tune_thresholds
from VLAP.inference.decision import tune_cut_points

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from conftest import run_on_backend  # noqa: E402

FIXTURE = HERE / "data" / "own_texts.csv"
NAMES = ["billing", "bug", "feature", "login", "mobile"]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def _text_setup(seed=0):
    data = datasets.load_table(FIXTURE, text_column="text", label_column="labels")
    y = np.array([[n in labs for n in NAMES] for labs in data.labels], "float32")
    featurizer = features.TfidfFeaturizer(max_features=40)
    x = featurizer.fit_transform(data.texts[:60])
    keras.utils.set_random_seed(seed)
    net = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(8, activation="relu"),
                            keras.layers.Dense(len(NAMES))])
    net.compile(optimizer="adam", loss=VLAP.losses.SigmoidF1(beta=5.0))
    net.fit(x, y[:60], epochs=3, verbose=0)
    return data, y, featurizer, net


def test_decision_rules_and_errors():
    scores = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.3]], "float32")
    tuned = Decision(["a", "b", "c"], thresholds=[0.95, 0.1, 0.5], from_logits=False)
    assert keras.ops.convert_to_numpy(tuned(scores)).tolist() == [[0, 1, 1], [0, 1, 0]]
    on_logits = Decision(["a", "b", "c"], thresholds=[0.95, 0.1, 0.5])
    logits = np.log(scores) - np.log1p(-scores)
    assert keras.ops.convert_to_numpy(on_logits(logits)).tolist() == [[0, 1, 1], [0, 1, 0]]
    top = Decision.from_config(Decision(["a", "b", "c"], top_k=1).get_config())
    assert top.names_of(keras.ops.convert_to_numpy(top(scores))) == [["a"], ["b"]]
    assert top.strategy == "top_k" and tuned.strategy == "per_label"
    with pytest.raises(ValueError, match="distinct"):
        Decision(["a", "a"])
    with pytest.raises(ValueError, match="shape"):
        Decision(["a", "b"], thresholds=[0.5])
    with pytest.raises(ValueError, match="Pass either `threshold` or `top_k`"):
        Decision(["a", "b"], thresholds=0.3, top_k=1)
    with pytest.raises(ValueError, match="between 1 and num_labels=2"):
        Decision(["a", "b"], top_k=3)


def test_predict_texts_matches_the_model_and_the_thresholds():
    data, y, featurizer, net = _text_setup()
    x_val = featurizer.transform(data.texts[60:])
    predictor = package_model(net, NAMES, thresholds="tuned", val_data=(x_val, y[60:]),
                              featurizer=featurizer, input_column="text",
                              metadata={"loss": "sigmoid_f1"}, min_support=1)
    logits_val = net.predict(x_val, verbose=0)
    scores_val = _sigmoid(logits_val)
    thresholds = _sigmoid(tune_cut_points(y[60:], logits_val, min_support=1))
    assert np.allclose(predictor.decision.thresholds, thresholds)
    frame = VLAP.predict(predictor, data.texts[60:])
    assert list(frame.columns) == ["id", "labels"] + [f"score_{n}" for n in NAMES]
    assert np.allclose(frame[[f"score_{n}" for n in NAMES]].to_numpy(), scores_val, atol=1e-6)
    expected = ["|".join(n for n, s, t in zip(NAMES, row, thresholds) if s > t)
                for row in frame[[f"score_{n}" for n in NAMES]].to_numpy()]
    assert frame["labels"].tolist() == expected
    # the same from the CSV (training column recorded in the model) and from arrays
    from_csv = VLAP.predict(predictor, FIXTURE)
    assert np.allclose(from_csv.iloc[60:, 2:].to_numpy(), frame.iloc[:, 2:].to_numpy())
    from_arrays = VLAP.predict(predictor, x_val)
    assert from_arrays["labels"].tolist() == expected


def test_saved_file_predicts_the_same(tmp_path):
    data, y, featurizer, net = _text_setup()
    predictor = package_model(net, NAMES, top_k=2, featurizer=featurizer, input_column="text")
    before = VLAP.predict(predictor, data.texts)
    path = tmp_path / "model.keras"
    predictor.save(path)
    again = load_predictor(path)
    assert isinstance(again, Predictor) and again.label_names == NAMES
    after = VLAP.predict(path, data.texts)
    pd.testing.assert_frame_equal(before, after)
    assert (after["labels"].str.count(r"\|") == 1).all()  # top-2


_RELOAD = """
import json, sys
import VLAP
frame = VLAP.predict(sys.argv[1], sys.argv[2])
print("RESULT" + json.dumps({"labels": frame["labels"].tolist(),
                            "scores": frame.iloc[:, 2:].to_numpy().tolist()}))
"""


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_saved_on_tensorflow_reloads_on_other_backends(tmp_path, backend):
    if keras.config.backend() != "tensorflow":
        pytest.skip("saves on TensorFlow")
    data, y, featurizer, net = _text_setup()
    x_val = featurizer.transform(data.texts[60:])
    predictor = package_model(net, NAMES, thresholds="tuned", val_data=(x_val, y[60:]),
                              featurizer=featurizer, input_column="text")
    path = tmp_path / "model.keras"
    predictor.save(path)
    expected = VLAP.predict(predictor, FIXTURE)
    proc = run_on_backend(backend, ["-c", _RELOAD, str(path), str(FIXTURE)], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert out["labels"] == expected["labels"].tolist()
    assert np.allclose(out["scores"], expected.iloc[:, 2:].to_numpy(), atol=1e-5)


def test_image_folder_and_table(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (12, 10, 3), np.uint8)).save(
            tmp_path / "imgs" / f"{i}.png")
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    featurizer = features.ImageFeaturizer(image_size=8)
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255),
                            keras.layers.Flatten(), keras.layers.Dense(2)])
    predictor = package_model(net, ["cat", "dog"], featurizer=featurizer, input_column="image")
    frame = VLAP.predict(predictor, tmp_path / "imgs")
    assert frame["id"].tolist() == ["0.png", "1.png", "2.png"]
    table = tmp_path / "new.csv"
    table.write_text("image\nimgs/2.png\nimgs/0.png\n")
    from_table = VLAP.predict(predictor, table)
    assert np.allclose(from_table.iloc[:, 2:].to_numpy(), frame.iloc[[2, 0], 2:].to_numpy())
    with pytest.raises(ValueError, match="the model takes texts"):
        text_model = package_model(net, ["cat", "dog"], featurizer=features.TfidfFeaturizer())
        VLAP.predict(text_model, tmp_path / "imgs")


def test_predict_errors(tmp_path):
    data, y, featurizer, net = _text_setup()
    predictor = package_model(net, NAMES, featurizer=featurizer, input_column="text")
    with pytest.raises(FileNotFoundError, match=r"input not found.*\[text\]"):
        VLAP.predict(predictor, "the app crashes")
    with pytest.raises(TypeError, match="model_or_path"):
        VLAP.predict(net, data.texts)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['body'\]"):
        VLAP.predict(predictor, FIXTURE, input_column="body")
    with pytest.raises(ValueError, match="5 outputs but 6 `label_names`"):
        package_model(net, NAMES[:4] + ["x", "y"])
    with pytest.raises(ValueError, match="val_data"):
        package_model(net, NAMES, thresholds="tuned")
    net.save(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match="not a packaged VLAP model"):
        load_predictor(tmp_path / "plain.keras")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        load_predictor(tmp_path / "empty_run")


def test_run_folder_index(tmp_path):
    data, y, featurizer, net = _text_setup()
    entries = []
    for dataset in ("tickets", "other"):
        for loss, k in (("sigmoid_f1", 1), ("binary_crossentropy", 2)):
            file = f"models/{dataset}/{loss}.keras"
            (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
            package_model(net, NAMES, top_k=k, featurizer=featurizer,
                          input_column="text").save(tmp_path / file)
            entries.append({"dataset": dataset, "loss": loss, "file": file,
                            "best": loss == "sigmoid_f1"})
    (tmp_path / "models.json").write_text(json.dumps({"models": entries}))
    with pytest.raises(ValueError, match=r"several datasets \['tickets', 'other'\]"):
        load_predictor(tmp_path)
    assert load_predictor(tmp_path, loss="tickets/BCE").decision.top_k == 2
    (tmp_path / "models.json").write_text(json.dumps({"models": entries[:2]}))
    assert load_predictor(tmp_path).decision.top_k == 1  # the best
    assert load_predictor(tmp_path, loss="BCE").decision.top_k == 2
    with pytest.raises(ValueError, match=r"no model for loss 'focal'"):
        load_predictor(tmp_path, loss="focal")


def test_fresh_process_loads_vlap_model_classes(tmp_path):
    """A saved model holding a VLAP Keras class (here the image classifier) loads in a
    process that imported nothing but VLAP: load_predictor registers VLAP's classes."""
    from VLAP.models import image_classifier

    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (10, 10, 3), np.uint8)).save(
            tmp_path / "imgs" / f"{i}.jpg")
    net = image_classifier(2, backbone="small_cnn", image_size=8)
    predictor = package_model(net, ["cat", "dog"], featurizer=features.ImageFeaturizer(8))
    predictor.save(tmp_path / "m.keras")
    expected = VLAP.predict(predictor, tmp_path / "imgs")
    proc = run_on_backend(keras.config.backend(),
                          ["-c", _RELOAD, str(tmp_path / "m.keras"), str(tmp_path / "imgs")],
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert np.allclose(out["scores"], expected.iloc[:, 2:].to_numpy(), atol=1e-5)


def test_image_table_config_trains_saves_and_predicts_end_to_end(tmp_path):
    """`kind = "csv"` with an image column: `vlap run` trains the image model on the
    pictures the table names (paths relative to the table), saves the packaged model,
    and `vlap predict` labels a folder of new images with it."""
    from VLAP import cli

    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    (tmp_path / "new").mkdir()
    rows = ["file,labels"]
    for i in range(40):
        red, blue = bool(i % 2), bool(i % 3 == 0)
        pixels = np.zeros((16, 16, 3), np.uint8) + rng.integers(0, 40, (16, 16, 3), dtype=np.uint8)
        pixels[..., 0] += 200 * red
        pixels[..., 2] += 200 * blue
        Image.fromarray(pixels).save(tmp_path / "img" / f"{i}.png")
        if i < 3:
            Image.fromarray(pixels).save(tmp_path / "new" / f"{i}.png")
        labels = "|".join(n for n, on in (("red", red), ("blue", blue)) if on) or "none"
        rows.append(f"img/{i}.png,{labels}")
    (tmp_path / "pictures.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "pictures.toml").write_text(f"""
name = "pictures"
losses = ["sigmoidF1", "bce"]
seeds = [0]
epochs = 2
[dataset]
kind = "csv"
path = "{tmp_path / 'pictures.csv'}"
image_column = "file"
label_column = "labels"
image_size = 16
[model]
kind = "image"
backbone = "small_cnn"
""")
    out = tmp_path / "runs"
    assert cli.main(["run", str(tmp_path / "pictures.toml"), "--out", str(out), "--no-plots",
                     "-q"]) == 0
    (run_dir,) = out.iterdir()
    assert sorted(p.name for p in (run_dir / "models").rglob("*.keras")) == [
        "binary_crossentropy.keras", "sigmoid_f1.keras"]
    table = tmp_path / "pred.csv"
    assert cli.main(["predict", str(run_dir), str(tmp_path / "new"), "--out", str(table)]) == 0
    pred = pd.read_csv(table)
    assert len(pred) == 3 and "labels" in pred
    assert {c for c in pred.columns if c.startswith("score_")} == {
        "score_blue", "score_none", "score_red"}
