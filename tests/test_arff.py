"""ARFF is read by the format's rules (quoted and escaped values, sparse rows,
comments, @relation names with spaces), checked against scipy's independent reader
(`scipy.io.arff`, dense files) on the MULAN files and on hand-written cases."""

import gzip
import io

import numpy as np
import pytest
from scipy.io import arff as scipy_arff

from VLAP.datasets import DataFormatError, load_mulan
from conftest import tensorflow_pass_only  # noqa: E402

tensorflow_pass_only("ARFF parsing is NumPy and pandas only")

LABELS = ("lab1", "lab2")
XML = ('<labels xmlns="http://mulan.sourceforge.net/labels">'
       + "".join(f'<label name="{n}"></label>' for n in LABELS) + "</labels>")


def _load(tmp_path, text, labels=LABELS, **kwargs):
    (tmp_path / "toy.arff").write_text(text, encoding="utf-8")
    (tmp_path / "toy.xml").write_text(XML if labels == LABELS else XML.replace(
        "lab1", labels[0]).replace("lab2", labels[1]))
    return load_mulan("toy", tmp_path, **kwargs)


def _scipy_matrix(text, label_names):
    """Features and labels as scipy.io.arff reads them: numeric attributes as they
    are, nominal ones as the position of their value (labels: the value itself)."""
    data, meta = scipy_arff.loadarff(io.StringIO(text))
    features, labels = [], []
    for name in meta.names():
        kind, values = meta[name]
        column = data[name]
        if kind == "nominal":
            decoded = [v.decode() for v in column]
            if name in label_names or sorted(values) == ["0", "1"]:
                column = np.array([float(v) for v in decoded])
            else:
                column = np.array([float(values.index(v)) for v in decoded])
        (labels if name in label_names else features).append(np.asarray(column, float))
    return np.stack(features, 1), np.stack(labels, 1), meta


@pytest.mark.parametrize("name", ["emotions", "yeast", "scene"])
def test_mulan_files_read_as_scipy_reads_them(shared_data, name):
    folder = shared_data / "mulan"
    data = load_mulan(name, folder)
    text = gzip.open(folder / f"{name}.arff.gz", "rt").read()
    X, Y, meta = _scipy_matrix(text, set(data.label_names))
    assert data.feature_names == [n for n in meta.names() if n not in data.label_names]
    np.testing.assert_array_equal(data.X, X.astype("float32"))
    np.testing.assert_array_equal(data.Y, Y)
    assert data.report.n_skipped == 0 and data.report.n_read == len(X)


EDGE = """% a comment line
@RELATION 'my data, version 2 % not a comment'
% attribute names and nominal values with spaces, commas and quotes
@attribute 'the size' numeric
@ATTRIBUTE colour {'dark red', "light, blue", green}
@attribute "shape" { round , 'with \\'gap' , square }
@attribute lab1 {0,1}
@attribute lab2 {0 , 1}

@data
1.5,'dark red',round,1,0
  -2 , "light, blue" , 'with \\'gap' , 0 , 1
3e2,green,square,1,1
% a comment between rows
0.25, 'light, blue', round, 0, 0
"""


SCIPY_EDGE = """@relation 'my data, version 2 % not a comment'
@attribute 'the size' numeric
@attribute colour {"dark red","light, blue",green}
@attribute shape {round,"with gap",square}
@attribute lab1 {0,1}
@attribute lab2 {0,1}
@data
1.5,"dark red",round,1,0
-2,"light, blue","with gap",0,1
3e2,green,square,1,1
0.25,"light, blue",round,0,0
"""


def test_quoted_values_with_commas_and_spaces_match_scipy(tmp_path):
    # scipy keeps the quotes of a single-quoted nominal value with a space in its value
    # list ("'dark red'") and the spaces around separators, and has no escapes: it reads
    # the same data written plainly, which must mean what EDGE means
    data = _load(tmp_path, EDGE)
    text = SCIPY_EDGE
    X, Y, _ = _scipy_matrix(text, set(LABELS))
    assert data.feature_names == ["the size", "colour=dark red", "colour=light, blue",
                                  "colour=green", "shape=round", "shape=with 'gap",
                                  "shape=square"]
    one_hot = np.column_stack([X[:, 0]] + [(X[:, 1] == j) for j in range(3)]
                              + [(X[:, 2] == j) for j in range(3)]).astype("float32")
    np.testing.assert_array_equal(data.X, one_hot)
    np.testing.assert_array_equal(data.Y, Y)
    assert data.X[:, 0].tolist() == [1.5, -2.0, 300.0, 0.25]


def test_the_issue_s_nominal_value_with_a_comma(tmp_path):
    """`{'a,b', c}` was refused with "expected 4 values, found 5"."""
    text = ("@relation r\n@attribute f numeric\n@attribute kind {'a,b', c}\n"
            "@attribute lab1 {0,1}\n@attribute lab2 {0,1}\n@data\n"
            "1,'a,b',1,0\n2,c,0,1\n")
    data = _load(tmp_path, text)
    assert data.feature_names == ["f", "kind=c"]  # two values: one 0/1 column
    assert data.X.tolist() == [[1, 0], [2, 1]] and data.Y.tolist() == [[1, 0], [0, 1]]


