"""The shipped decision is the reported decision (issue 19).

One decision rule (VLAP.inference.decision) serves the report, the packaged
model and `vlap predict`: these tests hold the three against each other on
models with extreme logits, on sigmoid-output models, on tied scores, and on a
whole `vlap run`, with scikit-learn as the reference for every metric.
"""

import json
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score

import VLAP
from VLAP.inference import Decision, load_predictor, package_model
from VLAP.inference.decision import (
    MIN_TUNING_SUPPORT,
    choose_rule,
    decide,
    top_k_indicator,
    tune_cut_points,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "own_texts.csv"


def _fixed_logits_model(weights, bias=None):
    """A linear model x @ weights (+ bias): its logits are whatever x says."""
    n_in, n_out = weights.shape
    model = keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(n_out)])
    model.layers[-1].set_weights([weights.astype("float32"),
                                  np.zeros(n_out, "float32") if bias is None else bias])
    return model


def _extreme_case(seed=0, n=400, labels=4):
    """Inputs equal to the logits they produce: many beyond +-17, where float32
    sigmoids are exactly 1.0 or 0.0, and labels that follow them noisily."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 14.0, size=(n, labels)).astype("float32")
    y = (logits + rng.normal(0.0, 8.0, size=logits.shape) > 6.0).astype("int64")
    return _fixed_logits_model(np.eye(labels)), logits, y


def test_a_threshold_near_one_is_a_logit_cut_not_a_float32_one():
    rule = Decision(["a", "b"], thresholds=[0.99999999, 0.5])
    logits = np.array([[18.5, 0.1], [18.3, -0.1]], "float32")   # 18.42 is the cut
    assert keras.ops.convert_to_numpy(rule(logits)).tolist() == [[1, 1], [0, 0]]
    assert decide(logits, cut_points=rule.cut_points).tolist() == [[1, 1], [0, 0]]
    assert rule.cut_points[0] == pytest.approx(18.420680738952367)
    reloaded = Decision.from_config(json.loads(json.dumps(rule.get_config())))
    assert reloaded.cut_points == rule.cut_points


def test_predict_scores_do_not_saturate_and_recompute_the_report(tmp_path):
    model, x, y = _extreme_case()
    saturated = int((1 / (1 + np.exp(-x.astype("float32"))) == 1.0).sum())
    assert saturated > 100  # the case the issue found: float32 sigmoids stuck at 1.0
    predictor = package_model(model, ["a", "b", "c", "d"], thresholds="tuned",
                              val_data=(x[:200], y[:200]))
    assert np.isfinite(predictor.decision.cut_points).all()
    report = VLAP.evaluate(predictor, (x[200:], y[200:]))
    file = tmp_path / "m.keras"
    predictor.save(file)
    out = tmp_path / "pred.csv"  # arrays are a Python input: written as `vlap predict` does
    frame = VLAP.predict(str(file), x[200:], logits=True)
    frame.to_csv(out, index=False)
    back = pd.read_csv(out, keep_default_na=False)
    scores = back[[f"score_{n}" for n in "abcd"]].to_numpy()
    assert (scores < 1.0).sum() > (1 / (1 + np.exp(-x[200:])) < 1.0).sum()
    assert scores.max() <= 1.0 and (scores[x[200:] < 36] < 1.0).all()
    decisions = np.array([[n in row.split("|") for n in "abcd"] for row in back["labels"]])
    f1 = f1_score(y[200:], decisions, average="macro", zero_division=0)
    ap = average_precision_score(y[200:], scores, average="macro")
    assert abs(f1 - report.loc["f1_macro", "value"]) < 1e-6
    assert abs(ap - report.loc["average_precision_macro", "value"]) < 1e-6
    np.testing.assert_array_equal(back[[f"logit_{n}" for n in "abcd"]].to_numpy(),
                                  x[200:].astype(np.float64))


def test_tuned_cuts_are_finite_need_support_and_are_chosen_out_of_fold():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 3)) < 0.3).astype(int)
    y[:, 2] = 0
    y[:3, 2] = 1  # three positives: fewer than MIN_TUNING_SUPPORT
    logits = 60.0 * (2.0 * y - 1.0) + rng.normal(size=y.shape)  # far beyond saturation
    with pytest.warns(UserWarning, match="fewer than 5"):
        cuts = tune_cut_points(y, logits)
    assert np.isfinite(cuts).all() and cuts[2] == 0.0 and 3 < MIN_TUNING_SUPPORT
    # calibrated logits: 0.5 is right, tuned cuts only fit noise -> 0.5 ships
    p = rng.random((400, 4))
    y_cal = (rng.random(p.shape) < p).astype(int)
    calibrated = np.log(p) - np.log1p(-p)
    rule = choose_rule(y_cal, calibrated)
    assert rule["val_f1_macro_tuned_oof"] is not None
    assert (rule["strategy"] == "tuned") == (rule["val_f1_macro_tuned_oof"]
                                              > rule["val_f1_macro_fixed"])
    # shifted logits: 0.5 predicts almost nothing -> tuned cuts ship
    shifted = choose_rule(y_cal, calibrated - 4.0)
    assert shifted["strategy"] == "tuned"
    assert shifted["val_f1_macro_tuned_oof"] > shifted["val_f1_macro_fixed"]


def _sigmoid_output_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(3, activation="sigmoid")])


def test_sigmoid_output_models_are_never_squashed_twice(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 5)).astype("float32")
    y = (x[:, :3] > 0.3).astype("float32")
    model = _sigmoid_output_model()
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=VLAP.losses.SigmoidF1(from_logits=False))
    model.fit(x, y, epochs=30, batch_size=60, verbose=0)
    probs = keras.ops.convert_to_numpy(model.predict(x, verbose=0)).astype(np.float64)
    want = f1_score(y, probs > 0.5, average="macro", zero_division=0)
    assert want > 0.8
    report = VLAP.evaluate(model, (x, y))  # from_logits from the compiled loss
    assert abs(report.loc["f1_macro", "value"] - want) < 1e-9
    assert report.loc["mean_predicted_labels", "value"] < 2.0  # not "every label"
    bare = _sigmoid_output_model()
    bare.set_weights(model.get_weights())  # not compiled: the sigmoid layer says it
    assert abs(VLAP.evaluate(bare, (x, y)).loc["f1_macro", "value"] - want) < 1e-9
    predictor = package_model(bare, ["a", "b", "c"])
    assert predictor.from_logits is False
    predictor.save(tmp_path / "p.keras")
    frame = VLAP.predict(str(tmp_path / "p.keras"), x)
    decisions = np.array([[n in row.split("|") for n in "abc"] for row in frame["labels"]])
    np.testing.assert_array_equal(decisions, probs > 0.5)
    np.testing.assert_allclose(frame[["score_a", "score_b", "score_c"]].to_numpy(), probs,
                               atol=1e-6)  # float32 outputs; XLA may fuse differently
    shipped = VLAP.evaluate(load_predictor(tmp_path / "p.keras"), (x, y))
    assert abs(shipped.loc["f1_macro", "value"] - want) < 1e-9


def test_one_top_k_tie_rule_on_this_backend_and_numpy():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(2000, 6)).astype("float32")  # many ties
    for k in (1, 2, 3, 5):
        want = np.zeros(scores.shape, dtype=np.uint8)
        for i, row in enumerate(scores):  # the rule, by hand: high values, then low index
            want[i, sorted(range(6), key=lambda j: (-row[j], j))[:k]] = 1
        np.testing.assert_array_equal(top_k_indicator(scores, k), want)
        layer = Decision([str(j) for j in range(6)], top_k=k)
        got = keras.ops.convert_to_numpy(layer(scores)).astype(np.uint8)
        np.testing.assert_array_equal(got, want)
        report = VLAP.evaluation.evaluate_predictions(
            (scores > 1).astype(int), scores / 2.0, top_k=k)
        assert report.loc["mean_predicted_labels", "value"] == k


def _tickets_config(tmp_path, losses=("sigmoidF1", "bce")):
    cfg = tmp_path / "tickets.toml"
    cfg.write_text(
        'name = "tickets"\n'
        f"losses = {json.dumps(list(losses))}\n"
        "seeds = [0, 1]\nepochs = 12\nplots = false\n\n"
        '[dataset]\nkind = "csv"\n'
        f'path = "{FIXTURE.as_posix()}"\n'
        'text_column = "text"\nlabel_column = "labels"\nlabel_separator = "|"\n'
        'features = "tfidf"\n')
    return cfg


def test_vlap_run_reports_what_the_shipped_file_predicts(tmp_path):
    from VLAP.experiments import load_config, run_experiment
    from VLAP.experiments.prepare import prepare_dataset
    from VLAP.experiments.saving import shipped_console

    cfg = load_config(_tickets_config(tmp_path))
    run_dir = run_experiment(cfg, out=tmp_path / "runs", log=lambda *_: None)
    index = json.loads((run_dir / "models.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prep = prepare_dataset(cfg["datasets"][0], None)
    assert {m["loss"] for m in index["models"]} == {"sigmoid_f1", "binary_crossentropy"}
    for entry in index["models"]:
        assert entry["decision"]["strategy"] in ("tuned", "fixed")
        predictor = load_predictor(run_dir / entry["file"])
        assert predictor.decision.strategy in ("tuned", "per_label")
        # the saved file, through VLAP.predict, against scikit-learn
        frame = VLAP.predict(predictor, prep.x_test)
        names = predictor.label_names
        decisions = np.array([[n in row.split("|") for n in names] for row in frame["labels"]])
        scores = frame[[f"score_{n}" for n in names]].to_numpy()
        f1 = f1_score(prep.y_test, decisions, average="macro", zero_division=0)
        assert abs(f1 - entry["test"]["f1_macro"]) < 1e-6
        has_both = (prep.y_test.sum(0) > 0) & (prep.y_test.sum(0) < len(prep.y_test))
        ap = average_precision_score(prep.y_test[:, has_both], scores[:, has_both],
                                     average="macro")
        assert abs(ap - entry["test"]["average_precision_macro"]) < 1e-6
        # a tuned rule was chosen because it beat 0.5 out of fold on validation
        d = entry["decision"]
        if d["strategy"] == "tuned":
            assert d["val_f1_macro_tuned_oof"] > d["val_f1_macro_fixed"]
            assert entry["val_f1_macro"] == pytest.approx(d["val_f1_macro_tuned_oof"], abs=1e-6)
        else:
            assert entry["val_f1_macro"] == pytest.approx(d["val_f1_macro_fixed"], abs=1e-6)
    best = [e for e in index["models"] if e["best"]]
    assert len(best) == 1 and best[0]["val_f1_macro"] == max(
        e["val_f1_macro"] for e in index["models"])
    report = (run_dir / "results.md").read_text()
    console = shipped_console(run_dir)  # what `vlap run` prints after its table
    assert "## Shipped models" in report and console.startswith("Shipped models")
    for entry in index["models"]:
        assert f"{entry['test']['f1_macro']:.3f}" in report
        assert f"test macro-F1 {entry['test']['f1_macro']:.3f}" in console


def test_a_dual_head_run_decides_with_one_head_and_scores_with_the_other(tmp_path):
    """`head = "dual"` through vlap run, package_model, VLAP.evaluate and VLAP.predict."""
    from scipy.special import expit

    from VLAP.experiments import load_config, run_experiment
    from VLAP.experiments.prepare import prepare_dataset

    cfg_file = _tickets_config(tmp_path, losses=("dual_head",))
    cfg_file.write_text(cfg_file.read_text().replace("seeds = [0, 1]", "seeds = [0]")
                        + '\n[model]\nhead = "dual"\n')
    cfg = load_config(cfg_file)
    run_dir = run_experiment(cfg, out=tmp_path / "runs", log=lambda *_: None)
    (entry,) = json.loads((run_dir / "models.json").read_text())["models"]
    predictor = load_predictor(run_dir / entry["file"])
    assert predictor.head == "dual"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prep = prepare_dataset(cfg["datasets"][0], None)
    names = predictor.label_names
    n = len(names)
    raw = keras.ops.convert_to_numpy(predictor.classifier.predict(prep.x_test.toarray(),
                                                                   verbose=0))
    assert raw.shape == (len(prep.y_test), 2 * n)
    frame = VLAP.predict(predictor, prep.x_test, logits=True)
    # decisions from the decision head's cut points, scores from the score head
    want = decide(raw[:, :n], cut_points=predictor.decision.cut_points)
    got = np.array([[name in row.split("|") for name in names] for row in frame["labels"]])
    np.testing.assert_array_equal(got, want.astype(bool))
    np.testing.assert_allclose(frame[[f"score_{m}" for m in names]].to_numpy(),
                               expit(raw[:, n:].astype(np.float64)), rtol=1e-6)
    np.testing.assert_allclose(frame[[f"decision_{m}" for m in names]].to_numpy(),
                               expit(raw[:, :n].astype(np.float64)), rtol=1e-6)
    assert {f"score_logit_{m}" for m in names} <= set(frame.columns)
    # the run's figures are the file's, and VLAP.evaluate agrees with scikit-learn
    f1 = f1_score(prep.y_test, got, average="macro", zero_division=0)
    assert abs(f1 - entry["test"]["f1_macro"]) < 1e-6
    report = VLAP.evaluate(predictor, (prep.x_test, prep.y_test))
    has_both = (prep.y_test.sum(0) > 0) & (prep.y_test.sum(0) < len(prep.y_test))
    ap = average_precision_score(prep.y_test[:, has_both],
                                 frame[[f"score_{m}" for m in names]].to_numpy()[:, has_both],
                                 average="macro")
    assert abs(ap - report.loc["average_precision_macro", "value"]) < 1e-6
    assert abs(ap - entry["test"]["average_precision_macro"]) < 1e-6
