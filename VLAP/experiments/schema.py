"""The experiment config schema: its keys, defaults and one validation pass.

:func:`validate_config` checks every key's type and range with the checks of
:mod:`VLAP._validation` before any data is read, and reports a failure as one
:class:`ConfigError` line that names where the bad value came from: the config
file, or the override (``--set``) that set it.

Example:
>>> cfg = {**DEFAULTS, "datasets": [{"kind": "synthetic"}], "threshold": 1.0}
>>> validate_config(cfg, "my.toml")
Traceback (most recent call last):
...
VLAP.experiments.schema.ConfigError: my.toml: `threshold` must be a probability strictly between 0 and 1. Received: threshold=1.0
"""

import copy
import difflib
import numbers

from VLAP._extras import MissingExtraError, require
from VLAP._validation import (
    check_bool,
    check_dropout,
    check_integer,
    check_number,
    check_option,
    check_positive_int,
    check_threshold,
)
from VLAP.experiments import builtin_kinds  # noqa: F401  (registers the built-in kinds)
from VLAP.experiments import kinds
from VLAP.experiments.kinds import IMAGE_FEATURES
from VLAP.evaluation.metric_table import monitor_higher_is_better
from VLAP.experiments.paper import PAPER_RESULTS
from VLAP.features import MiniLMFeaturizer
from VLAP.ops.registry import canonical_name, paper_losses

#: Values of a model table's ``kind`` and a dataset table's ``features``. A
#: dataset table's ``kind`` is one of the registered kinds
#: (:func:`VLAP.experiments.kinds.dataset_kinds`).
MODEL_KINDS = ("mlp", "image")
#: Values of a model table's ``head``: one logit per label, or a decision head and a
#: score head (``"dual"``, MLP only; train it with ``loss = "dual_head"``).
MODEL_HEADS = ("single", "dual")
#: ``IMAGE_FEATURES`` (frozen ImageNet features for image datasets) is the registry's:
#: :data:`VLAP.experiments.kinds.IMAGE_FEATURES`.
FEATURES = ("tfidf", "minilm") + IMAGE_FEATURES

#: The keys each table accepts: top level, ``[model]``, ``[grid]``; a
#: ``[dataset]`` table's keys come from the kind registry (:func:`dataset_keys`).
TOP_KEYS = {
    "name", "description", "paper_table", "seeds", "losses", "tuned_bce", "epochs",
    "patience", "monitor", "batch_size", "learning_rate", "threshold", "data_dir",
    "loss_kwargs",
    "model", "dataset", "datasets", "grid", "smoke", "plots", "compare_paper",
    "save_models",
}
MODEL_KEYS = {"kind", "hidden", "dropout", "backbone", "image_size", "head_units", "width",
              "head"}
GRID_KEYS = {"enabled", "beta", "eta", "seed"}
#: ``[smoke]`` holds these and every dataset key but ``name`` (:func:`smoke_keys`).
SMOKE_RUN_KEYS = {"epochs", "seeds", "patience", "batch_size", "model", "grid"}


def dataset_keys():
    """The keys a ``[dataset]`` table accepts: every registered kind's and the common ones."""
    return set(kinds.dataset_keys())


def smoke_keys():
    """The keys a ``[smoke]`` table accepts."""
    return SMOKE_RUN_KEYS | (dataset_keys() - {"name"})