def test_escapes_inline_comments_and_percent_inside_quotes(tmp_path):
    text = ("@relation 'r'\n@attribute 'it\\'s' {'50%', 'say \\\"hi\\\"', 'back\\\\slash'}\n"
            "@attribute lab1 {0,1}\n@attribute lab2 {0,1}\n@data\n"
            "'50%',1,0 % the rest of the line is a comment, 9,9\n"
            "'say \"hi\"',0,1\n"
            '"back\\\\slash",1,1\n'
            "\"say \\\"hi\\\"\",0,0%no space before the comment\n")
    data = _load(tmp_path, text)
    assert data.feature_names == ["it's=50%", 'it\'s=say "hi"', "it's=back\\slash"]
    assert data.X.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
    assert data.Y.tolist() == [[1, 0], [0, 1], [1, 1], [0, 0]]
    assert data.report.n_read == 4 and data.report.n_skipped == 0


def test_sparse_rows_with_quoted_nominal_values(tmp_path):
    """Absent values of a sparse row are 0: for a nominal attribute, its first value."""
    text = ("@relation 'sparse data'\n@attribute f1 numeric\n"
            "@attribute kind {'x, y', 'z z', w}\n@attribute f3 numeric\n"
            "@attribute lab1 {0,1}\n@attribute lab2 {0,1}\n@data\n"
            "{0 1.5, 1 'z z', 3 1}\n"
            "{1 w,2 -4,4 1}   % inline comment\n"
            "{ }\n"
            "{0 2 , 1 'x, y'}\n")
    data = _load(tmp_path, text)
    assert data.feature_names == ["f1", "kind=x, y", "kind=z z", "kind=w", "f3"]
    assert data.X.tolist() == [[1.5, 0, 1, 0, 0], [0, 0, 0, 1, -4], [0, 1, 0, 0, 0],
                               [2, 1, 0, 0, 0]]
    assert data.Y.tolist() == [[1, 0], [0, 1], [0, 0], [0, 0]]


SPARSE_TWIN = EDGE.split("@data")[0] + """@data
{0 1.5, 1 'dark red', 2 round, 3 1}
{0 -2, 1 "light, blue", 2 'with \\'gap', 4 1}
{0 3e2, 1 green, 2 square, 3 1, 4 1}
{0 0.25, 1 'light, blue'}
"""


def test_a_dense_file_reads_as_its_sparse_twin(tmp_path):
    dense = _load(tmp_path, EDGE)
    (tmp_path / "twin").mkdir()
    sparse = _load(tmp_path / "twin", SPARSE_TWIN)
    np.testing.assert_array_equal(dense.X, sparse.X)
    np.testing.assert_array_equal(dense.Y, sparse.Y)
    assert dense.feature_names == sparse.feature_names
    assert "shape=with 'gap" in dense.feature_names
    assert dense.X[1].tolist() == [-2, 0, 1, 0, 0, 1, 0]


@pytest.mark.parametrize("row,reason", [
    ("1,'unclosed,1,0", "unclosed quote"),
    ("1,2,1,0,9", "expected 4 values, found 5"),
    ("1,?,1,0", "missing value '?'"),
    ("1,'?',1,0", "non-numeric value '?'"),  # a quoted ? is a value, not missing
    ("1,{2},1,0", "unexpected brace"),
    ("1,2,1,0,{3}", "instance weights"),
    ("{0 1, 2}", "malformed sparse entry"),
    ("{0 1, 9 1}", "sparse index 9 out of range (0..3)"),
    ("{0 1, 2 1", "without closing"),
    ("1,abc,1,0", "non-numeric value 'abc'"),
])
def test_malformed_rows_are_named_and_can_be_skipped(tmp_path, row, reason):
    head = ("@relation r\n@attribute f1 numeric\n@attribute f2 numeric\n"
            "@attribute lab1 {0,1}\n@attribute lab2 {0,1}\n@data\n1,2,0,1\n")
    with pytest.raises(DataFormatError, match=r"toy.arff, row 8: .*" + reason.replace(
            "(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        _load(tmp_path, head + row + "\n")
    data = _load(tmp_path, head + row + "\n", on_error="skip")
    assert data.X.tolist() == [[1, 2]] and [s["row"] for s in data.report.skipped] == [8]


def test_malformed_headers_name_the_line(tmp_path):
    with pytest.raises(ValueError, match=r"toy.arff, line 2: malformed @attribute"):
        _load(tmp_path, "@relation r\n@attribute\n@data\n")
    with pytest.raises(ValueError, match=r"toy.arff, line 2: malformed nominal values"):
        _load(tmp_path, "@relation r\n@attribute a {x, y\n@data\n")
