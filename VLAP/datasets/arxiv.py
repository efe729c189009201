"""arXiv loaders: the "arXiv Paper Abstracts" CSV and the Kaggle metadata snapshot (streamed)."""

from __future__ import annotations

import ast
import numbers
from collections.abc import Iterable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

from VLAP.datasets._common import (
    LoadReport,
    OnError,
    PathLike,
    TextData,
    check_label_row,
    ErrorLog,
    is_blank,
    json_object,
    resolve_path,
)
from VLAP.datasets._files import open_binary, read_csv, reading

_CSV_DEFAULT = "arxiv/arxiv_abstracts_sample.csv"
_CSV_DOWNLOAD = (
    "Download the 'arXiv Paper Abstracts' CSV (columns titles, summaries, terms), "
    "e.g. from Kaggle (spsayakpaul/arxiv-paper-abstracts)."
)
_SNAPSHOT_DOWNLOAD = (
    "Download arxiv-metadata-oai-snapshot.json from Kaggle (Cornell-University/arxiv)."
)
_YEAR_FROM = ("update_date", "first_version")
#: Where a snapshot paper's year is read from (`year_from=`).
YearFrom = Literal["update_date", "first_version"]


class ArxivRecord(NamedTuple):
    """One paper of the metadata snapshot."""

    id: str
    title: str
    abstract: str
    categories: list[str]
    year: int


def load_arxiv_csv(path: PathLike | None = None, on_error: OnError = "raise",
                   encoding: str | None = None) -> TextData:
    """Load the "arXiv Paper Abstracts" CSV (columns `titles, summaries, terms`).

    Args:
        path: str, Path or None. The CSV file; None reads
            `data_dir()/arxiv/arxiv_abstracts_sample.csv`.
        on_error: str. `"raise"` (default): a malformed row (empty summary,
            `terms` that is not a non-empty Python-literal list of strings) raises
            DataFormatError naming the file and row. `"skip"`: such rows are
            skipped and listed in `report.skipped`.
        encoding: str or None. The text encoding; None: UTF-8, or what a
            byte-order mark says. Compression (gzip, bz2, xz, zip) is detected
            from the file's content.

    Returns:
        TextData. `texts` are the summaries (abstracts), `labels` the term lists,
        `titles` the titles, `ids` the 0-based data row numbers. Row numbers in
        messages are 1-based data rows (header not counted).

    Example:
    ```python
    texts, labels = VLAP.datasets.load_arxiv_csv()
    ```
    """
    file = resolve_path(path, _CSV_DEFAULT, "arXiv abstracts CSV", _CSV_DOWNLOAD)
    report = LoadReport(source=str(file))
    errors = ErrorLog(on_error, report)
    frame = read_csv(file, encoding=encoding)
    missing = [c for c in ("titles", "summaries", "terms") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{file}: missing column(s) {missing}; expected titles, summaries, terms. "
            f"Found: {list(frame.columns)}"
        )
    report.n_read = len(frame)
    texts: list[str] = []
    labels: list[list[str]] = []
    ids: list[Any] = []
    titles: list[str] = []
    for i, (title, summary, terms) in enumerate(
        zip(frame["titles"], frame["summaries"], frame["terms"])
    ):
        row = i + 1
        if is_blank(summary):
            errors(file, row, "empty text in column `summaries`")
            continue
        try:
            parsed = ast.literal_eval(terms) if not is_blank(terms) else None
        except (ValueError, SyntaxError):
            errors(file, row, f"`terms` is not a Python-literal list: {terms[:80]!r}")
            continue
        if parsed is None:
            errors(file, row, "`terms` is empty or NaN")
            continue
        terms_list = check_label_row(parsed, file, row, errors, "terms")
        if terms_list is None:
            continue
        texts.append(summary.strip())
        labels.append(terms_list)
        ids.append(i)
        titles.append(title.strip())
    report.n_kept = len(texts)
    return TextData(texts=texts, labels=labels, ids=ids, titles=titles, report=report)


