"""Saving the trained models of a run: one packaged `.keras` file per dataset and loss.

Everything shipped is chosen on the validation split, and what is reported is
the shipped file itself:

- the decision rule of each trained model: per-label cut points tuned on the
  validation split, or the fixed 0.5, whichever scores the higher validation
  macro-F1 *out of fold* (:func:`VLAP.inference.tuning.choose_rule`; tuned
  cuts always win in sample); a model trained with one best epoch per rule
  (``monitor = ["val_f1_macro_tuned", "val_f1_macro"]``, the default on your own
  data) compares its best epoch at 0.5 with its best epoch with tuned cuts
  (:func:`VLAP.inference.tuning.choose_epoch_rule`) and ships that pair;
- for each loss, the seed whose rule has the best such validation macro-F1 is
  packaged with that rule, the label names and the dataset's fitted featuriser
  (:func:`VLAP.inference.package_model`) and saved as
  ``models/<dataset>/<loss>.keras``;
- the saved file is loaded back and scored on the test split with its own
  decisions (:func:`VLAP.evaluate` on a packaged model): those figures go into
  ``models.json``, the console and ``results.md`` ("Shipped models"), so the
  number a user reads is the number the file they ship produces;
- ``models.json`` marks the best loss of each dataset by the same validation
  figure (:func:`VLAP.inference.load_predictor` reads it).
"""

import json
import warnings
from pathlib import Path

from VLAP.experiments.results import display_name

#: How models.json says the models were chosen.
SELECTED_BY = ("validation macro-F1 of each model's decision rule (per-label cuts tuned on the "
               "validation split, or 0.5, whichever is higher out of fold on the validation "
               "split; with one best epoch per rule, each rule at its own best epoch): best "
               "seed per loss, best loss per dataset")
#: The test figures of each shipped model in models.json and results.md.
SHIPPED_METRICS = (("f1_macro", "macro-F1"), ("f1_micro", "micro-F1"),
                   ("average_precision_macro", "mAP"), ("label_count_mae", "label-count MAE"),
                   ("mean_predicted_labels", "mean #pred"), ("mean_true_labels", "mean #true"))


def shipped_rule(res) -> "tuple[dict, float]":
    """The decision rule a trained model would ship with, and its validation macro-F1.

    A model trained with one best epoch per rule (``res.shipped``, see
    :func:`VLAP.experiments.runner.train_and_evaluate`) ships the (epoch, rule)
    pair chosen on validation (:func:`VLAP.inference.tuning.choose_epoch_rule`):
    ``res.model`` holds that epoch's weights.

    Returns:
        ``(record, score)``: ``record`` from
        :func:`VLAP.inference.tuning.choose_rule` (strategy, cut points,
        validation figures; with one best epoch per rule also ``weights``,
        ``epoch`` and ``why``) plus ``from_logits``; ``score`` the validation
        macro-F1 of the chosen rule (out of fold for tuned cuts).
    """
    from VLAP.inference.tuning import choose_rule

    y_val, outputs, from_logits = res.val_scores
    if getattr(res, "shipped", None) is not None:  # one best epoch per rule: the pair chosen
        record = dict(res.shipped)
    else:
        outputs = outputs[:, :y_val.shape[1]]  # a dual head decides with its first half
        record = choose_rule(y_val, outputs, from_logits=bool(from_logits))
    record["from_logits"] = bool(from_logits)
    score = (record["val_f1_macro_tuned_oof"] if record["strategy"] == "tuned"
             else record["val_f1_macro_fixed"])
    return record, float(score)


def _rule_text(meta):
    d = meta["decision"]
    oof = d["val_f1_macro_tuned_oof"]
    versus = "n/a" if oof is None else f"{oof:.3f}"
    each = " (each at its rule's best epoch)" if d.get("weights") else ""
    epoch = f"; ships {d['why']}" if d.get("why") else ""
    return (f"{'tuned cuts' if d['strategy'] == 'tuned' else 'threshold 0.5'} (validation "
            f"macro-F1 {d['val_f1_macro_fixed']:.3f} at 0.5, {versus} tuned out of fold"
            f"{each}{epoch})")


