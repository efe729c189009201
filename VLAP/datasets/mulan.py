"""MULAN benchmarks (emotions, yeast, scene): ARFF features + XML label list."""

import re
import xml.etree.ElementTree as ET
import numpy as np

from VLAP.datasets._common import LoadReport, MatrixData, ErrorLog, resolve_path
from VLAP.datasets._files import open_text

_DEFAULT = "mulan"
_NAMES = ("emotions", "yeast", "scene")
_DOWNLOAD = (
    "Download the MULAN data set (<name>.arff and <name>.xml, optionally gzipped) from "
    "https://mulan.sourceforge.net/datasets-mlc.html."
)


def load_mulan(name, path=None, on_error="raise", encoding=None):
    """Load a MULAN multilabel data set as a feature matrix and a label matrix.

    The ARFF file (dense or sparse rows; plain or `.gz`; read by the format's
    rules: quoted and escaped values, `%` comments) holds the features and,
    as `{0,1}` attributes named in the XML label list, the labels. Nominal
    feature attributes are read as MULAN's tools read them: a `{0,1}` attribute
    as its value, another two-valued one `{a,b}` as one 0/1 column `attr=b`,
    and one with more values one-hot, a column `attr=value` per value (noted in
    `report.notes`).

    Args:
        name: str. `"emotions"`, `"yeast"` or `"scene"` (any other name works too
            when its files are present).
        path: str, Path or None. Folder holding `<name>.arff[.gz]` and
            `<name>.xml[.gz]`; None reads `data_dir()/mulan`.
        on_error: str. `"raise"` (default) or `"skip"` for malformed data rows
            (wrong number of values, missing `?` values, non-numeric features,
            nominal values outside their attribute's set, labels other than 0/1).
        encoding: str or None. None: UTF-8, or what a byte-order mark says.
            Files may be compressed (gzip, bz2, xz, zip: detected from content).

    Returns:
        MatrixData. `X` float32 (n_samples, n_features), `Y` float32 0/1
        (n_samples, num_labels), `feature_names`, `label_names` (in ARFF column
        order), `report`. Unpacks as `X, Y = data`.

    Example:
    ```python
    X, Y = VLAP.datasets.load_mulan("emotions")
    ```
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a data set name such as {_NAMES}. Received: name={name!r}")
    folder = resolve_path(path, _DEFAULT, "MULAN folder", _DOWNLOAD.replace("<name>", name))
    arff = _find(folder, f"{name}.arff", "ARFF file")
    xml = _find(folder, f"{name}.xml", "XML label list")
    label_names = _read_label_xml(xml, encoding)
    report = LoadReport(source=str(arff))
    errors = ErrorLog(on_error, report)
    attributes, rows, line_numbers = _read_arff(arff, errors, report, encoding,
                                                set(label_names))

    names = [a for a, _ in attributes]
    missing = [lab for lab in label_names if lab not in names]
    if missing:
        raise ValueError(f"{xml}: labels {missing} are not attributes of {arff}.")
    label_set = set(label_names)
    label_idx = [i for i, n in enumerate(names) if n in label_set]
    feature_idx = [i for i, n in enumerate(names) if n not in label_set]
    data = rows if rows.size else np.zeros((0, len(names)))
    Y = data[:, label_idx]
    bad = ~np.isin(Y, (0, 1)).all(axis=1)
    for r in np.flatnonzero(bad):
        errors(arff, int(line_numbers[r]), f"label values must be 0 or 1, got {Y[r].tolist()}")
    data, Y = data[~bad], Y[~bad]
    X, feature_names = _expand_nominal(data, attributes, feature_idx, report)
    report.n_kept = len(X)
    return MatrixData(
        X=X,
        Y=Y.astype("float32"),
        feature_names=feature_names,
        label_names=[names[i] for i in label_idx],
        report=report,
    )


def _find(folder, stem, what):
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MULAN {what} not found: {folder / stem}[.gz]. {_DOWNLOAD.replace('<name>', stem.split('.')[0])}")


def _read_label_xml(xml, encoding=None):
    with open_text(xml, encoding) as handle:
        try:
            root = ET.fromstring(handle.read())
        except ET.ParseError as err:
            raise ValueError(f"{xml}: not a valid MULAN label XML ({err})") from None
    labels = [el.attrib.get("name") for el in root.iter() if el.tag.split("}")[-1] == "label"]
    if not labels or any(not lab for lab in labels):
        raise ValueError(f"{xml}: expected <label name=...> elements; found {labels!r}")
    return labels


# ------------------------------------------------------------------------- ARFF
#
# Read by the format's rules, as Weka's ArffReader reads them: values are
# separated by commas and/or white space; a value with a comma, space, brace or
# quote in it is quoted with ' or " (a backslash escapes the quote, a backslash,
# and \n \t \r); an unquoted ? is missing; % starts a comment to the end of the
# line (outside quotes); {index value, ...} is a sparse row, whose absent values
# are 0 (a nominal attribute's first value); keywords are case-insensitive.

#: One lexical item of an ARFF line: a '...' or "..." value, a brace, a comment,
#: a bare value, separators, or a character no rule accepts (an unclosed quote).
_TOKEN = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{}])|(%.*)"""
                    r"""|([^\s,{}'"%]+)|([\s,]+)|(.)""", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
