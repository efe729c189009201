"""Paths, result containers and error reporting shared by the dataset loaders."""

import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_ON_ERROR = ("raise", "skip")


def data_dir():
    """Return the data directory as a `pathlib.Path`.

    `$VLAP_DATA_DIR` if set, else `<project root>/../shared/data` where the project
    root is the parent of the `VLAP` package folder. The folder may not exist;
    loaders raise a FileNotFoundError naming what to download.

    Example:
    >>> isinstance(data_dir(), Path)
    True
    """
    env = os.environ.get("VLAP_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass
class LoadReport:
    """What a loader read, skipped and noticed.

    Attributes:
        source: str. The file or folder read.
        n_read: int. Records read (before skipping).
        skipped: list of dict. One entry per skipped record: `file`, `row`
            (1-based data row or line number, or an id), `reason`.
        notes: list of str. Things kept but worth knowing (duplicates removed,
            empty texts kept, ...).
    """

    source: str = ""
    n_read: int = 0
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def n_skipped(self):
        return len(self.skipped)

    def __str__(self):
        lines = [f"{self.source}: read {self.n_read}, skipped {self.n_skipped}"]
        lines += [f"  skipped {s['file']} row {s['row']}: {s['reason']}" for s in self.skipped[:20]]
        if self.n_skipped > 20:
            lines.append(f"  ... {self.n_skipped - 20} more")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class TextData:
    """Texts with one label list each. Unpacks as `texts, labels = data`.

    Attributes:
        texts: list of str.
        labels: list of list of str.
        ids: list. One identifier per text.
        titles: list of str or None.
        report: LoadReport.
    """

    texts: list
    labels: list
    ids: list
    titles: list = None
    report: LoadReport = field(default_factory=LoadReport)

    def __iter__(self):
        return iter((self.texts, self.labels))

    def __len__(self):
        return len(self.texts)


@dataclass
class ImageData:
    """Image file paths with one label list each. Unpacks as `paths, labels = data`.

    Attributes:
        paths: list of str.
        labels: list of list of str.
        ids: list. One identifier per image.
        report: LoadReport.
    """

    paths: list
    labels: list
    ids: list
    report: LoadReport = field(default_factory=LoadReport)

    def __iter__(self):
        return iter((self.paths, self.labels))

    def __len__(self):
        return len(self.paths)


@dataclass
class MatrixData:
    """Numeric features and a 0/1 label matrix. Unpacks as `X, Y = data`.

    Attributes:
        X: float32 array of shape (n_samples, n_features).
        Y: float32 0/1 array of shape (n_samples, num_labels).
        feature_names: list of str.
        label_names: list of str.
        report: LoadReport.
    """

    X: np.ndarray
    Y: np.ndarray
    feature_names: list
    label_names: list
    report: LoadReport = field(default_factory=LoadReport)

    def __iter__(self):
        return iter((self.X, self.Y))

    def __len__(self):
        return len(self.X)


class DataFormatError(ValueError):
    """A record of a data file is malformed. The message names the file and row."""


class _Errors:
    """`on_error` policy: raise DataFormatError, or record the problem and go on."""

    def __init__(self, on_error, report):
        if on_error not in _ON_ERROR:
            raise ValueError(
                f"Invalid value for argument `on_error`. Expected one of {_ON_ERROR}. "
                f"Received: on_error={on_error!r}"
            )
        self.on_error = on_error
        self.report = report

    def __call__(self, file, row, reason):
        if self.on_error == "raise":
            raise DataFormatError(
                f"{file}, row {row}: {reason}. Pass on_error='skip' to skip such rows "
                "and get them listed in the returned report."
            )
        self.report.skipped.append({"file": str(file), "row": row, "reason": reason})


def _resolve(path, default, what, download):
    """`path` (or `data_dir()/default`) as a Path that exists, else FileNotFoundError."""
    resolved = Path(path).expanduser() if path is not None else data_dir() / default
    if not resolved.exists():
        hint = "" if path is not None else (
            f" (default location: data_dir()/{default}; set VLAP_DATA_DIR or pass `path`)"
        )
        raise FileNotFoundError(f"{what} not found at {resolved}{hint}. {download}")
    return resolved


def _open_text(path):
    """Open a text file, transparently gunzipping `*.gz`."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _json_object(line, file, row, errors):
    """One JSON-lines record as a dict, or None after reporting why it is not one."""
    try:
        rec = json.loads(line)
    except ValueError as err:
        errors(file, row, f"malformed JSON ({err})")
        return None
    if not isinstance(rec, dict):
        errors(file, row, "a JSON line must be an object")
        return None
    return rec


def _is_blank(value):
    return value is None or (isinstance(value, float) and value != value) or (
        isinstance(value, str) and not value.strip()
    )


def _check_labels(value, file, row, errors, field_name):
    """A list of non-empty str labels, or None after reporting the problem."""
    if not isinstance(value, (list, tuple)):
        errors(file, row, f"`{field_name}` must be a list of labels, got {value!r}")
        return None
    if not value:
        errors(file, row, f"`{field_name}` is an empty label list")
        return None
    for lab in value:
        if not isinstance(lab, str) or not lab.strip():
            errors(file, row, f"`{field_name}` holds a missing or non-string label {lab!r}")
            return None
    return list(value)


def _check_image(path, file, row, errors, check_images):
    """True if the image passes `check_images` (False: no check; True: exists;
    "verify": Pillow can parse it)."""
    if not check_images:
        return True
    if not Path(path).is_file():
        errors(file, row, f"image file missing: {path}")
        return False
    if check_images == "verify":
        from PIL import Image

        try:
            with Image.open(path) as im:
                im.verify()
        except Exception as err:  # Pillow raises many types for corrupt files
            errors(file, row, f"corrupt image {path}: {type(err).__name__}: {err}")
            return False
    return True


def _check_check_images(check_images):
    if check_images not in (True, False, "verify"):
        raise ValueError(
            "Invalid value for argument `check_images`. Expected one of (True, False, "
            f"'verify'). Received: check_images={check_images!r}"
        )
