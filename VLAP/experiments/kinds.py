"""The dataset-kind registry: what a ``[dataset]`` table's ``kind`` can name.

Each kind is one :class:`DatasetKind` record, registered once with
:func:`register_kind`: its name, the config keys it adds to
:data:`COMMON_KEYS` and their defaults, its loader (a validated dataset table
and the resolved data path -> :class:`Loaded` inputs, labels and split), its
featuriser, where its data lives and the checks of its own keys. The schema
(:func:`VLAP.experiments.validate_config`), :func:`VLAP.experiments.prepare.data_path`,
:func:`~VLAP.experiments.prepare.check_data` and
:func:`~VLAP.experiments.prepare_dataset` read the registry and nothing else,
so adding a dataset kind touches one place: its loader and its registration.
The built-in kinds (``synthetic``, ``mulan``, ``reuters``, ``arxiv``,
``posters``, ``csv``) are registered beside their loaders in
:mod:`VLAP.experiments.builtin_kinds`, which the registry's readers (the
schema, ``prepare``) import; this module imports none of them.

Example:
>>> import numpy as np
>>> @register_kind("toy", keys={"n_rows"}, defaults={"n_rows": 30})
... def load_toy(d, path):
...     n = d["n_rows"]
...     x = np.arange(n, dtype="float32")[:, None]
...     return Loaded(x, [["even"] if i % 2 == 0 else ["odd"] for i in range(n)])
>>> "toy" in dataset_kinds(), "n_rows" in dataset_keys()
(True, True)
>>> check_kind("kind", "toys")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Invalid value for argument `kind`. Expected one of the registered dataset kinds [...]. Received: kind='toys' (did you mean 'toy'?)
>>> unregister_kind("toy").name
'toy'
"""

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from VLAP.features import Standardizer

#: Keys every dataset table accepts, whatever its kind: its name, kind and
#: path; the split, the label cut and the subsample; the featurisers' settings;
#: the paper's table to compare with.
COMMON_KEYS = frozenset({
    "name", "kind", "path", "split", "r", "min_count", "top_n", "max_rows",
    "group_duplicates", "val_fraction", "paper",
    # featurisers (VLAP.features): tabular, text and image
    "standardize", "features", "max_features", "sequence_length", "embed_batch_size",
    "runtime", "image_size",
})

#: Values of a dataset table's ``features`` that read frozen ImageNet features of its
#: images instead of pixels (:func:`VLAP.models.extract_features`).
IMAGE_FEATURES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")

#: Where a kind's relative ``path`` is read from.
PATH_BASES = ("data_dir", "cwd")


@dataclass
class Loaded:
    """What a kind's loader returns: the rows of one dataset, before the split.

    Args:
        inputs: list or array. One input per row (texts, image paths or a
            feature matrix).
        labels: list. One list of label names per row.
        report: object or None. The loader's report (``n_read``, ``n_kept``,
            ``n_skipped``, ``dropped``, ``notes``), shown as the data summary.
        warnings: list of str. Likely mistakes in the data, with their fix.
        notes: list of str. Lines for ``notes.txt``, before the split's.
        test: tuple or None. ``(inputs, labels)`` of an official test split
            (validation is then cut from ``inputs``).
        given: list or None. ``"train"``, ``"val"`` or ``"test"`` per row: a
            split given by the data.
        input_column: str or None. The table column of the inputs.
    """

    inputs: Any
    labels: list
    report: Any = None
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    test: Optional[tuple] = None
    given: Optional[list] = None
    input_column: Optional[str] = None


def standardized(d: dict):
    """The default featuriser: :class:`VLAP.features.Standardizer` unless the
    table says ``standardize = false`` (then None: the inputs are used as they are)."""
    if not d.get("standardize", True):
        return None
    return Standardizer()


def _kind_name(d: dict) -> str:
    return d["kind"]


