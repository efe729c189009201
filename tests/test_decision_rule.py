"""The decision rule as one value (issue 25): VLAP.inference.rule.DecisionRule.

One immutable value, validated once, serves the NumPy evaluation, the streaming
evaluator, the Keras Decision layer (and so the packaged model), `vlap run` and
the Trainer metrics; these tests hold them against each other and against the
formulas written out by hand, and check that layers saved by earlier releases
load with the same decisions.
"""

import json

import keras
import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import f1_score

import VLAP
from VLAP.evaluation import MultilabelEvaluator, evaluate_predictions
from VLAP.inference import Decision, DecisionRule, package_model
from VLAP.inference.rule import (
    CutPoints,
    TopK,
    decide,
    exact_cut,
    logit,
    make_rule,
    register_rule,
    rule_kinds,
)

# The Decision configs the previous release wrote (get_config, rule keys only),
# for a fixed threshold, per-label thresholds, tuned cut points, top-k and a
# probability model with thresholds 0 and 1.
OLD_CONFIGS = {
    "fixed": {"label_names": ["a", "b", "c"], "thresholds": [0.5, 0.5, 0.5],
              "cut_points": [0.0, 0.0, 0.0], "from_logits": True, "top_k": None,
              "strategy": "fixed"},
    "per_label": {"label_names": ["a", "b", "c"],
                  "thresholds": [0.25000000000000006, 0.29999999999999993, 0.99999999],
                  "cut_points": [-1.0986122886681096, -0.8472978603872038, 18.420680728927607],
                  "from_logits": True, "top_k": None, "strategy": "per_label"},
    "tuned": {"label_names": ["a", "b", "c"],
              "thresholds": [0.999983298578152, 0.18242552380635635, 0.52497918747894],
              "cut_points": [11.0, -1.5, 0.1], "from_logits": True, "top_k": None,
              "strategy": "tuned"},
    "top_k": {"label_names": ["a", "b", "c"], "thresholds": 0.5, "cut_points": None,
              "from_logits": True, "top_k": 2, "strategy": "top_k"},
    "probabilities": {"label_names": ["a", "b", "c"], "thresholds": [0.0, 0.7, 1.0],
                      "cut_points": [-np.inf, 0.8472978603872034, np.inf],
                      "from_logits": False, "top_k": None, "strategy": "per_label"},
}


def _outputs(from_logits, seed=0, n=300):
    rng = np.random.default_rng(seed)
    if from_logits:
        x = rng.normal(0.0, 12.0, size=(n, 3))
        x[:20] = np.array([11.0, -1.5, 0.1])  # exactly at the cut points
    else:
        x = rng.random((n, 3))
        x[:20] = np.array([0.0, 0.7, 1.0])
    return x.astype("float32")


def _by_hand(config, outputs):
    """The previous release's rule written out: outputs > cut in their dtype, or top-k."""
    if config["top_k"] is not None:
        k = config["top_k"]
        want = np.zeros(outputs.shape, dtype=np.uint8)
        for i, row in enumerate(outputs):
            want[i, sorted(range(row.size), key=lambda j: (-row[j], j))[:k]] = 1
        return want
    values = config["cut_points"] if config["from_logits"] else config["thresholds"]
    return (outputs > exact_cut(values, outputs.dtype)).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(OLD_CONFIGS))
def test_layers_saved_by_the_previous_release_decide_and_save_as_before(name):
    old = OLD_CONFIGS[name]
    layer = Decision.from_config(json.loads(json.dumps(old)))
    outputs = _outputs(old["from_logits"])
    want = _by_hand(old, outputs)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(outputs)), want)
    np.testing.assert_array_equal(layer.decide(outputs), want)
    np.testing.assert_array_equal(layer.rule.apply(outputs, from_logits=old["from_logits"]),
                                  want)
    config = layer.get_config()
    assert {k: config[k] for k in old} == old  # the same keys and values when saved again
    assert layer.strategy == old["strategy"]


