"""VLAP.losses on the current Keras backend: values against NumPy references,
properties, gradients, serialization and error messages."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops
from sklearn.metrics import f1_score

import VLAP
from VLAP import losses
import reference as ref
from conftest import random_multilabel


def _f(x):
    return float(ops.convert_to_numpy(x))


def _grad(fn, logits):
    """Gradient of fn(logits) w.r.t. logits on the current backend."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(logits)
        with tf.GradientTape() as tape:
            value = fn(x)
        return tape.gradient(value, x).numpy()
    if backend == "torch":
        import torch

        x = torch.tensor(logits, requires_grad=True)
        fn(x).backward()
        return x.grad.numpy()
    import jax

    return np.asarray(jax.grad(lambda x: fn(x))(logits))


# --- values against the NumPy references -----------------------------------------

@pytest.mark.parametrize("average", ["macro", "micro"])
@pytest.mark.parametrize("beta,eta", [(1.0, 0.0), (5.0, 0.5), (30.0, -1.0)])
def test_sigmoid_f1_matches_formula(average, beta, eta):
    y, u = random_multilabel(seed=1)
    got = _f(losses.sigmoid_f1(y, u, beta=beta, eta=eta, average=average))
    assert got == pytest.approx(ref.sigmoid_f1(y, u, beta, eta, average), abs=1e-5)


def test_paper_names_are_the_same_objects():
    assert losses.sigmoidF1 is losses.sigmoid_f1 and VLAP.sigmoidF1 is losses.sigmoid_f1
    assert losses.unboundedF1 is losses.unbounded_f1
    # invented aliases are gone (issue 9): only the paper's names, snake_case, classes
    for name in ("binaryCrossentropy", "focal_loss", "asl", "ASL"):
        assert not hasattr(losses, name), name


def test_single_sigmoid_differs_from_paper_double_sigmoid():
    """The paper's code fed sigmoid(u) into S at beta=10, eta=1: S(p) with p in
    [0, 1] is in [sigmoid(10), sigmoid(20)], so the loss is almost flat. Ours is not."""
    y, u = random_multilabel(seed=2)
    p = 1 / (1 + np.exp(-u))
    ours = lambda x: losses.sigmoid_f1(y, x, beta=10.0, eta=1.0)
    paper = lambda x: losses.sigmoid_f1(y, ops.sigmoid(x), beta=10.0, eta=1.0)
    assert _f(ours(u)) == pytest.approx(ref.sigmoid_f1(y, u, 10.0, 1.0), abs=1e-5)
    assert _f(paper(u)) == pytest.approx(ref.sigmoid_f1(y, p, 10.0, 1.0), abs=1e-5)
    assert abs(_f(ours(u)) - _f(paper(u))) > 0.05
    g_ours, g_paper = np.abs(_grad(ours, u)).max(), np.abs(_grad(paper, u)).max()
    assert g_paper < 1e-3 * g_ours, (g_paper, g_ours)


def test_unbounded_f1_is_sigmoid_f1_at_unit_slope_and_on_probabilities():
    y, u = random_multilabel(seed=3)
    p = ref.sigmoid(u).astype("float32")
    assert _f(losses.unbounded_f1(y, u)) == pytest.approx(_f(losses.sigmoid_f1(y, u)), abs=1e-6)
    expected = 1 - np.mean(ref.soft_scores(y, p)["fbeta"])
    assert _f(losses.unbounded_f1(y, p, from_logits=False)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("score", ["fbeta", "precision", "recall", "jaccard", "mcc"])
def test_soft_score_losses_match_formula(score):
    y, u = random_multilabel(seed=4)
    s = ref.sigmoid(3.0 * (u + 0.2))
    expected = 1 - np.mean(ref.soft_scores(y, s, f_beta=2.0)[score])
    got = _f(losses.soft_score_loss(score, y, u, beta=3.0, eta=0.2, f_beta=2.0))
    assert got == pytest.approx(expected, abs=1e-5)


def test_sigmoid_f1_is_one_instance_of_the_family():
    y, u = random_multilabel(seed=5)
    a = losses.sigmoid_f1(y, u, beta=4.0, eta=0.3)
    b = losses.fbeta_loss(y, u, f_beta=1.0, beta=4.0, eta=0.3)
    assert _f(a) == _f(b)


def test_bce_focal_asl_match_published_formulas():
    y, u = random_multilabel(seed=6)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.binary_crossentropy(y, u)),
                               ref.bce(y, u), atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.focal(y, u, alpha=0.3, gamma=1.5)),
                               ref.focal(y, u, 0.3, 1.5), atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.asymmetric(y, u)),
                               ref.asl(y, u), atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.asymmetric(y, u, clip=0.0)),
                               ref.asl(y, u, clip=0.0), atol=1e-5)