def __getattr__(name):
    # DATASET_KINDS, DATASET_KEYS and SMOKE_KEYS, read from the kind registry when
    # asked for, so a kind registered later is included
    live = {"DATASET_KINDS": kinds.dataset_kinds, "DATASET_KEYS": dataset_keys,
            "SMOKE_KEYS": smoke_keys}
    if name in live:
        return live[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Keys a run writes beside the config (older ``config.toml`` files hold them);
#: read back as provenance and not used.
PROVENANCE_KEYS = ("smoke_mode", "source")

#: Built-in defaults, the lowest level of the precedence.
DEFAULTS = {
    "name": "experiment",
    "description": "",
    "paper_table": "",
    "seeds": [0, 1, 2],
    "losses": None,  # None: the paper's five, VLAP.losses.PAPER_LOSSES
    "tuned_bce": True,
    "epochs": 30,
    "patience": 5,
    # one best epoch per decision rule (issue 27): the paper's early-stopping log first
    # (the model a run holds), then the out-of-fold tuned figure for the tuned rows
    "monitor": ["val_f1_macro", "val_f1_macro_tuned"],
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
    "save_models": True,
}

#: Defaults for configs on your own data (a ``kind = "csv"`` dataset), on top of
#: DEFAULTS: one best epoch per decision rule a model could ship (issue 27): the
#: validation macro-F1 with per-label cuts tuned on validation, out of fold
#: (``val_f1_macro_tuned``, VLAP.training.monitors), and at 0.5
#: (``val_f1_macro``). The tuned figure depends on neither a loss's scale nor
#: the 0.5 cut (``val_loss`` kept BCE and focal far before their best epoch,
#: macro-F1 at 0.5 stopped losses whose probabilities had not yet crossed 0.5:
#: BENCHMARKS.md, "Early stopping on your own data"), but the epoch best with
#: tuned cuts can be far from the best at 0.5, so each rule's rows are reported
#: at its own best epoch and the shipped (epoch, rule) pair is chosen on
#: validation; training stops when neither improved for ``patience`` epochs.
#: And a budget that lets every loss converge on small tables.
USER_DATA_DEFAULTS = {
    "epochs": 300,
    "patience": 15,
    "monitor": ["val_f1_macro_tuned", "val_f1_macro"],
}

#: Defaults of every dataset table.
DATASET_DEFAULTS = {
    "split": [0.6, 0.2, 0.2],
    "r": 44,
    "min_count": 1,
    "standardize": True,
}


class ConfigError(ValueError):
    """A config that cannot be run: the message names the key and the value."""


def defaults_for(raw):
    """DEFAULTS, with USER_DATA_DEFAULTS on top when a dataset is the user's own table."""
    tables = raw.get("datasets") or ([raw["dataset"]] if "dataset" in raw else [])
    known = kinds.dataset_kinds()
    if isinstance(tables, list) and any(
            isinstance(d, dict) and isinstance(d.get("kind"), str) and d["kind"] in known
            and kinds.get_kind(d["kind"]).user_data for d in tables):
        return {**DEFAULTS, **USER_DATA_DEFAULTS}
    return DEFAULTS


def did_you_mean(name, known):
    """``" (did you mean 'x'?)"`` for the known name closest to ``name``, else ``""``.

    Example:
    >>> did_you_mean("epoch", TOP_KEYS)
    " (did you mean 'epochs'?)"
    """
    close = difflib.get_close_matches(str(name), sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check_monitor_direction(monitor):
    """Raise unless the metric table knows whether ``monitor`` is maximised or minimised."""
    monitor_higher_is_better(monitor)


class _Checks:
    """Runs :mod:`VLAP._validation` checks; a failure becomes one ConfigError line.

    The line starts with where the value came from: the override that set the
    key (``override threshold=1``) when one did, else the config file.
    """

    def __init__(self, origin, overrides=None):
        self.origin = origin
        self.overrides = {}
        for key, value in (overrides or {}).items():
            parts = key.split(".")
            if parts[0] == "dataset":
                parts[0] = "datasets"
            self.overrides[".".join(parts)] = f"override {key}={value!r}"

    def where(self, key):
        """The override that set ``key`` (a dotted path, or a list of paths), else the file."""
        for k in [key] if isinstance(key, str) else key:
            for okey, label in self.overrides.items():
                if okey == k or okey.startswith(k + ".") or k.startswith(okey + "."):
                    return label
        return self.origin

    def fail(self, key, message):
        raise ConfigError(f"{self.where(key)}: {message}")

    def require(self, condition, key, message):
        if not condition:
            self.fail(key, message)

    def __call__(self, key, check, *args, **kwargs):
        """``check(*args, **kwargs)``; its ValueError/TypeError names ``key``'s origin."""
        try:
            return check(*args, **kwargs)
        except (ValueError, TypeError) as err:
            self.fail(key, str(err))

    def keys(self, table, known, key, label):
        unknown = sorted(set(table) - set(known))
        if unknown:
            self.fail(f"{key}.{unknown[0]}", f"unknown key(s) in {label}: {unknown}"
                      f"{did_you_mean(unknown[0], known)}. Known: {sorted(known)}")

    def text(self, table, name, key, label):
        if name in table:
            self.require(isinstance(table[name], str), key,
                         f"`{label}` must be a string. Received: {label}={table[name]!r}")


def _check_seed(name, value):
    return check_integer(name, value, low=0, high=2**32)  # what NumPy's seeding accepts


def _validate_losses(cfg, checks):
    # names from the loss registry (framework-free); options checked by the Keras
    # class itself (VLAP.losses.get), only when a config gives some
    losses = cfg["losses"]
    if losses is None:
        losses = list(paper_losses())
    if isinstance(losses, str):
        losses = [losses]
    checks.require(isinstance(losses, list) and losses, "losses",
                   f"`losses` must be a non-empty list of loss names. Received: losses={losses!r}")
    canon = []
    for name in losses:
        c = checks("losses", canonical_name, name)
        if c not in canon:
            canon.append(c)
    cfg["losses"] = canon
    options = cfg.get("loss_kwargs") or {}
    checks.require(isinstance(options, dict), "loss_kwargs",
                   f"`loss_kwargs` must be a table of tables. Received: {options!r}")
    kwargs: dict = {}
    written: dict = {}
    for name, opts in options.items():
        key = f"loss_kwargs.{name}"
        c = checks(key, canonical_name, name)
        checks.require(isinstance(opts, dict), key,
                       f"`loss_kwargs.{name}` must be a table. Received: {opts!r}")
        kwargs.setdefault(c, {}).update(opts)  # sigmoidF1 and sigmoid_f1: one loss
        written.setdefault(c, []).append(key)
    if kwargs:
        from VLAP.losses import get

        for c, opts in kwargs.items():
            checks(written[c], get, c, **opts)  # the loss's own option checks
    cfg["loss_kwargs"] = kwargs


def _validate_model(model, checks):
    checks.require(isinstance(model, dict), "model",
                   f"`model` must be a table. Received: {model!r}")
    checks.keys(model, MODEL_KEYS, "model", "[model]")
    checks("model.kind", check_option, "model.kind", model.get("kind"), MODEL_KINDS)
    if "head" in model:
        checks("model.head", check_option, "model.head", model["head"], MODEL_HEADS)
        checks.require(model["head"] != "dual" or model.get("kind", "mlp") == "mlp",
                       "model.head", "`model.head = \"dual\"` needs `model.kind = \"mlp\"`. "
                       f"Received: kind={model.get('kind')!r}")
    hidden = model.get("hidden", [])
    checks.require(isinstance(hidden, list), "model.hidden",
                   f"`model.hidden` must be a list of layer widths. Received: {hidden!r}")
    for units in hidden:
        checks("model.hidden", check_positive_int, "model.hidden", units)
    if "dropout" in model:
        checks("model.dropout", check_dropout, model["dropout"], "model.dropout")
    for key in ("head_units", "image_size"):
        if key in model:
            checks(f"model.{key}", check_positive_int, f"model.{key}", model[key])
    if "width" in model:
        checks("model.width", check_number, "model.width", model["width"], low=0,
               low_inclusive=False)
    if "backbone" in model:
        from VLAP.models.presets import IMAGE_BACKBONES

        checks("model.backbone", check_option, "model.backbone", model["backbone"],
               sorted(IMAGE_BACKBONES))


_POSITIVE_INT_KEYS = ("max_features", "sequence_length", "image_size", "n_samples",
                      "n_features", "n_classes", "n_labels", "length", "embed_batch_size",
                      "min_count", "top_n")


def _validate_dataset(d, i, n, checks):
    where = "dataset" if n == 1 else f"datasets[{i}]"
    checks.require(isinstance(d, dict), "datasets", f"{where} must be a table. Received: {d!r}")
    checks.keys(d, dataset_keys(), "datasets", where)
    checks("datasets.kind", kinds.check_kind, f"{where}.kind", d.get("kind"))
    kind = kinds.get_kind(d["kind"])
    d = {**copy.deepcopy(DATASET_DEFAULTS), **d}
    d.setdefault("name", kind.default_name(d))
    for key in ("name", "path"):
        checks.text(d, key, f"datasets.{key}", f"{where}.{key}")
    for key, value in kind.defaults.items():
        d.setdefault(key, copy.deepcopy(value))
    if kind.validate is not None:  # the kind's own keys
        kind.validate(d, where, checks)
    fractions = d["split"]
    name = f"{where}.split"
    checks.require(isinstance(fractions, list) and len(fractions) == 3, "datasets.split",
                   f"`{name}` must be 3 fractions [train, val, test]. Received: {fractions!r}")
    for f in fractions:
        checks("datasets.split", check_number, name, f, low=0, high=1)
    checks.require(fractions[0] > 0 and abs(sum(fractions) - 1) < 1e-6, "datasets.split",
                   f"`{name}` must sum to 1 with a train fraction > 0. Received: {fractions!r}")
    checks("datasets.r", _check_seed, f"{where}.r", d["r"])
    if "random_state" in d:
        checks("datasets.random_state", _check_seed, f"{where}.random_state", d["random_state"])
    for key in _POSITIVE_INT_KEYS:
        if key in d:
            checks(f"datasets.{key}", check_positive_int, f"{where}.{key}", d[key])
    if d.get("max_rows") is not None:
        checks("datasets.max_rows", check_integer, f"{where}.max_rows", d["max_rows"], low=20)
    if "val_fraction" in d:
        checks("datasets.val_fraction", check_number, f"{where}.val_fraction",
               d["val_fraction"], low=0, low_inclusive=False, high=1, high_inclusive=False)
    for key in ("standardize", "group_duplicates"):
        if key in d:
            checks(f"datasets.{key}", check_bool, f"{where}.{key}", d[key])
    if "features" in d:
        checks("datasets.features", check_option, f"{where}.features", d["features"], FEATURES)
    if "runtime" in d:
        _validate_runtime(d, where, checks)
    if d.get("paper") is not None:
        checks("datasets.paper", check_option, f"{where}.paper", d["paper"], sorted(PAPER_RESULTS))
    return d


#: Values of a dataset table's ``runtime``: where the MiniLM features are computed
#: (:class:`VLAP.features.MiniLMFeaturizer`): the Keras backbone, or ONNX Runtime
#: (the ``onnx`` extra).
RUNTIMES = MiniLMFeaturizer.RUNTIMES


def _validate_runtime(d, where, checks):
    """``runtime``: one of :data:`RUNTIMES`, with ``features = "minilm"``; ``"onnx"``
    needs the ``onnx`` extra, checked here (found, not imported), before any data is read."""
    runtime = d["runtime"]
    checks.require(isinstance(runtime, str) and runtime in RUNTIMES, "datasets.runtime",
                   f"`{where}.runtime` must be one of {list(RUNTIMES)} (the MiniLM features' "
                   f"runtime). Received: runtime={runtime!r}")
    if runtime == "keras":
        return
    checks.require(d.get("features") == "minilm", "datasets.runtime",
                   f"`{where}.runtime = {runtime!r}` is MiniLM's runtime: it needs "
                   f"`features = \"minilm\"`. Received: features={d.get('features')!r}")
    try:
        require("onnxruntime", "onnx", "tokenizers",
                what=f"`{where}.runtime = {runtime!r}`", extra="onnx")
    except MissingExtraError as err:
        checks.fail("datasets.runtime", str(err))


def validate_config(cfg, origin="<config>", overrides=None):
    """Check every key's type and range; canonicalise loss names. Returns the config.

    Everything a run needs is checked here, before any data is read: an error
    later is a data error, not a config error.

    Args:
        cfg: dict. A merged config (:func:`load_config` merges and calls this).
        origin: str. Where the config came from (a file), named in errors.
        overrides: dict or None. The overrides merged into ``cfg``; an error in
            a key they set names the override instead of ``origin``.

    Raises:
        ConfigError: one line, ``<file or override>: <what is wrong>``.
    """
    checks = _Checks(origin, overrides)
    seeds = cfg["seeds"]
    if _is_int(seeds):
        seeds = cfg["seeds"] = [int(seeds)]
    checks.require(isinstance(seeds, list) and seeds, "seeds",
                   f"`seeds` must be a non-empty list of ints. Received: seeds={seeds!r}")
    cfg["seeds"] = [checks("seeds", _check_seed, "seeds", s) for s in seeds]
    for key in ("name", "description", "paper_table", "data_dir"):
        checks.text(cfg, key, key, key)
    checks.require(bool(cfg["name"]), "name", "`name` must not be empty.")
    for key in ("tuned_bce", "plots", "compare_paper", "save_models"):
        checks(key, check_bool, key, cfg[key])
    for key in ("epochs", "batch_size"):
        checks(key, check_positive_int, key, cfg[key])
    # patience: epochs without improvement before early stopping, an int >= 1;
    # `false` turns early stopping off. 0 is refused: it read as "no early stopping"
    # while looking like "stop at once".
    patience = cfg["patience"]
    if patience is not None and patience is not False:
        checks.require(not (_is_int(patience) and patience == 0), "patience",
                       "`patience` must be an int >= 1 (epochs without improvement before "
                       "early stopping), or false to turn early stopping off. Received: "
                       "patience=0")
        checks("patience", check_positive_int, "patience", patience)
    monitors = [cfg["monitor"]] if isinstance(cfg["monitor"], str) else cfg["monitor"]
    checks.require(isinstance(monitors, list) and monitors
                   and all(isinstance(m, str) and m.startswith("val_") for m in monitors),
                   "monitor",
                   "`monitor` must name a validation log such as 'val_f1_macro' or 'val_loss', "
                   "or be a list of them (one best epoch each). "
                   f"Received: {cfg['monitor']!r}")
    for m in monitors:
        checks("monitor", _check_monitor_direction, m)
    if cfg["learning_rate"] != "auto":
        checks("learning_rate", check_number, "learning_rate", cfg["learning_rate"], low=0,
               low_inclusive=False)
    checks("threshold", check_threshold, cfg["threshold"])
    _validate_losses(cfg, checks)
    _validate_model(cfg["model"], checks)
    datasets = cfg["datasets"]
    checks.require(isinstance(datasets, list) and datasets, "datasets",
                   "no dataset: add a [dataset] table (or [[datasets]]) with a `kind`.")
    out = [_validate_dataset(d, i, len(datasets), checks) for i, d in enumerate(datasets)]
    names = [d["name"] for d in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    checks.require(not dup, "datasets", f"two datasets named {dup[0]!r}" if dup else "")
    cfg["datasets"] = out
    kind = cfg["model"]["kind"]
    for d in out:  # the image model reads pixels, the MLP feature vectors
        pixels = kinds.get_kind(d["kind"]).reads_pixels(d)
        needed = "image" if pixels else "mlp"
        what = "pixels" if pixels else "feature vectors"
        checks.require(kind == needed, "model.kind",
                       f"dataset {d['name']!r} (kind {d['kind']!r}, {what}) needs kind = "
                       f"{needed!r} in [model]. Received: model.kind={kind!r}")
    grid = cfg["grid"]
    checks.require(isinstance(grid, dict), "grid", f"`grid` must be a table. Received: {grid!r}")
    checks.keys(grid, GRID_KEYS, "grid", "[grid]")
    checks("grid.enabled", check_bool, "grid.enabled", grid["enabled"])
    if grid.get("seed", -1) != -1:
        checks("grid.seed", _check_seed, "grid.seed", grid["seed"])
    for key, low in (("beta", 0), ("eta", None)):
        values = grid.get(key)
        checks.require(isinstance(values, list) and values, f"grid.{key}",
                       f"`grid.{key}` must be a non-empty list of numbers. Received: {values!r}")
        for v in values:
            checks(f"grid.{key}", check_number, f"grid.{key}", v, low=low, low_inclusive=False)
    smoke = cfg["smoke"]
    checks.require(isinstance(smoke, dict), "smoke",
                   f"`smoke` must be a table. Received: {smoke!r}")
    checks.keys(smoke, smoke_keys(), "smoke", "[smoke]")
    return cfg
