"""Movie posters with IMDb genres (the paper's image task): `train.csv` + `images/<Id>.jpg`."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Literal

from VLAP.datasets._common import (
    CheckImages,
    ImageData,
    OnError,
    PathLike,
    LoadReport,
    check_images_option,
    check_image_row,
    check_label_row,
    ErrorLog,
    is_blank,
    resolve_path,
)
from VLAP.datasets._files import read_csv

_DEFAULT = "posters"
_DOWNLOAD = (
    "Download the movie-poster genre data set (train.csv with Id, Genre and one 0/1 column "
    "per genre, plus images/<Id>.jpg), e.g. Kaggle 'raman77768/movie-classifier'."
)
_LABELS_FROM = ("genre", "columns")


def load_posters(path: PathLike | None = None, *, check_images: CheckImages = True,
                 on_error: OnError = "raise", labels_from: Literal["genre", "columns"] = "genre",
                 encoding: str | None = None) -> ImageData:
    """Load the movie-poster genre data set.

    Duplicated ids are reported in `report.notes` (and counted in
    `report.dropped`) and de-duplicated, keeping the first row (if the
    duplicates disagree on the genres, that is noted too).

    Args:
        path: str, Path or None. The folder holding `train.csv` and `images/`;
            None reads `data_dir()/posters`.
        check_images: bool or str. True (or `"verify"`, the default): each
            `images/<Id>.jpg` must exist, be non-empty, have a header Pillow
            parses and end with the JPEG end-of-image marker (finds truncated,
            empty and non-image files without decoding); `"decode"`: a full
            decode (slower, finds damage inside the data); `"exists"`: the file
            exists; False: no check.
        on_error: str. `"raise"` (default) raises DataFormatError naming the file
            and row for a missing/corrupt image, an empty id or an unreadable
            genre list; `"skip"` skips such rows and lists them in `report.skipped`.
        labels_from: str. `"genre"` (default): the `Genre` column, a Python-literal
            list; `"columns"`: the 0/1 genre columns between `Genre` and `Rating`.
        encoding: str or None. Of `train.csv`; None: UTF-8, or what a byte-order
            mark says.

    Every argument after `path` is keyword-only.

    Returns:
        ImageData. `paths` (str), `labels` (list of genre lists), `ids`, `report`.
        Row numbers are 1-based data rows (header not counted).

    Example:
    ```python
    paths, genres = VLAP.datasets.load_posters()
    ```
    """
    check_images_option(check_images)
    if labels_from not in _LABELS_FROM:
        raise ValueError(
            f"Invalid value for argument `labels_from`. Expected one of {_LABELS_FROM}. "
            f"Received: labels_from={labels_from!r}"
        )
    root = resolve_path(path, _DEFAULT, "posters folder", _DOWNLOAD)
    csv = root / "train.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"posters CSV not found at {csv}. {_DOWNLOAD}")
    report = LoadReport(source=str(csv))
    errors = ErrorLog(on_error, report)
    # keep_default_na=False: the genre "N/A" must stay a string.
    frame = read_csv(csv, encoding=encoding)
    if "Id" not in frame.columns:
        raise ValueError(f"{csv}: missing column 'Id'. Found: {list(frame.columns)}")
    genre_columns = _genre_columns(frame, csv, labels_from)
    report.n_read = len(frame)

    seen: dict[str, tuple[int, list[str]]] = {}  # id -> (row, genres) of its first row
    paths: list[str] = []
    labels: list[list[str]] = []
    ids: list[str] = []
    for i, record in enumerate(frame.to_dict("records")):
        row = i + 1
        movie_id = record["Id"].strip()
        if not movie_id:
            errors(csv, row, "empty `Id`")
            continue
        genres = _row_genres(record, genre_columns, csv, row, errors)
        if genres is None:
            continue
        if movie_id in seen:
            first_row, first_genres = seen[movie_id]
            same = "same genres" if sorted(first_genres) == sorted(genres) else (
                f"DIFFERENT genres {genres} vs {first_genres}")
            report.notes.append(
                f"duplicated Id {movie_id}: row {row} dropped, row {first_row} kept ({same})"
            )
            report.drop("duplicated Id (first row kept)")
            continue
        image = root / "images" / f"{movie_id}.jpg"
        if not check_image_row(image, csv, row, errors, check_images):
            continue
        seen[movie_id] = (row, genres)
        paths.append(str(image))
        labels.append(genres)
        ids.append(movie_id)
    report.n_kept = len(paths)
    n_dup = sum(1 for n in report.notes if n.startswith("duplicated Id"))
    if n_dup:
        report.notes.insert(0, f"{n_dup} duplicated rows removed (first occurrence kept)")
    return ImageData(paths=paths, labels=labels, ids=ids, report=report)


def _genre_columns(frame: Any, csv: Path, labels_from: str) -> list[str] | None:
    if labels_from == "genre":
        if "Genre" not in frame.columns:
            raise ValueError(f"{csv}: missing column 'Genre'. Found: {list(frame.columns)}")
        return None
    cols = [c for c in frame.columns if c not in ("Id", "Genre", "Rating")]
    if not cols:
        raise ValueError(f"{csv}: no 0/1 genre columns found. Found: {list(frame.columns)}")
    return cols


def _row_genres(record: dict[str, Any], genre_columns: list[str] | None, csv: Path, row: int,
                errors: ErrorLog) -> list[str] | None:
    if genre_columns is None:
        raw = record["Genre"]
        if is_blank(raw):
            errors(csv, row, "empty or NaN `Genre`")
            return None
        try:
            parsed = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            errors(csv, row, f"`Genre` is not a Python-literal list: {raw[:80]!r}")
            return None
        return check_label_row(parsed, csv, row, errors, "Genre")
    genres = []
    for col in genre_columns:
        value = record[col].strip()
        if value not in ("0", "1"):
            errors(csv, row, f"genre column {col!r} must be 0 or 1, got {value!r}")
            return None
        if value == "1":
            genres.append(col)
    if not genres:
        errors(csv, row, "no genre column is 1")
        return None
    return genres
