"""Saving the trained models of a run: one packaged `.keras` file per dataset and loss.

For each loss, the seed with the best validation macro-F1 (with per-label
thresholds tuned on the validation split) is packaged with those thresholds,
the label names and the dataset's fitted featuriser
(:func:`VLAP.inference.package_model`) and saved as
``models/<dataset>/<loss>.keras``; ``models.json`` lists them and marks the
best loss of each dataset (:func:`VLAP.inference.load_predictor` reads it).
"""

import json
import warnings

from VLAP.experiments.results import display_name

#: How models.json says the models were chosen.
SELECTED_BY = ("validation macro-F1 with per-label thresholds tuned on the validation split "
               "(best seed per loss, best loss per dataset)")


def tuned_val_f1(res):
    """Per-label thresholds tuned on validation and the validation macro-F1 they give."""
    from VLAP.inference import tune_thresholds
    from VLAP.evaluation.counts import ThresholdedCounts

    y_val, s_val = res.val_scores
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels without a positive keep 0.5
        thresholds = tune_thresholds(y_val, s_val)
    counts = ThresholdedCounts(y_val.shape[1])
    counts.update(y_val, s_val, threshold=thresholds)
    return [float(t) for t in thresholds], float(counts.metrics()["f1_macro"])


def save_models(best, prep, run_dir, cfg, log=print):
    """Package and save the kept model of each loss; return the models.json entries.

    Args:
        best: dict. loss -> (RunResult with `model`, tuned thresholds, tuned val F1).
        prep: Prepared. Its label names and fitted featuriser go into each model.
        run_dir: Path. Models go to `models/<dataset>/<loss>.keras`.

    Returns:
        list of dict. One entry per saved model (`dataset`, `loss`, `file`, `seed`,
        `val_f1_macro_tuned`, `val_f1_macro`, `best`); the best loss by
        `val_f1_macro_tuned` is marked.
    """
    from VLAP.inference import package_model

    entries = []
    folder = run_dir / "models" / prep.name
    folder.mkdir(parents=True, exist_ok=True)
    for loss, (res, thresholds, f1) in best.items():
        file = folder / f"{loss}.keras"
        meta = {"dataset": prep.name, "loss": loss, "seed": res.seed,
                "loss_kwargs": res.loss_kwargs, "val_f1_macro_tuned": round(f1, 6),
                "val_f1_macro": round(float(res.val_summary["value"]["f1_macro"]), 6),
                "threshold_strategy": "tuned on the validation split"}
        try:
            package_model(res.model, prep.label_names, thresholds=thresholds,
                          featurizer=prep.featurizer, input_column=prep.input_column,
                          metadata=meta).save(file)
        except Exception as err:  # noqa: BLE001 - a model that cannot be saved must not end the run
            log(f"  could not save the {loss} model of {prep.name}: {type(err).__name__}: {err}")
            continue
        entries.append(dict(meta, file=str(file.relative_to(run_dir)), best=False))
    if entries:
        from VLAP.experiments.selection import best_index

        top = entries[best_index([{"val_f1_macro_tuned": e["val_f1_macro_tuned"]}
                                  for e in entries], "val_f1_macro_tuned")]
        top["best"] = True
        log(f"  saved {len(entries)} models to {folder}; best on validation: "
            f"{display_name(top['loss'])} (macro-F1 {top['val_f1_macro_tuned']:.3f} with "
            "tuned thresholds)")
    return entries



def write_models_index(run_dir, entries):
    """Write ``models.json``: ``{"selected_by": ..., "models": entries}``."""
    from VLAP.inference.predictor import MODELS_INDEX

    (run_dir / MODELS_INDEX).write_text(json.dumps(
        {"selected_by": SELECTED_BY, "models": entries}, indent=2))
