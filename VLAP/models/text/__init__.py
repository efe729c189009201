"""Text classifiers on keras-hub BERT-family backbones, one file per role.

- ``classifier``: `TextClassifier` and `text_classifier`;
- ``preprocessor``: `text_preprocessor` (raw strings -> token dicts);
- ``checkpoints``: presets, Hugging Face folders and handles, `find_minilm`.
"""

from VLAP.models.text.checkpoints import find_minilm
from VLAP.models.text.classifier import TextClassifier, text_classifier
from VLAP.models.text.preprocessor import text_preprocessor

__all__ = ["TextClassifier", "find_minilm", "text_classifier", "text_preprocessor"]