def iter_arxiv_snapshot(path: PathLike, *, years: Iterable[int] | None = None,
                        category_prefixes: Iterable[str] | None = None,
                        max_rows: int | None = None, on_error: OnError = "raise",
                        report: LoadReport | None = None,
                        year_from: YearFrom = "update_date") -> Iterator[ArxivRecord]:
    """Stream papers from the Kaggle arXiv metadata snapshot (JSON lines), filtered.

    The file is read line by line (it is several GB; memory stays flat), plain or
    compressed (detected from the content). When `category_prefixes` is given, a
    line is first checked for the prefixes as raw bytes and only candidate lines
    are parsed with `json.loads`; the other lines still get a cheap check (one
    JSON object per line: `{...}`), so a damaged line is reported (or raises)
    whether or not it would have matched the filter. Lines outside the filters
    are counted in `report.dropped`.

    Args:
        path: str or Path. `arxiv-metadata-oai-snapshot.json` (or a `.gz` of it).
        years: iterable of int or None. Keep papers whose year is in it.
        category_prefixes: iterable of str or None. Keep papers with at least one
            category starting with one of these (e.g. `["cs.", "stat.ML"]`).
        max_rows: int or None. Stop after this many kept papers.
        on_error: str. `"raise"` or `"skip"` (malformed JSON, missing or empty
            `id`/`abstract`/`categories`, no usable year).
        report: LoadReport or None. Filled with lines read and skipped records.
        year_from: str. `"update_date"` (the `update_date` field, YYYY-MM-DD) or
            `"first_version"` (`versions[0]["created"]`). Falls back to the other
            field when the chosen one is absent.

    Every argument after `path` is keyword-only.

    Returns:
        iterator of ArxivRecord. `(id, title, abstract, categories, year)`; categories is the
        space-separated `categories` field split into a list.
    """
    if path is None:
        raise TypeError(
            f"`path` is required: the snapshot is not part of the shared data. {_SNAPSHOT_DOWNLOAD}"
        )
    file = resolve_path(path, None, "arXiv metadata snapshot", _SNAPSHOT_DOWNLOAD)
    report = report if report is not None else LoadReport()
    report.source = str(file)
    errors = ErrorLog(on_error, report)
    prefixes = _check_prefixes(category_prefixes)
    year_set = _check_years(years)
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, numbers.Integral)
                                 or max_rows < 1):
        raise ValueError(f"`max_rows` must be a positive int or None. Received: max_rows={max_rows!r}")
    if year_from not in _YEAR_FROM:
        raise ValueError(
            f"Invalid value for argument `year_from`. Expected one of {_YEAR_FROM}. "
            f"Received: year_from={year_from!r}"
        )
    # Arguments are checked now; the generator below starts reading on first next().
    return _stream(file, report, errors, prefixes, year_set, max_rows, year_from)


def _stream(file: Path, report: LoadReport, errors: ErrorLog, prefixes: tuple[str, ...] | None,
            year_set: set[int] | None, max_rows: int | None,
            year_from: str) -> Iterator[ArxivRecord]:
    raw = [p.encode() for p in prefixes] if prefixes else None
    single = raw[0] if raw and len(raw) == 1 else None
    kept = 0
    with reading(file), open_binary(file) as handle:
        lineno = 0
        for lineno, line in enumerate(handle, 1):
            stripped = line.strip()
            if not stripped:
                report.drop("blank line")
                continue
            # Cheap pre-filter on raw bytes (false positives are fine: checked below).
            if (single is not None and single not in line) or (
                    single is None and raw is not None and not any(p in line for p in raw)):
                if stripped[:1] == b"{" and stripped[-1:] == b"}":
                    report.drop("outside category_prefixes")
                else:
                    errors(file, lineno, "malformed JSON line (not one {...} object: "
                                         f"{stripped[:40]!r})")
                continue
            rec = json_object(line, file, lineno, errors)
            if rec is None:
                continue
            field = rec.get("categories")
            if not isinstance(field, str) or not field.split():
                errors(file, lineno, f"missing or empty `categories`: {field!r}")
                continue
            cats = field.split()
            if prefixes and not any(c.startswith(p) for c in cats for p in prefixes):
                report.drop("outside category_prefixes")
                continue
            year = _year(rec, year_from)
            if year is None:
                errors(file, lineno, "no usable year in `update_date` or `versions`")
                continue
            if year_set is not None and year not in year_set:
                report.drop("outside years")
                continue
            abstract, paper_id = rec.get("abstract"), rec.get("id")
            if is_blank(paper_id):
                errors(file, lineno, "missing `id`")
                continue
            if not isinstance(abstract, str) or is_blank(abstract):
                errors(file, lineno, f"empty text in `abstract` (id {paper_id})")
                continue
            title = rec.get("title") or ""
            yield ArxivRecord(str(paper_id), " ".join(str(title).split()), abstract.strip(), cats, year)
            kept += 1
            report.n_kept = kept
            if max_rows is not None and kept >= max_rows:
                break
        report.n_read = lineno


