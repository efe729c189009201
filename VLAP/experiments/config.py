"""Experiment configs: finding, loading (with precedence) and writing them.

Precedence of settings: built-in defaults < the config file < its ``[smoke]``
table (with ``smoke=True``) < explicit overrides (the command line). Named
configs are found by :func:`find_config`; the schema and the validation are in
:mod:`VLAP.experiments.schema`.

Example:
>>> cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0, 1], "losses": ["sigmoidF1"]})
>>> cfg["seeds"], cfg["losses"]
([0, 1], ['sigmoid_f1'])
>>> [(r["dataset"], r["loss"], r["seed"]) for r in expand_runs(cfg)]
[('synthetic', 'sigmoid_f1', 0), ('synthetic', 'sigmoid_f1', 1)]
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the same parser, from PyPI
    import tomli as tomllib

from VLAP.experiments.schema import (
    PROVENANCE_KEYS,
    TOP_KEYS,
    ConfigError,
    dataset_keys,
    defaults_for,
    did_you_mean,
    validate_config,
)

#: Where the named configs ship: package data, found after any ``pip install``.
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"

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




def experiments_dirs() -> list[Path]:
    """Folders searched for named configs, first match wins.

    ``./experiments`` in the current directory (your own or overriding
    configs), then the configs installed with VLAP (:data:`CONFIGS_DIR`).
    """
    dirs: list[Path] = []
    for folder in (Path.cwd() / "experiments", CONFIGS_DIR):
        if folder.is_dir() and folder.resolve() not in [d.resolve() for d in dirs]:
            dirs.append(folder)
    return dirs


def available_configs() -> list[str]:
    """Names of the configs in :func:`experiments_dirs` (sorted).

    Example:
    >>> {"mulan_emotions", "posters"} <= set(available_configs())
    True
    """
    return sorted({p.stem for d in experiments_dirs() for p in d.glob("*.toml")})


def find_config(name: str) -> Path:
    """Path of the named config ``<name>.toml`` in :func:`experiments_dirs`, or a clear error."""
    for folder in experiments_dirs():
        path = folder / f"{name}.toml"
        if path.is_file():
            return path
    known = available_configs()
    raise ConfigError(f"Unknown experiment {name!r}. Known experiments: {known}"
                      + ("" if known else f" (none found in ./experiments or {CONFIGS_DIR})"))


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of dicts (``update`` wins); lists are replaced, not merged."""
    out = dict(copy.deepcopy(base))
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file; errors name the file."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Config file not found: {str(file)!r}")
    try:
        with open(file, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{file}: not UTF-8 text, as TOML must be ({err})") from None


def load_config(source: str | os.PathLike[str] | Mapping[str, Any],
                overrides: Mapping[str, Any] | None = None,
                smoke: bool = False) -> dict[str, Any]:
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
        list of dicts with every default filled in, plus the provenance keys
        ``smoke_mode`` and ``source`` (not written to ``config.toml``, ignored
        when a run's ``config.toml`` is loaded again: it re-runs as it ran).

    Raises:
        ConfigError: the file or override and the key that is wrong.
        FileNotFoundError: no such config file.
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
    for key in PROVENANCE_KEYS:  # written by a run into its config.toml
        raw.pop(key, None)
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {unknown}"
                          f"{did_you_mean(unknown[0], TOP_KEYS)}. Known keys: {sorted(TOP_KEYS)}")
    if "dataset" in raw:
        if "datasets" in raw:
            raise ConfigError(f"{origin}: give either [dataset] or [[datasets]], not both.")
        raw["datasets"] = [raw.pop("dataset")]
    cfg = _merge(defaults_for(raw), raw)
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
                         if k in dataset_keys() and k != "name"}
        cfg["datasets"] = [_merge(d, dataset_smoke) for d in cfg["datasets"]]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key, value in overrides.items():
        _set_dotted(cfg, key, value)
    cfg = validate_config(cfg, origin, overrides)
    cfg["smoke_mode"] = bool(smoke)
    cfg["source"] = origin
    return cfg


def _set_dotted(cfg: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if parts[0] not in TOP_KEYS:
        raise ConfigError(f"override {key!r}: unknown key {parts[0]!r}"
                          f"{did_you_mean(parts[0], TOP_KEYS)}. "
                          f"Known keys: {sorted(TOP_KEYS)}")
    if parts[0] in ("dataset", "datasets"):
        # dataset.<key>=value applies to every dataset of the config
        for d in cfg["datasets"]:
            _set_path(d, parts[1:], value)
        return
    _set_path(cfg, parts, value)


def _set_path(d: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value



def expand_runs(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``datasets x losses x seeds`` runs of a validated config, in order."""
    return [{"dataset": d["name"], "loss": loss, "seed": int(seed),
             "loss_kwargs": dict(cfg["loss_kwargs"].get(loss, {}))}
            for d in cfg["datasets"] for loss in cfg["losses"] for seed in cfg["seeds"]]



def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value


def dump_toml(cfg: Mapping[str, Any]) -> str:
    """The config as ``config.toml`` text, without provenance keys or None values.

    Written with ``tomli-w``; :func:`load_config` reads it back to the same run.

    Example:
    >>> cfg = load_config(DEMO_CONFIG, smoke=True)
    >>> tomllib.loads(dump_toml(cfg)) == {k: v for k, v in cfg.items()
    ...                                  if k not in PROVENANCE_KEYS}
    True
    """
    import tomli_w

    out = {k: v for k, v in cfg.items() if k not in PROVENANCE_KEYS}
    return tomli_w.dumps(_drop_none(out))
