"""Your own multilabel data: one CSV, TSV or JSON-lines file, texts or image paths.

:func:`load_table` reads a table with one example per row: a text column or an
image-path column, and the labels either in one column (separator-joined names
such as ``"sports|politics"``, or a Python-literal list ``"['sports', 'politics']"``)
or as several 0/1 columns. An optional split column holds a given
train/val/test split.
"""

from __future__ import annotations

import ast
import difflib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, overload

from VLAP._validation import check_option
from VLAP.datasets._common import (
    _BAD,
    CheckImages,
    DataFormatError,
    ImageData,
    LoadReport,
    OnError,
    PathLike,
    TextData,
    check_images_option,
    check_image_row,
    ErrorLog,
    is_blank,
    parse_json_line,
    resolve_path,
)
from VLAP.datasets._files import read_csv, read_text

FORMATS = ("csv", "tsv", "jsonl")
#: The table formats `load_table(format=...)` reads.
TableFormat = Literal["csv", "tsv", "jsonl"]
#: File-name endings (after any compression suffix) and the format they mean.
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
             ".ndjson": "jsonl", ".json": "jsonl"}
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip")
#: Accepted values of a split column and the part they name.
SPLIT_VALUES = {"train": "train", "val": "val", "valid": "val", "validation": "val",
                "test": "test"}
_TRUE = ("1", "1.0", "true", "True", "yes")
_FALSE = ("0", "0.0", "false", "False", "no", "")


# The return type follows the input column: texts give TextData, image paths ImageData.
@overload
def load_table(path: PathLike, *, text_column: str, image_column: None = ...,
               label_column: str | None = ...,
               label_separator: str = ..., label_columns: Sequence[str] | None = ...,
               split_column: str | None = ..., id_column: str | None = ...,
               format: TableFormat | None = ..., encoding: str | None = ...,
               on_error: OnError = ..., check_images: CheckImages = ...,
               na_values: Sequence[str] | None = ...) -> TextData: ...
@overload
def load_table(path: PathLike, *, text_column: None = ..., image_column: str,
               label_column: str | None = ...,
               label_separator: str = ..., label_columns: Sequence[str] | None = ...,
               split_column: str | None = ..., id_column: str | None = ...,
               format: TableFormat | None = ..., encoding: str | None = ...,
               on_error: OnError = ..., check_images: CheckImages = ...,
               na_values: Sequence[str] | None = ...) -> ImageData: ...
@overload
def load_table(path: PathLike, *, text_column: str | None = ..., image_column: str | None = ...,
               label_column: str | None = ...,
               label_separator: str = ..., label_columns: Sequence[str] | None = ...,
               split_column: str | None = ..., id_column: str | None = ...,
               format: TableFormat | None = ..., encoding: str | None = ...,
               on_error: OnError = ..., check_images: CheckImages = ...,
               na_values: Sequence[str] | None = ...) -> TextData | ImageData: ...