def test_factories_validate_once_with_the_argument_named():
    cases = [
        (lambda: DecisionRule.threshold(1.2), ValueError,
         r"`threshold` must be a probability in \[0, 1\]. Received: threshold=1.2"),
        (lambda: DecisionRule.threshold(True), TypeError, "threshold=True"),
        (lambda: DecisionRule.per_label([0.2, np.nan]), ValueError,
         r"Per-label thresholds must be probabilities in \[0, 1\]"),
        (lambda: DecisionRule.per_label([[0.2]]), ValueError, r"threshold.shape=\(1, 1\)"),
        (lambda: DecisionRule.per_label("high"), TypeError, "threshold='high'"),
        (lambda: DecisionRule.cut_points([0.0, np.nan]), ValueError, "NaN found"),
        (lambda: DecisionRule.top_k(1.5), TypeError, "top_k=1.5"),
        (lambda: DecisionRule.top_k(0), ValueError, "top_k=0"),
        (lambda: DecisionRule.threshold(0.5, head="first"), ValueError, "head='first'"),
        (lambda: DecisionRule.top_k(2).for_labels(1), ValueError,
         r"between 1 and num_labels=1.*top_k=2"),
        (lambda: DecisionRule.per_label([0.5, 0.5]).for_labels(3), ValueError,
         r"shape \(num_labels,\) = \(3,\)"),
        (lambda: make_rule(0.3, 2), ValueError, "Pass either `threshold` or `top_k`"),
        (lambda: make_rule(top_k=2, rule=DecisionRule.top_k(1)), ValueError,
         "Pass either `rule`"),
        (lambda: make_rule(rule="top2"), TypeError, "rule='top2'"),
        (lambda: make_rule("best"), ValueError, r"'tuned'.*threshold='best'"),
        (lambda: CutPoints([0.0, 1.0], [0.5, 0.5]), ValueError, "two different rules"),
        (lambda: DecisionRule.from_config({"kind": "nearest"}), ValueError,
         "Unknown decision rule kind 'nearest'"),
    ]
    for build, error, match in cases:
        with pytest.raises(error, match=match):
            build()


def test_a_rule_is_an_immutable_value_with_a_config():
    rule = DecisionRule.per_label([0.25, 0.3, 0.99999999], strategy="tuned")
    with pytest.raises(AttributeError, match="immutable"):
        rule.strategy = "fixed"
    with pytest.raises(ValueError):
        rule.logits[0] = 0.0  # read-only arrays
    again = DecisionRule.from_config(json.loads(json.dumps(rule.get_config())))
    assert again == rule and hash(again) == hash(rule)
    assert again.thresholds.tolist() == [0.25, 0.3, 0.99999999]  # exact, not via logits
    assert again.logits.tolist() == logit([0.25, 0.3, 0.99999999]).tolist()
    assert rule.replace(strategy="fixed").strategy == "fixed" and rule.strategy == "tuned"
    assert DecisionRule.top_k(2) == TopK(2) != DecisionRule.top_k(3)
    assert DecisionRule.threshold(0.5) != DecisionRule.threshold(0.5, head="score")
    assert set(rule_kinds()) >= {"cut_points", "top_k"}
    assert DecisionRule.threshold(0.3).strategy == "fixed"
    assert DecisionRule.cut_points([0.0, 1.0]).strategy == "per_label"


def test_probabilities_and_logits_decide_alike_and_exactly():
    rng = np.random.default_rng(4)
    t = np.concatenate([rng.random(20), [0.1, 0.25, 0.3, 0.5, 0.99999999]])
    rule = DecisionRule.per_label(t)
    p = np.repeat(t[None, :], 3, axis=0)
    p[1] = np.nextafter(t, 2.0)
    p[2] = rng.random(t.size)
    np.testing.assert_array_equal(rule.apply(p, from_logits=False), p > t)  # exact threshold
    logits = logit(p[2]).astype("float32")[None, :]
    np.testing.assert_array_equal(rule.apply(logits),
                                  logits.astype(np.float64) > logit(t))  # float32 logits
    # a threshold near one stays a logit cut that float32 logits can exceed
    near_one = DecisionRule.threshold(0.99999999)
    assert near_one.apply(np.array([[18.5, 18.3]], "float32")).tolist() == [[1, 0]]


def test_the_rule_selects_its_head_of_a_dual_head_model():
    outputs = np.array([[2.0, -2.0, -3.0, 4.0]])  # decision head, then score head
    assert DecisionRule.threshold(0.5).apply(outputs, heads=2).tolist() == [[1, 0]]
    assert DecisionRule.threshold(0.5, head="score").apply(outputs, heads=2).tolist() == [[0, 1]]
    layer = Decision.from_config(Decision(["a", "b"], rule=DecisionRule.top_k(
        1, head="score")).get_config())
    assert layer.rule.head == "score" and layer.get_config()["head"] == "score"


