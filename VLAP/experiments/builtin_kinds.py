"""The built-in dataset kinds: ``synthetic``, ``mulan``, ``reuters``, ``arxiv``,
``posters`` and ``csv``, each registered beside its loader.

Importing this module fills the registry of :mod:`VLAP.experiments.kinds`
(:func:`~VLAP.experiments.kinds.register_kind`, one call per kind: its keys,
featuriser, data path and checks). The registry's readers import it: the
schema (:mod:`VLAP.experiments.schema`) and :mod:`VLAP.experiments.prepare`.
It imports the registry and the loaders, never its readers, so there is no
import circle. A user's own kind registers the same way (README, "Add a
dataset kind").

The data and image libraries are imported by the loaders that need them, so
that ``vlap list`` and ``vlap --help`` import none of pandas, scikit-learn or
Keras.
"""

import time
from pathlib import Path, PurePath

import numpy as np

from VLAP._validation import check_option
from VLAP.datasets import load_arxiv_csv, load_mulan, load_posters, load_reuters, load_table
from VLAP.experiments.kinds import IMAGE_FEATURES, Loaded, register_kind
from VLAP.feature_cache import features_dir, summarize
from VLAP.features import ImageFeaturizer, text_featurizer


def _subsample(n, max_rows, seed=0):
    if max_rows is None or n <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def _matrix_to_lists(Y, names):
    return [[names[j] for j in np.flatnonzero(row)] for row in Y]


def _text_featurizer(d):
    return text_featurizer(d.get("features") or "tfidf",
                           max_features=int(d.get("max_features", 5000)),
                           sequence_length=int(d.get("sequence_length", 256)),
                           batch_size=int(d.get("embed_batch_size", 32)),
                           standardize=bool(d.get("standardize", True)),
                           runtime=d.get("runtime", "keras"))


#: Characters that often separate labels in a cell.
SEPARATORS = (",", ";", "|", "/", "\t")


def separator_warnings(labels, separator):
    """A warning, with the likely fix, when ``label_separator`` does not look like the
    file's: no row has two labels, but label names hold another separator.

    Example:
    >>> separator_warnings([["bug,auth"], ["feature"], ["bug"]], "|")  # doctest: +ELLIPSIS
    ["no row has two labels, but 1 of 3 label names contain ',' (e.g. 'bug,auth'): ...]
    >>> separator_warnings([["bug", "auth"], ["feature"]], "|")
    []
    """
    if any(len(row) > 1 for row in labels):
        return []
    names = sorted({name for row in labels for name in row})
    out = []
    for sep in SEPARATORS:
        if sep == separator:
            continue
        hits = [n for n in names if sep in n]
        if hits:
            out.append(f"no row has two labels, but {len(hits)} of {len(names)} label names "
                       f"contain {sep!r} (e.g. {hits[0]!r}): is the separator {sep!r}? Set "
                       f"label_separator = {sep!r} in the [dataset] table (now "
                       f"{separator!r}).")
    return out[:1]


def _image_features(paths, d, notes):
    from VLAP.models.image.features import extract_features

    size = int(d.get("image_size", 224))
    x, lookup = extract_features(paths, d["features"], image_size=size, cache=features_dir(),
                                 return_lookup=True)
    notes.append(f"frozen ImageNet {d['features']} features ({x.shape[1]} dims, pooled) of the "
                 f"images stretched to {size}x{size}, {summarize([lookup])}")
    return x


def _subsampled(d, *columns, max_rows=None):
    """``columns``, each cut to the same random ``max_rows`` rows (``d["max_rows"]``)."""
    from VLAP.data.split import take_rows

    idx = _subsample(len(columns[0]), d.get("max_rows") if max_rows is None else max_rows)
    return [take_rows(list(c) if not hasattr(c, "shape") else c, idx) for c in columns]


@register_kind("synthetic", keys=(
    "n_samples", "n_features", "n_classes", "n_labels", "length", "random_state"),
    description="scikit-learn make_multilabel_classification, standardised")