def load_table(path: PathLike, *, text_column: str | None = None,
               image_column: str | None = None, label_column: str | None = None,
               label_separator: str = "|", label_columns: Sequence[str] | None = None,
               split_column: str | None = None, id_column: str | None = None,
               format: TableFormat | None = None, encoding: str | None = None,
               on_error: OnError = "raise", check_images: CheckImages = True,
               na_values: Sequence[str] | None = None) -> TextData | ImageData:
    """Load your own multilabel data set from a CSV, TSV or JSON-lines file.

    Compression (gzip, bz2, xz, a zip holding one file) is detected from the
    file's content, whatever its name. Text is UTF-8 unless a byte-order mark or
    `encoding` says otherwise.

    Args:
        path: str or Path. The file.
        text_column: str or None. The column holding the texts (give this or
            `image_column`).
        image_column: str or None. The column holding image paths, absolute or
            relative to the file's folder.
        label_column: str or None. One column holding each example's labels:
            names joined by `label_separator` (`"sports|politics"`), or a
            Python-literal list (`"['sports', 'politics']"`, read safely with
            `ast.literal_eval`); in JSON lines also a real list. A blank cell
            means no label (kept, and counted in `report.notes`).
        label_separator: str. The separator of `label_column` (default `"|"`).
        label_columns: list of str or None. Instead of `label_column`: one 0/1
            column per label (also `true`/`false`); the column names are the
            label names. Give neither for unlabeled inputs (to predict on);
            `labels` is then None.
        split_column: str or None. A column holding `train`, `val` (or
            `valid`/`validation`) or `test` per row; returned as `data.split`.
        id_column: str or None. A column of example ids; None numbers the rows
            from 0 (empty lines count, so the numbers are the file's data rows).
            Ids that occur more than once are kept and counted in
            `report.notes`.
        format: str or None. `"csv"`, `"tsv"` or `"jsonl"`; None chooses by the
            file name (`.csv`, `.tsv`/`.tab`, `.jsonl`/`.ndjson`/`.json`, also
            under a compression suffix such as `.csv.gz`).
        encoding: str or None. The text encoding (e.g. `"latin-1"`).
        on_error: str. `"raise"` (default): a bad row (empty text, unreadable
            label list, label cell other than 0/1, unknown split value, missing
            or damaged image) raises DataFormatError naming the file, row and
            column; `"skip"`: such rows are skipped and listed in
            `report.skipped`.
        check_images: bool or str. For `image_column`: True (default) checks
            that each image exists, has a parsable header and is not truncated;
            `"decode"` decodes it fully; `"exists"` only checks the file exists;
            False: no check.
        na_values: list of str or None. Cell values read as missing (e.g.
            `["NA", "N/A"]`): a missing text is an empty text, a missing label
            cell means no label. Default None: no value is missing but an empty
            cell, so `NA` is read as a label named "NA" (a note in `report.notes`
            counts such label names).

    Returns:
        TextData (with `text_column`) or ImageData (with `image_column`):
        `texts`/`paths`, `labels` (list of label-name lists), `ids`, `split`
        (a list of `"train"`/`"val"`/`"test"`, or None without `split_column`)
        and `report` (`n_read == n_kept + n_skipped`). Rows in messages are
        1-based data rows (the CSV header not counted) or JSON-lines line
        numbers.

    Every argument after `path` is keyword-only.

    Example:
    >>> import tempfile, VLAP
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "tickets.csv").write_text(
    ...     "text,labels\\nlogin fails,bug|auth\\nadd dark mode,feature\\n")
    >>> data = VLAP.datasets.load_table(folder / "tickets.csv", text_column="text",
    ...                                 label_column="labels")
    >>> data.labels
    [['bug', 'auth'], ['feature']]
    >>> print(data.report)  # doctest: +ELLIPSIS
    /.../tickets.csv: read 2, kept 2, skipped 0
    """
    if (text_column is None) == (image_column is None):
        raise ValueError(
            "Pass exactly one of `text_column` (texts) and `image_column` (image paths). "
            f"Received: text_column={text_column!r}, image_column={image_column!r}"
        )
    if label_column is not None and label_columns is not None:
        raise ValueError(
            "Pass one of `label_column` (one column of label lists) and "
            "`label_columns` (one 0/1 column per label), not both. Received: "
            f"label_column={label_column!r}, label_columns={label_columns!r}"
        )
    unlabeled = label_column is None and label_columns is None
    if label_columns is not None:
        if isinstance(label_columns, str) or not label_columns or not all(
                isinstance(c, str) and c for c in label_columns):
            raise ValueError(
                "`label_columns` must be a non-empty list of column names. "
                f"Received: label_columns={label_columns!r}"
            )
        label_columns = list(label_columns)
    if not isinstance(label_separator, str) or not label_separator:
        raise ValueError(
            "`label_separator` must be a non-empty str such as '|' or ','. "
            f"Received: label_separator={label_separator!r}"
        )
    if format is not None:
        check_option("format", format, FORMATS)
    if na_values is not None and (isinstance(na_values, str) or not all(
            isinstance(v, str) for v in na_values)):
        raise ValueError("`na_values` must be a list of strings such as ['NA', 'N/A']. "
                         f"Received: na_values={na_values!r}")
    na_set = frozenset(v.strip() for v in na_values or ())
    if image_column is not None:
        check_images_option(check_images)
    file = resolve_path(path, None, "data table", "Check the path.")
    if file.is_dir():
        raise ValueError(f"`path` must be a file, got the folder {file}")
    kind = format or _format_of(file)
    report = LoadReport(source=str(file))
    errors = ErrorLog(on_error, report)
    records, first_row, header = _records(file, kind, encoding, errors)
    report.n_read = len(records)
    column = text_column if text_column is not None else image_column
    assert column is not None  # exactly one of the two was checked above
    wanted = [column] + ([label_column] if label_column is not None else label_columns or [])
    wanted += [c for c in (split_column, id_column) if c is not None]
    _check_columns(file, records, wanted, header)
    if na_set:
        records, n_missing = _mark_missing(records, na_set)
        if n_missing:
            report.notes.append(f"{n_missing} cells read as missing (na_values={sorted(na_set)})")

    items: list[str] = []
    labels: list[list[str]] = []  # stays empty for an unlabeled table
    ids: list[Any] = []
    parts: list[str] = []  # stays empty without a split column
    n_no_label = 0
    for i, record in enumerate(records):
        if record is None:  # a JSON line already reported
            continue
        row = first_row + i
        value = record.get(column)
        if text_column is not None:
            if not isinstance(value, str) or is_blank(value):
                errors(file, f"{row}, column `{column}`", f"empty or non-text value {value!r}")
                continue
            item = value.strip()
        else:
            if not isinstance(value, str) or is_blank(value):
                errors(file, f"{row}, column `{column}`", "empty image path")
                continue
            image = Path(value.strip()).expanduser()
            item = str(image if image.is_absolute() else file.parent / image)
            if not check_image_row(item, file, f"{row}, column `{column}`", errors, check_images):
                continue
        row_labels: list[str] | str | None
        if unlabeled:
            row_labels = None
        elif label_column is not None:
            row_labels = _parse_labels(record.get(label_column), label_separator)
        else:
            row_labels = _indicator_labels(record, label_columns or [])
        if isinstance(row_labels, str):
            where = f"{row}, column `{label_column}`" if label_column is not None else row
            errors(file, where, row_labels)
            continue
        part = None
        if split_column is not None:
            raw = record.get(split_column)
            part = SPLIT_VALUES.get(str(raw).strip().lower()) if raw is not None else None
            if part is None:
                errors(file, f"{row}, column `{split_column}`",
                       f"the split must be one of train, val, test; got {raw!r}")
                continue
        n_no_label += row_labels == []
        items.append(item)
        if row_labels is not None:
            labels.append(row_labels)
        ids.append(record.get(id_column) if id_column is not None else i)
        if part is not None:
            parts.append(part)
    report.n_kept = len(items)
    if n_no_label:
        report.notes.append(f"{n_no_label} rows without any label kept (all-zero label rows)")
    report.n_empty_labels = n_no_label
    if labels and not unlabeled:
        na_like = Counter(name for row_labels in labels for name in row_labels
                          if name in _NA_LIKE)
        if na_like:
            report.notes.append(
                f"label names that usually mean 'missing' were read as labels: "
                f"{dict(na_like)}; pass na_values={sorted(na_like)} to read them as missing")
    if id_column is not None:
        counts = Counter(_hashable(v) for v in ids)
        dup = {k: n for k, n in counts.items() if n > 1}
        if dup:
            report.notes.append(
                f"{sum(dup.values())} rows share {len(dup)} ids in column `{id_column}` "
                f"(kept; e.g. {list(dup)[:3]})")
    split = parts if split_column is not None else None
    found = None if unlabeled else labels
    if text_column is not None:
        return TextData(texts=items, labels=found, ids=ids, report=report, split=split)
    return ImageData(paths=items, labels=found, ids=ids, report=report, split=split)


