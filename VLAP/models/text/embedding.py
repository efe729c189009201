"""Mean-pooled sentence embeddings of a frozen BERT-family checkpoint folder.

:class:`SentenceEncoder` builds the tokeniser and the backbone once and embeds
any number of text lists with them (:func:`VLAP.features.embed_texts` and
:class:`VLAP.features.MiniLMFeaturizer` keep one per checkpoint).

Every text is tokenised by the checkpoint's own Hugging Face fast tokeniser
(:func:`VLAP.tokenizer.fast_tokenizer`, Rust), the ids the model was trained
on, so the embeddings are those of a plain Hugging Face loop on accented, CJK,
emoji and control-character texts too. (Until the v2 features, texts outside
printable ASCII went through keras-hub's tokeniser, which keeps accents --
``"café"`` -> ``[UNK]`` -- and there the cosine to Hugging Face's embedding fell
as low as -0.008.)

Texts are sorted by token count and embedded in batches cut to their longest
row, so padding costs little; the embeddings come back in the input order.

The forward pass is built for inference once (:mod:`VLAP.models.text.forward`):
on JAX and torch the backbone is loaded without dropout, so Keras' attention takes
its fused ``keras.ops.dot_product_attention`` path; it is compiled with ``jax.jit``
on JAX (batches padded to a multiple of 32 tokens and to full batches, so few
shapes compile); on torch the BERT layers run as torch's fused kernels on the
backbone's weights under ``torch.inference_mode``, the pooling in the same
program. That changes those backends' embeddings by float rounding only (a few
1e-6). On TensorFlow, the backend of the published figures, the forward pass is
the eager Keras call pooled in NumPy, bit for bit the published embeddings.
"""

import numpy as np

from VLAP._quiet import progress
from VLAP.models.text.checkpoints import load_backbone
from VLAP.models.text.classifier import _set_feedforward_activation
from VLAP.models.text.forward import inference_dropout, pooled_forward
from VLAP.tokenizer import fast_tokenizer


class SentenceEncoder:
    """A frozen BERT-family backbone and its tokeniser, built once.

    Args:
        folder: str. A checkpoint folder in Hugging Face layout (config.json,
            model.safetensors, vocab.txt), e.g. :func:`VLAP.models.find_minilm`.
        sequence_length: int. Tokens kept per text (``[CLS]`` and ``[SEP]``
            included).

    Call with a list of texts (and `batch_size`) for a float32 array
    ``(len(texts), hidden_dim)``.
    """

    def __init__(self, folder, sequence_length=256):
        self.folder = str(folder)
        self.sequence_length = int(sequence_length)
        backbone, activation = load_backbone(self.folder, dropout=inference_dropout())
        if activation is not None:  # exact GELU, as `text_classifier` sets it
            _set_feedforward_activation(backbone, activation)
        backbone.trainable = False
        self.backbone = backbone
        self.hidden_dim = int(backbone.hidden_dim)
        inputs = getattr(backbone, "input", None)
        self._segment_ids = isinstance(inputs, dict) and "segment_ids" in inputs
        self._tokenizer = fast_tokenizer(self.folder, self.sequence_length)
        self._forward, self._bucket = pooled_forward(backbone)

    def tokenize(self, texts):
        """Token ids per text (``[CLS] ... [SEP]``, truncated, not padded)."""
        return [enc.ids for enc in self._tokenizer.encode_batch([str(t) for t in texts])]

    def embed_ids(self, ids, batch_size=32, desc="MiniLM features"):
        """Mean-pooled embeddings of token id lists, in batches of similar length."""
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(ids), self.hidden_dim), dtype="float32")
        bar = progress(None, total=len(ids), desc=desc, unit="text")  # texts/s, on a terminal
        with bar:
            for start in range(0, len(ids), batch_size):
                idx = order[start:start + batch_size]
                width = max(1, int(lengths[idx].max()))
                rows = len(idx)
                if self._bucket:  # jit: few shapes, so few compilations
                    width = min(-(-width // self._bucket) * self._bucket,
                                max(width, self.sequence_length))
                    rows = batch_size
                token_ids = np.zeros((rows, width), dtype="int32")
                mask = np.zeros((rows, width), dtype=bool)
                mask[len(idx):, 0] = True  # filler rows (discarded): one unmasked token
                for r, i in enumerate(idx):
                    token_ids[r, :lengths[i]] = ids[i]
                    mask[r, :lengths[i]] = True
                feed = {"token_ids": token_ids, "padding_mask": mask}
                if self._segment_ids:
                    feed["segment_ids"] = np.zeros_like(token_ids)
                out[idx] = self._forward(feed)[:len(idx)]
                bar.update(len(idx))
        return out

    def __call__(self, texts, batch_size=32):
        return self.embed_ids(self.tokenize(texts), batch_size=batch_size)


__all__ = ["SentenceEncoder"]
