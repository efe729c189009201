import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from VLAP import datasets
from VLAP.datasets import DataFormatError
from VLAP.datasets import image_problem


# ------------------------------------------------------------------ data_dir


def test_data_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("VLAP_DATA_DIR", str(tmp_path))
    assert datasets.data_dir() == tmp_path
    monkeypatch.delenv("VLAP_DATA_DIR")
    root = Path(datasets.__file__).resolve().parents[2]  # project root
    assert datasets.data_dir() == root.parent / "shared" / "data"


def test_missing_dataset_names_path_and_download(monkeypatch, tmp_path):
    monkeypatch.setenv("VLAP_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"arxiv_abstracts_sample.csv.*Download"):
        datasets.load_arxiv_csv()
    with pytest.raises(FileNotFoundError, match="posters"):
        datasets.load_posters()
    with pytest.raises(FileNotFoundError, match="Reuters"):
        datasets.load_reuters()
    with pytest.raises(FileNotFoundError, match="MULAN"):
        datasets.load_mulan("emotions")


def test_on_error_validated(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("titles,summaries,terms\nt,s,\"['x']\"\n")
    with pytest.raises(ValueError, match="on_error"):
        datasets.load_arxiv_csv(path, on_error="ignore")


# --------------------------------------------------------------------- arXiv


def _arxiv_csv(tmp_path):
    path = tmp_path / "arxiv.csv"
    path.write_text(
        'titles,summaries,terms\n'
        'A,"first\nabstract","[\'cs.LG\', \'stat.ML\']"\n'
        'B,,"[\'cs.CV\']"\n'
        'C,third,not a list\n'
        'D,fourth,\n'
        'E,fifth,"[]"\n'
        'F,sixth,"[\'cs.CL\']"\n'
    )
    return path


def test_arxiv_csv_raise_names_file_and_row(tmp_path):
    path = _arxiv_csv(tmp_path)
    with pytest.raises(DataFormatError, match=r"arxiv.csv, row 2: empty text"):
        datasets.load_arxiv_csv(path)


def test_arxiv_csv_skip_reports(tmp_path):
    data = datasets.load_arxiv_csv(_arxiv_csv(tmp_path), on_error="skip")
    texts, labels = data
    assert texts == ["first\nabstract", "sixth"] and labels == [["cs.LG", "stat.ML"], ["cs.CL"]]
    assert data.titles == ["A", "F"] and data.ids == [0, 5]
    reasons = {s["row"]: s["reason"] for s in data.report.skipped}
    assert set(reasons) == {2, 3, 4, 5}
    assert "empty text" in reasons[2] and "Python-literal" in reasons[3]
    assert "NaN" in reasons[4] and "empty label list" in reasons[5]
    assert data.report.n_read == 6


def test_arxiv_csv_missing_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("title,abstract\nx,y\n")
    with pytest.raises(ValueError, match="missing column"):
        datasets.load_arxiv_csv(path)


def _snapshot(tmp_path, gz=False):
    rows = [
        {"id": "1", "title": "t1", "abstract": " a1 ", "categories": "cs.LG stat.ML", "update_date": "2019-01-02"},
        {"id": "2", "title": "t2", "abstract": "a2", "categories": "math.AP", "update_date": "2019-03-02"},
        {"id": "3", "title": "t3", "abstract": "a3", "categories": "cs.CV",
         "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}]},
        {"id": "4", "title": "t4", "abstract": "", "categories": "cs.AI", "update_date": "2020-01-01"},
        {"id": "5", "title": "t5", "abstract": "a5", "categories": "cs.AI", "update_date": "2021-01-01"},
    ]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, '{"id": "bad", "categories": "cs.LG"')  # truncated JSON, line 4
    text = "\n".join(lines) + "\n"
    path = tmp_path / ("snap.json.gz" if gz else "snap.json")
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_arxiv_snapshot_filters_and_skip_report(tmp_path, gz):
    path = _snapshot(tmp_path, gz)
    data = datasets.load_arxiv_snapshot(path, category_prefixes=["cs."], on_error="skip")
    assert data.ids == ["1", "3", "5"] and data.texts[0] == "a1"
    assert data.labels[0] == ["cs.LG", "stat.ML"]
    assert [s["row"] for s in data.report.skipped] == [4, 5]
    assert "malformed JSON" in data.report.skipped[0]["reason"]
    assert "empty text" in data.report.skipped[1]["reason"]
    data = datasets.load_arxiv_snapshot(path, years=[2019], on_error="skip")
    assert data.ids == ["1", "2"]
    data = datasets.load_arxiv_snapshot(path, years=[2007], year_from="first_version", on_error="skip")
    assert data.ids == ["3"]
    data = datasets.load_arxiv_snapshot(path, max_rows=2, on_error="skip")
    assert data.ids == ["1", "2"]


def test_arxiv_snapshot_raise_and_arguments(tmp_path):
    path = _snapshot(tmp_path)
    with pytest.raises(DataFormatError, match=r"snap.json, row 4: malformed JSON"):
        list(datasets.iter_arxiv_snapshot(path))
    with pytest.raises(TypeError, match="category_prefixes"):
        datasets.iter_arxiv_snapshot(path, category_prefixes="cs.")
    with pytest.raises(TypeError, match="years"):
        datasets.iter_arxiv_snapshot(path, years=2019)
    with pytest.raises(ValueError, match="max_rows"):
        datasets.iter_arxiv_snapshot(path, max_rows=0)
    with pytest.raises(FileNotFoundError, match="Kaggle"):
        datasets.iter_arxiv_snapshot(tmp_path / "nope.json")


# ------------------------------------------------------------------- posters


def _posters(tmp_path, corrupt=False, missing=False):
    root = tmp_path / "posters"
    (root / "images").mkdir(parents=True)
    rows = [("tt1", "['Comedy', 'Drama']", "0,1,1"), ("tt2", "['Action']", "1,0,0"),
            ("tt1", "['Comedy', 'Drama']", "0,1,1"), ("tt3", "['N/A']", "0,0,0"),
            ("tt4", "", "0,0,0")]
    lines = ["Id,Genre,Action,Comedy,Drama,Rating"] + [f'{i},"{g}",{c},' for i, g, c in rows]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    for i in ("tt1", "tt2", "tt3", "tt4"):
        Image.fromarray(np.full((8, 6, 3), 100, np.uint8)).save(root / "images" / f"{i}.jpg")
    if corrupt:
        (root / "images" / "tt2.jpg").write_bytes(b"garbage")
    if missing:
        (root / "images" / "tt3.jpg").unlink()
    return root


def test_posters_duplicates_and_errors(tmp_path):
    root = _posters(tmp_path)
    with pytest.raises(DataFormatError, match=r"train.csv, row 5: empty or NaN `Genre`"):
        datasets.load_posters(root)
    data = datasets.load_posters(root, on_error="skip")
    assert data.ids == ["tt1", "tt2", "tt3"]
    assert data.labels[2] == ["N/A"]  # not read as NaN
    assert data.report.notes[0].startswith("1 duplicated rows removed")
    assert "tt1" in data.report.notes[1] and [s["row"] for s in data.report.skipped] == [5]
    assert all(Path(p).is_file() for p in data.paths)


def test_posters_missing_and_corrupt_images(tmp_path):
    root = _posters(tmp_path, corrupt=True, missing=True)
    data = datasets.load_posters(root, on_error="skip", check_images="exists")
    assert data.ids == ["tt1", "tt2"]  # existence check only: corrupt tt2 passes
    assert any("image file missing" in s["reason"] for s in data.report.skipped)
    data = datasets.load_posters(root, on_error="skip")  # the default cheap check
    assert data.ids == ["tt1"]
    assert any("corrupt image" in s["reason"] for s in data.report.skipped)
    with pytest.raises(DataFormatError, match=r"train.csv, row 2: corrupt image .*tt2.jpg"):
        datasets.load_posters(root)


def test_posters_labels_from_columns(tmp_path):
    root = _posters(tmp_path)
    data = datasets.load_posters(root, labels_from="columns", on_error="skip")
    assert data.labels[:2] == [["Comedy", "Drama"], ["Action"]]
    assert {s["row"] for s in data.report.skipped} == {4, 5}  # no genre column is 1


# ------------------------------------------------------ hostile input, every loader


def _jpeg(path, size=(16, 16)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, quality=90)
    return path


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "png_truncated"])
def test_damaged_images_found_by_default_check(tmp_path, damage):
    path = tmp_path / "x.jpg"
    if damage == "png_truncated":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path, format="PNG")
    else:
        _jpeg(path, (64, 64))
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) * 2 // 3], "empty": b"",
                      "text": b"not an image at all\n", "png_truncated": raw[:-20]}[damage])
    for mode in (True, "verify", "decode"):
        problem = image_problem(path, mode)
        assert problem is not None and str(path) in problem, (mode, problem)
    assert image_problem(path, "exists") is None
    assert image_problem(_jpeg(tmp_path / "ok.jpg"), True) is None
    assert image_problem(_jpeg(tmp_path / "ok2.jpg"), "decode") is None


