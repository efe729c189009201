"""Running an experiment: build each model, train it, score it, write the run folder.

:func:`run_experiment` expands a validated config into ``datasets x losses x
seeds`` runs, trains each with :func:`VLAP.train`, scores the test split with
:func:`VLAP.evaluation.evaluate_predictions` and writes a new run directory
(never an existing one, see :func:`VLAP.training.new_run_dir`):

- ``results.csv``: one row per dataset x loss x seed x metric, columns in the
  fixed order :data:`VLAP.experiments.results.RESULT_COLUMNS`;
- ``results.md``: mean ± std over seeds, the best value of each column in bold;
- ``config.toml`` (the merged config as run), ``versions.json`` (library
  versions and the git commit), ``notes.txt`` (loader reports, warnings);
- PNG plots (see :mod:`VLAP.plots`) and, with the grid, ``grid.csv``;
- ``models/<dataset>/<loss>.keras``: for each loss, the seed with the best
  validation macro-F1, packaged with the decision rule chosen on the
  validation split (tuned per-label cuts or 0.5), the label names and the
  featuriser (:func:`VLAP.inference.package_model`), then loaded back and
  scored on the test split with its own decisions; ``models.json`` lists them
  with those figures and the best loss of each dataset marked (``vlap predict
  RUN_DIR INPUT``); see :mod:`VLAP.experiments.saving`.
"""

import copy
import json
import logging
import re
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from VLAP._quiet import DropRetracingNotices  # noqa: F401 - also used by the study
from VLAP._sparse import dense_rows
from VLAP.experiments.config import dump_toml
from VLAP.experiments.paper import paper_comparison
from VLAP.experiments.prepare import DataError, check_data, data_path, prepare_dataset
from VLAP.experiments.results import (display_name, experiment_plots, markdown_tables,
                                      result_rows, write_csv)
from VLAP.experiments.saving import (save_models, shipped_markdown, shipped_rule,
                                     write_models_index)
from VLAP.experiments.schema import ConfigError


def build_model(model_cfg, prep):
    """A fresh model for ``prep``: an MLP on features, or an image classifier.

    ``model_cfg["head"] = "dual"`` (MLP only) ends the MLP with
    :class:`VLAP.models.DualHeadLogits`: ``2 * num_labels`` logits, the decision
    head then the score head (train with ``loss="dual_head"``).
    """
    import keras

    kind = model_cfg.get("kind", "mlp")
    head = model_cfg.get("head", "single")
    if head not in ("single", "dual"):
        raise ValueError(f"`model.head` must be 'single' or 'dual'. Received: {head!r}")
    if kind == "mlp":
        layers = [keras.Input(prep.x_train.shape[1:])]
        for units in model_cfg.get("hidden", [256]):
            layers.append(keras.layers.Dense(int(units), activation="relu"))
            if model_cfg.get("dropout", 0.0):
                layers.append(keras.layers.Dropout(float(model_cfg["dropout"])))
        if head == "dual":
            from VLAP.models import DualHeadLogits

            layers.append(DualHeadLogits(prep.num_labels, name="logits"))
        else:
            layers.append(keras.layers.Dense(prep.num_labels, name="logits"))
        return keras.Sequential(layers, name="mlp")
    if head == "dual":
        raise ValueError("`model.head = 'dual'` needs an MLP (`model.kind = 'mlp'`). "
                         f"Received: kind={kind!r}")
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
    model: object = None  # the trained model, with keep_model=True
    val_scores: "tuple | None" = None  # (y_val, outputs, from_logits), with keep_model=True
    kept: "dict | None" = None  # the epoch the model holds and why (VLAP.training.RunCheckpoint.kept)
    #: rule ("at 0.5", "tuned") -> the epoch its rows (and shipped pair) use and why
    rule_epochs: dict = field(default_factory=dict)
    #: with keep_model: the shipped (epoch, rule) pair, VLAP.inference.tuning.choose_epoch_rule's
    #: record plus ``epoch`` (1-based) and ``why``; ``model`` holds that epoch's weights
    shipped: "dict | None" = None


#: The log whose best epoch each decision rule is reported (and shipped) at, when
#: ``monitor`` lists it; else the monitor's own kept epoch serves both rules.
RULE_MONITORS = {"at 0.5": "val_f1_macro", "tuned": "val_f1_macro_tuned"}
_WHY = {"val_f1_macro": "best validation macro-F1 at 0.5",
        "val_f1_macro_tuned": "best validation macro-F1 with tuned cuts (out of fold)"}


