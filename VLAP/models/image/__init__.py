"""Image classifiers on Keras backbones (see ``classifier``)."""

from VLAP.models.image.classifier import (  # noqa: F401
    ImageClassifier,
    ImagePreprocessing,
    image_classifier,
)