def test_bce_agrees_with_keras():
    y, u = random_multilabel(seed=7)
    k = keras.losses.binary_crossentropy(y, u, from_logits=True)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.binary_crossentropy(y, u)),
                               ops.convert_to_numpy(k), atol=1e-5)


def test_asl_clipping_is_applied():
    """A negative with p <= clip costs nothing under ASL; without clipping it does."""
    y = np.zeros((1, 1), "float32")
    u = np.full((1, 1), np.log(0.04 / 0.96), "float32")  # p = 0.04 < clip = 0.05
    assert _f(losses.asymmetric(y, u, clip=0.05)[0]) == 0.0
    assert _f(losses.asymmetric(y, u, clip=0.0)[0]) > 0.0


def test_focal_reduces_to_bce_at_gamma_zero_without_alpha():
    y, u = random_multilabel(seed=8)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.focal(y, u, alpha=None, gamma=0.0)),
                               ref.bce(y, u), atol=1e-5)


# --- soft scores at hard predictions equal scikit-learn ----------------------------

@pytest.mark.parametrize("average", ["macro", "micro"])
def test_soft_f1_on_hard_predictions_equals_sklearn(average):
    y, u = random_multilabel(seed=9)
    hard = (u > 0).astype("float32")
    soft = 1 - _f(losses.sigmoid_f1(y, hard, from_logits=False, average=average))
    assert soft == pytest.approx(f1_score(y, hard, average=average, zero_division=0), abs=1e-5)


# --- properties (hypothesis) -------------------------------------------------------

_labels = st.integers(1, 6).flatmap(lambda L: st.tuples(
    hnp.arrays("float32", st.tuples(st.integers(1, 12), st.just(L)), elements=st.sampled_from([0.0, 1.0])),
    st.just(L)))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), beta=st.floats(0.1, 50), eta=st.floats(-2, 2),
       average=st.sampled_from(["macro", "micro"]))
def test_sigmoid_f1_in_unit_interval(data, beta, eta, average):
    y, _ = data.draw(_labels)
    u = data.draw(hnp.arrays("float32", y.shape, elements=st.floats(-1e4, 1e4, width=32)))
    value = _f(losses.sigmoid_f1(y, u, beta=beta, eta=eta, average=average))
    assert 0.0 <= value <= 1.0 + 1e-6


@settings(max_examples=30, deadline=None)
@given(data=st.data(), eta=st.floats(-1, 1), average=st.sampled_from(["macro", "micro"]))
def test_large_beta_approaches_exact_f1(data, eta, average):
    y, _ = data.draw(_labels)
    # logits at least 0.0625 away from the threshold -eta, so thresholding is unambiguous
    mag = data.draw(hnp.arrays("float32", y.shape, elements=st.floats(0.0625, 5, width=32)))
    sign = data.draw(hnp.arrays("float32", y.shape, elements=st.sampled_from([-1.0, 1.0])))
    u = (sign * mag - eta).astype("float32")
    # exact F1 with the paper's convention 0/0 -> 0 (scikit-learn >= 1.8 scores a label
    # with no positives and no predictions as 1.0, whatever zero_division says)
    tp, fp, _, fn = ref.counts(y, (u > -eta).astype("float64"))
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    exact = np.mean(np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0))
    errors = [abs(1 - _f(losses.sigmoid_f1(y, u, beta=b, eta=eta, average=average)) - exact)
              for b in (1.0, 10.0, 1000.0)]
    assert errors[-1] < 1e-3
    assert errors[-1] <= errors[0] + 1e-6


