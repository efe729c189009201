"""The "beyond the paper" loss study: every candidate loss on every shared dataset.

``vlap reproduce beyond`` (or :func:`run_study`) trains, on each dataset with
its shipped config (the same model, epochs, early stopping and split as the
paper comparison in experiments/RESULTS.md):

- the baselines: BCE (also with per-label thresholds tuned on the validation
  split), ASL, ZLPR, the Two-way Multi-Label Loss, and sigmoidF1 with its slope
  ``beta`` chosen on validation;
- the candidates (:data:`CANDIDATES`): sigmoidF1 + λ·BCE, sigmoidF1 + λ·ASL,
  a BCE → sigmoidF1 schedule, sigmoidF1 on moving-average counts, and
  sigmoidF1 + λ·(soft label-count error).

**Selection, on the validation split only** (every choice goes through
:mod:`VLAP.experiments.selection`, which refuses test scores). Each candidate's settings are
trained on the first seed; the chosen setting is then trained on the other
seeds (the first seed's model is the one already trained; training is seeded,
so it is the model a re-run would give). The rule serves the study's goal
(beat BCE and sigmoidF1 on macro-F1 at 0.5 while keeping mAP >= BCE's and the
label-count error <= BCE's): among the settings whose *validation* mAP and
label-count MAE are no worse than BCE's on the same seed, the best validation
macro-F1; if none is, the best validation macro-F1. The sigmoidF1 baseline
takes the best validation macro-F1 (its strongest form on the headline metric).
Macro-F1 is read at the rule each setting's model would ship (chosen on
validation, ``rules.csv``): the out-of-fold figure with tuned cuts where it ships
them, else 0.5 (:func:`VLAP.experiments.selection.choose_setting`), so a setting
is chosen for the rule it is reported and shipped with.

Files (one set per dataset, so datasets can run in separate processes and a
failed run loses only its own dataset), in ``out/<dataset>/``:

- ``results.csv``: ``dataset,candidate,setting,seed,threshold,metric,value``,
  test split, ``threshold`` "0.5" or "tuned";
- ``selection.csv``: every setting tried on the first seed, its validation
  scores and whether it was chosen;
- ``batch_size.csv`` (``--batch-sizes``): ``dataset,candidate,batch_size,seed,
  metric,value``;
- ``config.toml`` (the dataset's config as run), ``run.json`` (written last: the
  study of this dataset finished) and ``train/<candidate>/<setting>/seed<n>/``:
  each model's training folder (epoch checkpoints, ``history.csv``,
  ``state.json``), from which ``--resume`` continues an interrupted study
  (:func:`run_dataset`).

:func:`collect` merges the datasets' files into one folder (the committed
``experiments/beyond/``); :mod:`VLAP.experiments.study_report` writes the
tables of experiments/RESULTS.md from it.
"""

import argparse
import csv
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from VLAP._sparse import to_dense
from VLAP.data import create_dataset
from VLAP.evaluation.report import evaluate_predictions
from VLAP.experiments.config import dump_toml, load_config
from VLAP.experiments.prepare import prepare_dataset
from VLAP.experiments import runner  # runner.train_and_evaluate: read when called
from VLAP.experiments.schema import ConfigError
from VLAP.experiments.selection import (
    choose_setting,
    leave_one_out,
    recommend,
    validation_goals,
)
from VLAP.ops.core import split_dual_logits
from VLAP.experiments.study_candidates import (  # noqa: F401  (study.CANDIDATES, ...: public)
    CANDIDATES,
    DEFAULT_CANDIDATES,
    MODEL_OPTIONS,
    TUNED_BASELINES,
    load,
    load_selection,
    loss_kwargs,
    parse_setting,
    pick_rows,
    same_training,
    setting_label,
)

#: Baselines: BCE and ASL have no setting; sigmoidF1's beta is chosen on macro-F1.
BASELINES = TUNED_BASELINES + ("sigmoid_f1", "lead_bce_0.5", "lead_bce_0.1", "default")
METRICS = ("f1_macro", "f1_micro", "average_precision_macro", "label_count_mae",
           "mean_predicted_labels", "mean_true_labels")
