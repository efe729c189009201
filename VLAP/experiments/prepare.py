"""Dataset preparation for experiments: load, subsample, split, binarize, featurise.

:func:`prepare_dataset` turns one validated ``[dataset]`` table of a config into
a :class:`Prepared` (arrays per split, label names, notes for ``notes.txt``).
Features come from :mod:`VLAP.features`: standardised tabular features (MULAN,
synthetic), TF-IDF or frozen MiniLM embeddings (Reuters, arXiv, text tables) and
decoded, resized images (posters, image tables). The fitted featuriser is kept
in :attr:`Prepared.featurizer`, so the trained models are saved with it.
Image datasets may instead use frozen ImageNet EfficientNet-Lite features
(``features = "efficientnet_lite0"``, extracted once and cached by
:func:`VLAP.models.extract_features`).

The built-in dataset kinds are registered in
:mod:`VLAP.experiments.builtin_kinds`, each beside its loader;
:func:`prepare_dataset`, :func:`data_path` and :func:`check_data` read the
registry (:mod:`VLAP.experiments.kinds`). The data splitting and featurising
libraries are imported when a dataset is prepared, so that ``vlap list``
imports none of pandas, scikit-learn or Keras.
"""

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from VLAP.datasets import data_dir as default_data_dir
from VLAP.experiments import builtin_kinds  # noqa: F401  (registers the built-in kinds)
from VLAP.experiments.kinds import Loaded, get_kind
from VLAP.experiments.schema import ConfigError
from VLAP.feature_cache import summarize
from VLAP.features import TfidfFeaturizer, cache_lookups, describe, with_cache


class DataError(ValueError):
    """A dataset that cannot be prepared: the message names the dataset and its file."""


@dataclass
class Prepared:
    """A dataset ready for training: arrays per split, label names, notes.

    ``x_train``, ``x_val`` and ``x_test`` are NumPy arrays, or SciPy CSR
    matrices for TF-IDF features (dense float32 with
    :func:`VLAP._sparse.to_dense`, or ``.toarray()``; :func:`VLAP.create_dataset`,
    :func:`VLAP.predict` and :func:`VLAP.evaluate` take them as they are)."""

    name: str
    x_train: object
    y_train: np.ndarray
    x_val: object
    y_val: np.ndarray
    x_test: object
    y_test: np.ndarray
    label_names: list
    notes: list = field(default_factory=list)
    featurizer: object = None  # fitted VLAP.features featuriser of the raw inputs
    input_column: "str | None" = None  # the table column of the inputs (csv datasets)
    facts: list = field(default_factory=list)  # the data summary (details())
    warnings: list = field(default_factory=list)  # likely mistakes in the data

    @property
    def num_labels(self):
        return int(self.y_train.shape[1])

    def summary(self):
        return (f"{self.name}: {len(self.y_train)}/{len(self.y_val)}/{len(self.y_test)} "
                f"train/val/test rows, {self.num_labels} labels, "
                f"{self.y_train.sum(1).mean():.2f} labels per training example")

    def details(self):
        """The data summary shown on the console at the start of a run: rows read,
        kept and skipped, labels, empty label cells, labels absent from a split,
        duplicates, then warnings (``"warning: ..."``) with their likely fix."""
        return list(self.facts) + [f"warning: {w}" for w in self.warnings]


def _featurize(prep, featurizer):
    """Fit `featurizer` on the training split, transform every split, keep it.

    TF-IDF features stay SciPy CSR matrices (fitted and transformed in one pass,
    never densified here): the model's side makes each split dense where it
    takes it (:mod:`VLAP._sparse`), so no dense copy of every split is held.
    Its expensive steps (MiniLM embeddings) go through the feature cache
    (:mod:`VLAP.feature_cache`); the data summary says whether they were read
    from it, with its folder and size."""
    t0 = time.time()
    with_cache(featurizer)
    kw = {"sparse": True} if isinstance(featurizer, TfidfFeaturizer) else {}
    prep.x_train = featurizer.fit_transform(prep.x_train, **kw)
    prep.x_val = featurizer.transform(prep.x_val, **kw)
    prep.x_test = featurizer.transform(prep.x_test, **kw)
    prep.featurizer = featurizer
    prep.notes.append(f"{describe(featurizer)} ({time.time() - t0:.0f}s)")
    cached = summarize(cache_lookups(featurizer))
    if cached:
        prep.facts.append(f"features: {cached}")
        prep.notes.append(f"features {cached}")