def rule_epochs(kept, monitors, history):
    """For each rule, the epoch its rows use: ``{rule: {epoch, monitor, value, why}}``.

    ``kept`` is :attr:`VLAP.training.RunCheckpoint.kept` (``epoch`` 0-based);
    ``epoch`` here counts from 1, as the console does.

    Example:
    >>> kept = {"epoch": 8, "monitor": "val_f1_macro_tuned", "best": 0.2,
    ...         "reason": "best val_f1_macro_tuned 0.200",
    ...         "also": {"val_f1_macro": {"epoch": 3, "best": 0.118}}}
    >>> epochs = rule_epochs(kept, ["val_f1_macro_tuned", "val_f1_macro"], {})
    >>> epochs["at 0.5"]["why"]
    'epoch 4: best validation macro-F1 at 0.5 (0.118)'
    >>> epochs["tuned"]["why"]
    'epoch 9: best validation macro-F1 with tuned cuts (out of fold) (0.200)'
    """
    if kept is None:
        return {}
    out = {}
    for rule, log in RULE_MONITORS.items():
        if log in monitors and log != kept["monitor"] and log in kept.get("also", {}):
            epoch, value = kept["also"][log]["epoch"], kept["also"][log]["best"]
            why = f"{_WHY[log]} ({value:.3f})"
        else:  # the monitor's own kept epoch
            log, epoch = kept["monitor"], kept["epoch"]
            series = history.get(log) or []
            value = float(series[epoch]) if epoch < len(series) else kept.get("best")
            why = (f"{_WHY[log]} ({value:.3f})"
                   if log == RULE_MONITORS[rule] and log in _WHY and value is not None
                   else f"the epoch kept for {log}: {kept['reason']}")
        out[rule] = {"epoch": int(epoch) + 1, "monitor": log,
                     "value": None if value is None else float(value),
                     "why": f"epoch {int(epoch) + 1}: {why}"}
    return out


def describe_rule_epochs(res):
    """One line: the epoch each kind of results row used, and why, and the pair shipped."""
    names = {"at 0.5": "rows at 0.5", "tuned": "tuned rows"}
    parts = [f"{names[r]}: {e['why']}" for r, e in res.rule_epochs.items()]
    if res.shipped is not None and res.shipped.get("epoch") is not None:
        rule = "tuned cuts" if res.shipped["strategy"] == "tuned" else "0.5"
        parts.append(f"rule shipped with: {rule} at epoch {res.shipped['epoch']}")
    return "; ".join(parts) or "no epoch recorded"


def epochs_record(res):
    """``run.json``'s record of one trained model: each row's epoch and why, the shipped pair."""
    out = {"dataset": res.dataset, "loss": res.loss, "seed": res.seed,
           "variant": res.variant or None,
           "rows": {r: {k: e[k] for k in ("epoch", "monitor", "value", "why")}
                    for r, e in res.rule_epochs.items()}}
    if res.shipped is not None:
        out["shipped"] = {k: res.shipped.get(k) for k in ("strategy", "epoch", "why", "weights",
                                                          "val_f1_macro_fixed",
                                                          "val_f1_macro_tuned_oof")}
    return out


#: Batches of a sparse (TF-IDF) split made dense at a time when a model predicts it.
_DENSE_BATCHES = 64


def _outputs(model, x, y, batch_size=256):
    """``(y, outputs)``: the model's raw outputs (float64 logits, or probabilities).

    A sparse `x` (TF-IDF) is made dense ``_DENSE_BATCHES`` batches at a time
    (:func:`VLAP._sparse.dense_rows`): the same batches, so the same outputs, as
    one dense array, without a dense copy of the whole split."""
    from VLAP.data import create_dataset
    from VLAP.inference.scores import iter_outputs

    ys, outs = [], []
    rows = batch_size * _DENSE_BATCHES
    for start, block in dense_rows(x, rows):
        part = y if block is x else y[start:start + rows]
        ds = create_dataset(block, part, batch_size=batch_size, is_training=False)
        for b_y, b_out, _ in iter_outputs(model, ds):
            ys.append(b_y)
            outs.append(b_out)
    return np.concatenate(ys).astype(np.float64), np.concatenate(outs)


def _heads(outputs, y):
    """``(decision outputs, score outputs)``: a dual head's halves, or the outputs twice."""
    from VLAP.inference.scores import split_heads

    return split_heads(outputs, 2 if outputs.shape[1] == 2 * y.shape[1] else 1)