RESULT_COLUMNS = ("dataset", "candidate", "setting", "seed", "threshold", "metric", "value")
#: ``rules.csv``: for every model with test rows, the decision rule it would ship, chosen
#: on validation only (:func:`VLAP.inference.tuning.choose_epoch_rule`: macro-F1 at 0.5
#: against the out-of-fold macro-F1 with tuned cuts), and each rule's epoch (1-based).
RULE_COLUMNS = ("dataset", "candidate", "setting", "seed", "rule", "val_f1_macro_fixed",
                "val_f1_macro_tuned_oof", "epoch_at_0.5", "epoch_tuned")
#: What the study's models stop and are kept for (issue 27): early stopping follows the
#: validation macro-F1 with per-label cuts tuned out of fold, and the best epoch at 0.5 is
#: kept beside it, so each loss's "0.5" rows come from its best epoch at 0.5 and its
#: "tuned" rows from its best epoch with tuned cuts (``vlap run``'s default on own data).
#: The dual head decides at 0.5 by construction: it keeps ``val_f1_macro``.
MONITOR = ("val_f1_macro_tuned", "val_f1_macro")
BATCH_COLUMNS = ("dataset", "candidate", "batch_size", "seed", "metric", "value")
#: The datasets of the study (the shipped configs).
DATASETS = ("mulan_emotions", "mulan_scene", "mulan_yeast", "arxiv", "reuters",
            "posters_pretrained", "posters")


def study_config(cfg):
    """``cfg`` as the study trains it: both rules' monitors (:data:`MONITOR`).

    Example:
    >>> study_config({"monitor": "val_f1_macro", "epochs": 3})
    {'monitor': ['val_f1_macro_tuned', 'val_f1_macro'], 'epochs': 3}
    """
    return {**cfg, "monitor": list(MONITOR)}


def _rule_row(res, dataset, candidate, setting):
    """The ``rules.csv`` row of one model (:data:`RULE_COLUMNS`); a model without a
    rule choice (the dual head: 0.5 by construction) ships 0.5."""
    shipped, epochs = res.shipped or {}, res.rule_epochs or {}
    tuned_oof = shipped.get("val_f1_macro_tuned_oof")
    return {"dataset": dataset, "candidate": candidate, "setting": setting, "seed": res.seed,
            "rule": "tuned" if shipped.get("strategy") == "tuned" else "0.5",
            "val_f1_macro_fixed": round(float(shipped.get(
                "val_f1_macro_fixed", res.val_summary["value"]["f1_macro"])), 6),
            "val_f1_macro_tuned_oof": "" if tuned_oof is None else round(float(tuned_oof), 6),
            "epoch_at_0.5": epochs.get("at 0.5", {}).get("epoch", ""),
            "epoch_tuned": epochs.get("tuned", {}).get("epoch", "")}


def _val(res):
    """The validation scores of a run, as ``val_<metric>`` (what selection may see)."""
    v = res.val_summary["value"]
    return {f"val_{m}": float(v[m]) for m in ("f1_macro", "average_precision_macro",
                                              "label_count_mae", "mean_predicted_labels")}


def choose(rows, reference=None, goal_aware=True):
    """Index of the chosen setting: :func:`VLAP.experiments.selection.choose_setting`
    (validation scores only; rows hold ``val_*`` columns).

    Example:
    >>> rows = [{"val_f1_macro": .6, "val_average_precision_macro": .7, "val_label_count_mae": .5},
    ...         {"val_f1_macro": .7, "val_average_precision_macro": .6, "val_label_count_mae": .5}]
    >>> choose(rows, {"val_average_precision_macro": .65, "val_label_count_mae": .6})
    0
    """
    return choose_setting(rows, reference, goal_aware=goal_aware)


#: Metrics of a dual-head model that come from its score head (they use the scores'
#: order); every other metric thresholds the decision head at 0.5 (logit > 0).
RANKING_PREFIXES = ("average_precision", "roc_auc", "precision_at_", "recall_at_", "ndcg_at_",
                    "label_ranking", "coverage_error")