def test_check_images_argument_validated(tmp_path):
    with pytest.raises(ValueError, match="check_images"):
        datasets.load_posters(tmp_path, check_images="full")


def _gz_bytes(text):
    return gzip.compress(text.encode())


@pytest.mark.parametrize("codec", ["gzip", "bz2", "xz", "zip"])
def test_compression_detected_by_content_under_plain_name(tmp_path, codec):
    import bz2, io, lzma, zipfile

    text = ('{"id": 1, "split": "train", "labels": ["a"], "title": "t", "text": "x"}\n'
            '{"id": 2, "split": "test", "labels": ["b"], "title": "u", "text": "y"}\n')
    if codec == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("inner.jsonl", text)
        raw = buf.getvalue()
    else:
        raw = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[codec](text.encode())
    path = tmp_path / "plain_name.jsonl"  # no compression suffix
    path.write_bytes(raw)
    data = datasets.load_reuters(path)
    assert data.train.ids == [1] and data.test.ids == [2]
    assert data.report.unaccounted() == 0 and data.report.n_kept == 2


def test_truncated_gzip_names_the_file(tmp_path):
    text = "".join(json.dumps({"id": i, "split": "train", "labels": ["a"], "title": "t",
                               "text": "x" * 50}) + "\n" for i in range(200))
    raw = _gz_bytes(text)
    for name, call in [("r.jsonl.gz", datasets.load_reuters),
                       ("snap.json", lambda p: list(datasets.iter_arxiv_snapshot(p, on_error="skip"))),
                       ("a.csv", datasets.load_arxiv_csv)]:
        path = tmp_path / name
        path.write_bytes(raw[: len(raw) // 2])
        with pytest.raises(DataFormatError, match=rf"{name}: the compressed data is truncated"):
            call(path)


def test_other_encodings_named_or_read_by_bom(tmp_path):
    csv = 'titles,summaries,terms\nT\u00e9,r\u00e9sum\u00e9,"[\'cs.LG\']"\n'
    path = tmp_path / "a.csv"
    path.write_bytes(csv.encode("utf-16"))  # with a byte-order mark: read
    assert datasets.load_arxiv_csv(path).texts == ["r\u00e9sum\u00e9"]
    path.write_bytes(csv.encode("utf-16-le"))  # no mark: NUL bytes
    with pytest.raises(DataFormatError, match=r"a.csv: NUL bytes.*encoding="):
        datasets.load_arxiv_csv(path)
    assert datasets.load_arxiv_csv(path, encoding="utf-16-le").titles == ["T\u00e9"]
    path.write_bytes(csv.encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"a.csv: not valid utf-8 text.*encoding="):
        datasets.load_arxiv_csv(path)
    assert datasets.load_arxiv_csv(path, encoding="latin-1").texts == ["r\u00e9sum\u00e9"]
    with pytest.raises(DataFormatError, match=r"train.csv: not valid utf-8"):
        root = tmp_path / "posters"
        (root / "images").mkdir(parents=True)
        (root / "train.csv").write_bytes("Id,Genre\nt\u00e9,\"['a']\"\n".encode("latin-1"))
        datasets.load_posters(root)


def test_filtered_snapshot_still_reports_malformed_lines(tmp_path):
    path = _snapshot(tmp_path)
    with open(path, "a") as handle:
        handle.write('{"id": "6", "categories": "math.AP"\n')  # damaged, outside the filter
        handle.write("garbage\n\n")
    with pytest.raises(DataFormatError, match=r"snap.json, row 4: malformed JSON"):
        list(datasets.iter_arxiv_snapshot(path, category_prefixes=["math."]))
    data = datasets.load_arxiv_snapshot(path, category_prefixes=["math."], on_error="skip")
    assert data.ids == ["2"]
    assert [s["row"] for s in data.report.skipped] == [4, 7, 8]
    assert data.report.unaccounted() == 0


def test_coco_duplicate_image_ids_reported(tmp_path):
    images = tmp_path / "val2017"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        _jpeg(images / name)
    doc = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}],
           "categories": [{"id": 1, "name": "cat"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1}]}
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "instances_val2017.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=r"images\[1\]: duplicate image id 1"):
        datasets.load_coco(path)
    data = datasets.load_coco(path, on_error="skip")
    assert data.report.n_skipped == 1 and data.ids == [1]
    assert data.report.unaccounted() == 0


