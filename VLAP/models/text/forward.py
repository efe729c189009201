"""The inference forward pass of a frozen text backbone, mean-pooled, per Keras backend.

:func:`pooled_forward` returns a function ``feed -> float32 array (rows, hidden_dim)``:
the backbone's ``sequence_output`` averaged over each row's real tokens (the padding
mask), computed where the backend is fastest at it:

- **JAX**: ``jax.jit`` of the backbone's stateless call and the pooling; one
  compilation per batch shape, so the caller pads batches to a multiple of the
  returned bucket width and to full batches (few shapes).
- **TensorFlow**: the backbone's eager Keras call and the pooling in NumPy, exactly
  the computation the published arXiv figures were made with (bit for bit, tested).
  Compiling it (``tf.function``, even without Grappler) or taking the fused attention
  moves the embeddings by 2e-7 to 1e-6, and that was enough to move sigmoidF1
  (β = 10) on arXiv from 0.245 to 0.269 test macro-F1 over five seeds: its training
  is that sensitive. So TensorFlow, the backend of every published run, keeps it.
- **torch**: for a keras-hub BERT backbone (MiniLM), the same layers computed with
  torch's fused kernels on the backbone's own weights, under ``torch.inference_mode``:
  each projection one ``linear`` with its bias (Keras' ``Dense`` and ``EinsumDense``
  multiply, then add the bias in a second pass), the query/key/value projections in
  one matrix product, attention by ``scaled_dot_product_attention`` with the padding
  mask, ``layer_norm`` and the layers' own activation; the embeddings are the
  backbone's own layers. Any other backbone: its eager Keras call.

On JAX and torch the attention goes through Keras' fused ``ops.dot_product_attention``
(JAX's ``dot_product_attention``, torch's ``scaled_dot_product_attention``) when the
backbone has no dropout, which :class:`VLAP.models.text.embedding.SentenceEncoder`
builds it with there (``load_backbone(..., dropout=0.0)``; :func:`inference_dropout`).
This changes their embeddings by float rounding only (max abs difference a few 1e-6
against the eager Keras call with einsum attention; ``tests/test_features.py``).
"""

import math

import numpy as np

from VLAP import _compat


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
        return _published_forward(backbone), 0
    if backend == "torch":
        fast = _torch_bert_forward(backbone)
        if fast is not None:
            return fast, 0
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


def inference_dropout():
    """The dropout rate to build an inference backbone with on this backend: ``0.0``
    (Keras' fused attention) on JAX and torch; None (the checkpoint's own, so the einsum
    attention of the published embeddings) on TensorFlow."""
    import keras

    return None if keras.backend.backend() == "tensorflow" else 0.0


def _published_forward(backbone):
    """The backbone's eager Keras call, pooled in NumPy: the MiniLM features' computation
    before the fast paths, kept bit for bit on TensorFlow (see the module docstring)."""
    import keras

    def forward(feed):
        seq = keras.ops.convert_to_numpy(_sequence_output(backbone(feed, training=False)))
        m = feed["padding_mask"][..., None].astype("float32")
        return (seq * m).sum(1) / np.maximum(m.sum(1), 1.0)

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