def _decided(y, outputs, from_logits, rule, label_names=None, per_label=False):
    """The report of one decision rule (a :class:`DecisionRule`) on model outputs.

    The labels a split leaves out of label averages are a fact of the data, not of
    the model: :func:`left_out_notes` names them once per split, so the report's
    own warning about them is not repeated here for every model and rule.
    """
    from VLAP.evaluation import evaluate_predictions
    from VLAP.inference.rule import as_probabilities

    heads = 2 if outputs.shape[1] == 2 * y.shape[1] else 1
    scores = as_probabilities(_heads(outputs, y)[1], from_logits)
    decisions = rule.apply(outputs, from_logits=from_logits, heads=heads)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*left out of label averages",
                                category=UserWarning)
        return evaluate_predictions(y, scores, rule=rule, label_names=label_names,
                                    per_label=per_label, decisions=decisions)


def left_out_notes(prep):
    """One line per evaluated split (validation, test) naming, by label name, the
    labels it leaves out of label averages (see
    :func:`VLAP.evaluation.streaming.left_out_message`); none for a split that
    leaves none out."""
    from VLAP._arrays import check_label_names
    from VLAP.evaluation.streaming import left_out_message

    lines = []
    for split, y in (("validation", prep.y_val), ("test", prep.y_test)):
        y = np.asarray(y)
        names = check_label_names(prep.label_names, y.shape[1])
        message = left_out_message(y.sum(0), len(y), names)
        if message:
            lines.append(f"{prep.name} {split} split: {message.replace('of `y_true` ', '')}")
    return lines


