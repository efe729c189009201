"""Data helpers: ``split``, ``binarize``, ``create_dataset`` (paper name ``createDataset``)
and ``load_images``.

``createDataset`` is the same object as ``create_dataset``. Pixel scaling and
image decoding live in ``VLAP.data.images`` (the one registry and the one
decoder, also used by ``VLAP.models``).
"""

from VLAP.data.binarize import binarize
from VLAP.data.dataset import create_dataset
from VLAP.data.images import ImageDecodeError, load_images
from VLAP.data.split import split

createDataset = create_dataset

__all__ = ["split", "binarize", "create_dataset", "createDataset", "load_images",
           "ImageDecodeError"]
