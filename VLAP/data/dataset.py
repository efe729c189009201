"""``create_dataset``: a batched ``tf.data.Dataset`` for text, image or feature inputs.

Keras 3 accepts ``tf.data.Dataset`` in ``model.fit`` on the TensorFlow, JAX and
PyTorch backends, so the same pipeline serves all three.
"""

import contextlib
import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd

from VLAP._validation import check_indicator_matrix as _check_indicator_matrix
from VLAP._validation import check_option as _check_option
from VLAP._validation import check_positive_int as _check_positive_int
from VLAP._validation import is_missing as _is_missing

#: Mask keys used to find the real length of pre-padded token arrays.
_MASK_KEYS = ("attention_mask", "padding_mask")

#: Pixel scalings. Values of `scale` that name a backbone map to one of these.
_SCALINGS = ("raw", "unit", "symmetric", "caffe", "torch")
_BACKBONE_SCALING = {
    # keras.applications models whose preprocess_input is "tf" mode: [-1, 1].
    "mobilenet": "symmetric",
    "mobilenet_v2": "symmetric",
    "inception_v3": "symmetric",
    "inception_resnet_v2": "symmetric",
    "xception": "symmetric",
    "nasnet": "symmetric",
    # "caffe" mode: RGB->BGR and ImageNet mean subtraction, no scaling.
    "resnet50": "caffe",
    "resnet101": "caffe",
    "resnet152": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    # "torch" mode: [0, 1] then ImageNet mean/std.
    "densenet121": "torch",
    "densenet169": "torch",
    "densenet201": "torch",
    # Models that rescale inside the network: feed raw [0, 255] pixels.
    "mobilenet_v3_small": "raw",
    "mobilenet_v3_large": "raw",
    "convnext_tiny": "raw",
    "convnext_small": "raw",
    "convnext_base": "raw",
    **{f"efficientnet_b{i}": "raw" for i in range(8)},
    **{f"efficientnet_v2_{s}": "raw" for s in ("b0", "b1", "b2", "b3", "s", "m", "l")},
}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def create_dataset(
    X,
    y,
    is_image=False,
    is_training=True,
    batch_size=32,
    image_size=224,
    seed=None,
    shuffle=None,
    cache=False,
    augment=None,
    scale=None,
    preprocessor=None,
    drop_remainder=False,
    *,
    bucket_by_length=False,
    pad_to_multiple_of=None,
    pad_values=None,
):
    """Build a batched, prefetched `tf.data.Dataset` of `(features, labels)`.

    Text inputs are padded **per batch**, never to the longest text of the whole
    set: token arrays that arrive pre-padded (e.g. a tokenizer called with
    `padding=True`) are first trimmed to each row's real length, found from the
    attention/padding mask, and each batch is padded back only to its own longest
    row. On the arXiv sample this is what makes training several times faster
    than the paper's pipeline (see BENCHMARKS.md).

    Args:
        X: the inputs, one of:
            - dict of token arrays (e.g. Hugging Face tokenizer output with
              `input_ids`/`attention_mask`, or keras-hub `token_ids`/
              `padding_mask`). Values are lists of lists (ragged) or padded 2-D
              arrays. Keys are kept as given.
            - sequence of raw strings, with `preprocessor=` (a callable that maps
              a batch of `tf.string` to a dict of token tensors, such as a
              keras-hub preprocessor).
            - sequence of image file paths (JPEG or PNG) with `is_image=True`.
            - 2-D numeric array of features (e.g. MULAN data).
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
            (True) or in a file at this path (str).
        augment: bool or None. Images only: random horizontal flip and random
            crop (87.5% of each side, resized back); None means `is_training`.
        scale: None, str. Pixel range of images: None (float32 in [0, 255]),
            `"unit"` ([0, 1]), `"symmetric"` ([-1, 1]), `"caffe"` (BGR, ImageNet
            mean subtracted), `"torch"` (ImageNet mean/std), or a backbone name
            that picks one of these (`"mobilenet_v2"` -> symmetric,
            `"resnet50"` -> caffe, `"efficientnet_b0"` -> [0, 255], ...).
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
    for name, value in (("shuffle", shuffle), ("augment", augment)):
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"`{name}` must be a bool or None. Received: {name}={value!r}")
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
            size = _check_image_size(image_size)
            paths = _check_strings(X, "X", what="image file path")
            ds = _image_dataset(tf, paths, labels, size, seed, shuffle, cache, augment, scaling)
            return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)

        if scale is not None:
            raise ValueError(f"`scale` applies to images only (is_image=True). Received: scale={scale!r}")
        if isinstance(X, Mapping) or hasattr(X, "keys") and callable(X.keys) and not isinstance(X, pd.DataFrame):
            if preprocessor is not None:
                raise ValueError("`preprocessor` is for raw strings; X is already a dict of token arrays.")
            ds, pads, lengths = _token_dataset(tf, dict(X), labels, n, pad_values)
            ds = _cache(ds, cache)
            if shuffle:
                ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
            num_labels = None if labels is None else labels.shape[1]
            ds = _pad_batches(tf, ds, pads, num_labels, lengths, batch_size, drop_remainder,
                              bucket_by_length)
            if pad_to_multiple_of:
                ds = ds.map(_pad_to_multiple(tf, pad_to_multiple_of, pads),
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
            apply = _apply_preprocessor(tf, preprocessor, pad_to_multiple_of)
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
def _seed_scope(seed):
    """Pin TensorFlow's global (eager) seed while random tf.data ops are built.

    tf.data derives an op's seeds from ``(global seed, op seed)`` at construction.
    With ``seed`` given we pin the global part to a constant, then restore the
    previous global seed and its op-seed sequence untouched. This uses
    TensorFlow's eager-context seed accessors (not public API); if they are
    missing, the order falls back to depending on the global seed too.
    """
    if seed is None:
        yield
        return
    try:
        from tensorflow.python.eager import context
    except ImportError:  # pragma: no cover
        yield
        return
    ctx = context.context()
    if not hasattr(ctx, "_seed"):  # pragma: no cover
        yield
        return
    missing = object()
    old_seed, old_rng = ctx._seed, getattr(ctx, "_rng", missing)
    context.set_global_seed(_PINNED_GLOBAL_SEED)
    try:
        yield
    finally:
        ctx._seed = old_seed
        if old_rng is missing:
            del ctx._rng  # it did not exist before the first tf.random.set_seed
        else:
            ctx._rng = old_rng


_PINNED_GLOBAL_SEED = 20221103  # any constant: only its being fixed matters


def _num_examples(X):
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
    if not hasattr(X, "__len__"):
        raise TypeError(f"`X` must be a sequence, array or dict. Received: {type(X).__name__}")
    return len(X)


def _check_strings(X, name, what):
    values = X.tolist() if isinstance(X, (pd.Series, np.ndarray)) else list(X)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            if _is_missing(v):
                raise ValueError(f"`{name}` row {i} is missing (NaN/None); expected a {what}.")
            raise TypeError(f"`{name}` row {i} must be a {what} (str). Received: {v!r}")
        if not v.strip():
            raise ValueError(f"`{name}` row {i} is an empty {what}.")
    return values


def _check_feature_matrix(X):
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


def _check_image_size(image_size):
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        size = tuple(int(s) for s in image_size)
    else:
        raise TypeError(f"`image_size` must be an int or (height, width). Received: image_size={image_size!r}")
    if min(size) < 1:
        raise ValueError(f"`image_size` must be positive. Received: image_size={image_size!r}")
    return size


def _resolve_scaling(scale):
    if scale is None:
        return "raw"
    if not isinstance(scale, str):
        raise TypeError(f"`scale` must be None or a str. Received: scale={scale!r}")
    key = scale.lower()
    if key in _SCALINGS:
        return key
    if key in _BACKBONE_SCALING:
        return _BACKBONE_SCALING[key]
    _check_option("scale", scale, (None, *_SCALINGS[1:], *sorted(_BACKBONE_SCALING)))


def _cache(ds, cache):
    if cache is True:
        return ds.cache()
    if isinstance(cache, str):
        return ds.cache(cache)
    return ds


# ----------------------------------------------------------------------------- text


def _token_dataset(tf, X, labels, n, pad_values):
    """Rows cut to their real length -> a dataset of variable-length examples."""
    mask_key = next((k for k in _MASK_KEYS if k in X), None)
    arrays, ragged = {}, {}
    for key, value in X.items():
        if isinstance(value, tf.RaggedTensor):
            value = value.to_list()
        elif isinstance(value, tf.Tensor):
            value = value.numpy()
        elif hasattr(value, "detach"):  # torch tensor
            value = value.detach().cpu().numpy()
        try:
            arr = np.asarray(value)
        except ValueError:  # inhomogeneous lists
            arr = None
        if arr is not None and arr.dtype != object and arr.ndim == 2:
            arrays[key] = arr
        elif arr is not None and arr.ndim != 2 and arr.dtype != object and len(arr):
            raise ValueError(
                f"`X[{key!r}]` must hold one sequence per example (2-D or a list of lists). "
                f"Received shape {arr.shape}."
            )
        else:
            ragged[key] = [np.asarray(row) for row in value]
    for key, arr in arrays.items():
        if arr.dtype.kind not in "biu":
            raise ValueError(f"`X[{key!r}]` must hold integer token ids or mask values. Received dtype {arr.dtype}.")

    if ragged:
        lengths = np.array([len(r) for r in next(iter(ragged.values()))], dtype=np.int64)
        for key, rows in ragged.items():
            got = np.array([len(r) for r in rows])
            if not np.array_equal(got, lengths):
                row = int(np.flatnonzero(got != lengths)[0])
                raise ValueError(
                    f"Token arrays in `X` disagree on the length of row {row}: "
                    f"{key!r} has {got[row]}, {next(iter(ragged))!r} has {lengths[row]}."
                )
        if arrays:
            raise ValueError(
                "`X` mixes ragged (list of lists) and padded 2-D token arrays: "
                f"ragged {sorted(ragged)}, padded {sorted(arrays)}. Pass one layout."
            )
        inferred_pad = {}
    else:
        widths = {k: a.shape[1] for k, a in arrays.items()}
        if len(set(widths.values())) != 1:
            raise ValueError(f"Padded token arrays in `X` must have the same width. Received: {widths}")
        width = next(iter(widths.values()))
        if mask_key is not None:
            real = arrays[mask_key] != 0
            # Real length = last real position + 1 (also right for left padding).
            any_real = real.any(axis=1)
            lengths = np.where(any_real, width - np.argmax(real[:, ::-1], axis=1), 0).astype(np.int64)
            inferred_pad = {}
            pad_pos = ~real
            if pad_pos.any():
                for key, arr in arrays.items():
                    inferred_pad[key] = arr[pad_pos][0].item()
        else:
            lengths = np.full(n, width, dtype=np.int64)
            inferred_pad = {}
    if (lengths == 0).any():
        row = int(np.flatnonzero(lengths == 0)[0])
        raise ValueError(
            f"Row {row} of `X` has no tokens ({int((lengths == 0).sum())} empty rows). "
            "Remove empty texts before tokenizing."
        )

    pads = {k: 0 for k in X}
    pads.update(inferred_pad)
    if pad_values is not None:
        if not isinstance(pad_values, Mapping) or set(pad_values) - set(X):
            raise ValueError(
                f"`pad_values` must be a dict whose keys are keys of X {sorted(X)}. Received: {pad_values!r}"
            )
        pads.update(pad_values)

    flat = {}
    keep = None
    if arrays:
        if mask_key is not None:
            keep = _keep_positions(arrays[mask_key] != 0, lengths)
        else:
            keep = np.ones(next(iter(arrays.values())).shape, dtype=bool)
        lengths = keep.sum(axis=1).astype(np.int64)
    for key in X:
        if key in arrays:
            values = arrays[key][keep]
        else:
            values = np.concatenate(ragged[key]) if ragged[key] else np.zeros(0, np.int32)
        flat[key] = _token_dtype(values)
    # Elements are (start, length) into the flat token values; the map slices them out.
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    bounds = np.stack([starts, lengths.astype(np.int64)], axis=1)
    values = {key: tf.constant(v) for key, v in flat.items()}

    def rows(bound):
        return {key: v[bound[0]:bound[0] + bound[1]] for key, v in values.items()}

    if labels is None:
        ds = tf.data.Dataset.from_tensor_slices(bounds).map(rows)
    else:
        ds = tf.data.Dataset.from_tensor_slices((bounds, labels)).map(lambda b, t: (rows(b), t))
    pads = {k: tf.constant(np.asarray(pads[k]).astype(flat[k].dtype)) for k in X}
    return ds, pads, lengths


def _keep_positions(real, last):
    """Boolean (n, width): for each row, the span from its first to its last real
    position (`last` is one past it). Right padding keeps a prefix, left padding a
    suffix; pad positions inside the span, if any, are kept as they are."""
    first = np.argmax(real, axis=1)
    cols = np.arange(real.shape[1])[None, :]
    return (cols >= first[:, None]) & (cols < last[:, None])


def _token_dtype(values):
    values = np.asarray(values)
    if values.dtype == bool:
        return values
    if values.dtype.kind in "biu":
        return values.astype(np.int32)
    raise ValueError(f"Token arrays must hold integers or booleans. Received dtype {values.dtype}.")


def _pad_batches(tf, ds, pad_values, num_labels, lengths, batch_size, drop_remainder,
                 bucket_by_length):
    feature_shapes = {k: [None] for k in pad_values}
    if num_labels is None:
        shapes, values = feature_shapes, pad_values
    else:
        shapes = (feature_shapes, [num_labels])
        values = (pad_values, tf.constant(0.0, tf.float32))
    if bucket_by_length:
        first_key = next(iter(pad_values))
        boundaries = sorted(set(int(b) for b in np.quantile(lengths, np.linspace(0, 1, 10)[1:-1]) + 1))
        length_fn = (lambda x: tf.shape(x[first_key])[0]) if num_labels is None else (
            lambda x, t: tf.shape(x[first_key])[0])
        out = ds.bucket_by_sequence_length(
            length_fn,
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=shapes,
            padding_values=values,
            drop_remainder=drop_remainder,
        )
    else:
        out = ds.padded_batch(batch_size, padded_shapes=shapes, padding_values=values,
                              drop_remainder=drop_remainder)
    return out


def _pad_to_multiple(tf, multiple, pad_values):
    def pad(features):
        length = tf.shape(next(iter(features.values())))[1]
        target = (length + multiple - 1) // multiple * multiple
        return {
            k: tf.pad(v, [[0, 0], [0, target - length]], constant_values=pad_values[k])
            if k in pad_values else v
            for k, v in features.items()
        }

    def fn(*element):
        if len(element) == 1:
            return pad(element[0])
        return (pad(element[0]), *element[1:])

    return fn


def _trim_to_longest(tf, features):
    """Trim rank-2 tensors of a batch to the longest real sequence (mask-based)."""
    mask_key = next((k for k in _MASK_KEYS if k in features), None)
    if mask_key is None:
        return features
    real = tf.reduce_any(tf.cast(features[mask_key], tf.bool), axis=0)
    width = tf.shape(real)[0]
    last = tf.where(tf.reduce_any(real), width - tf.argmax(tf.reverse(tf.cast(real, tf.int32), [0]),
                                                           output_type=tf.int32), 0)
    seq_dim = features[mask_key].shape[1]
    return {
        k: v[:, :last] if (v.shape.rank == 2 and v.shape[1] == seq_dim) else v
        for k, v in features.items()
    }


def _apply_preprocessor(tf, preprocessor, pad_to_multiple_of):
    def apply(texts):
        out = preprocessor(texts)
        if isinstance(out, tuple):  # (x, y, sample_weight) layouts: keep x
            out = out[0]
        if isinstance(out, Mapping):
            out = _trim_to_longest(tf, dict(out))
            if pad_to_multiple_of:
                out = _pad_to_multiple(tf, pad_to_multiple_of, {k: tf.zeros((), v.dtype) for k, v in out.items()})(out)
        return out

    return apply


# ---------------------------------------------------------------------------- images


def _image_dataset(tf, paths, labels, size, seed, shuffle, cache, augment, scaling):
    n = len(paths)
    ds = tf.data.Dataset.from_tensor_slices(paths if labels is None else (paths, labels))
    has_labels = labels is not None

    def load(path):
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), size)
        return tf.clip_by_value(image, 0.0, 255.0)

    if shuffle and not cache:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)  # cheap: paths only
    ds = ds.map((lambda p, t: (load(p), t)) if has_labels else load,
                num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = _cache(ds, cache)
        if shuffle:
            ds = ds.shuffle(min(n, 1024), seed=seed, reshuffle_each_iteration=True)

    if augment:
        crop = (max(1, int(round(size[0] * 0.875))), max(1, int(round(size[1] * 0.875))))
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(4)
        seeds = seeds.map(lambda s: tf.reshape(s, (2, 2)))

        def aug(image, s):
            image = tf.image.stateless_random_flip_left_right(image, seed=s[0])
            image = tf.image.stateless_random_crop(image, (*crop, 3), seed=s[1])
            return tf.image.resize(image, size)

        ds = tf.data.Dataset.zip((ds, seeds))
        if has_labels:
            ds = ds.map(lambda el, s: (aug(el[0], s), el[1]), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)

    if scaling != "raw":
        def rescale(image):
            return _scale_pixels(tf, image, scaling)

        ds = ds.map((lambda x, t: (rescale(x), t)) if has_labels else rescale,
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def _scale_pixels(tf, image, scaling):
    if scaling == "unit":
        return image / 255.0
    if scaling == "symmetric":
        return image / 127.5 - 1.0
    if scaling == "caffe":
        return image[..., ::-1] - tf.constant(_CAFFE_MEAN_BGR, tf.float32)
    if scaling == "torch":
        return (image / 255.0 - tf.constant(_TORCH_MEAN)) / tf.constant(_TORCH_STD)
    return image