def train_and_evaluate(prep, cfg, loss, seed, loss_kwargs=None, variant="",
                       run_dir=None, tune_thresholds=False, keep_model=False, resume=False,
                       choose_rule=False):
    """Train one model with ``loss`` and ``seed``; score val and test.

    With ``resume`` and a ``run_dir`` that holds a training run (its
    ``state.json``), training continues from that run's last epoch checkpoint
    (:func:`VLAP.train` with ``resume=True``): a model that had finished is
    loaded as it was (nothing is trained), an interrupted one trains its
    remaining epochs, and both are scored as an uninterrupted run scores them.
    ``train_seconds`` of a model that had finished is the time it took then
    (``train_seconds.json`` in ``run_dir``); of an interrupted one, the time
    after the resume.

    Every decision goes through VLAP's one rule (:class:`VLAP.inference.rule.DecisionRule`)
    on the model's logits: the threshold of the config as a cut point, and with
    ``tune_thresholds`` per-label cut points tuned on the validation split
    (:func:`VLAP.inference.tuning.tune_cut_points`).

    Returns:
        :class:`RunResult`. ``summaries`` holds the test scores at the fixed
        threshold (key ``""`` or ``variant``) and, with ``tune_thresholds``,
        with per-label thresholds tuned on the validation split (``"tuned"``).
        With ``keep_model``, ``model`` and ``val_scores`` (``(y_val, outputs,
        from_logits)``) are filled in. With ``keep_model`` or ``choose_rule``,
        ``shipped`` holds the (epoch, rule) pair the model would ship, chosen on
        validation only (:func:`VLAP.inference.tuning.choose_epoch_rule`): the loss
        study records it for every model without keeping the models.
    """
    import keras

    from VLAP.data import create_dataset
    from VLAP.inference.rule import DecisionRule
    from VLAP.inference.tuning import tune_cut_points
    from VLAP.inference.scores import output_is_logits
    from VLAP.training import train
    from VLAP.training.guards import StopOnNonFiniteLoss

    # The runner seeds the process on purpose (a run is one seed in a fresh state):
    # weights from the global seed, then the same seed again before training, so
    # dropout masks and results match every earlier VLAP release; train() itself
    # changes no global state.
    keras.utils.set_random_seed(int(seed))
    model = build_model(cfg["model"], prep)
    keras.utils.set_random_seed(int(seed))
    train_ds = create_dataset(prep.x_train, prep.y_train, batch_size=cfg["batch_size"],
                              seed=int(seed), is_training=True)
    val_ds = create_dataset(prep.x_val, prep.y_val, batch_size=256, is_training=False)
    patience = cfg["patience"] or None
    resume = bool(resume and run_dir is not None and (Path(run_dir) / "state.json").exists())
    t0 = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, history = train(model, train_ds, val_ds, prep.num_labels, loss=loss,
                               epochs=cfg["epochs"], learning_rate=cfg["learning_rate"],
                               loss_kwargs=loss_kwargs or None, threshold=cfg["threshold"],
                               patience=patience, monitor=cfg["monitor"],
                               deterministic=True, run_dir=run_dir, resume=resume,
                               verbose=0, callbacks=[StopOnNonFiniteLoss()])
        seconds = _train_seconds(run_dir, time.time() - t0, resume)
        from_logits = output_is_logits(model)
        # each rule's rows come from its own best epoch (one epoch for both with one monitor)
        monitors = [cfg["monitor"]] if isinstance(cfg["monitor"], str) else list(cfg["monitor"])
        epochs_of = rule_epochs(getattr(history, "kept", None), monitors, history.history)
        weights = getattr(history, "best_weights", None) or {}
        at = {rule: e["monitor"] if weights.get(e["monitor"]) is not None else monitors[0]
              for rule, e in epochs_of.items()} or {"at 0.5": monitors[0], "tuned": monitors[0]}
        held = model.get_weights()
        outputs = {}  # monitor -> (y_val, val outputs, y_test, test outputs)
        for log in dict.fromkeys(at.values()):
            if log != monitors[0]:
                model.set_weights(weights[log])
            outputs[log] = (*_outputs(model, prep.x_val, prep.y_val),
                            *_outputs(model, prep.x_test, prep.y_test))
            model.set_weights(held)
        y_val, out_val, y_test, out_test = outputs[at["at 0.5"]]
        summaries, per_label = {}, {}
        fixed = DecisionRule.threshold(cfg["threshold"])
        rules = {variant: fixed}
        test_outputs = {variant: out_test}
        val_summary = _decided(y_val, out_val, from_logits, fixed)
        summaries[variant], per_label[variant] = _decided(
            y_test, out_test, from_logits, fixed, prep.label_names, per_label=True)
        _, out_val_t, _, out_test_t = outputs[at["tuned"]]
        if tune_thresholds:
            cuts = tune_cut_points(y_val, _heads(out_val_t, y_val)[0], from_logits=from_logits)
            rules["tuned"] = DecisionRule.cut_points(cuts, strategy="tuned")
            test_outputs["tuned"] = out_test_t
            summaries["tuned"], per_label["tuned"] = _decided(
                y_test, out_test_t, from_logits, rules["tuned"], prep.label_names, per_label=True)
        shipped = None
        if keep_model or choose_rule:  # the (epoch, rule) pair to ship, on validation only
            from VLAP.inference.tuning import choose_epoch_rule

            num = y_val.shape[1]
            shipped = choose_epoch_rule(
                y_val, out_val[:, :num], out_val[:, :num] if at["tuned"] == at["at 0.5"]
                else out_val_t[:, :num], from_logits=bool(from_logits))
            rule = "tuned" if shipped["weights"] == "tuned" else "at 0.5"
            if epochs_of:
                shipped.update(epoch=epochs_of[rule]["epoch"], why=epochs_of[rule]["why"])
            if keep_model:
                if at[rule] != monitors[0]:
                    model.set_weights(weights[at[rule]])
                out_val = outputs[at[rule]][1]
    notes = sorted({f"{prep.name}/{loss}: {w.category.__name__}: {w.message}"
                    for w in run_warnings(caught)})
    test_heads = 2 if out_test.shape[1] == 2 * y_test.shape[1] else 1
    counts = {v: r.apply(test_outputs[v], from_logits=from_logits, heads=test_heads).sum(1)
              for v, r in rules.items()}
    hist = {k: list(v) for k, v in history.history.items()}
    epochs_run = len(next(iter(hist.values()), []))
    return RunResult(prep.name, loss, int(seed), dict(loss_kwargs or {}), variant, hist,
                     epochs_run, seconds, summaries, per_label, val_summary, notes, counts,
                     model=model if keep_model else None,
                     val_scores=(y_val, out_val, from_logits) if keep_model else None,
                     kept=getattr(history, "kept", None),
                     rule_epochs={r: e for r, e in epochs_of.items()
                                  if r == "at 0.5" or r in summaries},
                     shipped=shipped)


#: The file of a model's training folder that records its training time; written once
#: training has returned, so it also marks the training as finished.
TRAIN_SECONDS = "train_seconds.json"


def _train_seconds(run_dir, seconds, resumed):
    """The training time to report: that of the first, finished training of a
    resumed model (see :func:`train_and_evaluate`), else ``seconds`` (recorded)."""
    if run_dir is None:
        return seconds
    path = Path(run_dir) / TRAIN_SECONDS
    if resumed and path.is_file():
        return float(json.loads(path.read_text())["train_seconds"])
    from VLAP.training.run_dir import write_json

    write_json(path, {"train_seconds": seconds})
    return seconds


