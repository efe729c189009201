"""Token pipelines of ``create_dataset``: rows cut to their real length, padded per batch.

Pre-padded token arrays are trimmed to each row's real length (found from the
attention/padding mask) and each batch is padded back only to its own longest
row; raw strings go through a preprocessor whose output is trimmed the same way.
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: Mask keys used to find the real length of pre-padded token arrays.
MASK_KEYS = ("attention_mask", "padding_mask")


def token_dataset(tf: Any, X: dict[str, Any], labels: np.ndarray | None, *, n: int,
                  pad_values: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any], np.ndarray]:
    """Rows cut to their real length -> a dataset of variable-length examples.

    ``tf`` is the TensorFlow module (imported by the caller, so that importing this
    module stays light). Returns ``(dataset, pad value per key, row lengths)``.
    """
    mask_key = next((k for k in MASK_KEYS if k in X), None)
    arrays: dict[str, np.ndarray] = {}
    ragged: dict[str, list[np.ndarray]] = {}
    inferred_pad: dict[str, Any] = {}
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
            pad_pos = ~real
            if pad_pos.any():
                for key, arr in arrays.items():
                    inferred_pad[key] = arr[pad_pos][0].item()
        else:
            lengths = np.full(n, width, dtype=np.int64)
    if (lengths == 0).any():
        row = int(np.flatnonzero(lengths == 0)[0])
        raise ValueError(
            f"Row {row} of `X` has no tokens ({int((lengths == 0).sum())} empty rows). "
            "Remove empty texts before tokenizing."
        )

    pads: dict[str, Any] = {k: 0 for k in X}
    pads.update(inferred_pad)
    if pad_values is not None:
        if not isinstance(pad_values, Mapping) or set(pad_values) - set(X):
            raise ValueError(
                f"`pad_values` must be a dict whose keys are keys of X {sorted(X)}. Received: {pad_values!r}"
            )
        pads.update(pad_values)

    flat: dict[str, np.ndarray] = {}
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
    tensors = {key: tf.constant(v) for key, v in flat.items()}

    def example(bound):
        return {key: v[bound[0]:bound[0] + bound[1]] for key, v in tensors.items()}

    if labels is None:
        ds = tf.data.Dataset.from_tensor_slices(bounds).map(example)
    else:
        ds = tf.data.Dataset.from_tensor_slices((bounds, labels)).map(
            lambda b, t: (example(b), t))
    pad_tensors = {k: tf.constant(np.asarray(pads[k]).astype(flat[k].dtype)) for k in X}
    return ds, pad_tensors, lengths


def _keep_positions(real: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Boolean (n, width): for each row, the span from its first to its last real
    position (`last` is one past it). Right padding keeps a prefix, left padding a
    suffix; pad positions inside the span, if any, are kept as they are."""
    first = np.argmax(real, axis=1)
    cols = np.arange(real.shape[1])[None, :]
    return (cols >= first[:, None]) & (cols < last[:, None])


def _token_dtype(values: Any) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == bool:
        return values
    if values.dtype.kind in "biu":
        return values.astype(np.int32)
    raise ValueError(f"Token arrays must hold integers or booleans. Received dtype {values.dtype}.")


def pad_batches(tf: Any, ds: Any, *, pad_values: dict[str, Any], num_labels: int | None,
                lengths: np.ndarray, batch_size: int, drop_remainder: bool,
                bucket_by_length: bool) -> Any:
    """``ds`` in batches, each padded to its own longest row (``pad_values`` per key)."""
    feature_shapes = {k: [None] for k in pad_values}
    shapes: Any
    values: Any
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


def pad_to_multiple(tf: Any, multiple: int, pad_values: Mapping[str, Any]) -> Callable[..., Any]:
    """A ``Dataset.map`` function: each batch's length rounded up to a multiple of ``multiple``."""
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


def _trim_to_longest(tf: Any, features: dict[str, Any]) -> dict[str, Any]:
    """Trim rank-2 tensors of a batch to the longest real sequence (mask-based)."""
    mask_key = next((k for k in MASK_KEYS if k in features), None)
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


def apply_preprocessor(tf: Any, preprocessor: Callable[[Any], Any],
                       pad_to_multiple_of: int | None) -> Callable[[Any], Any]:
    """A ``Dataset.map`` function: a batch of strings through ``preprocessor``, trimmed
    to its longest real row (and padded to ``pad_to_multiple_of``)."""
    def apply(texts):
        out = preprocessor(texts)
        if isinstance(out, tuple):  # (x, y, sample_weight) layouts: keep x
            out = out[0]
        if isinstance(out, Mapping):
            out = _trim_to_longest(tf, dict(out))
            if pad_to_multiple_of:
                out = pad_to_multiple(tf, pad_to_multiple_of, {k: tf.zeros((), v.dtype) for k, v in out.items()})(out)
        return out

    return apply
