"""Reproduction experiments: TOML config -> runs -> results tables and plots.

One experiment is a TOML file (the named ones ship with the package; ``vlap
list``). It names one or more datasets, the losses, the seeds and the training
settings; :func:`run_experiment` expands it into ``datasets x losses x seeds``
runs, trains each with :func:`VLAP.train`, scores the test split with
:func:`VLAP.evaluation.evaluate_predictions` and writes a new run directory.

The package reads top-down, each module using only the ones above it:

- :mod:`~VLAP.experiments.results`: ``results.csv`` rows, ``results.md`` and
  console tables, display names, the per-dataset figures;
- :mod:`~VLAP.experiments.paper`: the paper's published numbers and the
  comparison table;
- :mod:`~VLAP.experiments.kinds`: the dataset-kind registry (each kind's keys,
  loader, featuriser and data path), read by the schema and by ``prepare``;
- :mod:`~VLAP.experiments.builtin_kinds`: the built-in dataset kinds, each
  registered beside its loader;
- :mod:`~VLAP.experiments.schema`: the config keys, defaults and validation
  (every key's type and range, before any data is read);
- :mod:`~VLAP.experiments.config`: finding (``./experiments``, then the configs
  installed with VLAP), loading (``defaults < file < [smoke] < overrides``) and
  writing configs;
- :mod:`~VLAP.experiments.prepare`: load, split, binarize and featurise one
  dataset table;
- :mod:`~VLAP.experiments.saving`: package and save each loss's best model
  (``models/<dataset>/<loss>.keras``, ``models.json``);
- :mod:`~VLAP.experiments.runner`: build the models, train, evaluate, write the
  run folder.

The loss study (``vlap reproduce beyond``) sits beside them, imported on its own:
:mod:`~VLAP.experiments.study_candidates` (its candidate table and results
readers), :mod:`~VLAP.experiments.study` (the runs) and
:mod:`~VLAP.experiments.study_report` (the tables); the last two read the first
and not each other.

Example:
>>> cfg = load_config(DEMO_CONFIG, overrides={"seeds": [0, 1], "losses": ["sigmoidF1"]})
>>> cfg["seeds"], cfg["losses"]
([0, 1], ['sigmoid_f1'])
>>> [(r["dataset"], r["loss"], r["seed"]) for r in expand_runs(cfg)]
[('synthetic', 'sigmoid_f1', 0), ('synthetic', 'sigmoid_f1', 1)]
"""

from VLAP.experiments import (
    builtin_kinds, config, kinds, paper, prepare, results, runner, schema,
)
from VLAP.experiments.config import (
    DEMO_CONFIG,
    ConfigError,
    available_configs,
    expand_runs,
    find_config,
    load_config,
    validate_config,
)
from VLAP.experiments.paper import paper_comparison
from VLAP.experiments.prepare import DataError, Prepared, prepare_dataset
from VLAP.experiments.results import console_table, markdown_tables, read_results
from VLAP.experiments.runner import RunResult, run_experiment, train_and_evaluate

__all__ = [
    "load_config", "validate_config", "expand_runs", "available_configs", "find_config",
    "ConfigError", "DataError", "DEMO_CONFIG", "prepare_dataset", "Prepared", "train_and_evaluate",
    "RunResult", "run_experiment", "read_results", "console_table", "markdown_tables",
    "paper_comparison", "schema", "config", "kinds", "builtin_kinds", "prepare", "runner",
    "results", "paper",
]