def test_every_loader_accounts_for_every_row(tmp_path):
    reports = [datasets.load_arxiv_csv(_arxiv_csv(tmp_path), on_error="skip").report,
               datasets.load_arxiv_snapshot(_snapshot(tmp_path), category_prefixes=["cs."],
                                            years=[2019, 2021], on_error="skip").report,
               datasets.load_posters(_posters(tmp_path, corrupt=True), on_error="skip").report]
    for report in reports:
        assert report.n_read > report.n_kept > 0
        assert report.n_kept + report.n_skipped + report.n_dropped == report.n_read, str(report)


# ------------------------------------------------------------------- Reuters


def test_reuters_split_and_errors(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    rows = [{"id": 1, "split": "train", "labels": ["grain"], "title": "T", "text": "body"},
            {"id": 2, "split": "test", "labels": ["corn", "grain"], "title": "", "text": "x"},
            {"id": 3, "split": "train", "labels": ["earn"], "title": "", "text": ""},
            {"id": 4, "split": "dev", "labels": ["earn"], "title": "a", "text": "b"},
            {"id": 5, "split": "test", "labels": [], "title": "a", "text": "b"},
            {"id": 6, "split": "test", "labels": [None], "title": "a", "text": "b"}]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataFormatError, match=r"r.jsonl.gz, row 4: `split`"):
        datasets.load_reuters(path)
    data = datasets.load_reuters(path, on_error="skip")
    train, test = data
    assert train.texts == ["T\n\nbody", ""] and test.labels == [["corn", "grain"]]
    assert [s["row"] for s in data.report.skipped] == [4, 5, 6]
    assert "1 documents with empty title and body kept" in data.report.notes[0]
    data = datasets.load_reuters(path, on_error="skip", empty_text="raise")
    assert data.train.ids == [1]


