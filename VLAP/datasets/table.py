"""Your own multilabel data: one CSV, TSV or JSON-lines file, texts or image paths.

:func:`load_table` reads a table with one example per row: a text column or an
image-path column, and the labels either in one column (separator-joined names
such as ``"sports|politics"``, or a Python-literal list ``"['sports', 'politics']"``)
or as several 0/1 columns. An optional split column holds a given
train/val/test split.
"""

import ast
import json
from pathlib import Path

from VLAP._validation import check_option
from VLAP.datasets._common import (
    DataFormatError,
    ImageData,
    LoadReport,
    TextData,
    check_images_option,
    check_image_row,
    ErrorLog,
    is_blank,
    resolve_path,
)
from VLAP.datasets._files import read_csv, read_text

FORMATS = ("csv", "tsv", "jsonl")
#: File-name endings (after any compression suffix) and the format they mean.
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
             ".ndjson": "jsonl", ".json": "jsonl"}
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip")
#: Accepted values of a split column and the part they name.
SPLIT_VALUES = {"train": "train", "val": "val", "valid": "val", "validation": "val",
                "test": "test"}
_TRUE = ("1", "1.0", "true", "True", "yes")
_FALSE = ("0", "0.0", "false", "False", "no", "")


def load_table(path, *, text_column=None, image_column=None, label_column=None,
               label_separator="|", label_columns=None, split_column=None, id_column=None,
               format=None, encoding=None, on_error="raise", check_images=True):
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
            from 0.
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

    Returns:
        TextData (with `text_column`) or ImageData (with `image_column`):
        `texts`/`paths`, `labels` (list of label-name lists), `ids`, `split`
        (a list of `"train"`/`"val"`/`"test"`, or None without `split_column`)
        and `report` (`n_read == n_kept + n_skipped`). Rows in messages are
        1-based data rows (the CSV header not counted) or JSON-lines line
        numbers.

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
    if image_column is not None:
        check_images_option(check_images)
    file = resolve_path(path, None, "data table", "Check the path.")
    if file.is_dir():
        raise ValueError(f"`path` must be a file, got the folder {file}")
    format = format or _format_of(file)
    report = LoadReport(source=str(file))
    errors = ErrorLog(on_error, report)
    records, first_row = _records(file, format, encoding, errors)
    report.n_read = len(records)
    column = text_column if text_column is not None else image_column
    wanted = [column] + ([label_column] if label_column is not None else label_columns or [])
    wanted += [c for c in (split_column, id_column) if c is not None]
    _check_columns(file, records, wanted)

    items, labels, ids, split = [], [], [], []
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
            item = Path(value.strip()).expanduser()
            item = str(item if item.is_absolute() else file.parent / item)
            if not check_image_row(item, file, f"{row}, column `{column}`", errors, check_images):
                continue
        if unlabeled:
            row_labels = None
        elif label_column is not None:
            row_labels = _parse_labels(record.get(label_column), label_separator)
        else:
            row_labels = _indicator_labels(record, label_columns)
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
        labels.append(row_labels)
        ids.append(record.get(id_column) if id_column is not None else i)
        split.append(part)
    report.n_kept = len(items)
    if n_no_label:
        report.notes.append(f"{n_no_label} rows without any label kept (all-zero label rows)")
    split = split if split_column is not None else None
    labels = None if unlabeled else labels
    if text_column is not None:
        return TextData(texts=items, labels=labels, ids=ids, report=report, split=split)
    return ImageData(paths=items, labels=labels, ids=ids, report=report, split=split)


def _format_of(file):
    suffixes = [s.lower() for s in file.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise ValueError(
        f"{file}: cannot tell the format from the file name; pass format= one of "
        f"{list(FORMATS)}."
    )


def _records(file, format, encoding, errors):
    """The rows as dicts (None for a JSON line already reported) and the number of
    the first data row."""
    if format in ("csv", "tsv"):
        frame = read_csv(file, sep="," if format == "csv" else "\t", encoding=encoding)
        return frame.to_dict("records"), 1
    text = read_text(file, encoding)
    if text.lstrip().startswith("["):
        raise DataFormatError(
            f"{file}: a JSON array; write one JSON object per line (JSON lines) or "
            "convert it with pandas: pd.read_json(path).to_json(out, orient='records', "
            "lines=True)"
        )
    records = []
    lines = text.splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            records.append(None)
            errors.report.drop("blank line")
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            errors(file, lineno, f"malformed JSON ({err})")
            records.append(None)
            continue
        if not isinstance(record, dict):
            errors(file, lineno, "a JSON line must be an object")
            record = None
        records.append(record)
    return records, 1


def _check_columns(file, records, wanted):
    present = set()
    for record in records:
        if record is not None:
            present.update(record)
    missing = [c for c in wanted if c not in present]
    if missing and any(r is not None for r in records):
        raise DataFormatError(
            f"{file}: missing column(s) {missing}. Found: {sorted(present, key=str)}"
        )


def _parse_labels(value, separator):
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


def _indicator_labels(record, label_columns):
    names = []
    for col in label_columns:
        value = record.get(col)
        text = str(value).strip() if not isinstance(value, bool) else str(value)
        if text in _TRUE:
            names.append(col)
        elif text not in _FALSE or value is None:
            return f"label column `{col}` must be 0 or 1, got {value!r}"
    return names


__all__ = ["FORMATS", "SPLIT_VALUES", "load_table"]
