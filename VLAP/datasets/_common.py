"""Paths, result containers, image checks and error reporting shared by the loaders.

Files are opened by :mod:`VLAP.datasets._files` (compression by content,
careful decoding).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np

from VLAP._validation import check_option

_ON_ERROR = ("raise", "skip")
_CHECK_IMAGES = (False, True, "exists", "verify", "decode")

#: A loader's `on_error`: raise on a bad record, or skip it and list it in the report.
OnError = Literal["raise", "skip"]
#: A loader's `check_images`: how far each image file is checked (False: not at all).
CheckImages = Union[bool, Literal["exists", "verify", "decode"]]
#: A path argument: str or any os.PathLike (pathlib.Path).
PathLike = Union[str, "os.PathLike[str]"]


def data_dir() -> Path:
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


@dataclass(kw_only=True)
class LoadReport:
    """What a loader read, skipped and noticed.

    Attributes:
        source: str. The file or folder read.
        n_read: int. Records read (before skipping).
        skipped: list of dict. One entry per skipped record: `file`, `row`
            (1-based data row or line number, or an id), `reason`.
        notes: list of str. Things kept but worth knowing (duplicates removed,
            empty texts kept, ...).
        n_kept: int. Records returned.
        dropped: dict. Records left out on purpose, by reason (rows outside a
            filter, duplicates, images without labels), with their count.
        skipped_parts: list of dict. Parts of records skipped without
            skipping the record (a COCO annotation naming an unknown image or
            category): `file`, `row`, `reason`. Not counted in `n_read`.
        n_empty_labels: int. Kept records whose label cell was empty (kept as
            all-zero label rows).

    Every record read is accounted for: `n_kept + n_skipped + n_dropped ==
    n_read` (:meth:`unaccounted` is 0).
    """

    source: str = ""
    n_read: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    skipped_parts: list[dict[str, Any]] = field(default_factory=list)
    n_empty_labels: int = 0

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def unaccounted(self) -> int:
        """Records read but neither kept, skipped nor dropped (0 for a correct loader)."""
        return self.n_read - self.n_kept - self.n_skipped - self.n_dropped

    def drop(self, reason: str, count: int = 1) -> None:
        """Count `count` records left out on purpose for `reason`."""
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    def __str__(self) -> str:
        lines = [f"{self.source}: read {self.n_read}, kept {self.n_kept}, "
                 f"skipped {self.n_skipped}"]
        lines += [f"  dropped {n}: {reason}" for reason, n in self.dropped.items()]
        lines += [f"  skipped {s['file']} row {s['row']}: {s['reason']}" for s in self.skipped[:20]]
        if self.n_skipped > 20:
            lines.append(f"  ... {self.n_skipped - 20} more")
        lines += [f"  skipped part {s['file']} {s['row']}: {s['reason']}"
                  for s in self.skipped_parts[:20]]
        if len(self.skipped_parts) > 20:
            lines.append(f"  ... {len(self.skipped_parts) - 20} more skipped parts")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(kw_only=True)
class TextData:
    """Texts with one label list each. Unpacks as `texts, labels = data`.

    Attributes:
        texts: list of str.
        labels: list of list of str.
        ids: list. One identifier per text.
        titles: list of str or None.
        report: LoadReport.
        split: list of str or None. A given split (`"train"`, `"val"`, `"test"`
            per text), when the file holds one.
    """

    texts: list[str]
    labels: list[list[str]] | None  # None: an unlabeled table (load_table)
    ids: list[Any]
    titles: list[str] | None = None
    report: LoadReport = field(default_factory=LoadReport)
    split: list[str] | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.texts, self.labels))

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(kw_only=True)
class ImageData:
    """Image file paths with one label list each. Unpacks as `paths, labels = data`.

    Attributes:
        paths: list of str.
        labels: list of list of str.
        ids: list. One identifier per image.
        report: LoadReport.
        split: list of str or None. A given split (`"train"`, `"val"`, `"test"`
            per image), when the file holds one.
    """

    paths: list[str]
    labels: list[list[str]] | None  # None: an unlabeled table (load_table)
    ids: list[Any]
    report: LoadReport = field(default_factory=LoadReport)
    split: list[str] | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.paths, self.labels))

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(kw_only=True)
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
    feature_names: list[str]
    label_names: list[str]
    report: LoadReport = field(default_factory=LoadReport)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.X, self.Y))

    def __len__(self) -> int:
        return len(self.X)


class DataFormatError(ValueError):
    """A record of a data file is malformed. The message names the file and row.

    Attributes:
        problem: str. The message without advice on options.
        option: tuple or None. ``(name, value)`` of the loader option that
            would get past the problem (``("on_error", "skip")``,
            ``("encoding", "latin-1")``), so that the command line can word
            the advice as its own flag; ``str(err)`` words it for Python.
    """

    def __init__(self, problem: object, option: tuple[str, Any] | None = None,
                 advice: str | None = None) -> None:
        self.problem = str(problem)
        self.option = option
        self.advice = advice
        super().__init__(f"{self.problem} {advice}" if advice else self.problem)


class ErrorLog:
    """`on_error` policy: raise DataFormatError, or record the problem and go on."""

    def __init__(self, on_error: OnError, report: LoadReport, parts: bool = False) -> None:
        check_option("on_error", on_error, _ON_ERROR)
        self.on_error = on_error
        self.report = report
        self.parts = parts  # record skipped parts of records, not records

    def __call__(self, file: object, row: object, reason: str) -> None:
        if self.on_error == "raise":
            raise DataFormatError(
                f"{file}, row {row}: {reason}.", option=("on_error", "skip"),
                advice="Pass on_error='skip' to skip such rows and get them listed in the "
                       "returned report.")
        target = self.report.skipped_parts if self.parts else self.report.skipped
        target.append({"file": str(file), "row": row, "reason": reason})


def resolve_path(path: PathLike | None, default: str | None, what: str, download: str) -> Path:
    """`path` (or `data_dir()/default`) as a Path that exists, else FileNotFoundError."""
    if path is None and default is None:
        raise TypeError(f"The path of the {what} must be given (it has no default "
                        "location). Received: None")
    resolved = Path(path).expanduser() if path is not None else data_dir() / str(default)
    if not resolved.exists():
        hint = "" if path is not None else (
            f" (default location: data_dir()/{default}; set VLAP_DATA_DIR or pass `path`)"
        )
        raise FileNotFoundError(f"{what} not found at {resolved}{hint}. {download}")
    return resolved


def json_object(line: str | bytes, file: object, row: object,
                errors: ErrorLog) -> dict[str, Any] | None:
    """One JSON-lines record as a dict, or None after reporting why it is not one."""
    rec = parse_json_line(line, file, row, errors)
    if rec is _BAD:
        return None
    if not isinstance(rec, dict):
        errors(file, row, "a JSON line must be an object")
        return None
    return rec


_BAD = object()


def parse_json_line(line: str | bytes, file: object, row: object, errors: ErrorLog) -> Any:
    """``json.loads(line)``, or ``_BAD`` after reporting why it is not JSON.

    A line nested too deeply for Python's parser (thousands of ``[``) is a
    malformed record like any other, not a ``RecursionError``.
    """
    try:
        return json.loads(line)
    except ValueError as err:
        errors(file, row, f"malformed JSON ({err})")
    except RecursionError:
        errors(file, row, "JSON nested too deeply to read (thousands of levels of [ or {)")
    return _BAD


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (
        isinstance(value, str) and not value.strip()
    )


def check_label_row(value: Any, file: object, row: object, errors: ErrorLog,
                    field_name: str) -> list[str] | None:
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


def image_problem(path: PathLike, check_images: CheckImages) -> str | None:
    """Why the image at `path` fails `check_images`, or None if it passes.

    `"exists"`: the file exists. True / `"verify"` (cheap, the default): also
    non-empty, a header Pillow can parse, and for JPEG, PNG and GIF the
    end-of-image marker in the last bytes (finds truncated files without
    decoding). `"decode"`: those checks and a full decode with Pillow.

    Args:
        path: str or Path. The image file.
        check_images: bool or str. `"exists"`, True, `"verify"` or `"decode"`.

    Returns:
        str or None. The problem, naming the file, or None.

    Example:
    >>> import tempfile, VLAP
    >>> bad = Path(tempfile.mkdtemp()) / "poster.jpg"
    >>> _ = bad.write_text("not an image")
    >>> VLAP.datasets.image_problem(bad, True).startswith("corrupt image")
    True
    """
    path = Path(path)
    if not path.is_file():
        return f"image file missing: {path}"
    if check_images == "exists":
        return None
    if path.stat().st_size == 0:
        return f"empty image file: {path}"
    from PIL import Image

    try:
        with Image.open(path) as im:
            fmt = im.format
            im.verify()
    except Exception as err:  # Pillow raises many types for corrupt files
        return f"corrupt image {path}: {type(err).__name__}: {err}"
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 1024))
        tail = handle.read()
    ends: Callable[[bytes], bool] | None = {
        "JPEG": lambda t: b"\xff\xd9" in t,  # 0xFF is byte-stuffed in entropy data
        "PNG": lambda t: b"IEND" in t[-32:],
        "GIF": lambda t: t.rstrip(b"\x00").endswith(b";"),
    }.get(fmt)
    if ends is not None and not ends(tail):
        return f"corrupt image {path}: truncated {fmt} file (no end-of-image marker)"
    if check_images == "decode":
        try:
            with Image.open(path) as im:
                im.load()
        except Exception as err:  # noqa: BLE001 - as above
            return f"corrupt image {path}: {type(err).__name__}: {err}"
    return None


def check_image_row(path: PathLike, file: object, row: object, errors: ErrorLog,
                    check_images: CheckImages) -> bool:
    """True if the image passes `check_images` (see :func:`image_problem`);
    otherwise the problem is reported through `errors` with file and row."""
    if not check_images:
        return True
    problem = image_problem(path, check_images)
    if problem is not None:
        errors(file, row, problem)
        return False
    return True


def check_images_option(check_images: Any) -> None:
    if check_images not in _CHECK_IMAGES or (check_images == 1 and check_images is not True) \
            or (check_images == 0 and check_images is not False):
        raise ValueError(
            f"Invalid value for argument `check_images`. Expected one of {list(_CHECK_IMAGES)}. "
            f"Received: check_images={check_images!r}"
        )