def dual_head_summary(y_true, logits, threshold=0.5, **kwargs):
    """Scores of a dual-head model's output ``(n, 2 * num_labels)`` as one summary table:
    thresholded metrics from the decision head (columns ``[:L]``), ranking metrics
    (:data:`RANKING_PREFIXES`: mAP, AUROC, P@k, ...) from the score head (``[L:]``).

    Example:
    >>> import numpy as np
    >>> y = np.array([[1, 0], [0, 1], [1, 1]])
    >>> decide = np.array([[3.0, -3.0], [-3.0, 3.0], [3.0, -3.0]])  # misses one label
    >>> score = np.array([[2.0, -2.0], [-2.0, 2.0], [2.0, 1.0]])    # ranks perfectly
    >>> t = dual_head_summary(y, np.concatenate([decide, score], axis=1))["value"]
    >>> round(float(t["f1_micro"]), 3), float(t["average_precision_macro"]), float(t["mean_predicted_labels"])
    (0.857, 1.0, 1.0)
    """

    logits = np.asarray(logits, dtype=np.float64)
    decision, score = (1.0 / (1.0 + np.exp(-h)) for h in
                       split_dual_logits(logits, np.asarray(y_true).shape[-1]))
    table = evaluate_predictions(y_true, decision, threshold=threshold, **kwargs)
    ranked = evaluate_predictions(y_true, score, threshold=threshold, **kwargs)
    rows = [m for m in table.index if str(m).startswith(RANKING_PREFIXES)]
    table.loc[rows] = ranked.loc[rows]
    return table


def train_dual_head(prep, cfg, seed, loss_kwargs, *, run_dir=None, resume=False):
    """Train a dual-head MLP (``head = "dual"``, ``loss = "dual_head"``) like
    :func:`VLAP.experiments.runner.train_and_evaluate` (same seeding, data, early
    stopping, and ``run_dir``/``resume``: a training folder that continues from its
    last epoch checkpoint); score it with :func:`dual_head_summary`. Returns a
    :class:`VLAP.experiments.runner.RunResult` (threshold 0.5 only)."""
    import keras  # Keras: only where a model is trained

    from VLAP.training import train

    model_cfg = {**cfg["model"], **MODEL_OPTIONS["dual_head"]}
    keras.utils.set_random_seed(int(seed))
    model = runner.build_model(model_cfg, prep)
    keras.utils.set_random_seed(int(seed))
    train_ds = create_dataset(prep.x_train, prep.y_train, batch_size=cfg["batch_size"],
                              seed=int(seed), is_training=True)
    val_ds = create_dataset(prep.x_val, prep.y_val, batch_size=256, is_training=False)
    resume = bool(resume and run_dir is not None and (Path(run_dir) / "state.json").exists())
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels without a positive: as the runner's notes
        model, history = train(model, train_ds, val_ds, prep.num_labels, loss="dual_head",
                               epochs=cfg["epochs"], learning_rate=cfg["learning_rate"],
                               loss_kwargs=loss_kwargs, threshold=cfg["threshold"],
                               patience=cfg["patience"] or None,
                               monitor=cfg["monitor"] if isinstance(cfg["monitor"], str)
                               else "val_f1_macro",  # it decides at 0.5 (study.MONITOR)
                               deterministic=True, run_dir=run_dir, resume=resume, verbose=0)
        seconds = runner._train_seconds(run_dir, time.time() - t0, resume)
        thr = cfg["threshold"]
        val = dual_head_summary(prep.y_val, np.asarray(model.predict(
            to_dense(prep.x_val), batch_size=256, verbose=0)), thr)
        test = dual_head_summary(prep.y_test, np.asarray(model.predict(
            to_dense(prep.x_test), batch_size=256, verbose=0)), thr)
    hist = {k: list(v) for k, v in history.history.items()}
    return runner.RunResult(prep.name, "dual_head", int(seed), dict(loss_kwargs), "", hist,
                     len(next(iter(hist.values()), [])), seconds, {"": test}, {}, val)


