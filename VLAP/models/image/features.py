"""Frozen ImageNet features: run a pretrained backbone once, cache the result.

The paper's image protocol trains only a small head on top of a frozen
ImageNet CNN. Running the backbone on every epoch would repeat the same
computation, so `extract_features` runs it once over the images and keeps the
(N, 1280) float32 matrix in the feature cache (:mod:`VLAP.feature_cache`, shared
with the MiniLM text embeddings), keyed by the image list and the backbone; a
second call with the same inputs reads the entry back.

Resizing: images are decoded to RGB and **stretched** to `image_size` x
`image_size` with bilinear interpolation by VLAP's one image decoder
(`VLAP.data.load_images`, the same code `create_dataset` runs), the aspect ratio
not kept. That is what the paper's pipeline (and VLAP's `create_dataset`) does,
and what Keras' MobileNetV2 examples do; the shared posters (about 86 x 128,
portrait) are therefore upsampled by 1.75 vertically and about 2.6
horizontally. Padding to a square would keep the shapes but spend a third of the
input on a constant border; a centre crop would cut titles and faces.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from VLAP._validation import check_option, check_positive_int
from VLAP.data.images import load_images
from VLAP.feature_cache import cached
from VLAP.models.image.efficientnet_lite import VARIANTS, Weights, image_backbone


def _cache_key(inputs, backbone, image_size, weights):
    # "pil": the decoder that made the pixels (a change of decoder must not reuse a cache)
    h = hashlib.sha256(json.dumps([backbone, image_size, str(weights), "pil"]).encode())
    if isinstance(inputs, np.ndarray):
        h.update(str(inputs.shape).encode())
        h.update(np.ascontiguousarray(inputs).tobytes())
    else:
        for p in inputs:  # the list, in order, and each file's size
            h.update(f"{os.path.abspath(p)}\0{os.path.getsize(p)}\n".encode())
    return h.hexdigest()[:20]


def _batches_from_paths(paths, image_size, batch_size):
    paths = list(paths)
    for start in range(0, len(paths), batch_size):
        yield load_images(paths[start:start + batch_size], image_size).astype("float32")


def _batches_from_array(images, image_size, batch_size):
    import tensorflow as tf

    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].astype("float32")
        if batch.shape[1:3] != (image_size, image_size):
            batch = tf.image.resize(batch, (image_size, image_size)).numpy()
        yield batch


def extract_features(paths_or_images: Sequence[str | os.PathLike[str]] | np.ndarray,
                     backbone: str = "efficientnet_lite0", *, image_size: int = 224,
                     batch_size: int = 64, cache: str | os.PathLike[str] | None = None,
                     weights: Weights = "imagenet", verbose: bool = False,
                     return_lookup: bool = False) -> Any:
    """Pooled features of a frozen ImageNet backbone for a list of images.

    Args:
        paths_or_images: a list of image file paths (JPEG/PNG/...; decoded to RGB),
            or an array of shape (N, H, W, 3) with pixel values in [0, 255].
        backbone: str. An EfficientNet-Lite variant (see `VARIANTS`).
        image_size: int. Images are stretched to `image_size` x `image_size`
            (bilinear, aspect ratio not kept; see the module docstring).
        batch_size: int. Images per forward pass.
        cache: None or a folder (e.g. :func:`VLAP.feature_cache.features_dir`, the
            folder `vlap run` uses). When given, the features are a feature-cache
            entry there (:mod:`VLAP.feature_cache`), `<backbone>-<image_size>-<key>.npz`,
            the key hashing the file list (paths in order and file sizes) or the
            array, the backbone, size and weights; a later call with the same key
            reads the entry instead of recomputing (a damaged entry is recomputed).
        weights: passed to `image_backbone` (`"imagenet"`, None, or a `.pth` path).
        verbose: bool. Print progress every 20 batches.
        return_lookup: bool. Also return what the cache did
            (:class:`VLAP.feature_cache.Lookup`, None without `cache`).

    Returns:
        float32 array of shape (N, 1280), in the order of `paths_or_images`
        (and the lookup, with `return_lookup`).

    Example:
    >>> x = np.zeros((2, 32, 32, 3), "float32")
    >>> extract_features(x, image_size=32, weights=None).shape
    (2, 1280)
    """
    check_option("backbone", backbone, list(VARIANTS))
    image_size = check_positive_int("image_size", image_size)
    batch_size = check_positive_int("batch_size", batch_size)
    images: np.ndarray | list[str]
    if isinstance(paths_or_images, np.ndarray):
        images = paths_or_images
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError("`paths_or_images` as an array must have shape (N, H, W, 3). "
                             f"Received: shape={images.shape}")
        n = len(images)
    else:
        images = [os.fspath(p) for p in paths_or_images]
        missing = [p for p in images if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"{len(missing)} image file(s) in `paths_or_images` not "
                                    f"found, e.g. {missing[0]!r}")
        n = len(images)
    if n == 0:
        raise ValueError("`paths_or_images` is empty.")

    def compute():
        model = image_backbone(backbone, weights=weights, include_top=False,
                               image_size=image_size)
        batches = (_batches_from_array if isinstance(images, np.ndarray)
                   else _batches_from_paths)(images, image_size, batch_size)
        out = []
        for i, batch in enumerate(batches):
            out.append(np.asarray(model.predict_on_batch(batch), dtype="float32"))
            if verbose and (i + 1) % 20 == 0:
                print(f"extract_features: {min((i + 1) * batch_size, n)}/{n} images", flush=True)
        return np.concatenate(out)

    if cache is None:
        return (compute(), None) if return_lookup else compute()
    parts = {"kind": "image", "featurizer": "extract_features", "model": backbone,
             "image_size": image_size, "weights": str(weights), "decoder": "pil",
             "pooling": "avg", "dtype": "float32", "rows": n,
             "inputs": _cache_key(images, backbone, image_size, weights)}
    features, lookup = cached(f"{backbone}-{image_size}", parts, compute, rows=n, folder=cache)
    return (features, lookup) if return_lookup else features