# --------------------------------------------------------------------- MULAN


_ARFF_DENSE = """% comment
@relation 'toy: -C -2'
@attribute f1 numeric
@attribute 'f 2' real
@attribute lab1 {0,1}
@attribute lab2 {0,1}
@data
0.5,1.5,1,0
-1,2,0,1
3,?,1,1
1,2,1
0,0,1,5
"""
_ARFF_SPARSE = """@relation toy
@attribute f1 numeric
@attribute f2 numeric
@attribute lab1 {0,1}
@attribute lab2 {0,1}
@data
{0 0.5,1 1.5,2 1}
{1 2,3 1}
{}
{7 1}
"""
_XML = """<?xml version="1.0" encoding="utf-8"?>
<labels xmlns="http://mulan.sourceforge.net/labels">
<label name="lab1"></label><label name="lab2"></label>
</labels>"""


def test_mulan_dense_with_errors(tmp_path):
    with gzip.open(tmp_path / "toy.arff.gz", "wt") as handle:
        handle.write(_ARFF_DENSE)
    (tmp_path / "toy.xml").write_text(_XML)
    with pytest.raises(DataFormatError, match=r"toy.arff.gz, row 10: missing value"):
        datasets.load_mulan("toy", tmp_path)
    data = datasets.load_mulan("toy", tmp_path, on_error="skip")
    X, Y = data
    assert X.dtype == np.float32 and X.tolist() == [[0.5, 1.5], [-1, 2]]
    assert Y.tolist() == [[1, 0], [0, 1]]
    assert data.feature_names == ["f1", "f 2"] and data.label_names == ["lab1", "lab2"]
    assert [s["row"] for s in data.report.skipped] == [10, 11, 12]
    assert "expected 4 values" in data.report.skipped[1]["reason"]