@dataclass(frozen=True)
class DatasetKind:
    """One dataset kind: everything the experiments need to know about it.

    Args:
        name: str. The value of ``kind`` in a ``[dataset]`` table.
        load: callable. ``load(d, path) -> Loaded``: ``d`` is the validated
            dataset table, ``path`` the resolved file or folder (None when
            the kind has no ``default_path`` and the table no ``path``). It
            subsamples to ``d["max_rows"]`` itself when that is set.
        keys: iterable of str. The keys this kind adds to :data:`COMMON_KEYS`.
        defaults: mapping. Defaults of this kind's keys (or of common keys),
            written into the validated table when it does not set them.
        featurizer: callable. ``featurizer(d)`` -> an unfitted
            :mod:`VLAP.features` featuriser, or None to train on the loaded
            inputs as they are. Default: :func:`standardized`.
        default_path: str or None. The data's path when the table has no
            ``path``, relative to the base; None: generated data.
        path_base: str. ``"data_dir"``: relative paths are read from the
            data root (``--data-dir``, ``data_dir``, ``VLAP_DATA_DIR``);
            ``"cwd"``: the user's own file, from the current folder.
        default_name: callable. ``default_name(d)`` -> the dataset's name
            when the table gives none. Default: the kind's name.
        validate: callable or None. ``validate(d, where, checks)``: checks of
            this kind's own keys; ``checks.require(condition, key, message)``
            and ``checks(key, check, *args)`` report one config error.
        pixels: callable or None. ``pixels(d)`` -> True when the model reads
            the loaded inputs as pixels (``[model] kind = "image"``).
        user_data: bool. True for the user's own tables: the config then
            gets :data:`VLAP.experiments.schema.USER_DATA_DEFAULTS`.
        description: str. One line for listings.
    """

    name: str
    load: Callable[[dict, Optional[Path]], Loaded]
    keys: frozenset = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    featurizer: Callable[[dict], Any] = standardized
    default_path: Optional[str] = None
    path_base: str = "data_dir"
    default_name: Callable[[dict], str] = _kind_name
    validate: Optional[Callable] = None
    pixels: Optional[Callable[[dict], bool]] = None
    user_data: bool = False
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"`name` must be a non-empty string. Received: name={self.name!r}")
        if not callable(self.load):
            raise TypeError(f"`load` must be callable. Received: load={self.load!r}")
        if self.path_base not in PATH_BASES:
            raise ValueError(f"Invalid value for argument `path_base`. Expected one of "
                             f"{list(PATH_BASES)}. Received: path_base={self.path_base!r}")
        if isinstance(self.keys, str) or not all(isinstance(k, str) for k in self.keys):
            raise TypeError(f"`keys` must be an iterable of key names. Received: "
                            f"keys={self.keys!r}")
        keys = frozenset(self.keys)
        shared = sorted(keys & COMMON_KEYS)
        if shared:
            raise ValueError(f"kind {self.name!r}: keys {shared} are common to every kind "
                             "(COMMON_KEYS); list only the keys this kind adds.")
        unknown = sorted(set(self.defaults) - keys - COMMON_KEYS)
        if unknown:
            raise ValueError(f"kind {self.name!r}: defaults for keys it does not accept: "
                             f"{unknown}. Add them to `keys`.")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "defaults", dict(self.defaults))

    def reads_pixels(self, d: dict) -> bool:
        """Whether the model reads this table's inputs as pixels."""
        return bool(self.pixels(d)) if self.pixels is not None else False


_REGISTRY: "dict[str, DatasetKind]" = {}


def register_kind(kind=None, /, *, override: bool = False, **fields):
    """Register a dataset kind; use as a call or as a decorator of its loader.

    ``register_kind(DatasetKind(...))`` registers a record;
    ``@register_kind("name", keys=..., ...)`` above ``def load(d, path)``
    builds the record with that loader (the other arguments are
    :class:`DatasetKind`'s) and returns the loader unchanged.

    Args:
        kind: DatasetKind or str. The record, or the name of the kind to build.
        override: bool. Replace a kind of the same name instead of refusing.

    Returns:
        The registered :class:`DatasetKind` (call form) or the decorator.

    Raises:
        ValueError: a kind of that name is already registered.
    """
    if isinstance(kind, DatasetKind):
        if fields:
            raise TypeError(f"register_kind(DatasetKind) takes no other fields. "
                            f"Received: {sorted(fields)}")
        return _add(kind, override)
    if not isinstance(kind, str):
        raise TypeError("register_kind takes a DatasetKind or the kind's name. "
                        f"Received: {kind!r}")

    def decorator(load):
        _add(DatasetKind(kind, load, **fields), override)
        return load

    return decorator


def _add(kind, override):
    if kind.name in _REGISTRY and not override:
        raise ValueError(f"dataset kind {kind.name!r} is already registered; pass "
                         "override=True to replace it, or unregister_kind it first.")
    _REGISTRY[kind.name] = kind
    return kind


def unregister_kind(name: str) -> DatasetKind:
    """Remove a registered kind (e.g. a test's); returns its record."""
    check_kind("name", name)
    return _REGISTRY.pop(name)


def dataset_kinds() -> tuple:
    """The registered kinds' names, in registration order."""
    return tuple(_REGISTRY)


def dataset_keys() -> frozenset:
    """Every key a dataset table may hold: :data:`COMMON_KEYS` and each kind's own.

    A table may hold another kind's key (a ``[smoke]`` table's dataset keys are
    merged into every dataset); the kind then ignores it.
    """
    return COMMON_KEYS.union(*(k.keys for k in _REGISTRY.values()))


def check_kind(name: str, value) -> str:
    """Raise a ValueError naming ``name``, the registered kinds and the closest one,
    unless ``value`` is a registered kind; return it."""
    known = dataset_kinds()
    if isinstance(value, str) and value in known:
        return value
    close = difflib.get_close_matches(str(value), known, n=1)
    raise ValueError(f"Invalid value for argument `{name}`. Expected one of the registered "
                     f"dataset kinds {list(known)}. Received: {name}={value!r}"
                     + (f" (did you mean {close[0]!r}?)" if close else ""))


def get_kind(name: str) -> DatasetKind:
    """The registered :class:`DatasetKind` called ``name`` (ValueError otherwise)."""
    return _REGISTRY[check_kind("kind", name)]