#: Warning categories that, raised inside a library, say nothing about the run.
_LIBRARY_NOTICES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning,
                    ResourceWarning, SyntaxWarning)
_VLAP_DIR = str(Path(__file__).resolve().parents[1])


def run_warnings(caught):
    """The warnings of ``caught`` that concern the run, for ``notes.txt``.

    VLAP's own warnings are kept, and any other library's warning about the
    data or the numbers (``UserWarning``, ``RuntimeWarning``, ...); a library's
    deprecation notices about its own internals (``DeprecationWarning``,
    ``FutureWarning``, ...) are dropped.
    """
    return [w for w in caught if str(w.filename).startswith(_VLAP_DIR)
            or not issubclass(w.category, _LIBRARY_NOTICES)]


def run_folder_name(cfg):
    """``<name>[-smoke]-<timestamp>``: a run folder's name, safe on every file system."""
    name = cfg["name"] + ("-smoke" if cfg.get("smoke_mode") else "")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "run"
    return f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


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



def run_grid(prep, cfg, run_dir, log=print, resume=False, progress=None):
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
            train_dir = run_dir / "train" / prep.name / "grid" / f"beta{beta:g}-eta{eta:g}"
            _track(progress, f"{prep.name}/sigmoid_f1 grid beta={beta:g} eta={eta:g}",
                   train_dir)
            res = train_and_evaluate(prep, cfg, "sigmoid_f1", seed, loss_kwargs=kw,
                                     variant="grid", run_dir=train_dir, resume=resume)
            v = res.val_summary["value"]
            rows.append({"dataset": prep.name, "seed": seed, "beta": float(beta),
                         "eta": float(eta), "val_f1_macro": float(v["f1_macro"]),
                         "val_average_precision_macro": float(v["average_precision_macro"]),
                         "val_label_count_mae": float(v["label_count_mae"]),
                         "val_mean_predicted_labels": float(v["mean_predicted_labels"]),
                         "epochs_run": res.epochs_run})
            log(f"  grid {prep.name} beta={beta:g} eta={eta:g}: val macro-F1 "
                f"{v['f1_macro']:.3f}, #pred {v['mean_predicted_labels']:.2f}")
    from VLAP.experiments.selection import best_grid

    best = rows[best_grid(rows)]  # validation scores only
    return {"beta": best["beta"], "eta": best["eta"]}, rows



#: The states a run folder's ``run.json`` records (key ``state``).
RUN_STATES = ("running", "interrupted", "failed", "done")


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or a termination signal; its folder can be resumed.

    Raised by :func:`run_experiment` from the ``KeyboardInterrupt`` (or subclass)
    that stopped it. ``run_dir`` is the folder, ``message`` one line: what was
    interrupted, what was kept.
    """

    def __init__(self, run_dir, message):
        super().__init__(message)
        self.run_dir = Path(run_dir)
        self.message = message


def read_run_state(run_dir) -> dict:
    """The ``run.json`` of a run folder; ``state`` filled in for folders written
    before it was recorded (``done`` when ``results.csv`` exists, else ``failed``)."""
    run_dir = Path(run_dir)
    path = run_dir / "run.json"
    if not path.is_file() or not (run_dir / "config.toml").is_file():
        raise ConfigError(f"{run_dir} is not a run folder of `vlap run` (no run.json and "
                          "config.toml); pass the folder the interrupted run printed.")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON ({err}).") from None
    if "state" not in meta:
        meta["state"] = "done" if (run_dir / "results.csv").is_file() else "failed"
    return meta


def _flat(value, prefix=""):
    """``{dotted.key: value}`` of a nested config (datasets by index)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flat(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: value}