def _split_and_binarize(name, X, labels, d, notes, test=None, given=None):
    """Split (or use an official test part, or a `given` split: one of train/val/test
    per row), then binarize fitted on train."""
    from VLAP.data import binarize, split
    from VLAP.data.split import take_rows

    if given is not None:
        parts = {p: [i for i, g in enumerate(given) if g == p] for p in ("train", "val", "test")}
        empty = [p for p, idx in parts.items() if not idx]
        if empty:
            # the runner adds the dataset's name and file (DataError)
            raise ConfigError(f"column {d['split_column']!r} gives no {empty} rows; train, "
                              "val and test each need at least one.")
        (x_tr, l_tr), (x_va, l_va), (x_te, l_te) = (
            (take_rows(X, idx), take_rows(labels, idx)) for idx in parts.values())
        notes.append(f"split given by column {d['split_column']!r}")
    elif test is None:
        x_tr, x_va, x_te, l_tr, l_va, l_te = split(
            X, labels, fractions=tuple(d["split"]), r=d["r"],
            group_duplicates=bool(d.get("group_duplicates", False)))
        notes.append(f"split {d['split']} with r={d['r']}"
                     + (" (duplicate inputs kept in one part)"
                        if d.get("group_duplicates") else ""))
    else:
        val_fraction = float(d.get("val_fraction", 0.2))
        x_tr, x_va, l_tr, l_va = split(X, labels, fractions=(1 - val_fraction, val_fraction),
                                       r=d["r"])
        x_te, l_te = test
        notes.append(f"official test split kept; validation = {val_fraction:.0%} of the "
                     f"official training split (r={d['r']})")
    _check_split_sizes(d, {"train": l_tr, "val": l_va, "test": l_te}, given is not None)
    facts = [_duplicates_fact(X, d, given is not None or test is not None)]
    min_count = d.get("min_count")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y_tr, y_va, y_te, names, report = binarize(
            l_tr, l_va, l_te, min_count=min_count, top_n=d.get("top_n"), return_report=True)
    notes += [f"binarize: {w.message}" for w in caught]
    cut = report["cut_by_min_count"]
    if len(names) < 2:  # evaluation needs two labels; say why, before any training
        raise DataError(
            f"{len(names)} label{'s' if len(names) != 1 else ''} ({names}) left in the "
            f"training split after the rare-label cut (min_count={min_count}"
            f"{', top_n=' + str(d['top_n']) if d.get('top_n') else ''}; cut: "
            f"{sorted(cut)[:10]}); multilabel classification needs at least 2. Add rows, "
            "lower `min_count`, or check `label_separator`.")
    notes.append(f"rare-label cut min_count={min_count}: kept {len(names)} labels, "
                 f"cut {len(cut)}" + (f" ({sorted(cut)[:10]}{' ...' if len(cut) > 10 else ''})"
                                      if cut else ""))
    emptied = {k: v for k, v in report["rows_emptied_by_cut"].items() if v}
    if emptied:
        notes.append(f"rows left without any label by the cut (kept, as all-zero rows): {emptied}")
    facts += _label_facts(report, (y_tr, y_va, y_te), names)
    prep = Prepared(name, x_tr, y_tr, x_va, y_va, x_te, y_te, names, notes)
    prep.facts = [f for f in facts if f]
    return prep


_PARTS = ("train", "val", "test")


def _check_split_sizes(d, parts, given):
    """A DataError saying which split is empty and how many rows are needed."""
    empty = [p for p, rows in parts.items() if len(rows) == 0]
    if not empty:
        return
    n = sum(len(rows) for rows in parts.values())
    if given:
        raise DataError(f"the {empty} split is empty; each of train, val and test needs at "
                        "least one row.")
    fractions = [f for f in d["split"] if f > 0]
    zero = [p for p, f in zip(_PARTS, d["split"]) if f == 0 and p in empty]
    if zero:
        raise DataError(f"split {d['split']} gives the {zero} split no rows; give each of "
                        "train, val and test a fraction > 0.")
    need = math.ceil(1 / min(fractions) - 1e-9)
    raise DataError(f"{n} rows are too few for split {d['split']}: the {empty} split is "
                    f"empty. At least {need} rows are needed (one per split at these "
                    "fractions); add rows or change `split`.")


def _duplicates_fact(X, d, fixed_split):
    """How many inputs occur more than once, and whether the split grouped them."""
    if not isinstance(X, list) or not X or not isinstance(X[0], str):
        return ""
    from collections import Counter

    counts = Counter(X)
    dup = [c for c in counts.values() if c > 1]
    if not dup:
        return "duplicates: none (every input occurs once)"
    what = f"duplicates: {sum(dup)} rows share {len(dup)} inputs"
    if fixed_split:
        return f"{what} (the split is given, so they may be in more than one split)"
    if d.get("group_duplicates"):
        return f"{what}; grouped, so that each input is in one split only"
    return (f"{what}; NOT grouped (group_duplicates = false): identical inputs can be in "
            "train and test")