def test_mulan_sparse(tmp_path):
    (tmp_path / "sp.arff").write_text(_ARFF_SPARSE)
    (tmp_path / "sp.xml").write_text(_XML)
    data = datasets.load_mulan("sp", tmp_path, on_error="skip")
    assert data.X.tolist() == [[0.5, 1.5], [0, 2], [0, 0]]
    assert data.Y.tolist() == [[1, 0], [0, 1], [0, 0]]
    assert "out of range" in data.report.skipped[0]["reason"]


def test_mulan_label_not_in_arff(tmp_path):
    (tmp_path / "sp.arff").write_text(_ARFF_SPARSE)
    (tmp_path / "sp.xml").write_text(_XML.replace("lab2", "other"))
    with pytest.raises(ValueError, match="other"):
        datasets.load_mulan("sp", tmp_path, on_error="skip")


# ---------------------------------------------------------------- COCO / VOC


def test_coco(tmp_path):
    (tmp_path / "annotations").mkdir()
    images = tmp_path / "val2017"
    images.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(images / name)
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"},
                   {"id": 3, "file_name": "c.jpg"}, {"id": 4, "file_name": "missing.jpg"}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 18}, {"id": 2, "image_id": 1, "category_id": 1},
                        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 1},
                        {"id": 4, "image_id": 2, "category_id": 1},
                        {"id": 5, "image_id": 4, "category_id": 1},
                        {"id": 6, "image_id": 9, "category_id": 1}],
    }
    path = tmp_path / "annotations" / "instances_val2017.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=r"annotations\[5\]: unknown image_id 9"):
        datasets.load_coco(path)
    data = datasets.load_coco(path, on_error="skip")
    assert data.labels == [["dog", "person"], ["person"]] and data.ids == [1, 2]
    assert Path(data.paths[0]) == images / "a.jpg"
    assert "1 images without annotations dropped" in data.report.notes[0]
    # images are the records; a skipped annotation is a skipped part (issue 21: the
    # counts mixed the two, unaccounted() == -1)
    assert [s["row"] for s in data.report.skipped] == ["images[id=4]"]
    assert [s["row"] for s in data.report.skipped_parts] == ["annotations[5]"]
    assert data.report.unaccounted() == 0
    data = datasets.load_coco(path, on_error="skip", keep_unlabeled=True)
    assert data.labels[-1] == [] and data.ids == [1, 2, 3]


def _voc_xml(filename, objects):
    objs = "".join(f"<object><name>{n}</name><difficult>{int(d)}</difficult></object>" for n, d in objects)
    return f"<annotation><filename>{filename}</filename>{objs}</annotation>"


