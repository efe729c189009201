"""Loaders for the public multilabel data sets and for your own tables.

`load_table` reads your own CSV, TSV or JSON-lines file (texts or image paths
with label lists); the other loaders read the public sets from their original
file formats.

Each loader returns texts or image paths (or a feature matrix) plus label lists,
and a `report` of what was read and skipped. On bad input a loader raises an
error naming the file and row, or with `on_error="skip"` records the problem in
`report.skipped`: nothing is dropped silently.
"""

from VLAP.datasets._common import (
    DataFormatError,
    ImageData,
    LoadReport,
    MatrixData,
    TextData,
    data_dir,
    image_problem,
)
from VLAP.datasets.arxiv import ArxivRecord, iter_arxiv_snapshot, load_arxiv_csv, load_arxiv_snapshot
from VLAP.datasets.coco import load_coco
from VLAP.datasets.mulan import load_mulan
from VLAP.datasets.posters import load_posters
from VLAP.datasets.reuters import ReutersData, load_reuters
from VLAP.datasets.table import load_table
from VLAP.datasets.voc import load_voc

__all__ = [
    "ArxivRecord",
    "DataFormatError",
    "ImageData",
    "LoadReport",
    "MatrixData",
    "ReutersData",
    "TextData",
    "data_dir",
    "image_problem",
    "iter_arxiv_snapshot",
    "load_arxiv_csv",
    "load_arxiv_snapshot",
    "load_coco",
    "load_mulan",
    "load_posters",
    "load_reuters",
    "load_table",
    "load_voc",
]
