"""Data helpers: ``split``, ``binarize`` and ``create_dataset`` (paper name ``createDataset``).

``createDataset`` is the same object as ``create_dataset``.
"""

from VLAP.data.binarize import binarize
from VLAP.data.dataset import create_dataset
from VLAP.data.split import split

createDataset = create_dataset

__all__ = ["split", "binarize", "create_dataset", "createDataset"]
