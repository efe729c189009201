import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import run_on_backend
from VLAP.data import create_dataset

ROOT = Path(__file__).resolve().parents[1]


def _batches(ds):
    return [(x, y.numpy()) for x, y in ds]


# ----------------------------------------------------------------------- text


def test_padded_token_arrays_are_trimmed_per_batch():
    ids = np.array([[101, 5, 102, 0, 0, 0, 0, 0],
                    [101, 5, 6, 7, 102, 0, 0, 0],
                    [101, 102, 0, 0, 0, 0, 0, 0]])
    tokens = {"input_ids": ids, "attention_mask": (ids != 0).astype(int)}
    y = [[1, 0], [0, 1], [1, 1]]
    (x1, y1), (x2, y2) = _batches(create_dataset(tokens, y, batch_size=2, shuffle=False))
    assert set(x1) == {"input_ids", "attention_mask"}
    assert x1["input_ids"].numpy().tolist() == [[101, 5, 102, 0, 0], [101, 5, 6, 7, 102]]
    assert x1["attention_mask"].numpy().tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert x2["input_ids"].shape == (1, 2)
    assert y1.dtype == np.float32 and y1.tolist() == [[1, 0], [0, 1]]


def test_ragged_lists_padded_per_batch_and_keys_kept():
    tokens = {"token_ids": [[2, 7, 3], [2, 3], [2, 8, 9, 10, 3]],
              "padding_mask": [[True] * 3, [True] * 2, [True] * 5]}
    batches = _batches(create_dataset(tokens, np.eye(3), batch_size=2, shuffle=False))
    x = batches[0][0]
    assert x["token_ids"].numpy().tolist() == [[2, 7, 3], [2, 3, 0]]
    assert x["padding_mask"].dtype.name == "bool"
    assert batches[1][0]["token_ids"].shape == (1, 5)


def test_pad_value_inferred_from_prepadded_arrays():
    ids = np.array([[0, 5, 2, 1, 1], [0, 2, 1, 1, 1]])  # RoBERTa style: pad id 1
    tokens = {"input_ids": ids, "attention_mask": (ids != 1).astype(int)}
    ((x, _),) = _batches(create_dataset(tokens, [[1], [0]], batch_size=2, shuffle=False))
    assert x["input_ids"].numpy().tolist() == [[0, 5, 2], [0, 2, 1]]


def test_left_padding_keeps_real_tokens():
    ids = np.array([[0, 0, 101, 5, 102], [0, 101, 5, 6, 102]])
    tokens = {"input_ids": ids, "attention_mask": (ids != 0).astype(int)}
    (x, _), (x2, _) = _batches(create_dataset(tokens, [[1], [0]], batch_size=1, shuffle=False))
    assert x["input_ids"].numpy().tolist() == [[101, 5, 102]]
    assert x2["input_ids"].numpy().tolist() == [[101, 5, 6, 102]]


def test_shuffle_is_seeded_and_bucketing_and_multiple():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 40, size=64)
    tokens = {"input_ids": [list(range(1, n + 1)) for n in lengths],
              "attention_mask": [[1] * n for n in lengths]}
    y = np.eye(4)[rng.integers(0, 4, size=64)]

    def order(seed):
        ds = create_dataset(tokens, y, batch_size=8, seed=seed)
        return [int(x["attention_mask"].numpy().sum()) for x, _ in ds]

    assert order(1) == order(1)
    ds = create_dataset(tokens, y, batch_size=8, seed=0, bucket_by_length=True, pad_to_multiple_of=8)
    widths, total = [], 0
    for x, t in ds:
        widths.append(x["input_ids"].shape[1])
        total += len(t)
    assert total == 64 and all(w % 8 == 0 for w in widths)


def test_raw_strings_with_keras_hub_preprocessor():
    keras_hub = pytest.importorskip("keras_hub")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat"]
    tokenizer = keras_hub.models.DistilBertTokenizer(vocabulary=vocab)
    pre = keras_hub.models.DistilBertTextClassifierPreprocessor(tokenizer, sequence_length=32)
    texts = ["the cat sat", "the cat sat on the mat", "cat"]
    batches = _batches(create_dataset(texts, np.eye(3), batch_size=3, preprocessor=pre, shuffle=False))
    x = batches[0][0]
    assert set(x) == {"token_ids", "padding_mask"}
    assert x["token_ids"].shape == (3, 8)  # [CLS] + 6 words + [SEP], not 32