def _test_rows(res, dataset, candidate, setting):
    out = []
    for variant, threshold in (("", "0.5"), ("tuned", "tuned")):
        if variant not in res.summaries:
            continue
        values = res.summaries[variant]["value"]
        for metric in METRICS:
            out.append({"dataset": dataset, "candidate": candidate, "setting": setting,
                        "seed": res.seed, "threshold": threshold, "metric": metric,
                        "value": float(values[metric])})
    return out


def _write(path, rows, columns):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)  # never a half-written results file


def train_dir(folder, candidate, setting, seed):
    """The training folder of one model of a dataset's study:
    ``<folder>/train/<candidate>/<setting label>/seed<seed>`` (its epoch checkpoints,
    ``history.csv`` and ``state.json``, see :mod:`VLAP.training.run_dir`)."""
    return Path(folder) / "train" / candidate / setting_label(setting) / f"seed{int(seed)}"


def _open_dataset(folder, cfg, order, resume):
    """Start a dataset's study in ``folder`` (write its ``config.toml``) or reopen it to
    resume (check ``cfg`` against it). True when a resumed study had already finished."""
    path = folder / "config.toml"
    if resume:
        if path.is_file():
            diffs = runner.config_differences(load_config(path), cfg)
            if diffs:
                raise ConfigError(f"cannot resume {folder}: the config differs from its "
                                  f"config.toml in {'; '.join(diffs)}. Resume with the "
                                  "study's own config, or start a new study.")
        done = folder / "run.json"
        if done.is_file() and json.loads(done.read_text()).get("candidates") == order:
            return True
    else:
        started = [c for c in order if (folder / "train" / c).exists()]
        if started:
            raise FileExistsError(f"{folder} already holds the models of an earlier study "
                                  f"({', '.join(started)}); resume it (--resume, or "
                                  "run_dataset(..., resume=True)) or choose another --out: "
                                  "a study is never overwritten.")
    folder.mkdir(parents=True, exist_ok=True)
    if not (resume and path.is_file()):
        path.write_text(dump_toml(cfg))
    return False


def interrupted_detail(progress):
    """Which model an interrupted :func:`run_dataset` was at and what it kept, from its
    ``progress`` (one phrase).

    Example:
    >>> interrupted_detail({"model": "yeast bce - seed 0", "finished": 2})
    'training yeast bce - seed 0 (kept: 2 finished models; it had not finished an epoch)'
    """
    model, finished = progress.get("model"), progress.get("finished", 0)
    if model is None:
        return "before any model started"
    kept = f"{finished} finished model{'s' * (finished != 1)}"
    folder = progress.get("train_dir")
    if folder is not None and (Path(folder) / runner.TRAIN_SECONDS).is_file():
        return f"scoring {model} (kept: {kept} and its finished training)"
    if folder is not None and (Path(folder) / "state.json").is_file():
        try:
            last = int(json.loads((Path(folder) / "state.json").read_text())["last_epoch"])
            return f"training {model} (kept: {kept} and its checkpoint of epoch {last + 1})"
        except (ValueError, KeyError, TypeError, OSError):
            pass
    return f"training {model} (kept: {kept}; it had not finished an epoch)"


