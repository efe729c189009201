"""Backbones that `VLAP.models` knows by name, each with its `metadata`.

Two registries, in the style of keras-hub's `*_presets.py` files:

- `TEXT_ARCHITECTURES`: the BERT-family keras-hub backbones a text classifier
  can be built on (from `config=`, a preset name or a checkpoint folder).
- `IMAGE_BACKBONES`: the names accepted by `image_classifier(backbone=...)`,
  with the input scaling each backbone expects (see `ImagePreprocessing`).

`DEFAULT_TEXT_CHECKPOINT` is the paper's text model (DistilBERT, uncased).
"""

DEFAULT_TEXT_CHECKPOINT = "distil_bert_base_en_uncased"

# architecture name -> keras-hub class names and the Hugging Face model_type.
TEXT_ARCHITECTURES = {
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

# backbone name -> how to build it and which input scaling it expects.
IMAGE_BACKBONES = {
    "mobilenet_v2": {
        "metadata": {
            "description": "keras.applications.MobileNetV2 (3.5M parameters at width 1.0).",
            "paper": True,
        },
        "application": "MobileNetV2",
        "preprocessing": "tf",  # [0, 255] -> [-1, 1]
        "supports_width": True,
    },
    "resnet50": {
        "metadata": {
            "description": "keras.applications.ResNet50 (25.6M parameters).",
            "paper": False,
        },
        "application": "ResNet50",
        "preprocessing": "caffe",  # RGB -> BGR, minus the ImageNet mean
        "supports_width": False,
    },
    "efficientnet_b0": {
        "metadata": {
            "description": "keras.applications.EfficientNetB0 (5.3M parameters); "
            "rescales [0, 255] inputs itself.",
            "paper": False,
        },
        "application": "EfficientNetB0",
        "preprocessing": "none",
        "supports_width": False,
    },
    "small_cnn": {
        "metadata": {
            "description": "Three strided 3x3 convolutions (16, 32, 64 filters at width "
            "1.0) and global average pooling: for tests and CPU demos.",
            "paper": False,
        },
        "application": None,
        "preprocessing": "rescale",  # [0, 255] -> [0, 1]
        "supports_width": True,
    },
}

# input scaling modes understood by `ImagePreprocessing`.
PREPROCESSING_MODES = ("none", "rescale", "tf", "caffe", "torch")
