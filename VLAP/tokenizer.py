"""The Hugging Face fast tokeniser of a BERT-family checkpoint folder: the one
tokenisation of every MiniLM feature, whatever runs the model.

The checkpoint's weights were trained on its own tokeniser's ids, so the
featurisers tokenise every text with it: the folder's ``tokenizer.json`` (what
``transformers.AutoTokenizer`` loads), or, for a folder with ``vocab.txt``
alone, a WordPiece tokeniser with ``BertTokenizerFast``'s settings (lowercasing
and accent stripping from ``tokenizer_config.json``'s ``do_lower_case`` and
``strip_accents``, default lowercase). Both the Keras runtime
(:class:`VLAP.models.text.embedding.SentenceEncoder`) and the ONNX one
(:class:`VLAP.onnx_encoder.OnnxSentenceEncoder`) use :func:`fast_tokenizer`, so
their embeddings agree with a plain Hugging Face loop on accented, CJK, emoji
and control-character texts too (``tests/test_features.py``).

keras-hub's ``BertTokenizer`` is not used here: it case-folds with NFKC and
keeps accents (``"café"`` -> ``[UNK]``) and splits on some control characters,
so on non-ASCII texts its ids differ from the ones the model was trained on.

Imports the standard library only; ``tokenizers`` (installed with
``transformers``, so with the ``keras``, ``hf`` and ``onnx`` extras) on first use.
"""

import importlib
import json
from pathlib import Path

from VLAP._extras import require


def fast_tokenizer(folder, sequence_length, what="The MiniLM features"):
    """The folder's fast tokeniser, truncating to ``sequence_length`` tokens
    (``[CLS]`` and ``[SEP]`` included), not padding.

    Args:
        folder: str or Path. A checkpoint folder in Hugging Face layout with
            ``tokenizer.json`` or ``vocab.txt``.
        sequence_length: int. Tokens kept per text.
        what: str. What needs the tokeniser, for the message when `tokenizers`
            is missing.

    Returns:
        A ``tokenizers.Tokenizer``; ``encode_batch(texts)`` gives each text's ``ids``.

    Example:
    >>> from VLAP.models import find_minilm                      # doctest: +SKIP
    >>> tok = fast_tokenizer(find_minilm(), 16)                   # doctest: +SKIP
    >>> tok.encode("Café ☕").tokens                               # doctest: +SKIP
    ['[CLS]', 'cafe', '[UNK]', '[SEP]']
    """
    folder = Path(folder)
    require("tokenizers", what=what, extra="keras")
    tokenizers = importlib.import_module("tokenizers")
    if (folder / "tokenizer.json").is_file():
        tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    elif (folder / "vocab.txt").is_file():
        config = folder / "tokenizer_config.json"
        options = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
        lowercase = bool(options.get("do_lower_case", True))
        tok = tokenizers.BertWordPieceTokenizer(
            str(folder / "vocab.txt"), lowercase=lowercase, clean_text=True,
            handle_chinese_chars=True, strip_accents=options.get("strip_accents"))
    else:
        raise FileNotFoundError(f"{folder} has neither tokenizer.json nor vocab.txt: "
                                "a BERT-family checkpoint folder needs one of them to tokenise")
    tok.no_padding()
    tok.enable_truncation(int(sequence_length))
    return tok


__all__ = ["fast_tokenizer"]