def run_dataset(cfg, out, candidates=None, data_dir=None, log=print, *, resume=False,
                progress=None):
    """Run every candidate on the one dataset of ``cfg``; write ``out/<dataset>/``.

    Every model trains in its own folder, :func:`train_dir`, with a checkpoint
    each epoch. With ``resume``, a study that was interrupted continues as
    ``vlap run --resume`` does: its finished models are loaded as they were and
    scored again, the interrupted one continues from its last epoch checkpoint,
    the rest train as planned, so the folder ends as an uninterrupted study's
    (``results.csv``, ``selection.csv``, every checkpoint). ``cfg`` must then
    equal the folder's ``config.toml`` (else a ConfigError names the settings
    that differ); a study that had finished is left unchanged. Without
    ``resume``, a folder that already holds models of the same candidates is
    refused (FileExistsError).

    Args:
        progress: dict or None. Filled in while models train (``model``,
            ``train_dir``, ``finished``) and emptied when the study ends, so
            that an interruption can say what was kept (:func:`interrupted_detail`).

    Returns:
        Path of the dataset's folder.
    """
    logging.getLogger("tensorflow").addFilter(runner.DropRetracingNotices())
    cfg = study_config(cfg)
    candidates = list(candidates or DEFAULT_CANDIDATES)
    for c in candidates:
        if c not in CANDIDATES:
            raise ValueError(f"Unknown candidate {c!r}. Valid: {sorted(CANDIDATES)}")
    (d,) = cfg["datasets"]
    t0 = time.time()
    prep = prepare_dataset(d, data_dir or cfg["data_dir"] or None)
    folder = Path(out) / prep.name
    # BCE first: its validation scores on the first seed are the selection's reference
    order = ["bce"] + [c for c in candidates if c != "bce"] if "bce" in candidates \
        else candidates
    skipped = []
    for cand in list(order):
        if MODEL_OPTIONS.get(cand, {}).get("head") == "dual" \
                and cfg["model"].get("kind", "mlp") != "mlp":
            order.remove(cand)
            skipped.append(cand)
    if _open_dataset(folder, cfg, order, resume):
        log(f"{folder} is already complete; nothing was changed")
        return folder
    log(f"{prep.summary()} (prepared in {time.time() - t0:.0f}s)")
    for cand in skipped:
        log(f"  {prep.name} {cand}: skipped (a dual head needs an MLP config; "
            f"this one is {cfg['model'].get('kind')!r})")
    seeds = [int(s) for s in cfg["seeds"]]
    results, selection, rules, reference = [], [], [], None

    def fit(cand, setting, seed):
        loss, kw = loss_kwargs(cand, setting, cfg["epochs"])
        run_dir = train_dir(folder, cand, setting, seed)
        runner._track(progress, f"{prep.name} {cand} {setting_label(setting)} seed {seed}",
                      run_dir)
        return _fitter(cand)(prep, cfg, loss, seed, loss_kwargs=kw, tune_thresholds=True,
                             run_dir=run_dir, resume=resume, choose_rule=True)

    for cand in order:
        _, _, settings = CANDIDATES[cand]
        tried = []
        for setting in settings:
            res = fit(cand, setting, seeds[0])
            rule = _rule_row(res, prep.name, cand, setting_label(setting))
            # the setting is chosen at the rule its model would ship (selection.choose_setting)
            tried.append((setting, res, {**_val(res), "rule": rule["rule"],
                                         "val_f1_macro_tuned_oof": rule["val_f1_macro_tuned_oof"]}))
            shipped = (f", tuned out of fold {rule['val_f1_macro_tuned_oof']:.3f} (shipped)"
                       if rule["rule"] == "tuned" else "")
            log(f"  {prep.name} {cand} {setting_label(setting)} seed={seeds[0]}: "
                f"{res.epochs_run} epochs, {res.train_seconds:.0f}s, val macro-F1 "
                f"{tried[-1][2]['val_f1_macro']:.3f} at 0.5{shipped}, mAP "
                f"{tried[-1][2]['val_average_precision_macro']:.3f}, count MAE "
                f"{tried[-1][2]['val_label_count_mae']:.3f}")
        pick = choose([t[2] for t in tried], reference, goal_aware=cand not in BASELINES)
        if cand == "bce":
            reference = tried[0][2]
        for i, (setting, res, val) in enumerate(tried):
            selection.append({"dataset": prep.name, "candidate": cand,
                              "setting": setting_label(setting), "seed": seeds[0],
                              **{k: round(v, 6) for k, v in _val(res).items()},
                              "val_f1_macro_tuned_oof": val["val_f1_macro_tuned_oof"],
                              "rule": val["rule"],
                              "epochs_run": res.epochs_run, "chosen": i == pick})
        setting, res, _ = tried[pick]
        label = setting_label(setting)
        results += _test_rows(res, prep.name, cand, label)
        rules.append(_rule_row(res, prep.name, cand, label))
        for seed in seeds[1:]:
            res = fit(cand, setting, seed)
            results += _test_rows(res, prep.name, cand, label)
            rules.append(_rule_row(res, prep.name, cand, label))
            s = res.summaries[""]["value"]
            log(f"  {prep.name} {cand} {label} seed={seed}: test macro-F1 "
                f"{s['f1_macro']:.3f}, mAP {s['average_precision_macro']:.3f}")
        _write(folder / "results.csv", results, RESULT_COLUMNS)  # after every candidate
        _write(folder / "selection.csv", selection, list(selection[0]))
        _write(folder / "rules.csv", rules, RULE_COLUMNS)
    meta = {"dataset": prep.name, "seeds": seeds, "candidates": order,
            **({"skipped": skipped} if skipped else {}),
            "seconds": round(time.time() - t0, 1), **_provenance()}
    if progress is not None:
        progress.clear()  # nothing is left to interrupt
    from VLAP.training.run_dir import write_json  # Keras: only once models are trained

    write_json(folder / "run.json", meta)  # last: the mark of a finished study
    return folder