def _load_synthetic(d, path):
    from sklearn.datasets import make_multilabel_classification

    n = int(d.get("n_samples", 2000))
    if d.get("max_rows"):
        n = min(n, d["max_rows"])
    X, Y = make_multilabel_classification(
        n_samples=n, n_features=int(d.get("n_features", 40)),
        n_classes=int(d.get("n_classes", 12)), n_labels=int(d.get("n_labels", 3)),
        length=int(d.get("length", 60)), allow_unlabeled=False,
        random_state=int(d.get("random_state", 0)))
    names = [f"label_{j}" for j in range(Y.shape[1])]
    return Loaded(X.astype("float32"), _matrix_to_lists(Y, names), notes=[
        f"generated with scikit-learn make_multilabel_classification "
        f"(n_samples={n}, random_state={d.get('random_state', 0)})"])


def _validate_mulan(d, where, checks):
    checks.text(d, "mulan_name", "datasets.mulan_name", f"{where}.mulan_name")
    checks.require(isinstance(d.get("mulan_name"), str), "datasets.mulan_name",
                   f"{where}: a mulan dataset needs `mulan_name` (emotions, yeast or scene).")


@register_kind("mulan", keys=("mulan_name",), default_path="mulan",
               default_name=lambda d: d.get("mulan_name") or "mulan",
               validate=_validate_mulan, description="a MULAN ARFF benchmark, standardised")
def _load_mulan(d, path):
    data = load_mulan(d["mulan_name"], path=path)
    X, Y = _subsampled(d, data.X, data.Y)
    return Loaded(X, _matrix_to_lists(Y, list(data.label_names)), report=data.report,
                  notes=[str(data.report)])


@register_kind("reuters", default_path="reuters21578/reuters21578_modapte90.jsonl.gz",
               featurizer=_text_featurizer, description="Reuters-21578 ModApte, texts")
