"""The results summaries name the best loss of each column (not only sigmoidF1 vs BCE)."""

from VLAP.experiments.results import console_table, markdown_tables


def _rows():
    values = {  # loss, variant -> metric values
        ("sigmoid_f1", ""): {"f1_macro": 0.60, "average_precision_macro": 0.70,
                             "label_count_mae": 1.2, "mean_predicted_labels": 3.5},
        ("binary_crossentropy", ""): {"f1_macro": 0.55, "average_precision_macro": 0.75,
                                      "label_count_mae": 0.8, "mean_predicted_labels": 1.4},
        ("focal", ""): {"f1_macro": 0.60, "average_precision_macro": 0.65,
                        "label_count_mae": 0.9, "mean_predicted_labels": 1.6},
    }
    rows = []
    for (loss, variant), metrics in values.items():
        for metric, value in dict(metrics, mean_true_labels=1.7).items():
            rows.append({"dataset": "own", "loss": loss, "variant": variant, "loss_kwargs": "{}",
                         "seed": 0, "metric": metric, "value": value})
    return rows


def test_best_loss_of_each_column_is_named():
    cfg = {"name": "own", "seeds": [0], "threshold": 0.5}
    text = console_table(_rows(), cfg)
    best = text.strip().splitlines()[-1]
    assert best.strip().startswith("best:")
    assert "macro-F1: sigmoidF1 = focal" in best  # ties keep both
    assert "mAP: BCE" in best and "label-count MAE: BCE" in best
    assert "mean #pred (closest to #true): focal" in best
    md = markdown_tables(_rows(), dict(cfg, description=""))
    assert "- Best per column: macro-F1: sigmoidF1 = focal; micro-F1" not in md  # no micro rows
    assert "- Best per column: macro-F1: sigmoidF1 = focal; mAP: BCE" in md