#: Cell values that usually mean "missing" (pandas' default `na_values`, in part).
_NA_LIKE = frozenset({"NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "#N/A",
                      "<NA>", "-NaN", "-nan"})


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _mark_missing(records: list[dict[str, Any] | None],
                  na_set: frozenset[str]) -> tuple[list[dict[str, Any] | None], int]:
    """Records with every str value in `na_set` replaced by None; and how many."""
    out: list[dict[str, Any] | None] = []
    n = 0
    for record in records:
        if record is None:
            out.append(None)
            continue
        new = {}
        for key, value in record.items():
            if isinstance(value, str) and value.strip() in na_set:
                value, n = None, n + 1
            new[key] = value
        out.append(new)
    return out, n


def table_columns(path: PathLike, *, format: TableFormat | None = None,
                  encoding: str | None = None) -> list[str]:
    """The column names of a table file: the CSV/TSV header, or the keys of the
    first JSON-lines object (empty when there is none).

    Example:
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "new.csv"
    >>> _ = f.write_text("id,text\\n7,hello\\n")
    >>> table_columns(f)
    ['id', 'text']
    """
    file = Path(path)
    kind = format or _format_of(file)
    text = read_text(file, encoding)
    if kind in ("csv", "tsv"):
        import csv
        import io

        reader = csv.reader(io.StringIO(text), delimiter="," if kind == "csv" else "\t")
        return next(reader, [])
    for line in text.split("\n"):
        if line.strip():
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                return []
            return [str(k) for k in record] if isinstance(record, dict) else []
    return []


