"""Image classifiers on Keras backbones, one file per role.

- ``classifier``: `ImageClassifier`, `image_classifier`, the `small_cnn` backbone;
- ``preprocessing``: `ImagePreprocessing`, the in-model pixel scaling (its
  formulas are the one registry in `VLAP.data.images`).
"""

from VLAP.models.image.classifier import ImageClassifier, image_classifier
from VLAP.models.image.preprocessing import ImagePreprocessing

__all__ = ["ImageClassifier", "ImagePreprocessing", "image_classifier"]