def config_differences(stored: dict, given: dict) -> "list[str]":
    """``key: stored X, given Y`` for each setting of two configs that differs
    (provenance keys such as ``source`` are not settings).

    Example:
    >>> config_differences({"epochs": 5, "model": {"hidden": [8]}, "source": "a.toml"},
    ...                    {"epochs": 3, "model": {"hidden": [8]}, "source": "b.toml"})
    ['epochs: stored 5, given 3']
    """
    from VLAP.experiments.config import _drop_none
    from VLAP.experiments.schema import PROVENANCE_KEYS

    a, b = ({k: v for k, v in _drop_none(c).items() if k not in PROVENANCE_KEYS}
            for c in (stored, given))
    a, b = _flat(a), _flat(b)
    missing = object()
    return [f"{k}: stored {a.get(k, missing)!r}, given {b.get(k, missing)!r}"
            .replace(repr(missing), "(not set)")
            for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def _stored_config(run_dir):
    from VLAP.experiments.config import load_config

    return load_config(Path(run_dir) / "config.toml")


def run_experiment(cfg, out="runs", data_dir=None, grid=None, compare_paper=None,
                   plots=None, log=print, resume=None):
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
        resume: str, Path or None. A run folder to continue instead of a new
            one (``out`` is then unused). Its models that finished are kept as
            they are, the interrupted one continues from its last epoch
            checkpoint, the others train as planned: the folder ends as an
            uninterrupted run's would. ``cfg`` (with the arguments above
            applied) must equal the folder's ``config.toml``, else a
            :class:`ConfigError` names the settings that differ. A folder
            whose run is done is left unchanged.

    ``run.json`` records, once done, ``epochs``: for each trained model the
    epoch each kind of results row used and why (``rows``: ``"at 0.5"``, and
    ``"tuned"`` for tuned-threshold rows; with ``monitor = ["val_f1_macro_tuned",
    "val_f1_macro"]`` each rule's own best epoch) and the shipped (epoch, rule)
    pair (``shipped``). It records the run's ``state``: ``running``, then ``done``;
    ``interrupted`` (Ctrl-C, SIGTERM: :class:`RunInterrupted` is raised, and
    ``run.json`` says which model stopped and how to resume) or ``failed``
    (the error also in ``error.txt``).

    Returns:
        Path. The run directory.
    """
    cfg = copy.deepcopy(cfg)
    if data_dir:
        cfg["data_dir"] = str(data_dir)
    if grid is not None:
        cfg["grid"]["enabled"] = bool(grid)
    if compare_paper is not None:
        cfg["compare_paper"] = bool(compare_paper)
    if plots is not None:
        cfg["plots"] = bool(plots)
    if resume is not None:
        run_dir = Path(resume)
        previous = read_run_state(run_dir)
        diffs = config_differences(_stored_config(run_dir), cfg)
        if diffs:
            raise ConfigError(f"cannot resume {run_dir}: the config differs from its "
                              f"config.toml in {'; '.join(diffs)}. Resume with the run's own "
                              f"config (vlap run --resume {run_dir}), or start a new run.")
        if previous["state"] == "done":
            log(f"{run_dir} is already complete; nothing was changed")
            return run_dir
    for d in cfg["datasets"]:  # before anything is written or trained
        check_data(d, cfg["data_dir"] or None)
    meta = versions()  # before the folder exists: run.json follows it at once
    if resume is None:
        from VLAP.training.run_dir import new_run_dir

        run_dir = new_run_dir(out, run_folder_name(cfg))
        log(f"run directory: {run_dir}")
        (run_dir / "config.toml").write_text(dump_toml(cfg))
        provenance = {"source": cfg.get("source"), "smoke": bool(cfg.get("smoke_mode"))}
    else:
        log(f"resuming {run_dir} (it was {previous['state']})")
        provenance = {k: previous.get(k) for k in ("source", "smoke")}
        (run_dir / "error.txt").unlink(missing_ok=True)
    (run_dir / "versions.json").write_text(json.dumps(meta, indent=2, default=str))
    _write_run_json(run_dir, {**provenance, "state": "running"})
    tf_logger, notice_filter = logging.getLogger("tensorflow"), DropRetracingNotices()
    tf_logger.addFilter(notice_filter)
    progress: dict = {}
    try:
        return _run_into(cfg, run_dir, meta, provenance, log, resume=resume is not None,
                         progress=progress)
    except KeyboardInterrupt as caught:  # Ctrl-C, or a termination signal made into one
        message = _interrupted(run_dir, provenance, progress)
        raise RunInterrupted(run_dir, message) from caught
    except BaseException as caught:
        err = _user_error(caught, cfg)
        started = {p.name for p in run_dir.iterdir()} - {"config.toml", "versions.json",
                                                         "run.json"}
        if (isinstance(err, (ConfigError, DataError, ValueError)) and not started
                and resume is None):
            # a mistake in the config or the data, found before anything was trained
            # or written: no half-empty run folder is left behind
            shutil.rmtree(run_dir)
            log(f"run directory {run_dir} removed: nothing was trained or written")
        else:  # keep the folder, but say why it is incomplete
            (run_dir / "error.txt").write_text(f"{type(err).__name__}: {err}\n")
            _write_run_json(run_dir, {**provenance, "state": "failed",
                                      "error": f"{type(err).__name__}: {err}"})
        if err is caught:
            raise
        raise err from caught
    finally:
        tf_logger.removeFilter(notice_filter)


def _write_run_json(run_dir, meta):
    """Write ``run.json`` whole or not at all (a temporary file, then renamed)."""
    tmp = run_dir / ".run.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(run_dir / "run.json")


def _interrupted(run_dir, provenance, progress):
    """Record an interrupted run in ``run.json``; return the line that says what was kept."""
    from VLAP.training.run_dir import read_json

    model, train_dir = progress.get("model"), progress.get("train_dir")
    finished = progress.get("finished", 0)
    last_epoch = None
    if train_dir is not None and (train_dir / "state.json").is_file():
        try:
            last_epoch = int(read_json(train_dir / "state.json")["last_epoch"])
        except (ValueError, KeyError, TypeError, OSError):
            last_epoch = None
    where = f"while training {model}" if model else "before training started"
    if model and train_dir is not None and (train_dir / TRAIN_SECONDS).is_file():
        where = f"while scoring {model} (its training had finished)"
    kept = f"{finished} finished model{'s' * (finished != 1)}"
    if model and last_epoch is not None and not (train_dir / TRAIN_SECONDS).is_file():
        kept += f" and {model}'s checkpoint of epoch {last_epoch + 1}"
    resume = f"vlap run --resume {run_dir}"
    _write_run_json(run_dir, {**provenance, "state": "interrupted",
                              "interrupted": {"model": model, "last_epoch": last_epoch,
                                              "finished_models": finished},
                              "resume": resume})
    return f"interrupted {where}; kept {kept} in {run_dir}; resume with: {resume}"


def _user_error(err, cfg):
    """A training failure a user can act on, as a ConfigError naming the setting."""
    from VLAP.training.guards import ModelTooLargeError, NonFiniteLossError, is_out_of_memory

    if isinstance(err, NonFiniteLossError):
        return ConfigError(
            f"{cfg.get('source', '<config>')}: training diverged: {err} with "
            f"learning_rate={cfg['learning_rate']!r}. Lower `learning_rate` (e.g. 0.001, or "
            "'auto').")
    if isinstance(err, ModelTooLargeError):
        return ConfigError(f"{cfg.get('source', '<config>')}: {err}")
    if isinstance(err, Exception) and is_out_of_memory(err):
        return ConfigError(
            f"{cfg.get('source', '<config>')}: out of memory while training "
            f"(model.hidden={cfg['model'].get('hidden')!r}, batch_size={cfg['batch_size']}). "
            "Use smaller layers or a smaller `batch_size`.")
    return err


def _prepare(d, data_dir):
    """:func:`prepare_dataset`; a bad value in the data becomes a :class:`DataError`."""
    from VLAP.datasets import DataFormatError

    try:
        return prepare_dataset(d, data_dir)
    except DataFormatError:
        raise
    except (ValueError, TypeError, EOFError) as err:
        _, path = data_path(d, data_dir)
        text = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        where = f" ({path})" if path is not None and str(path) not in text else ""
        raise DataError(f"dataset {d['name']!r}{where}: {text}") from err


def _check_model_fits(cfg, prep):
    """Refuse, before allocating it, an MLP whose weights cannot fit in memory."""
    from VLAP.training.guards import check_fits, dense_parameters

    if cfg["model"].get("kind", "mlp") != "mlp":
        return
    hidden = cfg["model"].get("hidden", [256])
    n = dense_parameters(prep.x_train.shape[1], hidden, prep.num_labels)
    check_fits(n, f"model.hidden={hidden!r}")


def _track(progress, model, train_dir):
    """Note in ``progress`` the model now training (for :func:`_interrupted`)."""
    if progress is not None:
        if progress.get("model") is not None:
            progress["finished"] = progress.get("finished", 0) + 1
        progress.update(model=model, train_dir=Path(train_dir))


def _run_into(cfg, run_dir, meta, provenance, log, resume=False, progress=None):
    from VLAP.experiments.selection import best_index  # pandas: only when a run starts

    import keras

    run_id = run_dir.name
    results, notes, grid_rows, model_entries = [], [], [], []
    t_start = time.time()
    for d in cfg["datasets"]:
        t0 = time.time()
        prep = _prepare(d, cfg["data_dir"] or None)
        log(f"{prep.summary()} (prepared in {time.time() - t0:.0f}s)")
        for line in prep.details():
            log(f"  {line}")
        left_out = left_out_notes(prep)  # once per split, not once per model
        for line in left_out:
            log(f"  warning: {line}")
        _check_model_fits(cfg, prep)
        notes.append(f"## {prep.name}\n{prep.summary()}\n" + "\n".join(prep.notes))
        notes += left_out
        losses = list(cfg["losses"])
        ds_results: list = []
        kept: dict = {}
        for loss in losses:
            for seed in cfg["seeds"]:
                kw = cfg["loss_kwargs"].get(loss, {})
                train_dir = run_dir / "train" / prep.name / loss / f"seed{seed}"
                _track(progress, f"{prep.name}/{loss} seed {seed}", train_dir)
                res = train_and_evaluate(
                    prep, cfg, loss, seed, loss_kwargs=kw, run_dir=train_dir,
                    tune_thresholds=(loss == "binary_crossentropy" and cfg["tuned_bce"]),
                    keep_model=cfg["save_models"], resume=resume)
                if res.model is not None:  # keep the best seed of each loss only
                    thresholds, f1 = shipped_rule(res)  # f1: validation macro-F1
                    if loss not in kept or best_index(
                            [{"val_f1_macro": kept[loss][2]}, {"val_f1_macro": f1}],
                            "val_f1_macro") == 1:
                        if loss in kept:
                            kept[loss][0].model = None
                        kept[loss] = (res, thresholds, f1)
                    else:
                        res.model = None
                    res.val_scores = None
                ds_results.append(res)
                for note in res.notes:
                    log(f"  warning: {note}")
                s = res.summaries[""]["value"]
                from VLAP.training.run_dir import describe_kept

                kept_epoch = f"{describe_kept(res.kept)}, " if res.kept else ""
                log(f"  {prep.name} {display_name(loss, '', kw)} seed={seed}: {res.epochs_run} "
                    f"epochs, {res.train_seconds:.1f}s, {kept_epoch}"
                    f"test at 0.5: macro-F1 {s['f1_macro']:.3f}, "
                    f"mAP {s['average_precision_macro']:.3f}, #pred "
                    f"{s['mean_predicted_labels']:.2f} (true {s['mean_true_labels']:.2f})")
                log(f"    {describe_rule_epochs(res)}")
        if kept:
            model_entries += save_models(kept, prep, run_dir, cfg, log=log)
            for res, _, _ in kept.values():
                res.model = None
        if cfg["grid"]["enabled"]:
            best, rows = run_grid(prep, cfg, run_dir, log=log, resume=resume,
                                  progress=progress)
            grid_rows += rows
            log(f"  grid {prep.name}: best on validation beta={best['beta']:g}, "
                f"eta={best['eta']:g}")
            for seed in cfg["seeds"]:
                train_dir = run_dir / "train" / prep.name / "sigmoid_f1-grid" / f"seed{seed}"
                _track(progress, f"{prep.name}/sigmoid_f1 (grid) seed {seed}", train_dir)
                res = train_and_evaluate(
                    prep, cfg, "sigmoid_f1", seed, loss_kwargs=best, variant="grid",
                    run_dir=train_dir, resume=resume)
                ds_results.append(res)
                log(f"  {prep.name} sigmoid_f1 (grid) seed={seed}: {describe_rule_epochs(res)}")
        for res in ds_results:
            notes += res.notes
        results += ds_results
        if cfg["plots"]:
            experiment_plots(ds_results, prep, run_dir, threshold=cfg["threshold"])
    if model_entries:
        write_models_index(run_dir, model_entries)
    rows = result_rows(results, cfg, run_id, meta)
    write_csv(run_dir / "results.csv", rows)
    if grid_rows:
        write_csv(run_dir / "grid.csv", grid_rows, columns=list(grid_rows[0]))
    paper_lines = paper_comparison(rows, cfg) if cfg["compare_paper"] else ()
    (run_dir / "results.md").write_text(markdown_tables(rows, cfg, paper_lines)
                                        + shipped_markdown(model_entries))
    if cfg["plots"]:
        from VLAP.plots import surrogate_vs_f1

        surrogate_vs_f1(run_dir / "surrogate_vs_f1.png")
    (run_dir / "notes.txt").write_text("\n".join(dict.fromkeys(notes)) + "\n")
    meta_done = {**provenance, "state": "done", "seconds": round(time.time() - t_start, 1),
                 "n_models": len(results), "backend": keras.config.backend(),
                 "epochs": [epochs_record(res) for res in results]}
    if progress is not None:
        progress.clear()  # nothing is left to interrupt
    _write_run_json(run_dir, meta_done)
    return run_dir