def load_arxiv_snapshot(path: PathLike, *, years: Iterable[int] | None = None,
                        category_prefixes: Iterable[str] | None = None,
                        max_rows: int | None = None, on_error: OnError = "raise",
                        year_from: YearFrom = "update_date") -> TextData:
    """Load the filtered papers of the Kaggle arXiv snapshot into memory.

    Same arguments as `iter_arxiv_snapshot`. Only the kept papers are held in
    memory, so filter before loading the multi-GB file.

    Returns:
        TextData. `texts` are the abstracts, `labels` the category lists, `ids` the
        arXiv ids, `titles` the titles; `report` lists skipped lines.
    """
    report = LoadReport()
    texts: list[str] = []
    labels: list[list[str]] = []
    ids: list[Any] = []
    titles: list[str] = []
    for rec in iter_arxiv_snapshot(path, years=years, category_prefixes=category_prefixes,
                                   max_rows=max_rows, on_error=on_error, report=report,
                                   year_from=year_from):
        texts.append(rec.abstract)
        labels.append(rec.categories)
        ids.append(rec.id)
        titles.append(rec.title)
    return TextData(texts=texts, labels=labels, ids=ids, titles=titles, report=report)


def _check_prefixes(prefixes: Iterable[str] | None) -> tuple[str, ...] | None:
    if prefixes is None:
        return None
    if isinstance(prefixes, (str, bytes)):
        raise TypeError(
            "`category_prefixes` must be a list of str, e.g. ['cs.']. Received a single "
            f"string: {prefixes!r}"
        )
    checked = tuple(prefixes)
    if not checked or not all(isinstance(p, str) and p for p in checked):
        raise ValueError(
            f"`category_prefixes` must be a non-empty list of non-empty str. Received: {checked!r}"
        )
    return checked


def _check_years(years: Iterable[int] | None) -> set[int] | None:
    if years is None:
        return None
    if isinstance(years, numbers.Integral):
        raise TypeError(f"`years` must be an iterable of int, e.g. [{years}]. Received: years={years!r}")
    given = set(years)
    if not given or not all(isinstance(y, numbers.Integral) and not isinstance(y, bool) for y in given):
        raise ValueError(f"`years` must be a non-empty iterable of int. Received: {sorted(given, key=str)!r}")
    return {int(y) for y in given}


def _year(rec: dict[str, Any], year_from: str) -> int | None:
    order = ("update_date", "first_version") if year_from == "update_date" else (
        "first_version", "update_date")
    for source in order:
        try:
            if source == "update_date":
                value = rec.get("update_date")
                if isinstance(value, str) and len(value) >= 4 and value[:4].isdigit():
                    return int(value[:4])
            else:
                versions = rec.get("versions")
                if versions:
                    return parsedate_to_datetime(versions[0]["created"]).year
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    return None


__all__ = ["ArxivRecord", "load_arxiv_csv", "iter_arxiv_snapshot", "load_arxiv_snapshot"]