# --------------------------------------------------------------------- images


@pytest.fixture
def image_files(tmp_path):
    paths = []
    rng = np.random.default_rng(0)
    for i, fmt in enumerate(["JPEG", "PNG", "JPEG", "PNG"]):
        array = rng.integers(0, 256, size=(20 + i, 30, 3), dtype=np.uint8)
        path = tmp_path / f"img{i}.{'jpg' if fmt == 'JPEG' else 'png'}"
        image = Image.fromarray(array)
        if i == 3:
            image = image.convert("L")  # grayscale PNG -> still 3 channels out
        image.save(path, format=fmt)
        paths.append(str(path))
    return paths


def test_images_decoded_resized_in_0_255(image_files):
    y = np.eye(4)[:, :2]
    ds = create_dataset(image_files, y, is_image=True, is_training=False, batch_size=4, image_size=16)
    ((x, t),) = _batches(ds)
    x = x.numpy()
    assert x.shape == (4, 16, 16, 3) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 255 and x.max() > 1


@pytest.mark.parametrize("scale,low,high", [("unit", 0, 1), ("symmetric", -1, 1), ("tf", -1, 1), ("raw", 0, 255)])
def test_image_scaling(image_files, scale, low, high):
    ds = create_dataset(image_files, np.eye(4), is_image=True, is_training=False, image_size=8, scale=scale)
    x = next(iter(ds))[0].numpy()
    assert x.min() >= low - 1e-5 and x.max() <= high + 1e-5


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "resnet50", "efficientnet_b0", "small_cnn"])
def test_backbone_name_as_scale_is_refused(image_files, backbone):
    """A backbone name in `scale` used to pre-scale the pixels that VLAP's
    image_classifier(backbone) scales again; it is refused, naming the fix."""
    with pytest.raises(ValueError, match=r"scale pixels inside the model.*leave `scale=None`"):
        create_dataset(image_files, np.eye(4), is_image=True, scale=backbone)


def test_caffe_scaling_matches_keras_applications(image_files):
    import keras

    raw = next(iter(create_dataset(image_files, np.eye(4), is_image=True, is_training=False,
                                   image_size=8)))[0].numpy()
    ours = next(iter(create_dataset(image_files, np.eye(4), is_image=True, is_training=False,
                                    image_size=8, scale="caffe")))[0].numpy()
    expected = keras.applications.resnet50.preprocess_input(raw.copy())
    np.testing.assert_allclose(ours, np.asarray(expected), atol=1e-3)


@pytest.mark.parametrize("mode", ["raw", "unit", "symmetric", "caffe", "torch"])
def test_pipeline_and_model_share_one_scaling(image_files, mode):
    """create_dataset(scale=mode) and the in-model ImagePreprocessing(mode) give
    the same pixels: one formula, one set of constants."""
    from VLAP.models import ImagePreprocessing

    raw = next(iter(create_dataset(image_files, np.eye(4), is_image=True, is_training=False,
                                   image_size=8)))[0].numpy()
    piped = next(iter(create_dataset(image_files, np.eye(4), is_image=True, is_training=False,
                                     image_size=8, scale=mode)))[0].numpy()
    in_model = keras.ops.convert_to_numpy(ImagePreprocessing(mode)(raw))
    np.testing.assert_allclose(piped, in_model, rtol=1e-6, atol=1e-6)


def test_augmentation_is_seeded_and_cache_works(image_files, tmp_path):
    def first(seed, **kw):
        ds = create_dataset(image_files, np.eye(4), is_image=True, batch_size=4, image_size=12, seed=seed, **kw)
        return next(iter(ds))[0].numpy()

    np.testing.assert_array_equal(first(7), first(7))
    assert first(7, cache=True).shape == (4, 12, 12, 3)
    assert first(7, cache=str(tmp_path / "cache")).shape == (4, 12, 12, 3)