def _load_reuters(d, path):
    data = load_reuters(path)
    max_rows = d.get("max_rows")
    texts, labels = _subsampled(d, data.train.texts, data.train.labels)
    test = _subsampled(d, data.test.texts, data.test.labels,
                       max_rows=None if max_rows is None else max(20, max_rows // 3))
    return Loaded(texts, labels, report=data.report, notes=[str(data.report)],
                  test=tuple(test))


@register_kind("arxiv", default_path="arxiv/arxiv_abstracts_sample.csv",
               featurizer=_text_featurizer, description="arXiv abstracts, texts")
def _load_arxiv(d, path):
    data = load_arxiv_csv(path)
    texts, labels = _subsampled(d, data.texts, data.labels)
    return Loaded(texts, labels, report=data.report, notes=[str(data.report)])


def _poster_featurizer(d):
    if d.get("features") in IMAGE_FEATURES:  # extracted by the loader
        return None
    return ImageFeaturizer(int(d.get("image_size", 64)))


@register_kind("posters", default_path="posters", featurizer=_poster_featurizer,
               pixels=lambda d: d.get("features") not in IMAGE_FEATURES,
               description="movie posters, images (or their frozen ImageNet features)")
def _load_posters(d, path):
    data = load_posters(path)
    paths, labels = _subsampled(d, data.paths, data.labels)
    notes = [str(data.report)]
    if d.get("features") in IMAGE_FEATURES:  # frozen ImageNet features, not pixels
        paths = _image_features(paths, d, notes)
    return Loaded(paths, labels, report=data.report, notes=notes)


def _csv_name(d):
    # your own table is named after its file (models/<name>), not "csv"
    if isinstance(d.get("path"), str):
        return PurePath(d["path"].strip()).stem or "csv"
    return "csv"


def _csv_featurizer(d):
    if d.get("image_column"):
        return ImageFeaturizer(int(d.get("image_size", 64)))
    return _text_featurizer(d)


def _validate_csv(d, where, checks):
    """The keys of a ``kind = "csv"`` table (the file's contents are checked when read)."""
    checks.require(isinstance(d.get("path"), str) and d["path"], "datasets.path",
                   f"{where} (kind csv) needs `path`, the CSV/TSV/JSON-lines file (relative "
                   "to the current folder or absolute).")
    checks.require((d.get("text_column") is None) != (d.get("image_column") is None),
                   "datasets.text_column",
                   f"{where} (kind csv) needs exactly one of `text_column` and `image_column`. "
                   f"Received: text_column={d.get('text_column')!r}, "
                   f"image_column={d.get('image_column')!r}")
    checks.require((d.get("label_column") is None) != (d.get("label_columns") is None),
                   "datasets.label_column",
                   f"{where} (kind csv) needs exactly one of `label_column` (names joined by "
                   "`label_separator`, or a list literal) and `label_columns` (0/1 columns).")
    for key in ("text_column", "image_column", "label_column", "label_separator",
                "split_column", "id_column", "encoding"):
        checks.require(d.get(key) is None or (isinstance(d[key], str) and d[key]),
                       f"datasets.{key}", f"`{where}.{key}` must be a non-empty string. "
                       f"Received: {d.get(key)!r}")
    cols = d.get("label_columns")
    checks.require(cols is None or (isinstance(cols, list) and cols and all(
        isinstance(c, str) and c for c in cols)), "datasets.label_columns",
        f"`{where}.label_columns` must be a non-empty list of column names. Received: {cols!r}")
    na = d.get("na_values")
    checks.require(na is None or (isinstance(na, list) and all(isinstance(v, str) for v in na)),
                   "datasets.na_values", f"`{where}.na_values` must be a list of strings such "
                   f"as [\"NA\", \"N/A\"]. Received: {na!r}")
    if d.get("format") is not None:
        checks("datasets.format", check_option, f"{where}.format", d["format"],
               ("csv", "tsv", "jsonl"))
    checks("datasets.on_error", check_option, f"{where}.on_error", d.get("on_error", "raise"),
           ("raise", "skip"))
    checks.require(not (d.get("image_column") and "features" in d), "datasets.features",
                   f"{where}: `features` applies to texts; images are resized to `image_size`.")


@register_kind(
    "csv",
    keys=("text_column", "image_column", "label_column", "label_separator", "label_columns",
          "split_column", "format", "encoding", "on_error", "id_column", "na_values"),
    # your own tables often repeat a text: keep identical inputs in one split, so the
    # test split does not score texts seen in training
    defaults={"group_duplicates": True},
    path_base="cwd", default_name=_csv_name, validate=_validate_csv,
    featurizer=_csv_featurizer, pixels=lambda d: bool(d.get("image_column")), user_data=True,
    description="your own CSV/TSV/JSON-lines table (VLAP.datasets.load_table)")
def _load_csv(d, path):
    data = load_table(
        Path(path).expanduser(), text_column=d.get("text_column"),
        image_column=d.get("image_column"), label_column=d.get("label_column"),
        label_separator=d.get("label_separator", "|"), label_columns=d.get("label_columns"),
        split_column=d.get("split_column"), id_column=d.get("id_column"),
        format=d.get("format"), encoding=d.get("encoding"),
        on_error=d.get("on_error", "raise"), na_values=d.get("na_values"))
    inputs = list(data.texts) if d.get("text_column") else list(data.paths)
    found = []
    if d.get("label_column"):
        found = separator_warnings(data.labels, d.get("label_separator", "|"))
    idx = _subsample(len(inputs), d.get("max_rows"))
    from VLAP.data.split import take_rows

    return Loaded(take_rows(inputs, idx), take_rows(list(data.labels), idx),
                  report=data.report, warnings=found, notes=[str(data.report)],
                  given=None if data.split is None else take_rows(data.split, idx),
                  input_column=d.get("text_column") or d.get("image_column"))