def run_picks(cfg, out, picks, data_dir=None, log=print, *, resume=False):
    """Train each ``(candidate, setting label)`` of ``picks`` on every seed of ``cfg``;
    write their test rows to ``out/<dataset>/lodo.csv`` (columns of ``results.csv``).
    Each model trains in ``out/<dataset>/train_picks/<candidate>/<label>/seed<seed>``
    with a checkpoint each epoch; with ``resume`` the finished ones are loaded as they
    were and an interrupted one continues from its last epoch.

    For the leave-one-dataset-out table: a setting recommended on the other
    datasets that the held-out dataset's own selection did not choose has no test
    rows in ``results.csv``; this run supplies them (same config, seeds, training).
    """
    logging.getLogger("tensorflow").addFilter(runner.DropRetracingNotices())
    cfg = study_config(cfg)
    (d,) = cfg["datasets"]
    t0 = time.time()
    prep = prepare_dataset(d, data_dir or cfg["data_dir"] or None)
    folder = Path(out) / prep.name
    folder.mkdir(parents=True, exist_ok=True)
    rows, rules = [], []
    for cand, label in picks:
        if cand not in CANDIDATES:
            raise ValueError(f"Unknown candidate {cand!r}. Valid: {sorted(CANDIDATES)}")
        loss, kw = loss_kwargs(cand, parse_setting(label), cfg["epochs"])
        fit = _fitter(cand)
        for seed in cfg["seeds"]:
            run_dir = folder / "train_picks" / cand / label / f"seed{int(seed)}"
            res = fit(prep, cfg, loss, int(seed), loss_kwargs=kw, tune_thresholds=True,
                      run_dir=run_dir, resume=resume, choose_rule=True)
            rows += _test_rows(res, prep.name, cand, label)
            rules.append(_rule_row(res, prep.name, cand, label))
            s = res.summaries[""]["value"]
            log(f"  {prep.name} {cand} {label} seed={seed}: test macro-F1 "
                f"{s['f1_macro']:.3f}, mAP {s['average_precision_macro']:.3f}")
        _write(folder / "lodo.csv", rows, RESULT_COLUMNS)
        _write(folder / "lodo_rules.csv", rules, RULE_COLUMNS)
    meta = {"dataset": prep.name, "seeds": [int(s) for s in cfg["seeds"]],
            "picks": [f"{c}:{lbl}" for c, lbl in picks],
            "seconds": round(time.time() - t0, 1), **_provenance()}
    (folder / "run.json").write_text(json.dumps(meta, indent=2))
    return folder


def missing_picks(merged, which="lodo"):
    """``{dataset: [(candidate, setting)]}``: the picks of the merged study folder
    ``merged`` (chosen on validation) that have no test rows yet: the leave-one-dataset-out
    picks (``which="lodo"``), or the recommendation on every dataset (``"recommended"``)."""
    df = load(merged, lodo=True)
    sel = load_selection(merged)
    if which == "lodo":
        picks = leave_one_out(sel)
    else:
        cand, setting, _ = recommend(sel)
        picks = pd.DataFrame({"held_out": sorted(validation_goals(sel).dataset.unique()),
                              "candidate": cand, "setting": setting})
    out: dict = {}
    for p in picks.itertuples():
        if pick_rows(df, p.held_out, p.candidate, p.setting) is None:
            out.setdefault(p.held_out, []).append((p.candidate, p.setting))
    return out