def _label_facts(report, ys, names):
    """Label counts, empty label rows and labels absent from a split, per split."""
    y_tr, y_va, y_te = ys
    facts = [f"labels: {len(names)}, {y_tr.sum(1).mean():.2f} per training example"
             if len(y_tr) else f"labels: {len(names)}"]
    empty = {p: report["rows_without_labels"].get(f"y_{p}", 0) for p in _PARTS}
    if any(empty.values()):
        facts.append(f"empty label cells (kept as all-zero label rows): "
                     + ", ".join(f"{p} {n}" for p, n in empty.items()))
    for key, unseen in report["unseen_in_train"].items():
        shown = sorted(unseen)[:10]
        facts.append(f"labels absent from train, so not learned or scored: {len(unseen)} in "
                     f"{key[2:]} ({shown}{' ...' if len(unseen) > 10 else ''})")
    for part, y in (("val", y_va), ("test", y_te)):
        if len(y):
            absent = [n for n, c in zip(names, y.sum(0)) if c == 0]
            if absent:
                facts.append(f"labels absent from {part}: {len(absent)} of {len(names)} "
                             f"({absent[:10]}{' ...' if len(absent) > 10 else ''})")
    return facts


def _with_loader_facts(prep, report, found, max_rows):
    """Put the loader's counts first in ``prep.facts``; add the warnings to
    ``prep.warnings`` and the notes."""
    if report is not None:
        line = (f"rows: read {report.n_read}, kept {report.n_kept}, skipped "
                f"{report.n_skipped}" + "".join(f", dropped {n} ({why})"
                                                for why, n in report.dropped.items()))
        prep.facts.insert(0, line + (f"; subsampled to {max_rows}" if max_rows and
                                     report.n_kept > max_rows else ""))
        prep.facts[1:1] = [f"note: {n}" for n in report.notes
                           if "without any label" not in n]  # counted below, per split
    prep.warnings += found
    prep.notes += [f"warning: {w}" for w in found]
    return prep



def data_path(d, data_dir=None):
    """``(root, path)``: the data root and the file or folder a dataset table reads.

    ``path`` is the table's ``path``, else its kind's
    :attr:`~VLAP.experiments.kinds.DatasetKind.default_path`; None for
    generated data. A relative path is read from the root, or from the current
    folder for a kind whose ``path_base`` is ``"cwd"`` (``kind = "csv"``, the
    user's own file). The root is ``data_dir``, else
    :func:`VLAP.datasets.data_dir`.
    """
    kind = get_kind(d["kind"])
    if data_dir:
        root = Path(data_dir).expanduser()
    else:
        root = default_data_dir()
    path = d.get("path") or kind.default_path
    if path is None:
        return root, None
    path = Path(path).expanduser()
    if kind.path_base == "cwd":
        return root, path.absolute()
    return root, path if path.is_absolute() else root / path


def check_data(d, data_dir=None):
    """Raise FileNotFoundError, saying how to point VLAP at the data, if ``d``'s data is absent.

    A cheap check made for every dataset before any is read, so a run does not
    train on the first dataset and then stop on a missing second one.
    """
    root, path = data_path(d, data_dir)
    if path is None or path.exists():
        return
    if get_kind(d["kind"]).path_base == "cwd":
        raise FileNotFoundError(
            f"dataset {d['name']!r} ({d['kind']}): {path} not found (a relative `path` is "
            "read from the folder vlap runs in).")
    raise FileNotFoundError(
        f"dataset {d['name']!r} ({d['kind']}): {path} not found (data root: {root}). "
        "Point VLAP at the data with --data-dir DIR, `data_dir` in the config, or the "
        "VLAP_DATA_DIR environment variable (data/README.md says where to get each dataset).")


def prepare_dataset(d, data_dir=None):
    """Load, cut, split and featurize one dataset table of a config.

    The table's kind (:mod:`VLAP.experiments.kinds`) loads the rows and
    chooses the featuriser; the split, the label cut, the data summary and the
    featurisation are the same for every kind.

    Args:
        d: dict. A validated dataset table (``kind``, ``split``, ``r``,
            ``min_count``, ...).
        data_dir: str, Path or None. Root of the shared data; None uses
            :func:`VLAP.datasets.data_dir`.

    Returns:
        :class:`Prepared`.
    """
    kind = get_kind(d["kind"])
    _, path = data_path(d, data_dir)
    max_rows = d.get("max_rows")
    loaded = kind.load(d, path)
    if not isinstance(loaded, Loaded):
        raise TypeError(f"the loader of dataset kind {kind.name!r} must return a "
                        f"VLAP.experiments.kinds.Loaded. Received: {type(loaded).__name__}")
    notes = list(loaded.notes)
    prep = _split_and_binarize(d["name"], loaded.inputs, loaded.labels, d, notes,
                               test=loaded.test, given=loaded.given)
    prep.input_column = loaded.input_column
    if max_rows:
        notes.append(f"subsampled to at most {max_rows} rows (smoke/capped run)")
    _with_loader_facts(prep, loaded.report, list(loaded.warnings), max_rows)
    featurizer = kind.featurizer(d)
    if featurizer is not None:
        _featurize(prep, featurizer)
    return prep
