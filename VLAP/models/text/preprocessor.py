"""Raw strings -> the token dicts a `TextClassifier` takes (a keras-hub preprocessor)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from VLAP._validation import check_option
from VLAP.models.presets import DEFAULT_TEXT_CHECKPOINT, TEXT_ARCHITECTURES
from VLAP.models.text.checkpoints import (
    check_checkpoint_folder,
    import_keras_hub,
    read_json,
    resolve_checkpoint,
)


def text_preprocessor(
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    vocabulary: Sequence[str] | str | None = None,
    sequence_length: int = 512,
    lowercase: bool = True,
    architecture: Literal["distil_bert", "bert"] = "distil_bert",
) -> Any:
    """A keras-hub preprocessor that turns raw strings into classifier inputs.

    Its output dict (`token_ids`, `padding_mask`, plus `segment_ids` for BERT)
    feeds a `TextClassifier` directly, e.g. in `tf.data` with
    `ds.map(preprocessor)`.

    Args:
        checkpoint: str or None. As in `text_classifier`: preset name, handle,
            or local Hugging Face folder (its vocab.txt is used, and
            tokenizer_config.json's `do_lower_case` when present).
        vocabulary: list of str, str path, or None. A WordPiece vocabulary
            (must contain `[CLS]`, `[SEP]`, `[PAD]`, `[MASK]`, `[UNK]`),
            used instead of a checkpoint, e.g. in tests.
        sequence_length: int. Outputs are padded/truncated to this length.
        lowercase: bool. Lowercase inputs (for `vocabulary`, and for a folder
            without tokenizer_config.json).
        architecture: str. `"distil_bert"` or `"bert"`; with `vocabulary`.

    Every argument after `checkpoint` is keyword-only.

    Returns:
        `keras_hub.models.DistilBertTextClassifierPreprocessor` or
        `keras_hub.models.BertTextClassifierPreprocessor`.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"]
    >>> pre = text_preprocessor(vocabulary=vocab, sequence_length=6)
    >>> [int(t) for t in pre(["the cat"])["token_ids"][0]]
    [2, 5, 6, 3, 0, 0]
    """
    kh = import_keras_hub()
    if checkpoint is not None and vocabulary is not None:
        raise ValueError(
            "Pass either `checkpoint` or `vocabulary`, not both. Received: "
            f"checkpoint={checkpoint!r}, vocabulary=<{type(vocabulary).__name__}>"
        )
    if vocabulary is not None:
        check_option("architecture", architecture, TEXT_ARCHITECTURES)
        spec = TEXT_ARCHITECTURES[architecture]
        tokenizer = getattr(kh.models, spec["tokenizer"])(vocabulary=vocabulary, lowercase=lowercase)
        return getattr(kh.models, spec["preprocessor"])(tokenizer, sequence_length=sequence_length)
    kind, value = resolve_checkpoint(DEFAULT_TEXT_CHECKPOINT if checkpoint is None else checkpoint)
    if kind == "folder":
        folder_kind, arch = check_checkpoint_folder(value)
        if folder_kind == "hf" and arch is not None:  # "hf" always names its architecture
            tok_config = Path(value) / "tokenizer_config.json"
            if tok_config.is_file():
                lowercase = bool(read_json(tok_config).get("do_lower_case", lowercase))
            spec = TEXT_ARCHITECTURES[arch]
            tokenizer = getattr(kh.models, spec["tokenizer"])(
                vocabulary=str(Path(value) / "vocab.txt"), lowercase=lowercase
            )
            return getattr(kh.models, spec["preprocessor"])(tokenizer, sequence_length=sequence_length)
    return kh.models.TextClassifierPreprocessor.from_preset(value, sequence_length=sequence_length)