@settings(max_examples=25, deadline=None)
@given(data=st.data(), name=st.sampled_from(["sigmoid_f1", "unbounded_f1", "binary_crossentropy",
                                            "focal", "asymmetric", "mcc", "jaccard"]))
def test_gradients_finite(data, name):
    y, _ = data.draw(_labels)
    u = data.draw(hnp.arrays("float32", y.shape, elements=st.floats(-1e4, 1e4, width=32)))
    loss = losses.get(name)
    g = _grad(lambda x: loss(y, x), u)
    assert np.isfinite(g).all()


# --- numerical edge cases ----------------------------------------------------------

EDGE = {
    "huge_logits": (np.array([[1, 0], [0, 1]], "float32"), np.array([[1e4, -1e4], [-1e4, 1e4]], "float32")),
    "wrong_huge": (np.array([[1, 0], [0, 1]], "float32"), np.array([[-1e4, 1e4], [1e4, -1e4]], "float32")),
    "all_zero_labels": (np.zeros((4, 3), "float32"), np.linspace(-3, 3, 12, dtype="float32").reshape(4, 3)),
    "all_one_labels": (np.ones((4, 3), "float32"), np.linspace(-3, 3, 12, dtype="float32").reshape(4, 3)),
    "batch_of_one": (np.array([[1, 0, 1]], "float32"), np.array([[0.3, -0.2, 2.0]], "float32")),
}


@pytest.mark.parametrize("case", sorted(EDGE))
@pytest.mark.parametrize("name", list(losses.PAPER_LOSSES) + ["mcc", "jaccard", "precision", "recall"])
def test_finite_value_and_gradient_on_edge_cases(case, name):
    y, u = EDGE[case]
    loss = losses.get(name)
    assert np.isfinite(_f(loss(y, u)))
    assert np.isfinite(_grad(lambda x: loss(y, x), u)).all()


@pytest.mark.parametrize("name", losses.PAPER_LOSSES)
def test_gradients_nonzero_on_ordinary_inputs(name):
    y, u = random_multilabel(seed=10)
    loss = losses.get(name)
    assert np.abs(_grad(lambda x: loss(y, x), u)).sum() > 1e-6


# --- classes: config, serialization, sample weights, dtype ------------------------

CLASS_CASES = [
    (losses.SigmoidF1, dict(beta=7.0, eta=0.5, average="micro")),
    (losses.UnboundedF1, dict(average="micro")),
    (losses.BinaryCrossentropy, dict()),
    (losses.Focal, dict(alpha=0.4, gamma=1.0)),
    (losses.Asymmetric, dict(gamma_neg=3.0, gamma_pos=0.0, clip=0.1)),
    (losses.FBetaLoss, dict(f_beta=2.0, beta=2.0)),
    (losses.PrecisionLoss, dict()),
    (losses.RecallLoss, dict()),
    (losses.JaccardLoss, dict(eta=0.1)),
    (losses.MCCLoss, dict(average="micro")),
]


