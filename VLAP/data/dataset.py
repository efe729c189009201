"""``create_dataset``: a batched ``tf.data.Dataset`` for text, image or feature inputs.

Keras 3 accepts ``tf.data.Dataset`` in ``model.fit`` on the TensorFlow, JAX and
PyTorch backends, so the same pipeline serves all three. This module checks the
arguments and dispatches; the token pipelines are in ``VLAP.data.tokens`` and the
image pipeline (decoder, pixel scalings) in ``VLAP.data.images``.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from VLAP._compat import pinned_global_seed
from VLAP._sparse import is_sparse, to_dense
from VLAP._validation import check_indicator_matrix as _check_indicator_matrix
from VLAP._validation import check_positive_int as _check_positive_int
from VLAP._validation import is_missing as _is_missing
from VLAP.data.images import BACKBONE_SCALINGS, check_image_size, image_dataset, resolve_scaling
from VLAP.data.tokens import apply_preprocessor, pad_batches, pad_to_multiple, token_dataset

if TYPE_CHECKING:
    import tensorflow as tf

#: The pixel scalings `create_dataset(scale=...)` accepts (the modes of
#: `VLAP.data.images.PIXEL_SCALINGS` and their aliases).
PixelScaling = Literal["raw", "unit", "symmetric", "caffe", "torch", "tf", "none", "rescale"]


def create_dataset(
    X: Any,
    y: Any,
    *,
    is_image: bool = False,
    is_training: bool = True,
    batch_size: int = 32,
    image_size: int | tuple[int, int] = 224,
    seed: int | None = None,
    shuffle: bool | None = None,
    cache: bool | str = False,
    augment: bool | None = None,
    scale: PixelScaling | None = None,
    preprocessor: Callable[[Any], Any] | None = None,
    drop_remainder: bool = False,
    bucket_by_length: bool = False,
    pad_to_multiple_of: int | None = None,
    pad_values: Mapping[str, Any] | None = None,
) -> tf.data.Dataset:
    """Build a batched, prefetched `tf.data.Dataset` of `(features, labels)`.

    Text inputs are padded **per batch**, never to the longest text of the whole
    set: token arrays that arrive pre-padded (e.g. a tokenizer called with
    `padding=True`) are first trimmed to each row's real length, found from the
    attention/padding mask, and each batch is padded back only to its own longest
    row. On the arXiv sample this is what makes training several times faster
    than the paper's pipeline (see BENCHMARKS.md).

    Every argument after `y` is keyword-only.

    Args:
        X: the inputs, one of:
            - dict of token arrays (e.g. Hugging Face tokenizer output with
              `input_ids`/`attention_mask`, or keras-hub `token_ids`/
              `padding_mask`). Values are lists of lists (ragged) or padded 2-D
              arrays. Keys are kept as given.
            - sequence of raw strings, with `preprocessor=` (a callable that maps
              a batch of `tf.string` to a dict of token tensors, such as a
              keras-hub preprocessor).
            - sequence of image file paths (JPEG, PNG, ...) with `is_image=True`,
              decoded by `VLAP.data.images.decode_image` (a damaged file stops
              iteration with an error naming it).
            - 2-D numeric array of features (e.g. MULAN data), or a SciPy
              sparse matrix of them (e.g. TF-IDF), made dense float32 here.
        y: 0/1 matrix of shape (n_samples, num_labels) (numpy, pandas or lists),
            e.g. from `VLAP.binarize`; cast to float32. None gives a dataset of
            features only (for `model.predict`).
        is_image: bool. Whether `X` holds image paths.
        is_training: bool. Default for `shuffle` and `augment`.
        batch_size: int. Examples per batch.
        image_size: int or (height, width). Images are resized to this size.
        seed: int or None. Seed of the shuffle and of the augmentation.
        shuffle: bool or None. Shuffle every epoch; None means `is_training`.
        cache: bool or str. Cache decoded images (or token rows) in memory
            (True) or in a file at this path (str). With `shuffle`, the cached
            elements are still shuffled over the whole set every epoch (for a
            file cache the shuffle buffer holds the decoded set in memory).
        augment: bool or None. Images only: random horizontal flip and random
            crop (87.5% of each side, resized back); None means `is_training`.
        scale: None or str. Images only. None (default): float32 RGB in
            [0, 255], what VLAP's image classifiers take (they scale inside
            the model). A mode of `VLAP.data.images.PIXEL_SCALINGS`
            (`"unit"`, `"symmetric"`, `"caffe"`, `"torch"`) is for a model of
            your own that does not scale its inputs. A backbone name is
            refused: it would scale twice in front of
            `image_classifier(backbone=...)`.
        preprocessor: callable or None. Applied inside `Dataset.map` to each
            batch of raw strings.
        drop_remainder: bool. Drop the last incomplete batch.
        bucket_by_length: bool. Text only: batch examples of similar length
            together (fewer pad tokens still; batch order remains random).
        pad_to_multiple_of: int or None. Text only: round each batch's length
            up to a multiple of this (bounds the number of distinct shapes,
            which helps XLA/JAX compilation caches).
        pad_values: dict or None. Text only: padding value per key. Inferred
            from pre-padded arrays, otherwise 0.

    Returns:
        tf.data.Dataset. Elements `(features, labels)` with labels float32 of
        shape (batch, num_labels); `features` is a dict of int32 (bool for bool
        masks) tensors for text, float32 (batch, height, width, 3) for images.

    Example:
    >>> tokens = {"input_ids": [[101, 7, 102], [101, 102]],
    ...           "attention_mask": [[1, 1, 1], [1, 1]]}
    >>> ds = create_dataset(tokens, [[1, 0], [0, 1]], batch_size=2, shuffle=False)
    >>> x, labels = next(iter(ds))
    >>> x["input_ids"].numpy().tolist(), labels.dtype.name
    ([[101, 7, 102], [101, 102, 0]], 'float32')
    """
    import tensorflow as tf

    for name, value in (("is_image", is_image), ("is_training", is_training),
                        ("drop_remainder", drop_remainder),
                        ("bucket_by_length", bucket_by_length)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"`{name}` must be a bool. Received: {name}={value!r}")
    for name, option in (("shuffle", shuffle), ("augment", augment)):
        if option is not None and not isinstance(option, (bool, np.bool_)):
            raise TypeError(f"`{name}` must be a bool or None. Received: {name}={option!r}")
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("pad_to_multiple_of", pad_to_multiple_of, allow_none=True)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"`seed` must be an int or None. Received: seed={seed!r}")
    if not (cache is False or cache is True or isinstance(cache, str)):
        raise TypeError(f"`cache` must be a bool or a file path (str). Received: cache={cache!r}")
    if preprocessor is not None and not callable(preprocessor):
        raise TypeError(f"`preprocessor` must be callable. Received: preprocessor={preprocessor!r}")
    shuffle = is_training if shuffle is None else bool(shuffle)
    augment = is_training if augment is None else bool(augment)

    # The shuffle and augmentation orders depend on `seed` alone: tf.data would
    # otherwise mix in TensorFlow's global seed as it stands when the dataset is
    # built, so the same call gave different orders before and after a
    # tf.random.set_seed (e.g. by VLAP.train(seed=...)).
    with _seed_scope(seed):
        n = _num_examples(X)
        if n == 0:
            raise ValueError("`X` is empty: create_dataset needs at least one example.")
        labels = None
        if y is not None:
            labels = _check_indicator_matrix(y, "y")
            if len(labels) != n:
                raise ValueError(
                    f"`X` and `y` must have the same number of examples. Received: "
                    f"{n} examples in X and {len(labels)} rows in y."
                )

        if is_image:
            if preprocessor is not None:
                raise ValueError("`preprocessor` is for raw text; it cannot be used with is_image=True.")
            scaling = _resolve_scaling(scale)
            size = check_image_size(image_size)
            paths = _check_strings(X, "X", what="image file path")
            ds = image_dataset(tf, paths, labels, size, seed=seed, shuffle=shuffle, cache=cache,
                               augment=augment, scaling=scaling)
            return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)

        if scale is not None:
            raise ValueError(f"`scale` applies to images only (is_image=True). Received: scale={scale!r}")
        if isinstance(X, Mapping) or hasattr(X, "keys") and callable(X.keys) and not isinstance(X, pd.DataFrame):
            if preprocessor is not None:
                raise ValueError("`preprocessor` is for raw strings; X is already a dict of token arrays.")
            ds, pads, lengths = token_dataset(tf, dict(X), labels, n=n, pad_values=pad_values)
            ds = _cache(ds, cache)
            if shuffle:
                ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
            num_labels = None if labels is None else labels.shape[1]
            ds = pad_batches(tf, ds, pad_values=pads, num_labels=num_labels, lengths=lengths,
                             batch_size=batch_size, drop_remainder=drop_remainder,
                             bucket_by_length=bucket_by_length)
            if pad_to_multiple_of:
                ds = ds.map(pad_to_multiple(tf, pad_to_multiple_of, pads),
                            num_parallel_calls=tf.data.AUTOTUNE)
            return ds.prefetch(tf.data.AUTOTUNE)

        if preprocessor is not None:
            if bucket_by_length:
                raise ValueError("`bucket_by_length` needs token arrays; it is not supported with `preprocessor`.")
            texts = _check_strings(X, "X", what="text")
            ds = tf.data.Dataset.from_tensor_slices(texts if labels is None else (texts, labels))
            ds = _cache(ds, cache)
            if shuffle:
                ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
            ds = ds.batch(batch_size, drop_remainder=drop_remainder)
            apply = apply_preprocessor(tf, preprocessor, pad_to_multiple_of)
            if labels is None:
                ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
            else:
                ds = ds.map(lambda x, t: (apply(x), t), num_parallel_calls=tf.data.AUTOTUNE)
            return ds.prefetch(tf.data.AUTOTUNE)

        features = _check_feature_matrix(X)
        ds = tf.data.Dataset.from_tensor_slices(features if labels is None else (features, labels))
        ds = _cache(ds, cache)
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- checks


@contextlib.contextmanager
def _seed_scope(seed: int | None) -> Iterator[None]:
    """Pin TensorFlow's global (eager) seed while random tf.data ops are built.

    tf.data derives an op's seeds from ``(global seed, op seed)`` at construction.
    With ``seed`` given we pin the global part to a constant, then restore the
    previous global seed and its op-seed sequence untouched. This uses
    TensorFlow's eager-context seed accessors (not public API, in
    :func:`VLAP._compat.pinned_global_seed`); if they are missing, the order falls
    back to depending on the global seed too.
    """
    if seed is None:
        yield
        return
    with pinned_global_seed(_PINNED_GLOBAL_SEED):
        yield


_PINNED_GLOBAL_SEED = 20221103  # any constant: only its being fixed matters


def _num_examples(X: Any) -> int:
    if X is None:
        raise TypeError("`X` must not be None.")
    if isinstance(X, (str, bytes)):
        raise TypeError(f"`X` must be a sequence of examples, not a single string: {X!r}")
    if isinstance(X, Mapping) or (hasattr(X, "keys") and callable(X.keys) and not isinstance(X, pd.DataFrame)):
        if len(X) == 0:
            raise ValueError("`X` is an empty dict: expected token arrays such as input_ids.")
        lengths = {k: len(v) for k, v in dict(X).items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(
                f"All token arrays in `X` must have the same number of rows. Received: {lengths}"
            )
        return next(iter(lengths.values()))
    if is_sparse(X):  # len() of a SciPy matrix raises
        return int(X.shape[0])
    if not hasattr(X, "__len__"):
        raise TypeError(f"`X` must be a sequence, array or dict. Received: {type(X).__name__}")
    return len(X)


def _check_strings(X: Any, name: str, what: str) -> list[str]:
    values = X.tolist() if isinstance(X, (pd.Series, np.ndarray)) else list(X)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            if _is_missing(v):
                raise ValueError(f"`{name}` row {i} is missing (NaN/None); expected a {what}.")
            raise TypeError(f"`{name}` row {i} must be a {what} (str). Received: {v!r}")
        if not v.strip():
            raise ValueError(f"`{name}` row {i} is an empty {what}.")
    return values


def _check_feature_matrix(X: Any) -> np.ndarray:
    if is_sparse(X):  # TF-IDF kept sparse until here: one dense float32 copy
        arr = to_dense(X)
        if not np.isfinite(arr).all():
            raise ValueError("`X` contains NaN or infinite values.")
        return arr
    try:
        arr = np.asarray(X)
    except ValueError as err:
        raise ValueError(f"`X` could not be read as a feature matrix: {err}") from None
    if arr.dtype.kind in "USO":
        raise ValueError(
            "`X` holds strings: pass `preprocessor=` for raw text, `is_image=True` for "
            "image paths, or a dict of token arrays."
        )
    if arr.ndim < 2 or arr.dtype.kind not in "biuf":
        raise ValueError(
            f"`X` must be a numeric array of shape (n_samples, n_features). Received shape "
            f"{arr.shape} and dtype {arr.dtype}."
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError("`X` contains NaN or infinite values.")
    return arr.astype("float32")


def _resolve_scaling(scale: str | None) -> str:
    if scale is None:
        return "raw"
    if isinstance(scale, str) and scale.lower() in BACKBONE_SCALINGS:
        mode = BACKBONE_SCALINGS[scale.lower()]
        raise ValueError(
            f"`scale` names a backbone. VLAP's image classifiers "
            "(`VLAP.models.image_classifier`) scale pixels inside the model, so feed them raw "
            "[0, 255] pixels: leave `scale=None` (scaling here too would scale twice). For a "
            f"model of your own that expects {scale}'s inputs, pass scale={mode!r}. "
            f"Received: scale={scale!r}"
        )
    return resolve_scaling(scale, "scale")


def _cache(ds: tf.data.Dataset, cache: bool | str) -> tf.data.Dataset:
    if cache is True:
        return ds.cache()
    if isinstance(cache, str):
        return ds.cache(cache)
    return ds
