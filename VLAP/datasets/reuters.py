"""Reuters-21578, ModApte split (90 topics), from gzipped JSON lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from VLAP.datasets._common import (
    LoadReport,
    OnError,
    PathLike,
    TextData,
    check_label_row,
    ErrorLog,
    json_object,
    resolve_path,
)
from VLAP.datasets._files import open_text, reading

_DEFAULT = "reuters21578/reuters21578_modapte90.jsonl.gz"
_DOWNLOAD = (
    "Convert Reuters-21578 (ModApte split, 90 topics; e.g. nltk's 'reuters' corpus or "
    "the UCI distribution) to JSON lines with fields id, split, labels, title, text."
)
_EMPTY = ("keep", "raise")


def load_reuters(path: PathLike | None = None, on_error: OnError = "raise",
                 empty_text: Literal["keep", "raise"] = "keep",
                 encoding: str | None = None) -> ReutersData:
    """Load Reuters-21578 ModApte with its official train/test split.

    Each document's text is its title and body joined by a blank line. The file
    may be plain or compressed (gzip, bz2, xz, zip: detected from its content).

    Args:
        path: str, Path or None. The `.jsonl` or `.jsonl.gz` file; None reads
            `data_dir()/reuters21578/reuters21578_modapte90.jsonl.gz`.
        on_error: str. `"raise"` (default) or `"skip"`, for malformed lines
            (bad JSON, `split` not train/test, missing or empty `labels`, and
            empty texts when `empty_text="raise"`).
        empty_text: str. `"keep"` (default): documents with neither title nor
            body are part of the official split (61 in the ModApte-90 file), so
            they are kept (as empty strings) and counted in `report.notes`;
            `"raise"`: treat them as malformed (then `on_error` decides).
        encoding: str or None. None: UTF-8, or what a byte-order mark says.

    Returns:
        ReutersData. `train` and `test` (each a TextData with `texts`, `labels`,
        `ids`, `titles`) and the shared `report`. Unpacks as `train, test = data`.

    Example:
    ```python
    train, test = VLAP.datasets.load_reuters()
    ```
    """
    if empty_text not in _EMPTY:
        raise ValueError(
            f"Invalid value for argument `empty_text`. Expected one of {_EMPTY}. "
            f"Received: empty_text={empty_text!r}"
        )
    file = resolve_path(path, _DEFAULT, "Reuters-21578 JSON lines", _DOWNLOAD)
    report = LoadReport(source=str(file))
    errors = ErrorLog(on_error, report)
    # per part: the columns of its TextData
    parts: dict[str, dict[str, list[Any]]] = {
        name: {"texts": [], "labels": [], "ids": [], "titles": []} for name in ("train", "test")}
    n_empty = 0
    with reading(file, encoding), open_text(file, encoding) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            report.n_read += 1
            rec = json_object(line, file, lineno, errors)
            if rec is None:
                continue
            split = rec.get("split")
            if split not in parts:
                errors(file, lineno, f"`split` must be 'train' or 'test', got {split!r}")
                continue
            labels = check_label_row(rec.get("labels"), file, lineno, errors, "labels")
            if labels is None:
                continue
            title = rec.get("title") or ""
            body = rec.get("text") or ""
            if not isinstance(title, str) or not isinstance(body, str):
                errors(file, lineno, "`title` and `text` must be strings")
                continue
            text = "\n\n".join(p for p in (title.strip(), body.strip()) if p)
            if not text:
                if empty_text == "raise":
                    errors(file, lineno, f"empty text (id {rec.get('id')!r})")
                    continue
                n_empty += 1
            part = parts[split]
            part["texts"].append(text)
            part["labels"].append(labels)
            part["ids"].append(rec.get("id"))
            part["titles"].append(title.strip())
            report.n_kept += 1
    if n_empty:
        report.notes.append(f"{n_empty} documents with empty title and body kept (empty_text='keep')")
    train, test = (TextData(**parts[name], report=report) for name in ("train", "test"))
    return ReutersData(train, test, report)


class ReutersData:
    """The ModApte train and test parts. Unpacks as `train, test = data`."""

    def __init__(self, train: TextData, test: TextData, report: LoadReport) -> None:
        self.train = train
        self.test = test
        self.report = report

    def __iter__(self) -> Iterator[TextData]:
        return iter((self.train, self.test))

    def __repr__(self) -> str:
        return f"ReutersData(train={len(self.train)} docs, test={len(self.test)} docs)"