@pytest.mark.parametrize("cls,kwargs", CLASS_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_class_config_round_trip_and_value(cls, kwargs):
    loss = cls(**kwargs)
    config = loss.get_config()
    for key, value in kwargs.items():
        assert config[key] == value and getattr(loss, key) == value
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(clone) is cls and clone.get_config() == config
    y, u = random_multilabel(seed=11)
    assert _f(clone(y, u)) == pytest.approx(_f(loss(y, u)), abs=1e-7)


def test_sigmoid_f1_class_equals_function():
    y, u = random_multilabel(seed=12)
    assert _f(losses.SigmoidF1(beta=3.0, eta=0.2)(y, u)) == pytest.approx(
        _f(losses.sigmoid_f1(y, u, beta=3.0, eta=0.2)), abs=1e-7)


def test_batch_loss_sample_weight_enters_the_counts():
    y, u = random_multilabel(n=10, seed=13)
    w = np.array([1.0] * 5 + [0.0] * 5, "float32")
    weighted = _f(losses.SigmoidF1()(y, u, sample_weight=w))
    assert weighted == pytest.approx(_f(losses.sigmoid_f1(y[:5], u[:5])), abs=1e-6)


BATCH_LOSSES = [losses.SigmoidF1(beta=2.0, eta=0.1), losses.UnboundedF1(),
                losses.FBetaLoss(f_beta=2.0), losses.PrecisionLoss(), losses.RecallLoss(),
                losses.JaccardLoss(average="micro"), losses.MCCLoss()]


def _weighted_reference(loss, y, u, w):
    """The soft score from NumPy counts in which every entry is weighted by ``w``."""
    beta, eta = getattr(loss, "beta", 1.0), getattr(loss, "eta", 0.0)
    s = 1.0 / (1.0 + np.exp(-beta * (u + eta)))
    w = np.broadcast_to(w.reshape(len(y), -1), y.shape)
    tp, fp = (w * s * y).sum(0), (w * s * (1 - y)).sum(0)
    fn, tn = (w * (1 - s) * y).sum(0), (w * (1 - s) * (1 - y)).sum(0)
    if loss.average == "micro":
        tp, fp, fn, tn = tp.sum(), fp.sum(), fn.sum(), tn.sum()
    eps, b2 = loss.epsilon, getattr(loss, "f_beta", 1.0) ** 2
    score = {"precision": tp / (tp + fp + eps), "recall": tp / (tp + fn + eps),
             "jaccard": tp / (tp + fp + fn + eps),
             "mcc": (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + eps),
             }.get(getattr(loss, "score", "fbeta"),
                   (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp + eps))
    return 1.0 - np.mean(score)


@pytest.mark.parametrize("n", [1, 2, 9])
@pytest.mark.parametrize("loss", BATCH_LOSSES, ids=lambda l: l.name)
def test_per_label_sample_weight_weights_entries_inside_the_counts(loss, n):
    y, u = random_multilabel(n=max(n, 2), num_labels=4, seed=30)
    y, u = y[:n], u[:n]
    w = np.random.default_rng(n).choice([0.0, 0.5, 1.0, 2.0], size=y.shape).astype("float32")
    w[0, 0] = 0.0  # a weight of 0 removes that label of that example
    got = _f(loss(y, u, sample_weight=w))
    assert got == pytest.approx(_weighted_reference(loss, y, u, w), abs=1e-5)
    rows = w[:, 1]
    for shape in ((n,), (n, 1)):  # row weights, as a vector or a column
        assert _f(loss(y, u, sample_weight=rows.reshape(shape))) == pytest.approx(
            _weighted_reference(loss, y, u, rows), abs=1e-5)


def test_zero_entry_weight_equals_dropping_that_entry():
    y, u = random_multilabel(n=6, num_labels=3, seed=31)
    w = np.ones_like(y)
    w[2:, 1] = 0.0  # label 1 only counts on the first two examples
    full = VLAP.ops.soft_fbeta(y, u, average=None, sample_weight=w)
    np.testing.assert_allclose(ops.convert_to_numpy(full)[1],
                               ops.convert_to_numpy(VLAP.ops.soft_fbeta(y[:2], u[:2], average=None))[1],
                               atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 4), (5,), (4, 3, 1), (3, 1)])