def main(argv=None):
    """``python -m VLAP.experiments.study {lodo,recommended} MERGED --out DIR``: train the
    leave-one-dataset-out picks (or the recommended setting) of the merged study ``MERGED``
    that have no test rows, with each dataset's shipped config and the seeds of its study
    run (``runs.json``); the rows go to ``DIR/beyond/<dataset>/lodo.csv``."""
    parser = argparse.ArgumentParser(prog="python -m VLAP.experiments.study")
    parser.add_argument("command", choices=["lodo", "recommended"])
    parser.add_argument("merged", help="merged study folder, e.g. experiments/beyond")
    parser.add_argument("--out", required=True, help="folder for <dataset>/lodo.csv")
    parser.add_argument("--datasets", default="",
                        help="only these held-out datasets (comma-separated)")
    parser.add_argument("--dry-run", action="store_true", help="only list the runs")
    parser.add_argument("--resume", action="store_true",
                        help="continue interrupted runs from their last epoch checkpoints")
    args = parser.parse_args(argv)
    runs = json.loads((Path(args.merged) / "runs.json").read_text())
    todo = missing_picks(args.merged, args.command)
    if args.datasets:
        todo = {d: p for d, p in todo.items() if d in args.datasets.split(",")}
    for dataset, picks in sorted(todo.items()):
        seeds = runs[dataset]["seeds"]
        print(f"{dataset}: {picks}, seeds {seeds}", flush=True)
        if not args.dry_run:
            cfg = load_config(dataset, overrides={"seeds": seeds})
            run_picks(cfg, Path(args.out) / "beyond", picks,
                      log=lambda m: print(m, flush=True), resume=args.resume)
    return 0


def _fitter(candidate):
    """``fit(prep, cfg, loss, seed, loss_kwargs=..., tune_thresholds=..., run_dir=...,
    resume=...)`` of a candidate."""
    if MODEL_OPTIONS.get(candidate, {}).get("head") == "dual":
        return lambda prep, cfg, loss, seed, loss_kwargs, tune_thresholds, run_dir=None, \
            resume=False, choose_rule=False: train_dual_head(prep, cfg, seed, loss_kwargs,
                                                             run_dir=run_dir, resume=resume)
    return runner.train_and_evaluate


def run_batch_sizes(cfg, out, batch_sizes, candidates, chosen, data_dir=None, log=print, *,
                    resume=False, progress=None):
    """Train ``candidates`` at each batch size (their chosen settings); test scores.

    ``chosen`` maps candidate -> setting dict (from the dataset's selection).
    The learning rate and the epochs stay the config's, so a larger batch also
    means fewer steps: compare each loss with BCE at the same batch size.
    Each model trains in ``<out>/<dataset>/train_batch_size/bs<size>/<candidate>/
    seed<seed>`` with a checkpoint each epoch; with ``resume`` the finished ones are
    loaded as they were and an interrupted one continues from its last epoch
    (``progress``: as in :func:`run_dataset`).
    """
    (d,) = cfg["datasets"]
    prep = prepare_dataset(d, data_dir or cfg["data_dir"] or None)
    folder = Path(out) / prep.name
    rows = []
    for bs in batch_sizes:
        run_cfg = {**cfg, "batch_size": int(bs)}
        for cand in candidates:
            loss, kw = loss_kwargs(cand, chosen.get(cand, {}), cfg["epochs"])
            for seed in cfg["seeds"]:
                run_dir = (folder / "train_batch_size" / f"bs{int(bs)}" / cand /
                           f"seed{int(seed)}")
                if progress is not None:
                    runner._track(progress, f"{prep.name} batch {bs} {cand} seed {seed}",
                                  run_dir)
                res = runner.train_and_evaluate(
                    prep, run_cfg, loss, int(seed), loss_kwargs=kw, run_dir=run_dir,
                    resume=resume)
                values = res.summaries[""]["value"]
                rows += [{"dataset": prep.name, "candidate": cand, "batch_size": int(bs),
                          "seed": int(seed), "metric": m, "value": float(values[m])}
                         for m in METRICS]
                log(f"  {prep.name} batch {bs} {cand} seed={seed}: macro-F1 "
                    f"{values['f1_macro']:.3f}, #pred {values['mean_predicted_labels']:.2f}")
            _write(folder / "batch_size.csv", rows, BATCH_COLUMNS)
    return folder / "batch_size.csv"


