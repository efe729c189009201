"""Experiment configs: the schema, defaults, validation, loading and TOML writing.

Precedence of settings: built-in defaults < the config file < its ``[smoke]``
table (with ``smoke=True``) < explicit overrides (the command line). Named
configs are found by :func:`find_config`.

Example:
>>> cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0, 1], "losses": ["sigmoidF1"]})
>>> cfg["seeds"], cfg["losses"]
([0, 1], ['sigmoid_f1'])
>>> [(r["dataset"], r["loss"], r["seed"]) for r in expand_runs(cfg)]
[('synthetic', 'sigmoid_f1', 0), ('synthetic', 'sigmoid_f1', 1)]
"""

import copy
import json
import math
import numbers
import os
import re
import tomllib
from pathlib import Path

from VLAP.experiments.paper import PAPER_RESULTS
from VLAP.losses import PAPER_LOSSES, canonical_name

DATASET_KINDS = ("synthetic", "mulan", "reuters", "arxiv", "posters", "csv")
MODEL_KINDS = ("mlp", "image")
FEATURES = ("tfidf", "minilm")

_TOP_KEYS = {
    "name", "description", "paper_table", "seeds", "losses", "tuned_bce", "epochs",
    "patience", "monitor", "batch_size", "learning_rate", "threshold", "data_dir",
    "loss_kwargs",
    "model", "dataset", "datasets", "grid", "smoke", "plots", "compare_paper",
    "save_models",
}
_DATASET_KEYS = {
    "name", "kind", "path", "split", "r", "min_count", "top_n", "standardize",
    "max_rows", "features", "max_features", "sequence_length", "image_size",
    "group_duplicates", "paper", "mulan_name", "n_samples", "n_features",
    "n_classes", "n_labels", "length", "random_state", "val_fraction", "embed_batch_size",
    # kind = "csv": your own table (VLAP.datasets.load_table)
    "text_column", "image_column", "label_column", "label_separator", "label_columns",
    "split_column", "format", "encoding", "on_error",
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
    "save_models": True,
}

#: Defaults for configs on your own data (a `kind = "csv"` dataset), on top of
#: DEFAULTS: long enough, and early stopping on each loss's own validation loss,
#: so no loss is stopped while its thresholded F1 is still flat (see README,
#: "Use your own data").
USER_DATA_DEFAULTS = {
    "epochs": 100,
    "patience": 15,
    "monitor": "val_loss",
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
    cfg = _merge(_defaults_for(raw), raw)
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
    _check(isinstance(cfg["save_models"], bool), origin,
           f"`save_models` must be true or false. Received: {cfg['save_models']!r}")
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
        if kind == "csv":
            _check_csv_dataset(d, origin)
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


def _defaults_for(raw):
    """DEFAULTS, with USER_DATA_DEFAULTS on top when a dataset is the user's own table."""
    tables = raw.get("datasets") or ([raw["dataset"]] if "dataset" in raw else [])
    if any(isinstance(d, dict) and d.get("kind") == "csv" for d in tables):
        return _merge(DEFAULTS, USER_DATA_DEFAULTS)
    return DEFAULTS


def _check_csv_dataset(d, origin):
    """The keys of a `kind = "csv"` table (file contents are checked when read)."""
    where = f"dataset {d['name']!r} (kind csv)"
    _check(isinstance(d.get("path"), str) and d["path"], origin,
           f"{where} needs `path`, the CSV/TSV/JSON-lines file (relative to the current "
           "folder or absolute).")
    _check((d.get("text_column") is None) != (d.get("image_column") is None), origin,
           f"{where} needs exactly one of `text_column` and `image_column`. Received: "
           f"text_column={d.get('text_column')!r}, image_column={d.get('image_column')!r}")
    _check((d.get("label_column") is None) != (d.get("label_columns") is None), origin,
           f"{where} needs exactly one of `label_column` (names joined by "
           "`label_separator`, or a list literal) and `label_columns` (0/1 columns).")
    for key in ("text_column", "image_column", "label_column", "label_separator",
                "split_column", "encoding"):
        _check(d.get(key) is None or (isinstance(d[key], str) and d[key]), origin,
               f"{where}: `{key}` must be a non-empty string. Received: {d.get(key)!r}")
    cols = d.get("label_columns")
    _check(cols is None or (isinstance(cols, list) and cols
                            and all(isinstance(c, str) and c for c in cols)), origin,
           f"{where}: `label_columns` must be a non-empty list of column names. "
           f"Received: {cols!r}")
    _check(d.get("format") in (None, "csv", "tsv", "jsonl"), origin,
           f"{where}: `format` must be one of ['csv', 'tsv', 'jsonl']. Received: "
           f"{d.get('format')!r}")
    _check(d.get("on_error", "raise") in ("raise", "skip"), origin,
           f"{where}: `on_error` must be 'raise' or 'skip'. Received: {d.get('on_error')!r}")
    _check(not (d.get("image_column") and d.get("features")), origin,
           f"{where}: `features` applies to texts; images are resized to `image_size`.")


def expand_runs(cfg):
    """The ``datasets x losses x seeds`` runs of a validated config, in order."""
    return [{"dataset": d["name"], "loss": loss, "seed": int(seed),
             "loss_kwargs": dict(cfg["loss_kwargs"].get(loss, {}))}
            for d in cfg["datasets"] for loss in cfg["losses"] for seed in cfg["seeds"]]



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



def config_for_toml(cfg):
    """The config as ``config.toml`` stores it (dataset tables last)."""
    out = {k: v for k, v in cfg.items() if k not in ("datasets",)}
    out["datasets"] = cfg["datasets"]
    return out