#: Characters that only the full tokenizer handles; other lines take the fast path.
_SPECIAL = frozenset("'\"%{}")


def _unescape(text):
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text, flags=re.DOTALL)


def _tokens(line):
    """``[(kind, text)]`` of an ARFF line (kind ``"word"``, ``"quoted"``, ``"{"`` or
    ``"}"``), or an error message (str).

    Example:
    >>> _tokens("{0 'a,b', 2 'x y'} % a comment")
    [('{', '{'), ('word', '0'), ('quoted', 'a,b'), ('word', '2'), ('quoted', 'x y'), ('}', '}')]
    """
    out = []
    for m in _TOKEN.finditer(line):
        single, double, brace, comment, word, _, other = m.groups()
        if comment is not None:
            break
        if other is not None:
            return f"unclosed quote {line[m.start():m.start() + 20]!r}"
        if brace is not None:
            out.append((brace, brace))
        elif word is not None:
            out.append(("word", word))
        elif single is not None or double is not None:
            out.append(("quoted", _unescape(single if single is not None else double)))
    return out


def _attribute(tokens, path, lineno, line):
    """``(name, kind)`` of an ``@attribute`` line: kind ``"numeric"``, the list of a
    nominal attribute's values, or the type's name (``"string"``, ``"date"``...)."""
    if isinstance(tokens, str) or len(tokens) < 3 or tokens[1][0] not in ("word", "quoted"):
        raise ValueError(f"{path}, line {lineno}: malformed @attribute: {line[:80]!r}")
    name = tokens[1][1]
    if tokens[2][0] == "{":
        if tokens[-1][0] != "}" or any(k not in ("word", "quoted") for k, _ in tokens[3:-1]):
            raise ValueError(f"{path}, line {lineno}: malformed nominal values: {line[:80]!r}")
        return name, [text for _, text in tokens[3:-1]]
    kind = tokens[2][1].lower()
    return name, "numeric" if kind in ("numeric", "real", "integer") else kind


def _nominal_values(kind):
    """The values of a nominal attribute, or None if it is not one."""
    return kind if isinstance(kind, list) else None


def _is_binary01(values):
    return sorted(values) == ["0", "1"]


def _expand_nominal(data, attributes, feature_idx, report):
    """The float32 feature matrix: numeric attributes as they are, nominal ones
    binary as 0/1 (``{0,1}`` as its value, ``{a,b}`` as ``attr=b``) and others
    one-hot (``attr=value``); the step is noted in the report."""
    columns, names, n_binary, n_onehot = [], [], 0, 0
    for i in feature_idx:
        name, kind = attributes[i]
        values = _nominal_values(kind)
        if values is None or _is_binary01(values):
            columns.append(data[:, i])
            names.append(name)
            n_binary += values is not None
        elif len(values) == 2:
            columns.append((data[:, i] == 1).astype(float))
            names.append(f"{name}={values[1]}")
            n_binary += 1
        else:
            for j, value in enumerate(values):
                columns.append((data[:, i] == j).astype(float))
                names.append(f"{name}={value}")
            n_onehot += 1
    if n_binary or n_onehot:
        report.notes.append(
            f"nominal feature attributes: {n_binary} binary read as 0/1, {n_onehot} one-hot "
            "encoded (columns named attr=value)")
    X = np.stack(columns, axis=1) if columns else np.zeros((len(data), 0))
    return X.astype("float32"), names


def _converters(attributes, label_set, path):
    """Per attribute: None (a number) or a dict nominal value -> code."""
    out: "list[dict | None]" = []
    for name, kind in attributes:
        if kind == "numeric" or name in label_set:
            out.append(None)
            continue
        values = _nominal_values(kind)
        if values is None:
            raise ValueError(f"{path}: feature attribute {name!r} is neither numeric nor "
                             f"nominal ({kind}); MULAN features must be numbers or "
                             "{value, ...} sets.")
        out.append({v: float(v) for v in values} if _is_binary01(values)
                   else {v: float(j) for j, v in enumerate(values)})
    return out


