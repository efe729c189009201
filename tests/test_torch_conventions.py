"""VLAP.torch follows torch's conventions: functional forms, `reduction`, soft
targets, `ignore_index`, tensor checks on the device (eager = compiled), torch's
words in the messages."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import VLAP.torch as vt  # noqa: E402
from VLAP.ops import registry  # noqa: E402
from VLAP.torch import functional as VF  # noqa: E402
from conftest import tensorflow_pass_only  # noqa: E402

tensorflow_pass_only("VLAP.torch does not use Keras")

N, L = 12, 4
BATCH_SCORES = {"sigmoid_f1": "fbeta", "unbounded_f1": "fbeta", "fbeta": "fbeta",
                "precision": "precision", "recall": "recall", "jaccard": "jaccard",
                "mcc": "mcc"}


def _data(seed=0, soft=False):
    rng = np.random.default_rng(seed)
    y = (rng.random((N, L)) < 0.4).astype("float64")
    if soft:
        y = np.abs(y - rng.uniform(0.0, 0.3, size=y.shape))  # smoothed / mixed targets
    u = 2.0 * rng.standard_normal((N, L))
    return y, u


def _hand_scores(y, s, score, f_beta=1.0, eps=1e-7):
    """Per-label soft scores from the counts written out: tp = sum S y, ..."""
    tp, fp = (s * y).sum(0), (s * (1 - y)).sum(0)
    fn, tn = ((1 - s) * y).sum(0), ((1 - s) * (1 - y)).sum(0)
    if score == "fbeta":
        b2 = f_beta ** 2
        return (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp + eps)
    if score == "precision":
        return tp / (tp + fp + eps)
    if score == "recall":
        return tp / (tp + fn + eps)
    if score == "jaccard":
        return tp / (tp + fp + fn + eps)
    return (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + eps)


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


# --- functional forms -------------------------------------------------------------------


def _formula_cases():
    for spec in registry.specs():
        if spec.formula is None:
            continue
        yield pytest.param(spec.name, {}, id=f"{spec.name}-defaults")
        for option in spec.options:
            for value in option.grid[:1]:
                yield pytest.param(spec.name, {option.name: value},
                                   id=f"{spec.name}-{option.name}={value!r}")


@pytest.mark.parametrize("name,options", list(_formula_cases()))
def test_each_functional_form_equals_its_module(name, options):
    spec = registry.loss_spec(name)
    y, u = _data(seed=len(name))
    if options.get("from_logits") is False:
        u = _sigmoid(u)
    fn = VF.get_function(name)
    assert fn is getattr(VF, spec.function)
    w = np.random.default_rng(1).choice([0.0, 1.0, 2.0], size=N)
    # a batch loss without a per-label score (two_way) gives the batch's scalar only
    per_label = spec.kind == "elementwise" or spec.formula.score is not None
    for reduction in ("mean", "sum", "none") if per_label else ("mean",):
        module = vt.get_loss(name, reduction=reduction, **options)
        for weight in (None, w):
            x1 = torch.tensor(u, requires_grad=True)
            x2 = torch.tensor(u, requires_grad=True)
            a = module(x1, torch.tensor(y), weight)
            b = fn(x2, torch.tensor(y), sample_weight=weight, reduction=reduction, **options)
            torch.testing.assert_close(a, b, rtol=0, atol=0)
            a.sum().backward()
            b.sum().backward()
            torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=0)


def test_functional_names_and_argument_checks():
    assert VF.sigmoidF1 is VF.sigmoid_f1 and VF.unboundedF1 is VF.unbounded_f1
    assert vt.functional is VF  # imported with VLAP.torch, as torch.nn.functional
    with pytest.raises(ValueError, match="argument `reduction`"):
        VF.focal(torch.zeros(2, 2), torch.zeros(2, 2), reduction="avg")
    with pytest.raises(ValueError, match="`gamma` must be in"):
        VF.focal(torch.zeros(2, 2), torch.zeros(2, 2), gamma=-1.0)
    with pytest.raises(TypeError, match="gama"):
        VF.focal(torch.zeros(2, 2), torch.zeros(2, 2), gama=1.0)
    with pytest.raises(ValueError, match="no functional form"):
        VF.get_function("weighted_sum")


# --- reduction --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BATCH_SCORES))
def test_batch_reduction_none_sum_mean_against_a_hand_computation(name):
    y, u = _data(seed=3)
    options = {"f_beta": 2.0} if name == "fbeta" else {}
    s = _sigmoid(u)
    per_label = 1.0 - _hand_scores(y, s, BATCH_SCORES[name], options.get("f_beta", 1.0))
    ut, yt = torch.tensor(u), torch.tensor(y)
    none = vt.get_loss(name, reduction="none", **options)(ut, yt)
    assert none.shape == (L,)
    np.testing.assert_allclose(none.numpy(), per_label, rtol=0, atol=1e-10)
    total = vt.get_loss(name, reduction="sum", **options)(ut, yt)
    assert float(total) == pytest.approx(per_label.sum(), abs=1e-10)
    mean = vt.get_loss(name, **options)(ut, yt)  # today's scalar
    assert float(mean) == pytest.approx(per_label.mean(), abs=1e-10)
    # micro: one pooled loss, the same for the three reductions
    micro = [float(vt.get_loss(name, average="micro", reduction=r, **options)(ut, yt))
             for r in ("mean", "sum", "none")]
    assert micro[0] == micro[1] == micro[2]


def test_reduction_needs_a_per_label_score():
    def counts(xp, y_true, y_pred, *, sample_weight=None):
        return (xp.sum(xp.sigmoid(y_pred) * xp.cast_like(y_true, y_pred), 0),)

    spec = registry.register_loss(
        "test_tp_only", kind="batch",
        formula=registry.BatchFormula(counts, lambda xp, sums: -xp.mean(sums[0])))
    try:
        assert float(vt.get_loss("test_tp_only")(torch.zeros(2, 2), torch.ones(2, 2))) == -1.0
        with pytest.raises(ValueError, match="`reduction` must be 'mean'"):
            vt.get_loss("test_tp_only", reduction="none")
    finally:
        registry.unregister_loss(spec.name)


# --- soft targets ------------------------------------------------------------------------


def test_soft_targets_give_the_soft_counts_by_hand():
    y, u = _data(seed=5, soft=True)
    assert ((y > 0) & (y < 1)).any()
    s = _sigmoid(u)
    expected = 1.0 - _hand_scores(y, s, "fbeta")  # tp = sum S y with fractional y, ...
    got = vt.SigmoidF1(reduction="none")(torch.tensor(u), torch.tensor(y))
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-10)
    # one hand-written case: y = 0.9 and 0.1 (label smoothing 0.1), S = 0.5
    y2, u2 = torch.tensor([[0.9], [0.1]]), torch.zeros(2, 1)
    tp, fp, fn = 0.5 * 0.9 + 0.5 * 0.1, 0.5 * 0.1 + 0.5 * 0.9, 0.5 * 0.9 + 0.5 * 0.1
    assert float(vt.SigmoidF1()(u2, y2)) == pytest.approx(
        1 - 2 * tp / (2 * tp + fn + fp + 1e-7), abs=1e-7)
    # the element-wise losses: BCE with soft targets is torch's
    bce = torch.nn.BCEWithLogitsLoss()(torch.tensor(u), torch.tensor(y))
    assert float(vt.BinaryCrossentropy()(torch.tensor(u), torch.tensor(y))) == pytest.approx(
        float(bce), abs=1e-12)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), -100.0])
def test_targets_outside_0_1_or_nan_are_refused(bad):
    y = torch.tensor([[0.0, 1.0], [bad, 0.5]])
    for module in (vt.SigmoidF1(), vt.BinaryCrossentropy(), vt.Focal(), vt.JaccardLoss()):
        with pytest.raises(RuntimeError, match=r"`target` must hold values in \[0, 1\]"):
            module(torch.zeros(2, 2), y)
    assert torch.isfinite(vt.SigmoidF1(validate_args=False)(torch.zeros(2, 2),
                                                            y.nan_to_num(0.0)))


def test_input_checks_and_torch_words():
    y = torch.tensor([[0.0, 1.0]])
    with pytest.raises(RuntimeError, match="`input` must be finite"):
        vt.SigmoidF1()(torch.tensor([[0.0, float("nan")]]), y)
    with pytest.raises(RuntimeError, match="`input` must hold probabilities"):
        vt.SigmoidF1(from_logits=False)(torch.tensor([[0.0, 1.5]]), y)
    with pytest.raises(ValueError, match=r"`input` and `target` must have the same shape. "
                                         r"Received: input.shape=\(1, 3\), target.shape"):
        vt.SigmoidF1()(torch.zeros(1, 3), y)
    with pytest.raises(ValueError, match=r"`target` must have shape \(batch_size, num_labels"):
        vt.Focal()(torch.zeros(2, 2), torch.zeros(2))


# --- ignore_index --------------------------------------------------------------------------


def _masked_data(seed=7):
    y, u = _data(seed=seed)
    keep = np.random.default_rng(seed).random((N, L)) > 0.3
    keep[0] = False  # a row with every entry ignored
    return np.where(keep, y, -100.0), u, keep


def test_ignore_index_removes_entries_from_the_counts_by_hand():
    y, u, keep = _masked_data()
    s, t = _sigmoid(u), np.where(keep, y, 0.0)
    tp, fp = (keep * s * t).sum(0), (keep * s * (1 - t)).sum(0)
    fn = (keep * (1 - s) * t).sum(0)
    expected = 1 - 2 * tp / (2 * tp + fn + fp + 1e-7)
    ut, yt = torch.tensor(u), torch.tensor(y)
    got = vt.SigmoidF1(ignore_index=-100, reduction="none")(ut, yt)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-10)
    assert float(VF.sigmoid_f1(ut, yt, ignore_index=-100)) == pytest.approx(expected.mean(),
                                                                             abs=1e-10)
    # with row weights too: weights and mask multiply inside the counts
    w = np.arange(N, dtype="float64")
    got = vt.JaccardLoss(ignore_index=-100)(ut, yt, w)
    ref = vt.JaccardLoss()(ut, torch.tensor(t), torch.tensor(w[:, None] * keep))
    assert float(got) == pytest.approx(float(ref), abs=1e-12)


def test_ignore_index_in_element_wise_means_by_hand():
    y, u, keep = _masked_data(seed=8)
    t = np.where(keep, y, 0.0)
    entries = np.logaddexp(0.0, u) - u * t  # BCE per entry
    ut, yt = torch.tensor(u), torch.tensor(y)
    bce = vt.BinaryCrossentropy(ignore_index=-100)
    assert float(bce(ut, yt)) == pytest.approx(entries[keep].mean(), abs=1e-12)
    per_row = (entries * keep).sum(1) / np.maximum(keep.sum(1), 1)
    none = vt.BinaryCrossentropy(ignore_index=-100, reduction="none")(ut, yt)
    np.testing.assert_allclose(none.numpy(), per_row, rtol=0, atol=1e-12)
    assert float(none[0]) == 0.0  # every entry ignored
    w = np.linspace(0.5, 2.0, N)
    got = bce(ut, yt, w)
    assert float(got) == pytest.approx((w[:, None] * entries * keep).sum() / keep.sum(),
                                       abs=1e-12)
    # the label-count error: each example's |sum over kept entries (p - y)|
    lce = vt.LabelCountError(ignore_index=-100, reduction="none")(ut, yt)
    np.testing.assert_allclose(lce.numpy(), np.abs((keep * (_sigmoid(u) - t)).sum(1)),
                               rtol=0, atol=1e-12)
    mean = float(vt.LabelCountError(ignore_index=-100)(ut, yt))
    assert mean == pytest.approx(lce.numpy()[keep.any(1)].mean(), abs=1e-12)


def test_ignore_index_argument_checks_and_grad():
    with pytest.raises(ValueError, match="`ignore_index` must be a value no target takes"):
        vt.SigmoidF1(ignore_index=1)
    with pytest.raises(TypeError, match="`ignore_index` must be an integer"):
        vt.Focal(ignore_index=-1.5)
    y, u, keep = _masked_data(seed=9)
    x = torch.tensor(u, requires_grad=True)
    vt.SigmoidF1(ignore_index=-100)(x, torch.tensor(y)).backward()
    assert torch.isfinite(x.grad).all() and (x.grad[torch.tensor(~keep)] == 0).all()


def test_trainer_wrapper_counts_the_same_entries():
    hf = pytest.importorskip("VLAP.torch.hf")
    y, u, keep = _masked_data(seed=10)
    ut, yt = torch.tensor(u), torch.tensor(y)
    wrapper = hf.loss_for_trainer("sigmoidF1", ignore_index=-100)
    # one micro-batch holding every entry of the accumulated batch: its own loss
    value = wrapper({"logits": ut}, yt, num_items_in_batch=int(keep.sum()))
    assert float(value) == pytest.approx(float(VF.sigmoid_f1(ut, yt, ignore_index=-100)),
                                         abs=1e-12)


# --- tensor checks: on the device, eager = compiled ---------------------------------------


def test_the_checks_copy_nothing_to_the_host(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a host copy or sync in the loss")

    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        """Every aten op run, with its device arguments."""

        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.append((str(func), (kwargs or {}).get("device")))
            return func(*args, **(kwargs or {}))

    y, u = _data(seed=11, soft=True)
    yt = torch.tensor(y)
    for method in ("item", "cpu", "numpy", "tolist", "__bool__"):
        monkeypatch.setattr(torch.Tensor, method, refuse)
    for module in (vt.SigmoidF1(), vt.Focal(ignore_index=-100), vt.MCCLoss(reduction="none"),
                   vt.JaccardLoss(ignore_index=-100), vt.WeightedSum(), vt.LabelCountError()):
        x = torch.tensor(u, requires_grad=True)
        with Ops() as ops:
            module(x, yt).sum().backward()
        names = [name for name, _ in ops.seen]
        # _local_scalar_dense: a read to the host (.item(), bool()): a device sync;
        # lift_fresh: a tensor made from host data: a host-to-device copy
        assert "aten._local_scalar_dense.default" not in names, module
        assert "aten.lift_fresh.default" not in names, module
        assert all(device in (None, x.device) for _, device in ops.seen), module


def test_the_device_assertion_is_torchs():
    from VLAP.torch import _compat

    assert _compat.HAS_ASSERT_ASYNC  # torch >= 2.1: no host sync in the checks
    _compat.assert_async(torch.tensor(True), "never")
    with pytest.raises(RuntimeError, match="the message"):
        _compat.assert_async(torch.tensor(False), "the message")


def test_eager_and_compiled_agree_and_both_refuse_bad_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    module = vt.SigmoidF1(beta=2.0)
    compiled = torch.compile(module, dynamic=False)
    y, u = _data(seed=12, soft=True)
    yt, ut = torch.tensor(y, dtype=torch.float32), torch.tensor(u, dtype=torch.float32)
    torch.testing.assert_close(compiled(ut, yt), module(ut, yt))
    bad = yt.clone()
    bad[1, 2] = 2.0
    for fn in (module, compiled):
        with pytest.raises(RuntimeError, match=r"`target` must hold values in \[0, 1\]"):
            fn(ut, bad)


def test_soft_score_loss_takes_the_same_reduction():
    y, u = _data(seed=13)
    ut, yt = torch.tensor(u), torch.tensor(y)
    for reduction in ("none", "sum"):
        torch.testing.assert_close(vt.SoftScoreLoss("jaccard", reduction=reduction)(ut, yt),
                                   vt.JaccardLoss(reduction=reduction)(ut, yt),
                                   rtol=0, atol=0)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-9), (torch.float32, 2e-3)])
def test_counts_from_totals_equal_the_four_products(dtype, atol):
    """tp, predicted, positives give the counts of the four products up to rounding
    (float32 sums of ~1000 terms: absolute rounding ~1e-4 of counts of size ~500),
    and the losses to far inside the parity tolerance."""
    from VLAP.ops import core

    g = torch.Generator().manual_seed(0)
    u = 3.0 * torch.randn(1024, 1000, generator=g, dtype=dtype)
    y = (torch.rand(1024, 1000, generator=g) < 0.05).to(dtype)
    w = torch.rand(1024, 1000, generator=g, dtype=dtype)
    for weight in (None, w, w[:, 0]):
        four = core.soft_confusion(vt.TORCH_OPS, y, u, sample_weight=weight)
        fast = core.soft_confusion(vt.TORCH_OPS, y, u, sample_weight=weight, from_totals=True)
        for a, b in zip(four, fast):
            torch.testing.assert_close(b, a, rtol=0, atol=atol)
        for score in ("fbeta", "mcc"):
            for average in ("macro", "micro"):
                exact = core.reduce_score(vt.TORCH_OPS, score, *four, average=average)
                got = core.reduce_score(vt.TORCH_OPS, score, *fast, average=average)
                assert abs(float(got) - float(exact)) < 1e-6