def test_voc(tmp_path):
    root = tmp_path / "VOC2012"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for stem in ("001", "002", "003"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "JPEGImages" / f"{stem}.jpg")
    (root / "Annotations" / "001.xml").write_text(_voc_xml("001.jpg", [("dog", 0), ("person", 0), ("dog", 0)]))
    (root / "Annotations" / "002.xml").write_text(_voc_xml("002.jpg", [("cat", 1)]))
    (root / "Annotations" / "003.xml").write_text("<annotation><filename>003.jpg")
    (root / "ImageSets" / "Main" / "train.txt").write_text("001\n002\n")
    with pytest.raises(DataFormatError, match=r"003.xml, row 003.xml: malformed XML"):
        datasets.load_voc(root)
    data = datasets.load_voc(root, on_error="skip")
    assert data.labels == [["dog", "person"], ["cat"]] and data.ids == ["001", "002"]
    data = datasets.load_voc(root / "Annotations", image_set="train", include_difficult=False, on_error="skip")
    assert data.ids == ["001"] and "no (non-difficult) objects" in data.report.skipped[0]["reason"]


# ---------------------------------------------- integration: ../shared/data


def _mean_labels(labels):
    return round(sum(len(row) for row in labels) / len(labels), 2)


@pytest.mark.data
def test_shared_arxiv_counts(shared_data):
    data = datasets.load_arxiv_csv(shared_data / "arxiv" / "arxiv_abstracts_sample.csv")
    assert len(data) == 1000 and data.report.n_skipped == 0
    assert len({lab for row in data.labels for lab in row}) == 113
    assert _mean_labels(data.labels) == 2.01


@pytest.mark.data
def test_shared_reuters_counts(shared_data):
    train, test = datasets.load_reuters(shared_data / "reuters21578" / "reuters21578_modapte90.jsonl.gz")
    assert (len(train), len(test)) == (7770, 3019)
    labels = train.labels + test.labels
    assert len({lab for row in labels for lab in row}) == 90 and _mean_labels(labels) == 1.24


@pytest.mark.data
def test_shared_posters_counts(shared_data):
    data = datasets.load_posters(shared_data / "posters")
    assert len(data) == 7242 and len(set(data.ids)) == 7242
    assert data.report.n_read == 7254 and data.report.notes[0].startswith("12 duplicated rows")
    assert len({lab for row in data.labels for lab in row}) == 25 and _mean_labels(data.labels) == 2.33
    by_columns = datasets.load_posters(shared_data / "posters", labels_from="columns", check_images=False)
    assert [sorted(r) for r in by_columns.labels] == [sorted(r) for r in data.labels]


@pytest.mark.data
@pytest.mark.parametrize("name,rows,labels,card", [("emotions", 593, 6, 1.87), ("yeast", 2417, 14, 4.24),
                                                   ("scene", 2407, 6, 1.07)])
def test_shared_mulan_counts(shared_data, name, rows, labels, card):
    data = datasets.load_mulan(name, shared_data / "mulan")
    assert data.X.shape[0] == rows and data.Y.shape == (rows, labels)
    assert round(float(data.Y.sum(1).mean()), 2) == card and np.isfinite(data.X).all()


@pytest.mark.data
def test_shared_default_paths(shared_data, monkeypatch):
    monkeypatch.setenv("VLAP_DATA_DIR", str(shared_data))
    assert len(datasets.load_arxiv_csv()) == 1000
    assert datasets.load_mulan("emotions").Y.shape == (593, 6)


@pytest.mark.data
def test_shared_posters_feed_create_dataset(shared_data):
    import VLAP

    data = datasets.load_posters(shared_data / "posters", check_images=False)
    X_tr, X_va, X_te, y_tr, y_va, y_te = VLAP.split(data.paths[:40], data.labels[:40], r=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Y_tr, _, _, names = VLAP.binarize(y_tr, y_va, y_te)
    ds = VLAP.create_dataset(X_tr, Y_tr, is_image=True, batch_size=8, image_size=64, seed=0,
                             scale="symmetric")
    x, y = next(iter(ds))
    assert x.shape == (8, 64, 64, 3) and y.shape == (8, len(names))