def _read_arff(path, errors, report, encoding=None, label_set=frozenset()):
    """Attributes [(name, "numeric" | [values] | type)], a float64 matrix of the kept
    rows and their line numbers in the file. Nominal feature values are coded as
    their position in the attribute's value list (``{0,1}``: as the number)."""
    attributes = []
    rows = []
    data_rows = []
    in_data = False
    with open_text(path, encoding) as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("%"):
                continue
            if not in_data:
                lower = line.lower()
                if lower.startswith("@attribute"):
                    attributes.append(_attribute(_tokens(line), path, lineno, line))
                elif lower.startswith("@data"):
                    in_data = True
                    width = len(attributes)
                    if not width:
                        raise ValueError(f"{path}: no @attribute before @data")
                    converters = _converters(attributes, label_set, path)
                    if all(c is None for c in converters):
                        converters = None  # all numeric: the fast path
                continue
            values = _parse_row(line, width, converters)
            if values is None:  # only a comment
                continue
            report.n_read += 1
            if isinstance(values, str):
                errors(path, lineno, values)
                continue
            rows.append(values)
            data_rows.append(lineno)
    if not in_data:
        raise ValueError(f"{path}: no @data section; not an ARFF file?")
    matrix = np.vstack(rows) if rows else np.zeros((0, len(attributes)))
    return attributes, matrix, np.asarray(data_rows)


def _parse_row(line, width, converters=None):
    """A float64 row, None for a line that holds only a comment, or an error message
    (str). `converters`: per column None (a number) or a dict nominal value -> code."""
    if _SPECIAL.isdisjoint(line):  # no quote, brace or comment: plain values
        words = line.replace(",", " ").split()
        if converters is None and len(words) == width:
            try:
                return np.array(words, dtype=float)
            except ValueError:
                pass  # the loop below names the value
        parts = [("word", w) for w in words]
    else:
        parts = _tokens(line)
        if isinstance(parts, str):
            return parts
        if not parts:
            return None
    if len(parts) >= 3 and parts[-1][0] == "}" and parts[-3][0] == "{" and (
            parts[0][0] != "{" or parts.index(("}", "}")) < len(parts) - 1):
        return "instance weights ({weight} after a row) are not supported"
    if parts[0][0] == "{":
        return _sparse_row(parts, width, converters)
    if any(kind in ("{", "}") for kind, _ in parts):
        return "unexpected brace in a dense row (a value with braces must be quoted)"
    if len(parts) != width:
        return f"expected {width} values, found {len(parts)}"
    if converters is None and all(kind == "word" for kind, _ in parts):
        try:
            return np.array([text for _, text in parts], dtype=float)
        except ValueError:
            pass  # the loop below names the value
    row = np.zeros(width)
    for j, token in enumerate(parts):
        value = _value(token, None if converters is None else converters[j])
        if isinstance(value, str):
            return value
        row[j] = value
    return row


def _sparse_row(parts, width, converters):
    """A sparse row ``{index value, ...}`` (absent values are 0), or an error message."""
    if parts[-1][0] != "}":
        return "sparse row without closing '}'"
    body = parts[1:-1]
    if any(kind in ("{", "}") for kind, _ in body):
        return "unexpected brace inside a sparse row"
    if len(body) % 2:
        return f"malformed sparse entry {body[-1][1]!r} (expected `index value` pairs)"
    row = np.zeros(width)
    for (_, index_text), token in zip(body[::2], body[1::2]):
        try:
            index = int(index_text)
        except ValueError:
            return f"malformed sparse index {index_text!r}"
        if not 0 <= index < width:
            return f"sparse index {index} out of range (0..{width - 1})"
        value = _value(token, None if converters is None else converters[index])
        if isinstance(value, str):
            return value
        row[index] = value
    return row


def _value(token, convert):
    """A number, or a nominal value's code, or an error message (str).
    `token`: ``(kind, text)``; an unquoted ``?`` is a missing value."""
    kind, text = token
    if kind == "word" and text == "?":
        return "missing value '?'"
    if convert is None:
        try:
            return float(text)
        except ValueError:
            return f"non-numeric value {text!r}"
    if text not in convert:
        return f"nominal value {text!r} is not one of {sorted(convert)}"
    return convert[text]


__all__ = ["load_mulan"]
