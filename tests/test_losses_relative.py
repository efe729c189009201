"""ZLPR and the Two-way Multi-Label Loss against hand computations (issue 27).

Each loss is computed here a second way, in plain NumPy loops over the papers'
sets (no log-sum-exp tricks, no masks), and compared with the registry's formula
on the Keras front-end (current KERAS_BACKEND), on ``VLAP.torch`` and on NumPy.
The Two-way loss's class-wise term spans the batch: its sums from two halves of
a batch, added as replicas would add them, give the loss of the whole batch.
"""

import math

import numpy as np
import pytest

from VLAP.ops import core, registry
from VLAP.ops.numpy_ops import NUMPY_OPS

Y = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 1], [0, 0, 1, 0]],
             dtype="float64")
U = np.array([[2.0, -1.0, 0.5, 0.3], [-0.5, 1.5, -2.0, 0.8], [0.3, 0.1, -0.2, 1.1],
              [1.2, -0.4, -1.5, 0.9], [-0.7, 0.6, 2.2, -1.3]])


def zlpr_by_hand(y, u):
    out = []
    for row_y, row_u in zip(y, u):
        neg = sum(math.exp(s) for s, t in zip(row_u, row_y) if t == 0)
        pos = sum(math.exp(-s) for s, t in zip(row_u, row_y) if t == 1)
        out.append(math.log(1 + neg) + math.log(1 + pos))
    return np.array(out)


def _relative(logits, labels, t_pos, t_neg):
    """softplus(Tn log sum_neg e^{x/Tn} + Tp log sum_pos e^{-x/Tp}); 0 with no negatives."""
    neg = [x for x, t in zip(logits, labels) if t == 0]
    pos = [x for x, t in zip(logits, labels) if t == 1]
    if not neg:
        return 0.0
    a = t_neg * math.log(sum(math.exp(x / t_neg) for x in neg))
    b = t_pos * math.log(sum(math.exp(-x / t_pos) for x in pos))
    return math.log1p(math.exp(a + b))


def two_way_by_hand(y, u, t_pos=4.0, t_neg=1.0):
    samples = [_relative(u[i], y[i], t_pos, t_neg) for i in range(len(y)) if y[i].any()]
    classes = [_relative(u[:, c], y[:, c], t_pos, t_neg)
               for c in range(y.shape[1]) if y[:, c].any()]
    return float(np.mean(classes) + np.mean(samples))


def _numpy_two_way(y, u, parts=((0, None),), **options):
    """The registry's formula on NumPy, its sums added over row slices (replicas)."""
    formula = registry.loss_spec("two_way").formula
    slices = [slice(a, b) for a, b in parts]
    shifts = [formula.shift(NUMPY_OPS, y[s], u[s], **options) for s in slices]
    shift = tuple(np.max([sh[k] for sh in shifts], axis=0) for k in range(2))
    sums = [formula.counts(NUMPY_OPS, y[s], u[s], shift=shift, **options) for s in slices]
    total = tuple(sum(parts) for parts in zip(*sums))
    return float(formula.finish(NUMPY_OPS, total, shift=shift, **options))


def test_zlpr_equals_the_hand_computation_on_every_front_end():
    import keras
    import torch

    import VLAP
    import VLAP.torch as vt

    expected = zlpr_by_hand(Y, U)
    np.testing.assert_allclose(core.zlpr(NUMPY_OPS, Y, U), expected, rtol=1e-12)
    got = keras.ops.convert_to_numpy(VLAP.losses.zlpr(Y, U))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert float(VLAP.losses.ZLPR()(Y, U)) == pytest.approx(expected.mean(), rel=1e-5)
    assert float(vt.ZLPR()(torch.tensor(U), torch.tensor(Y))) == pytest.approx(
        expected.mean(), rel=1e-12)
    # probabilities are taken through their logits
    p = 1.0 / (1.0 + np.exp(-U))
    np.testing.assert_allclose(core.zlpr(NUMPY_OPS, Y, p, from_logits=False), expected,
                               rtol=1e-6)