def _torch_bert_forward(backbone):
    """The torch forward of a keras-hub ``BertBackbone`` (post-norm encoders, float32,
    no quantisation), or None for any other backbone (the caller then uses Keras')."""
    import keras
    import keras_hub
    import torch
    import torch.nn.functional as F

    if not isinstance(backbone, keras_hub.models.BertBackbone) or (
            backbone.compute_dtype != "float32" or backbone.dtype_policy.quantization_mode):
        return None
    blocks = []
    for encoder in backbone.transformer_layers:
        block = _torch_encoder_weights(encoder, int(backbone.hidden_dim))
        if block is None:
            return None
        blocks.append(block)

    def encoder_block(x, mask, w):
        rows, width, hidden = x.shape
        heads, dim = w["heads"], w["head_dim"]
        qkv = F.linear(x, w["qkv"], w["qkv_bias"]).view(rows, width, 3, heads, dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (rows, heads, width, dim) each
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=w["scale"])
        a = F.linear(a.transpose(1, 2).reshape(rows, width, heads * dim), w["out"],
                     w["out_bias"])
        x = F.layer_norm(x + a, (hidden,), *w["attention_norm"])
        h = w["activation"](F.linear(x, w["intermediate"], w["intermediate_bias"]))
        h = F.linear(h, w["output"], w["output_bias"])
        return F.layer_norm(x + h, (hidden,), *w["feedforward_norm"])

    device = blocks[0]["qkv"].device

    def forward(feed):
        with torch.inference_mode():
            ids = torch.as_tensor(feed["token_ids"], device=device)
            padding = torch.as_tensor(feed["padding_mask"], device=device)
            segments = torch.as_tensor(feed.get("segment_ids", np.zeros_like(feed["token_ids"])),
                                       device=device)
            tokens = backbone.token_embedding(ids)
            x = backbone.embeddings_add((tokens, backbone.position_embedding(tokens),
                                         backbone.segment_embedding(segments)))
            x = backbone.embeddings_layer_norm(x)
            keys = padding[:, None, None, :]  # every query attends to the real tokens
            for block in blocks:
                x = encoder_block(x, keys, block)
            m = padding[..., None].to(x.dtype)
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
            return keras.ops.convert_to_numpy(pooled)

    return forward


def _torch_encoder_weights(encoder, hidden):
    """The weights of a post-norm keras-hub ``TransformerEncoder`` as ``F.linear`` takes
    them (``(out, in)`` views of the Keras kernels; query/key/value concatenated), or
    None when its layout is not the one this forward pass computes."""
    import keras
    import torch

    parts = _compat.encoder_sublayers(encoder)
    if parts is None or encoder.normalize_first:
        return None
    mha = parts["attention"]
    heads, dim = int(mha.num_heads), int(mha.key_dim)
    projections = (mha.query_dense, mha.key_dense, mha.value_dense)
    if (type(mha) is not keras.layers.MultiHeadAttention
            or mha.get_config().get("attention_axes") not in (None, 1, (1,), [1])
            or int(mha.value_dim or dim) != dim or heads * dim != hidden
            or any(type(p) is not keras.layers.EinsumDense or p.bias is None
                   or tuple(p.kernel.shape) != (hidden, heads, dim)
                   or tuple(p.bias.shape) != (heads, dim) for p in projections)
            or type(mha.output_dense) is not keras.layers.EinsumDense
            or tuple(mha.output_dense.kernel.shape) != (heads, dim, hidden)
            or mha.output_dense.bias is None):
        return None
    norms = (parts["attention_norm"], parts["feedforward_norm"])
    if any(type(n) is not keras.layers.LayerNormalization or not (n.center and n.scale)
           or getattr(n, "rms_scaling", False) or n.axis not in (-1, [-1], 2, [2])
           for n in norms):
        return None
    intermediate, output = parts["intermediate"], parts["output"]
    if (any(type(d) is not keras.layers.Dense or d.bias is None for d in (intermediate, output))
            or output.activation is not keras.activations.linear):
        return None

    def value(variable):
        return variable.value.detach()

    return {
        "heads": heads, "head_dim": dim, "scale": 1.0 / math.sqrt(dim),
        "qkv": torch.cat([value(p.kernel).reshape(hidden, hidden) for p in projections],
                         dim=1).t().contiguous(),
        "qkv_bias": torch.cat([value(p.bias).reshape(hidden) for p in projections]),
        "out": value(mha.output_dense.kernel).reshape(hidden, hidden).t(),
        "out_bias": value(mha.output_dense.bias),
        "attention_norm": _norm_args(norms[0]),
        "intermediate": value(intermediate.kernel).t(),
        "intermediate_bias": value(intermediate.bias),
        "activation": intermediate.activation,
        "output": value(output.kernel).t(),
        "output_bias": value(output.bias),
        "feedforward_norm": _norm_args(norms[1]),
    }


def _norm_args(norm):
    """``(weight, bias, eps)`` of a Keras ``LayerNormalization`` for ``F.layer_norm``."""
    return norm.gamma.value.detach(), norm.beta.value.detach(), float(norm.epsilon)


__all__ = ["pooled_forward"]
