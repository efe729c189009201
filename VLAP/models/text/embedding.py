"""Mean-pooled sentence embeddings of a frozen BERT-family checkpoint folder.

:class:`SentenceEncoder` builds the tokeniser and the backbone once and embeds
any number of text lists with them (:func:`VLAP.features.embed_texts` and
:class:`VLAP.features.MiniLMFeaturizer` keep one per checkpoint).

Tokenisation gives the token ids of keras-hub's WordPiece tokeniser (the one
the featuriser has always used), faster: texts of printable ASCII (and tab,
newline, carriage return) are tokenised by the Hugging Face fast tokeniser
(``tokenizers``, Rust), which gives the same ids for them (both implement BERT's
basic tokenisation: lowercasing, splitting on whitespace and punctuation, then
WordPiece; ``tests/test_features.py`` checks the equality on random ASCII
strings); other texts go through keras-hub's tokeniser. The two differ
elsewhere: keras-hub case-folds with NFKC and keeps accents (``"café"`` ->
``[UNK]``), the Hugging Face one strips them (``"cafe"``) and keeps an emoji run
as one ``[UNK]``; Hugging Face deletes control characters, keras-hub splits on
some of them.

Texts are sorted by token count and embedded in batches cut to their longest
row, so padding costs little; the embeddings come back in the input order.

The forward pass is built for inference once (:mod:`VLAP.models.text.forward`):
the backbone is loaded without dropout, so Keras' attention takes its fused
``keras.ops.dot_product_attention`` path; it is compiled with ``jax.jit`` on JAX
(batches padded to a multiple of 32 tokens and to full batches, so few shapes
compile) and with one ``tf.function`` on TensorFlow; on torch the BERT layers run
as torch's fused kernels on the backbone's weights under ``torch.inference_mode``.
The mean pooling runs there too, so one (rows, hidden_dim) array per batch comes
back to NumPy. This changes the embeddings by float rounding only (a few 1e-6
against the eager Keras call with einsum attention).
"""

import re
from pathlib import Path

import numpy as np

from VLAP._quiet import progress
from VLAP.models.text.checkpoints import load_backbone, read_json
from VLAP.models.text.classifier import _set_feedforward_activation
from VLAP.models.text.forward import pooled_forward
from VLAP.models.text.preprocessor import text_preprocessor


#: Texts the two tokenisers give the same ids for: printable ASCII, tab, newline, CR.
_PLAIN = re.compile(r"[\x20-\x7e\t\n\r]*")


def _fast_tokenizer(folder, lowercase, sequence_length):
    """The Hugging Face fast WordPiece tokeniser of the folder's vocab.txt, or None
    when the `tokenizers` package is absent."""
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError:
        return None

    tok = BertWordPieceTokenizer(str(Path(folder) / "vocab.txt"), lowercase=lowercase,
                                 clean_text=True, handle_chinese_chars=True,
                                 strip_accents=None)
    tok.no_padding()
    tok.enable_truncation(sequence_length)
    return tok


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
        tok_config = Path(self.folder) / "tokenizer_config.json"
        self.lowercase = bool(read_json(tok_config).get("do_lower_case", True)
                              ) if tok_config.is_file() else True
        backbone, activation = load_backbone(self.folder, dropout=0.0)  # inference only
        if activation is not None:  # exact GELU, as `text_classifier` sets it
            _set_feedforward_activation(backbone, activation)
        backbone.trainable = False
        self.backbone = backbone
        self.hidden_dim = int(backbone.hidden_dim)
        inputs = getattr(backbone, "input", None)
        self._segment_ids = isinstance(inputs, dict) and "segment_ids" in inputs
        self._fast = _fast_tokenizer(self.folder, self.lowercase, self.sequence_length)
        self._keras_hub = None  # built on the first non-ASCII text
        self._forward, self._bucket = pooled_forward(backbone)

    def _keras_hub_ids(self, texts):
        import keras

        if self._keras_hub is None:
            self._keras_hub = text_preprocessor(checkpoint=self.folder,
                                                sequence_length=self.sequence_length)
        tokens = self._keras_hub(texts)
        ids = keras.ops.convert_to_numpy(tokens["token_ids"])
        mask = keras.ops.convert_to_numpy(tokens["padding_mask"]).astype(bool)
        return [row[m].tolist() for row, m in zip(ids, mask)]

    def tokenize(self, texts, fast=True):
        """Token ids per text (``[CLS] ... [SEP]``, truncated, not padded).

        Args:
            texts: list of str.
            fast: bool. Tokenise plain ASCII texts with the Hugging Face fast tokeniser
                (False: all with keras-hub's; the ids are the same).
        """
        texts = [str(t) for t in texts]
        out = [None] * len(texts)
        ascii_rows = [i for i, t in enumerate(texts) if _PLAIN.fullmatch(t)] if (
            fast and self._fast is not None) else []
        if ascii_rows:
            for i, enc in zip(ascii_rows, self._fast.encode_batch([texts[i] for i in ascii_rows])):
                out[i] = enc.ids
        rest = [i for i, row in enumerate(out) if row is None]
        if rest:
            for i, ids in zip(rest, self._keras_hub_ids([texts[i] for i in rest])):
                out[i] = ids
        return out

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