def chosen_settings(folder):
    """candidate -> chosen setting dict, read back from ``selection.csv``."""
    out = {}
    with open(Path(folder) / "selection.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["chosen"] == "True":
                setting = {}
                if row["setting"] != "-":
                    for part in row["setting"].split(","):
                        key, value = part.split("=")
                        setting[key] = float(value)
                out[row["candidate"]] = setting
    return out


def _provenance():
    v = runner.versions()
    return {k: v.get(k) for k in ("git_commit", "git_dirty", "backend", "keras", "VLAP")}


def collect(study_dirs, dest):
    """Merge every dataset's files under ``study_dirs`` into ``dest`` (the committed copy).

    Args:
        study_dirs: a folder or a list of folders of ``vlap reproduce beyond``
            (``<out>/beyond``), e.g. the main study and a run of extra candidates;
            a folder that holds ``results.csv`` itself is an earlier merge (such
            as ``experiments/beyond``), read as it is (``dest`` may be one of them).
        dest: folder to write ``results.csv``, ``selection.csv``,
            ``batch_size.csv`` (when any dataset has one) and ``runs.json`` (each
            run's provenance, keyed ``<dataset>`` or ``<dataset>:<candidates>``).

    A candidate present in two folders for the same dataset is an error: the
    merged file must hold one run of each.
    """
    if isinstance(study_dirs, (str, Path)):
        study_dirs = [study_dirs]
    dest = Path(dest)
    merged: dict[str, list] = {"results.csv": [], "selection.csv": [], "batch_size.csv": [],
                               "lodo.csv": [], "rules.csv": [], "lodo_rules.csv": []}
    runs: dict = {}
    seen: dict = {}
    sources = []  # (folder, its runs: {key: meta})
    for study_dir in map(Path, study_dirs):
        if (study_dir / "results.csv").exists():  # an earlier merge
            meta = json.loads((study_dir / "runs.json").read_text()) \
                if (study_dir / "runs.json").exists() else {}
            sources.append((study_dir, meta))
            continue
        for folder in sorted(p for p in study_dir.iterdir() if p.is_dir()):
            meta = {}
            if (folder / "run.json").exists():
                meta = {folder.name: json.loads((folder / "run.json").read_text())}
            sources.append((folder, meta))
    for folder, metas in sources:
        for name in merged:
            if not (folder / name).exists():
                continue
            with open(folder / name, newline="") as f:
                rows = list(csv.DictReader(f))
            if name == "results.csv":
                for key in {(r["dataset"], r["candidate"]) for r in rows}:
                    if key in seen:
                        raise ValueError(f"{folder}: candidate {key[1]!r} of dataset "
                                         f"{key[0]!r} is also in {seen[key]}")
                    seen[key] = folder
            merged[name] += rows
        for run_key, meta in metas.items():
            dataset = meta.get("dataset", run_key.split(":")[0])
            if run_key in runs:  # a second run of the dataset: key it by what it trained
                run_key = (f"{dataset}:"
                           f"{','.join(meta.get('candidates') or meta.get('picks') or ['lodo'])}")
            base, n = run_key, 2
            while run_key in runs:  # never overwrite another run's provenance
                run_key, n = f"{base}#{n}", n + 1
            runs[run_key] = meta
    dest.mkdir(parents=True, exist_ok=True)
    for name, rows in merged.items():
        if rows:
            columns = list(dict.fromkeys(k for r in rows for k in r))
            _write(dest / name, rows, columns)
    (dest / "runs.json").write_text(json.dumps(runs, indent=2) + "\n")
    return dest


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main())
