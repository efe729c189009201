"""Text classifiers on keras-hub BERT-family backbones (see ``classifier``)."""

from VLAP.models.text.classifier import (  # noqa: F401
    TextClassifier,
    find_minilm,
    text_classifier,
    text_preprocessor,
)