@pytest.mark.parametrize("cache", [True, "file"])
def test_cached_images_shuffle_over_the_whole_set(tmp_path, cache):
    """With cache=True the cached, decoded images are shuffled over the whole set
    (not a 1,024 window): the first batch can hold the last examples, each epoch
    is a permutation, epochs differ, and the order is seeded."""
    from PIL import Image

    n = 2500  # well over the old 1,024-element window
    folder = tmp_path / "imgs"
    folder.mkdir()
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.new("RGB", (1, 1), (i % 256, i // 256, 0)).save(path)
        paths.append(str(path))
    y = np.zeros((n, 1))
    cache = True if cache is True else str(tmp_path / "cache")

    def epochs(seed):
        ds = create_dataset(paths, y, is_image=True, batch_size=64, image_size=1, seed=seed,
                            cache=cache, augment=False)
        out = []
        for _ in range(2):
            x = np.concatenate([b[0].numpy() for b in ds])
            out.append((x[:, 0, 0, 0] + 256 * x[:, 0, 0, 1]).astype(int))
        return out

    first, second = epochs(seed=5)
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    # a 1,024 window can put nothing past index 1,024 + 63 in the first batch
    assert first[:64].max() >= 1200 and second[:64].max() >= 1200
    assert not np.array_equal(first, second)
    assert np.array_equal(epochs(seed=5)[0], first)


# --------------------------------------------------------------- decoding


def _damaged_files(folder, image_files):
    good = Path(image_files[0]).read_bytes()
    files = {
        "truncated.jpg": good[: len(good) // 2],
        "empty.jpg": b"",
        "text.jpg": b"this is not an image\n",
    }
    out = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        out[name] = str(path)
    return out


def test_damaged_images_name_the_file_in_load_images(tmp_path, image_files):
    from VLAP.data import ImageDecodeError, load_images

    for name, path in _damaged_files(tmp_path, image_files).items():
        with pytest.raises(ImageDecodeError, match=f"{name}.*" + ("empty" if name == "empty.jpg" else "")):
            load_images([image_files[1], path], 8)
    with pytest.raises(ImageDecodeError, match="missing.png"):
        load_images([str(tmp_path / "missing.png")], 8)


def test_damaged_images_name_the_file_inside_tf_data(tmp_path, image_files):
    import tensorflow as tf

    for name, path in _damaged_files(tmp_path, image_files).items():
        ds = create_dataset(image_files + [path], np.ones((5, 1)), is_image=True, is_training=False,
                            batch_size=8, image_size=8)
        with pytest.raises(tf.errors.OpError, match=f"Cannot decode image file .*{name}"):
            list(ds)


def test_load_images_matches_the_pipeline(image_files):
    """One decoder: load_images and create_dataset give the same pixels."""
    from VLAP.data import load_images

    arrays = load_images(image_files, (12, 10))
    assert arrays.shape == (4, 12, 10, 3) and arrays.dtype == np.uint8
    piped = next(iter(create_dataset(image_files, np.eye(4), is_image=True, is_training=False,
                                     batch_size=4, image_size=(12, 10))))[0].numpy()
    np.testing.assert_array_equal(piped, arrays.astype("float32"))
    with pytest.raises(TypeError, match="sequence of file paths"):
        load_images(image_files[0], 8)
    with pytest.raises(TypeError, match="image_size"):
        load_images(image_files, 2.5)


def test_booleans_are_keyword_only():
    tokens = {"input_ids": [[1, 2], [3]]}
    with pytest.raises(TypeError, match="positional"):
        create_dataset(tokens, [[1], [0]], False)  # was is_image, positionally
    # the paper's README call still works
    ds = VLAP_create(dict(tokens), np.array([[1], [0]]).astype(float), is_image=False)
    assert next(iter(ds))[1].shape == (2, 1)


def VLAP_create(*args, **kwargs):
    import VLAP

    return VLAP.createDataset(*args, **kwargs)


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "X,y,kwargs,exc,match",
    [
        ({"input_ids": [[1, 2]]}, [[1], [0]], {}, ValueError, "same number of examples"),
        ({"input_ids": [[1, 2]]}, [1], {}, ValueError, r"y.shape=\(1,\)"),
        ({"input_ids": [[1, 2]]}, [[2]], {}, ValueError, "only 0 and 1"),
        ({"input_ids": [[1, 2]]}, [[np.nan]], {}, ValueError, "NaN"),
        ({"input_ids": [[1, 2]]}, [["a"]], {}, TypeError, "binarize"),
        ([], np.zeros((0, 2)), {}, ValueError, "`X` is empty"),
        ({}, [[1]], {}, ValueError, "empty dict"),
        (["a", ""], [[1], [0]], {"preprocessor": str.upper}, ValueError, "row 1 is an empty text"),
        (["a", "b"], [[1], [0]], {}, ValueError, "preprocessor="),
        ({"input_ids": [[1, 2]]}, [[1]], {"batch_size": 0}, ValueError, "batch_size"),
        (["a.jpg"], [[1]], {"is_image": True, "scale": "nope"}, ValueError, "`scale`"),
        (["a.jpg"], [[1]], {"is_image": True, "scale": 3}, TypeError, "`scale`"),
        ({"input_ids": [[1, 2]]}, [[1]], {"seed": 1.5}, TypeError, "seed"),
        ({"input_ids": [[1, 2], [3]], "attention_mask": [[1, 1], [1, 1, 1]]}, [[1], [0]], {}, ValueError,
         "disagree on the length of row 1"),
        ({"input_ids": np.array([[0, 0]]), "attention_mask": np.array([[0, 0]])}, [[1]], {}, ValueError,
         "no tokens"),
    ],
)
def test_validation_errors(X, y, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        create_dataset(X, y, **kwargs)


def test_feature_matrix_and_no_labels():
    ds = create_dataset(np.ones((5, 3)), np.eye(5)[:, :2], batch_size=2, shuffle=False)
    assert [x.shape[0] for x, _ in ds] == [2, 2, 1]
    ds = create_dataset({"input_ids": [[1, 2], [3]]}, None, batch_size=2, shuffle=False)
    assert next(iter(ds))["input_ids"].shape == (2, 2)


# ------------------------------------------------------ chain -> model.fit


_CHAIN = textwrap.dedent(
    """
    import numpy as np, keras
    from VLAP.data import split, binarize, create_dataset
    rng = np.random.default_rng(0)
    texts = [f"doc {i}" for i in range(40)]
    labels = [[l for l in "abc" if rng.random() < 0.5] or ["a"] for _ in texts]
    lengths = rng.integers(2, 12, size=40)
    ids = np.zeros((40, 12), dtype=int); mask = np.zeros((40, 12), dtype=int)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, 50, size=n); mask[i, :n] = 1
    X_tr, X_va, X_te, y_tr, y_va, y_te = split(np.arange(40), labels, r=44)
    Y_tr, Y_va, _, names = binarize(y_tr, y_va, y_te)
    ds = create_dataset({"input_ids": ids[X_tr], "attention_mask": mask[X_tr]}, Y_tr, batch_size=8, seed=0)
    inp = {"input_ids": keras.Input((None,), dtype="int32", name="input_ids"),
           "attention_mask": keras.Input((None,), dtype="int32", name="attention_mask")}
    h = keras.layers.Embedding(50, 8)(inp["input_ids"])
    m = keras.ops.expand_dims(keras.ops.cast(inp["attention_mask"], "float32"), -1)
    h = keras.ops.sum(h * m, axis=1) / keras.ops.maximum(keras.ops.sum(m, axis=1), 1.0)
    model = keras.Model(inp, keras.layers.Dense(len(names))(h))
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    hist = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
    print("BACKEND", keras.backend.backend(), "LOSS", float(hist.history["loss"][0]))
    """
)


def test_chain_feeds_keras_model_tensorflow():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("this test runs in-process on the TensorFlow backend")
    namespace = {}
    exec(compile(_CHAIN, "<chain>", "exec"), namespace)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_chain_feeds_keras_model_other_backend(backend):
    pytest.importorskip(backend)
    out = run_on_backend(backend, ["-c", _CHAIN], timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"BACKEND {backend} LOSS" in out.stdout


def test_shuffle_order_depends_on_seed_alone():
    """The same create_dataset(seed=...) call gives the same order whatever
    TensorFlow's global seed is, and leaves the global random sequence alone."""
    import tensorflow as tf

    x = np.arange(20, dtype="float32")[:, None]
    y = np.zeros((20, 2), "float32")

    def order():
        ds = create_dataset(x, y, batch_size=20, seed=3)
        return [np.asarray(b[0]).ravel().tolist() for b in ds]

    first = order()
    tf.random.set_seed(99)
    assert order() == first
    keras.utils.set_random_seed(1)
    assert order() == first
    tf.random.set_seed(7)
    a = float(tf.random.uniform(()))
    tf.random.set_seed(7)
    order()
    assert float(tf.random.uniform(())) == a