def test_sample_weight_of_another_shape_names_the_accepted_shapes(shape):
    y, u = random_multilabel(n=4, num_labels=3, seed=32)
    with pytest.raises(ValueError, match=r"`sample_weight` of a batch-level loss must have "
                                         r"shape \(batch_size,\), \(batch_size, 1\) or "
                                         r"\(batch_size, num_labels\) = \(4,\), \(4, 1\) or \(4, 3\)"):
        losses.SigmoidF1()(y, u, sample_weight=np.ones(shape, "float32"))


def test_per_label_sample_weight_in_fit_is_applied_once():
    """Keras's Loss.__call__ would multiply the scalar by the weights again: it must not."""
    y, _ = random_multilabel(n=16, num_labels=3, seed=33)
    x = np.random.default_rng(1).normal(size=(16, 5)).astype("float32")
    w = np.random.default_rng(2).choice([0.0, 1.0, 3.0], size=y.shape).astype("float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=losses.SigmoidF1(beta=2.0))
    value = model.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0)
    u = ops.convert_to_numpy(model(x))
    assert value == pytest.approx(_weighted_reference(losses.SigmoidF1(beta=2.0), y, u, w),
                                  abs=1e-5)


@pytest.mark.parametrize("loss", BATCH_LOSSES + [losses.BinaryCrossentropy(), losses.Focal(),
                                                 losses.Asymmetric()], ids=lambda l: l.name)
def test_half_precision_logits_are_counted_in_float32(loss):
    y, u = random_multilabel(n=32, num_labels=5, seed=34)
    u16 = ops.cast(u, "bfloat16")
    ref_value = _f(loss(y, ops.cast(u16, "float32")))
    out = loss(y, u16)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert _f(out) == pytest.approx(ref_value, abs=1e-6)


@pytest.mark.parametrize("fn", [losses.sigmoid_f1, losses.unbounded_f1, losses.binary_crossentropy,
                                losses.focal, losses.asymmetric, losses.jaccard_loss])
def test_loss_functions_compute_in_float32_on_half_precision_logits(fn):
    y, u = random_multilabel(n=32, num_labels=5, seed=35)
    u16 = ops.cast(u, "bfloat16")
    out = fn(y, u16)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(ops.convert_to_numpy(out),
                               ops.convert_to_numpy(fn(y, ops.cast(u16, "float32"))), atol=1e-6)


def test_elementwise_loss_sample_weight():
    y, u = random_multilabel(n=10, seed=14)
    w = np.array([1.0] * 5 + [0.0] * 5, "float32")
    value = _f(losses.BinaryCrossentropy()(y, u, sample_weight=w))
    assert value == pytest.approx(ref.bce(y[:5], u[:5]).sum() / 10, abs=1e-5)


def test_dtype_argument():
    if keras.config.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip("JAX computes float64 only with jax_enable_x64")
    y, u = random_multilabel(seed=15)
    out = losses.SigmoidF1(dtype="float64")(y, u)
    assert keras.backend.standardize_dtype(out.dtype) == "float64"


def test_get_resolves_names():
    assert isinstance(losses.get("sigmoidF1"), losses.SigmoidF1)
    assert isinstance(losses.get("sigmoid_f1", beta=3.0), losses.SigmoidF1)
    assert isinstance(losses.get("bce"), losses.BinaryCrossentropy)
    assert isinstance(losses.get("asl"), losses.Asymmetric)
    assert isinstance(losses.get("unboundedF1"), losses.UnboundedF1)
    assert isinstance(losses.get("focal"), losses.Focal)
    assert isinstance(losses.get("SigmoidF1"), losses.SigmoidF1)
    loss = losses.SigmoidF1()
    assert losses.get(loss) is loss
    with pytest.raises(ValueError, match="Unknown loss 'sigmoidF2'. Did you mean 'sigmoidF1'"):
        losses.get("sigmoidF2")