def _format_of(file: Path) -> str:
    suffixes = [s.lower() for s in file.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise ValueError(
        f"{file}: cannot tell the format from the file name; pass format= one of "
        f"{list(FORMATS)}."
    )


def _records(file: Path, format: str, encoding: str | None,
             errors: ErrorLog) -> tuple[list[dict[str, Any] | None], int, list[str] | None]:
    """The rows as dicts (None for a blank or reported line), the number of the
    first data row, and the header's column names (None for JSON lines)."""
    if format in ("csv", "tsv"):
        frame = read_csv(file, sep="," if format == "csv" else "\t", encoding=encoding,
                         skip_blank_lines=False)
        records = frame.to_dict("records")
        for i, record in enumerate(records):
            # an empty line: dropped and counted, and the rows after it keep their numbers
            if all(value == "" for value in record.values()):
                records[i] = None
                errors.report.drop("blank line")
        return records, 1, [str(c) for c in frame.columns]
    text = read_text(file, encoding)
    if text.lstrip().startswith("["):
        raise DataFormatError(
            f"{file}: a JSON array; write one JSON object per line (JSON lines) or "
            "convert it with pandas: pd.read_json(path).to_json(out, orient='records', "
            "lines=True)"
        )
    records = []
    # "\n" only: str.splitlines() would also split at U+2028 and other characters
    # that JSON allows unescaped inside a string.
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the newline that ends the last line
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            records.append(None)
            errors.report.drop("blank line")
            continue
        record = parse_json_line(line, file, lineno, errors)
        if record is _BAD:
            records.append(None)
            continue
        if not isinstance(record, dict):
            errors(file, lineno, "a JSON line must be an object")
            record = None
        records.append(record)
    return records, 1, None


def did_you_mean(name: object, known: Iterable[object]) -> str:
    """``" (did you mean 'x'?)"`` for the name in `known` closest to `name`, else ``""``.

    Example:
    >>> did_you_mean("lables", ["text", "labels"])
    " (did you mean 'labels'?)"
    """
    names = sorted(str(k) for k in known)
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    if not close:  # same name in another case: "Text" for "text"
        close = [k for k in names if k.lower() == str(name).lower()][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_columns(file: Path, records: list[dict[str, Any] | None], wanted: list[Any],
                   header: list[str] | None = None) -> None:
    present = set(header or ())
    for record in records:
        if record is not None:
            present.update(record)
    missing = [c for c in wanted if c not in present]
    if missing:
        hint = did_you_mean(missing[0], present)
        found = f"Found: {sorted(present, key=str)}" if present else "The file has no data rows"
        raise DataFormatError(f"{file}: missing column(s) {missing}{hint}. {found}")


def _parse_labels(value: Any, separator: str) -> list[str] | str:
    """A list of label names, or an error message (str)."""
    if isinstance(value, (list, tuple)):
        parsed = list(value)
    elif value is None or is_blank(value):
        return []
    elif not isinstance(value, str):
        return f"labels must be text or a list, got {value!r}"
    elif value.strip().startswith("["):
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            return f"labels look like a list but are not a Python literal: {value[:80]!r}"
        if not isinstance(parsed, list):
            return f"labels must be a list, got {value[:80]!r}"
    else:
        parsed = value.split(separator)
    names = []
    for name in parsed:
        if not isinstance(name, str):
            return f"label {name!r} is not a string"
        name = name.strip()
        if not name:
            return f"an empty label name in {value!r}"
        if name not in names:
            names.append(name)
    return names


def _indicator_labels(record: dict[str, Any], label_columns: Sequence[str]) -> list[str] | str:
    names = []
    for col in label_columns:
        value = record.get(col)
        text = str(value).strip() if not isinstance(value, bool) else str(value)
        if text in _TRUE:
            names.append(col)
        elif text not in _FALSE or value is None:
            return f"label column `{col}` must be 0 or 1, got {value!r}"
    return names


__all__ = ["FORMATS", "SPLIT_VALUES", "load_table", "table_columns"]