def test_evaluate_predictions_takes_a_rule_or_the_keywords_alike():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 5)) < 0.3).astype(int)
    s = rng.random((200, 5))
    t = np.array([0.2, 0.4, 0.5, 0.6, 0.8])
    for kwargs, rule in (({"threshold": 0.4}, DecisionRule.threshold(0.4)),
                         ({"threshold": t}, DecisionRule.per_label(t)),
                         ({"top_k": 2}, DecisionRule.top_k(2))):
        by_keywords = evaluate_predictions(y, s, **kwargs)
        by_rule = evaluate_predictions(y, s, rule=rule)
        as_threshold = evaluate_predictions(y, s, threshold=rule)  # a rule as the threshold
        assert by_keywords["value"].equals(by_rule["value"])
        assert by_rule["value"].equals(as_threshold["value"])
        assert by_keywords.attrs == by_rule.attrs
    decisions = DecisionRule.per_label(t).apply(s, from_logits=False)
    assert evaluate_predictions(y, s, threshold=t).loc["f1_macro", "value"] == pytest.approx(
        f1_score(y, decisions, average="macro", zero_division=0), abs=1e-12)
    streamed = MultilabelEvaluator(rule=DecisionRule.per_label(t))
    for rows in (slice(0, 70), slice(70, 200)):
        streamed.update(y[rows], s[rows])
    np.testing.assert_allclose(streamed.result()["value"],  # sums in two batches
                               evaluate_predictions(y, s, threshold=t)["value"], atol=1e-12)
    with pytest.raises(ValueError, match="Pass either `rule`"):
        evaluate_predictions(y, s, threshold=0.3, rule=DecisionRule.top_k(1))


def test_decide_is_the_rule_and_the_layer_is_the_rule_on_this_backend():
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 3.0, size=(500, 4)).astype("float32")
    logits[:50] = np.round(logits[:50])  # ties for top-k
    cuts = [0.0, -1.0, 1.5, 2.0]
    for rule, kwargs in ((DecisionRule.cut_points(cuts), {"cut_points": cuts}),
                         (DecisionRule.top_k(2), {"top_k": 2})):
        want = rule.apply(logits)
        np.testing.assert_array_equal(decide(logits, **kwargs), want)
        layer = Decision(list("abcd"), rule=rule)
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(layer(logits)).astype(np.uint8), want)


@register_rule("test_at_least_one")
class AtLeastOne(DecisionRule):
    """Cut points, but never an empty prediction: the top label at least."""

    def __init__(self, probability=0.5, **kwargs):
        self.cut = DecisionRule.threshold(probability)
        super().__init__(**kwargs)

    def arguments(self):
        return {"probability": float(self.cut.thresholds)}

    def decide(self, xp, outputs, from_logits):
        return xp.logical_or(self.cut.decide(xp, outputs, from_logits),
                             TopK(1).decide(xp, outputs, from_logits))


def test_a_registered_rule_runs_everywhere_and_is_saved(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 3)).astype("float32")
    y = (x > 1.0).astype(int)
    rule = AtLeastOne(0.9)
    want = ((expit(x.astype(np.float64)) > 0.9) | (x == x.max(1, keepdims=True))).astype(np.uint8)
    np.testing.assert_array_equal(rule.apply(x), want)
    report = evaluate_predictions(y, expit(x.astype(np.float64)), rule=rule)
    assert report.attrs["threshold_strategy"] == "test_at_least_one"
    assert report.loc["mean_predicted_labels", "value"] == pytest.approx(want.sum(1).mean())
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    net.layers[-1].set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    predictor = package_model(net, ["a", "b", "c"], rule=rule)
    predictor.save(tmp_path / "m.keras")
    loaded = VLAP.inference.load_predictor(tmp_path / "m.keras")
    assert loaded.rule == rule
    frame = VLAP.predict(loaded, x)
    got = np.array([[n in row.split("|") for n in "abc"] for row in frame["labels"]])
    np.testing.assert_array_equal(got, want.astype(bool))
    shipped = VLAP.evaluate(loaded, (x, y))
    assert shipped.loc["f1_macro", "value"] == pytest.approx(
        f1_score(y, want, average="macro", zero_division=0), abs=1e-12)


def test_thresholded_counts_keep_a_raw_cut_on_the_scores_scale():
    """ThresholdedCounts' `threshold` is a cut on whatever the scores are (the legacy
    validation callback counts logits against a logit cut), not a probability."""
    from VLAP.evaluation.counts import ThresholdedCounts

    rng = np.random.default_rng(3)
    y = (rng.random((100, 4)) < 0.4).astype(np.uint8)
    logits = rng.normal(0.0, 3.0, size=y.shape).astype("float32")
    for cut in (-1.5, 0.0, 2.0, np.array([-3.0, -0.5, 0.5, 3.0])):
        counts = ThresholdedCounts(4)
        counts.update(y, logits, threshold=cut)
        want = f1_score(y, logits.astype(np.float64) > cut, average="macro", zero_division=0)
        assert counts.metrics()["f1_macro"] == pytest.approx(want, abs=1e-12)
        by_rule = ThresholdedCounts(4)
        by_rule.update(y, logits, rule=DecisionRule.cut_points(cut), from_logits=True)
        assert by_rule.metrics() == counts.metrics()