def save_models(best: dict, prep, run_dir: Path, cfg: dict, log=print) -> "list[dict]":
    """Package, save and score the kept model of each loss; return the models.json entries.

    Args:
        best: dict. loss -> (RunResult with `model`, rule record, validation
            macro-F1 of the rule) from :func:`shipped_rule`.
        prep: Prepared. Its label names and fitted featuriser go into each
            model; its test split scores the saved file.
        run_dir: Path. Models go to `models/<dataset>/<loss>.keras`.

    Returns:
        list of dict. One entry per saved model (`dataset`, `loss`, `file`,
        `seed`, `loss_kwargs`, `decision`, `val_f1_macro` (the rule's),
        `val_f1_macro_at_0.5`, `test` (the saved file's test figures), `best`);
        the best loss by `val_f1_macro` is marked.
    """
    from VLAP.evaluation.report import evaluate
    from VLAP.inference.predictor import load_predictor, package_model  # Keras

    entries = []
    folder = run_dir / "models" / prep.name
    folder.mkdir(parents=True, exist_ok=True)
    for loss, (res, record, f1) in best.items():
        file = folder / f"{loss}.keras"
        decision = {k: v for k, v in record.items() if k != "cut_points"}
        meta = {"dataset": prep.name, "loss": loss, "seed": res.seed,
                "loss_kwargs": res.loss_kwargs, "decision": decision,
                "val_f1_macro": round(f1, 6),
                "val_f1_macro_at_0.5": round(float(res.val_summary["value"]["f1_macro"]), 6)}
        try:
            # via a temporary file: a run killed while saving leaves no half a model
            tmp = file.with_name(f".{file.stem}.tmp.keras")
            try:
                package_model(res.model, prep.label_names, cut_points=record["cut_points"],
                              from_logits=record["from_logits"], featurizer=prep.featurizer,
                              input_column=prep.input_column, metadata=meta).save(tmp)
                tmp.replace(file)
            finally:
                tmp.unlink(missing_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # labels absent from test: reported in notes
                shipped = evaluate(load_predictor(file), (prep.x_test, prep.y_test))
        except Exception as err:  # noqa: BLE001 - a model that cannot be saved must not end the run
            log(f"  could not save the {loss} model of {prep.name}: {type(err).__name__}: {err}")
            continue
        meta["test"] = {k: round(float(shipped.loc[k, "value"]), 6) for k, _ in SHIPPED_METRICS}
        # `display`: the loss named by its parts and options, for people (issue 27)
        entries.append(dict(meta, display=display_name(loss, "", res.loss_kwargs),
                            file=str(file.relative_to(run_dir)), best=False))
        t = meta["test"]
        log(f"  shipped {display_name(loss, '', res.loss_kwargs)} (seed {res.seed}): "
            f"{_rule_text(meta)}; the saved file on test: macro-F1 {t['f1_macro']:.3f}, "
            f"mAP {t['average_precision_macro']:.3f}, #pred {t['mean_predicted_labels']:.2f} "
            f"(true {t['mean_true_labels']:.2f})")
    if entries:
        from VLAP.experiments.selection import best_index

        # validation scores only: the entries also hold the saved file's test scores
        top = entries[best_index([{"val_f1_macro": e["val_f1_macro"]} for e in entries],
                                 "val_f1_macro")]
        top["best"] = True
        log(f"  saved {len(entries)} models to {folder}; best on validation: "
            f"{top['display']} (validation macro-F1 {top['val_f1_macro']:.3f} "
            "with its decision rule)")
    return entries


def shipped_markdown(entries: "list[dict]") -> str:
    """``results.md``'s "Shipped models" section: each saved file's own test figures."""
    if not entries:
        return ""
    lines = ["", "## Shipped models", "",
             "Each `models/<dataset>/<loss>.keras` file, loaded back and scored on the test "
             "split with its own decision rule (chosen on the validation split: tuned "
             "per-label cuts or 0.5, whichever scored higher out of fold). These are the "
             "numbers `vlap predict` reproduces.", ""]
    header = ["dataset", "loss", "seed", "rule", "val macro-F1"] + [h for _, h in SHIPPED_METRICS]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for e in entries:
        rule = "tuned" if e["decision"]["strategy"] == "tuned" else "0.5"
        name = display_name(e["loss"], "", e.get("loss_kwargs")) + (" (best)" if e["best"] else "")
        cells = [e["dataset"], name, str(e["seed"]), rule, f"{e['val_f1_macro']:.3f}"]
        cells += [f"{e['test'][k]:.3f}" for k, _ in SHIPPED_METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def shipped_console(run_dir) -> str:
    """The console summary of a run's shipped models (from ``models.json``), or ""."""
    from VLAP.inference.predictor import MODELS_INDEX

    index = run_dir / MODELS_INDEX
    if not index.is_file():
        return ""
    entries = json.loads(index.read_text(encoding="utf-8"))["models"]
    lines = ["Shipped models (each saved file on the test split, with its own decision rule "
             "chosen on validation; what `vlap predict` gives):"]
    for e in entries:
        t = e["test"]
        rule = "tuned cuts" if e["decision"]["strategy"] == "tuned" else "threshold 0.5"
        lines.append(
            f"  {e['dataset']}/{display_name(e['loss'], '', e.get('loss_kwargs'))}"
            f"{' (best)' if e['best'] else ''}: {rule}, seed {e['seed']}; test macro-F1 "
            f"{t['f1_macro']:.3f}, micro-F1 {t['f1_micro']:.3f}, mAP "
            f"{t['average_precision_macro']:.3f}, #pred {t['mean_predicted_labels']:.2f} "
            f"(true {t['mean_true_labels']:.2f})  -> {e['file']}")
    return "\n".join(lines)


def write_models_index(run_dir: Path, entries: "list[dict]") -> None:
    """Write ``models.json``: ``{"selected_by": ..., "models": entries}``."""
    from VLAP.inference.predictor import MODELS_INDEX

    tmp = run_dir / f".{MODELS_INDEX}.tmp"
    tmp.write_text(json.dumps({"selected_by": SELECTED_BY, "models": entries}, indent=2))
    tmp.replace(run_dir / MODELS_INDEX)  # whole or not at all