@pytest.mark.parametrize("name", ["sigmoidF1", "unboundedF1", "bce", "focal", "asl"])
def test_every_name_the_shipped_configs_use_resolves(name):
    assert losses.canonical_name(name) in losses.PAPER_LOSSES


@pytest.mark.parametrize("name", ["binaryCrossentropy", "focal_loss", "fl", "ce", "f1",
                                  "sigmoid_f1_loss", "BCE"])
def test_invented_aliases_are_refused_with_a_suggestion(name):
    with pytest.raises(ValueError, match=rf"Unknown loss '{name}'.*Valid names: \["):
        losses.get(name)


def test_unknown_loss_option_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown option 'gama' for loss 'focal'. "
                                         r"Did you mean 'gamma'\?.*'alpha'"):
        losses.get("focal", gama=1.0)
    with pytest.raises(ValueError, match=r"Unknown option 'bta'.*Did you mean 'beta'"):
        losses.get("sigmoidF1", bta=2.0)
    assert losses.get("fbeta", f_beta=2.0, beta=3.0).f_beta == 2.0


# --- errors -------------------------------------------------------------------------

def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match=r"same shape.*y_true.shape=\(2, 3\).*y_pred.shape=\(2, 4\)"):
        losses.sigmoid_f1(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"`y_(true|pred)` must have shape \(batch_size, num_labels\)"):
        losses.binary_crossentropy(np.zeros((3,)), np.zeros((3,)))


def test_non_binary_labels_raise():
    with pytest.raises(ValueError, match=r"`y_true` must be a 0/1 indicator.*\[0.5\]"):
        losses.sigmoid_f1([[0.5, 1.0]], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="`y_true` must be a 0/1"):
        losses.SigmoidF1()(np.array([[2.0, 0.0]]), np.zeros((1, 2)))


def test_nan_predictions_raise():
    with pytest.raises(ValueError, match="`y_pred` contains NaN"):
        losses.focal([[1.0, 0.0]], [[np.nan, 0.0]])


def test_probabilities_out_of_range_raise():
    with pytest.raises(ValueError, match=r"from_logits=False, `y_pred` must hold probabilities"):
        losses.unbounded_f1([[1.0, 0.0]], [[1.5, 0.0]], from_logits=False)


@pytest.mark.parametrize("kwargs,match", [
    (dict(average="weighted"), "argument `average`.*Received: average='weighted'"),
    (dict(beta=0.0), "`beta`.*must be > 0.*beta=0.0"),
    (dict(beta="1"), "`beta` must be a number"),
    (dict(eta=float("nan")), "`eta` must be finite"),
    (dict(from_logits=False, beta=5.0), "`beta` and `eta` act on logits"),
    (dict(from_logits=1), "`from_logits` must be a bool"),
])
def test_bad_arguments_raise_at_construction(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        losses.SigmoidF1(**kwargs)


@pytest.mark.parametrize("cls,kwargs,match", [
    (losses.Focal, dict(alpha=1.5), r"`alpha` must be in \[0.0, 1.0\]"),
    (losses.BinaryCrossentropy, dict(epsilon=-1.0), "`epsilon` must be in"),
    (losses.Asymmetric, dict(gamma_neg=-1.0), "`gamma_neg` must be in"),
    (losses.Focal, dict(gamma=-1.0), "`gamma` must be in"),
    (losses.Asymmetric, dict(clip=2.0), "`clip` must be in"),
    (losses.FBetaLoss, dict(f_beta=0.0), "`f_beta` must be in"),
])
def test_bad_baseline_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_traced_training_does_not_need_concrete_values():
    """Inside model.fit (compiled graph on TF/JAX) the loss runs with static checks only."""
    y, u = random_multilabel(n=32, num_labels=4, seed=16)
    x = np.random.default_rng(0).normal(size=(32, 5)).astype("float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    model.compile(optimizer="adam", loss=losses.SigmoidF1(beta=2.0))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
