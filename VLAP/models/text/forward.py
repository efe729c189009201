"""The inference forward pass of a frozen text backbone, mean-pooled, per Keras backend.

:func:`pooled_forward` returns a function ``feed -> float32 array (rows, hidden_dim)``:
the backbone's ``sequence_output`` averaged over each row's real tokens (the padding
mask), computed where the backend is fastest at it:

- **JAX**: ``jax.jit`` of the backbone's stateless call and the pooling; one
  compilation per batch shape, so the caller pads batches to a multiple of the
  returned bucket width and to full batches (few shapes).
- **TensorFlow**: one ``tf.function`` of the call and the pooling, with unknown batch
  and length (one trace).
- **torch**: the eager Keras call under ``torch.no_grad``.

The attention goes through Keras' fused ``ops.dot_product_attention`` (torch's
``scaled_dot_product_attention``, JAX's ``dot_product_attention``) when the backbone
has no dropout, which :class:`VLAP.models.text.embedding.SentenceEncoder` builds
it with (``load_backbone(..., dropout=0.0)``). All of this changes the embeddings
by float rounding only (max abs difference a few 1e-6 against the eager Keras
call with einsum attention; ``tests/test_features.py``).
"""


def pooled_forward(backbone):
    """``(forward, bucket)`` for a frozen backbone: ``forward(feed)`` maps a feed dict
    of NumPy arrays (``token_ids`` int32 and ``padding_mask`` bool, ``(rows, width)``,
    and ``segment_ids`` where the backbone takes them) to the mean-pooled float32
    embeddings ``(rows, hidden_dim)``; ``bucket`` is the width multiple the caller pads
    batches to (and then to full batches), 0 for any shape."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_forward(backbone), 32
    if backend == "tensorflow":
        return _tensorflow_forward(backbone), 0
    return _eager_forward(backbone), 0


def _sequence_output(result):
    return result["sequence_output"] if isinstance(result, dict) else result


def _mean_pool(seq, mask):
    """Mean of ``seq`` (rows, width, hidden) over the real tokens of ``mask``, in keras.ops
    (traced inside ``jax.jit`` and ``tf.function``)."""
    import keras

    ops = keras.ops
    m = ops.expand_dims(ops.cast(mask, seq.dtype), -1)
    return ops.sum(seq * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)


def _eager_forward(backbone):
    """The backbone's eager Keras call (under ``torch.no_grad`` on torch), pooled."""
    import contextlib

    import keras

    if keras.backend.backend() == "torch":
        import torch

        no_grad = torch.no_grad
    else:
        no_grad = contextlib.nullcontext

    def forward(feed):
        with no_grad():
            seq = _sequence_output(backbone(feed, training=False))
            return keras.ops.convert_to_numpy(_mean_pool(seq, feed["padding_mask"]))

    return forward


def _jax_forward(backbone):
    import jax
    import keras

    trainable = [v.value for v in backbone.trainable_variables]
    frozen = [v.value for v in backbone.non_trainable_variables]

    @jax.jit
    def jitted(trainable, frozen, feed):
        result, _ = backbone.stateless_call(trainable, frozen, feed, training=False)
        return _mean_pool(_sequence_output(result), feed["padding_mask"])

    return lambda feed: keras.ops.convert_to_numpy(jitted(trainable, frozen, feed))


def _tensorflow_forward(backbone):
    import tensorflow as tf

    inputs = backbone.input if isinstance(backbone.input, dict) else {}
    spec = {name: tf.TensorSpec((None, None), "bool" if name == "padding_mask" else "int32")
            for name in inputs}
    if "padding_mask" not in spec:
        return _eager_forward(backbone)

    @tf.function(input_signature=[spec])
    def traced(feed):
        seq = _sequence_output(backbone(feed, training=False))
        return _mean_pool(seq, feed["padding_mask"])

    return lambda feed: traced({k: feed[k] for k in spec}).numpy()


__all__ = ["pooled_forward"]
