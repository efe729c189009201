"""Every figure of VLAP.plots is written as a valid PNG."""

import numpy as np
import pandas as pd
from PIL import Image

from VLAP import plots


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == plots.PNG_SIGNATURE
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100


def test_learning_curves(tmp_path):
    hist = {"sigmoidF1": {"loss": [0.6, 0.5, 0.4], "val_f1_macro": [0.2, 0.3, 0.35]},
            "BCE": {"loss": [0.7, 0.3], "val_f1_macro": [0.1, 0.2]}}
    _assert_png(plots.learning_curves(hist, tmp_path / "sub" / "lc.png", title="t"))


def test_per_label_f1(tmp_path):
    idx = pd.Index([f"genre {i}" for i in range(6)], name="label")
    table = pd.DataFrame({"support": [5, 9, 1, 3, 0, 2], "f1": np.linspace(0, 1, 6)}, index=idx)
    _assert_png(plots.per_label_f1({"a": table, "b": table.assign(f1=0.5)},
                                   tmp_path / "pl.png", max_labels=4))


def test_label_count_histogram(tmp_path):
    true = np.array([1, 2, 2, 3, 0])
    _assert_png(plots.label_count_histogram(true, {"BCE": [0, 1, 1, 2, 0], "sigmoidF1": [2, 3, 4, 3, 1]},
                                            tmp_path / "lc.png"))


def test_surrogate_vs_f1(tmp_path):
    _assert_png(plots.surrogate_vs_f1(tmp_path / "s.png", betas=(1.0, 30.0), eta=1.0))


def test_experiment_plots_from_results(tmp_path):
    from VLAP.evaluation import evaluate_predictions
    from VLAP.experiments import Prepared, RunResult
    from VLAP.experiments.results import experiment_plots

    rng = np.random.default_rng(0)
    y = (rng.random((30, 4)) < 0.4).astype(int)
    y[0], y[1] = 1, 0
    s = rng.random((30, 4))
    summ, table = evaluate_predictions(y, s, per_label=True, label_names=list("abcd"))
    tuned = evaluate_predictions(y, s, threshold="tuned", y_val=y, scores_val=s, per_label=True,
                                 label_names=list("abcd"))
    res = [RunResult("d", "binary_crossentropy", 0, {}, "", {"loss": [1, 0.5], "val_f1_macro": [0.1, 0.2]},
                     2, 1.0, {"": summ, "tuned": tuned[0]}, {"": table, "tuned": tuned[1]},
                     predicted_counts={"": (s > 0.5).sum(1), "tuned": (s > 0.3).sum(1)})]
    prep = Prepared("d", None, y, None, y, None, y, list("abcd"))
    paths = experiment_plots(res, prep, tmp_path)
    assert sorted(p.name for p in paths) == ["d_label_counts.png", "d_learning_curves.png",
                                             "d_per_label_f1.png"]
    for p in paths:
        _assert_png(p)


def test_plots_do_not_switch_the_global_backend():
    import matplotlib

    before = matplotlib.get_backend()
    import importlib

    importlib.reload(plots)
    assert matplotlib.get_backend() == before


def test_plots_import_neither_experiments_nor_a_backend():
    import subprocess
    import sys

    code = ("import sys, VLAP.plots; bad = [m for m in ('VLAP.experiments', 'keras') "
            "if m in sys.modules]; assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