def test_zlpr_weights_entries_inside_and_examples_outside():
    w_rows = np.array([[2.0], [0.0], [1.0], [0.5], [1.0]])
    np.testing.assert_allclose(core.zlpr(NUMPY_OPS, Y, U, sample_weight=w_rows),
                               zlpr_by_hand(Y, U) * w_rows[:, 0], rtol=1e-12)
    # an entry weighted 0 leaves its example's sets: the example without that label
    w = np.ones_like(Y)
    w[0, 1] = w[3, 0] = 0.0
    got = core.zlpr(NUMPY_OPS, Y, U, sample_weight=w)
    keep = w.astype(bool)
    expected = [zlpr_by_hand(Y[i:i + 1, keep[i]], U[i:i + 1, keep[i]])[0] for i in range(5)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_two_way_equals_the_hand_computation_on_every_front_end():
    import torch

    import VLAP
    import VLAP.torch as vt

    for t_pos, t_neg in ((4.0, 1.0), (1.0, 1.0), (8.0, 0.5)):
        expected = two_way_by_hand(Y, U, t_pos, t_neg)
        options = dict(t_pos=t_pos, t_neg=t_neg)
        assert _numpy_two_way(Y, U, **options) == pytest.approx(expected, rel=1e-12)
        assert float(VLAP.losses.two_way(Y, U, **options)) == pytest.approx(expected,
                                                                             rel=1e-5)
        module = vt.TwoWay(**options)
        assert float(module(torch.tensor(U), torch.tensor(Y))) == pytest.approx(
            expected, rel=1e-12)


def test_two_way_defaults_are_the_papers_temperatures():
    assert registry.loss_spec("two_way").defaults() == {
        "t_pos": 4.0, "t_neg": 1.0, "from_logits": True}
    with pytest.raises(ValueError, match="`t_pos` must be in"):
        registry.check_options("two_way", {"t_pos": 0.0})


@pytest.mark.parametrize("parts", [((0, 2), (2, None)), ((0, 1), (1, 4), (4, None))])
def test_two_way_sums_of_slices_are_the_whole_batch(parts):
    """Replicas add their sums; with the shared (maximum) shift the loss is the
    whole batch's, also when one slice lacks a class's positives or negatives."""
    whole = _numpy_two_way(Y, U)
    assert _numpy_two_way(Y, U, parts=parts) == pytest.approx(whole, rel=1e-12)
    # far logits in float32: a fixed shift of 0 would overflow e^{x/Tn} (x up to 330);
    # the shared maximum keeps every sum finite and the loss exact
    big = (U * 150.0).astype("float32")
    got = _numpy_two_way(Y.astype("float32"), big, parts=parts)
    assert got == pytest.approx(two_way_by_hand(Y, U * 150.0), rel=1e-5)


def test_two_way_row_weight_zero_removes_the_row_and_entry_weights_count_copies():
    w = np.array([1.0, 0.0, 1.0, 1.0, 1.0])
    keep = w > 0
    formula = registry.loss_spec("two_way").formula
    shift = formula.shift(NUMPY_OPS, Y, U, sample_weight=w)
    got = formula.finish(NUMPY_OPS, formula.counts(NUMPY_OPS, Y, U, sample_weight=w,
                                                   shift=shift), shift=shift)
    assert float(got) == pytest.approx(two_way_by_hand(Y[keep], U[keep]), rel=1e-12)


@pytest.mark.parametrize("name", ["zlpr", "two_way"])
def test_gradients_are_finite_for_far_logits_and_empty_sets(name):
    import torch

    import VLAP.torch as vt

    y = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1]], dtype="float64")
    for scale in (1.0, 60.0, 400.0):
        u = torch.tensor(np.array([[3.0, -2.0, 1.0], [-1.0, 2.0, 0.5], [2.0, -3.0, -1.0],
                                   [0.1, 0.2, -0.3]]) * scale, requires_grad=True)
        value = vt.get_loss(name)(u, torch.tensor(y))
        value.backward()
        assert np.isfinite(float(value.detach())), (name, scale)
        assert torch.isfinite(u.grad).all(), (name, scale)


def test_zlpr_anchors_its_cut_at_zero_and_two_way_only_ranks():
    """ZLPR's threshold class has logit 0: moving every logit by one constant changes
    it. Two-way depends on differences only: the same move leaves it unchanged, so it
    fixes no cut (documented in its docstring and the README)."""
    assert not np.allclose(core.zlpr(NUMPY_OPS, Y, U), core.zlpr(NUMPY_OPS, Y, U + 3.0))
    assert _numpy_two_way(Y, U + 3.0) == pytest.approx(_numpy_two_way(Y, U), rel=1e-12)


def test_the_decision_cut_is_logit_zero():
    """Both losses are smallest when positives are above 0 and negatives below:
    moving every logit to the right side lowers them (ZLPR: towards 0)."""
    y = np.array([[1.0, 0.0, 1.0]])
    wrong, right = np.array([[-1.0, 1.0, -0.5]]), np.array([[3.0, -3.0, 2.5]])
    zero = np.zeros_like(right)
    assert (core.zlpr(NUMPY_OPS, y, right)[0] < core.zlpr(NUMPY_OPS, y, zero)[0]
            < core.zlpr(NUMPY_OPS, y, wrong)[0])
    assert _numpy_two_way(y, right) < _numpy_two_way(y, wrong)


def test_display_names_and_kinds():
    from VLAP.experiments.results import display_name

    assert display_name("zlpr") == "ZLPR" and display_name("two_way") == "Two-way"
    assert registry.loss_spec("zlpr").kind == "elementwise"
    assert registry.loss_spec("two_way").kind == "batch"


@pytest.mark.parametrize("weights", [None, "rows", "entries"])
def test_both_as_parts_of_a_weighted_sum_agree_across_front_ends(weights):
    """two_way as the surrogate, zlpr as the baseline: Keras and VLAP.torch agree
    (the registry's parity test covers each loss alone)."""
    import torch

    import VLAP
    import VLAP.torch as vt

    rng = np.random.default_rng(4)
    w = {None: None, "rows": rng.choice([0.0, 1.0, 2.0], size=5),
         "entries": rng.choice([0.0, 1.0, 3.0], size=(5, 4))}[weights]
    options = dict(surrogate="two_way", baseline="zlpr", weight=0.3)
    keras_value = float(VLAP.losses.WeightedSum(dtype="float64", **options)(
        Y, U, sample_weight=w))
    torch_value = float(vt.WeightedSum(**options)(
        torch.tensor(U), torch.tensor(Y), None if w is None else torch.tensor(w)))
    assert keras_value == pytest.approx(torch_value, abs=1e-6)
    if weights is None:  # and it is the sum of its parts
        expected = two_way_by_hand(Y, U) + 0.3 * zlpr_by_hand(Y, U).mean()
        assert torch_value == pytest.approx(expected, rel=1e-12)
