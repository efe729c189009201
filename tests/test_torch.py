"""VLAP.torch: native PyTorch modules, without TensorFlow, same formulas."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import reference as ref  # noqa: E402
import VLAP.torch as vt  # noqa: E402
from conftest import random_multilabel  # noqa: E402


def test_import_does_not_pull_tensorflow_or_keras():
    code = ("import sys, VLAP.torch; "
            "bad = [m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_values_match_references():
    y, u = random_multilabel(seed=21)
    yt, ut = torch.tensor(y), torch.tensor(u)
    assert float(vt.SigmoidF1(beta=4.0, eta=0.5)(ut, yt)) == pytest.approx(
        ref.sigmoid_f1(y, u, 4.0, 0.5), abs=1e-5)
    assert float(vt.BinaryCrossentropy()(ut, yt)) == pytest.approx(ref.bce(y, u).mean(), abs=1e-5)
    assert float(vt.Focal()(ut, yt)) == pytest.approx(ref.focal(y, u).mean(), abs=1e-5)
    assert float(vt.Asymmetric()(ut, yt)) == pytest.approx(ref.asl(y, u).mean(), abs=1e-5)
    np.testing.assert_allclose(vt.Focal(reduction="none")(ut, yt).numpy(), ref.focal(y, u), atol=1e-5)


def test_trains_in_a_plain_torch_loop():
    torch.manual_seed(0)
    x = torch.randn(64, 6)
    y = (x @ torch.randn(6, 4) > 0.3).float()
    model = torch.nn.Linear(6, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = vt.SigmoidF1(beta=3.0)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
    assert float(loss) < first


@pytest.mark.parametrize("module", [vt.SigmoidF1(), vt.UnboundedF1(), vt.BinaryCrossentropy(),
                                    vt.Focal(), vt.Asymmetric(), vt.SoftScoreLoss("mcc")])
def test_finite_gradients_for_huge_logits(module):
    u = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    y = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    module(u, y).backward()
    assert torch.isfinite(u.grad).all()


def test_errors():
    with pytest.raises(ValueError, match="`input` and `target` must have the same shape"):
        vt.SigmoidF1()(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(RuntimeError, match=r"`target` must hold values in \[0, 1\]"):
        vt.SigmoidF1()(torch.zeros(1, 2), torch.tensor([[1.3, 1.0]]))
    with pytest.raises(ValueError, match="argument `reduction`"):
        vt.Focal(reduction="avg")
    with pytest.raises(ValueError, match="`beta`.*must be > 0"):
        vt.SigmoidF1(beta=-1.0)
    with pytest.raises(ValueError, match="argument `average`"):
        vt.SigmoidF1(average="samples")


@pytest.mark.parametrize("module,kwargs,match", [
    (vt.Focal, dict(alpha=1.5), r"`alpha` must be in \[0.0, 1.0\]"),
    (vt.Focal, dict(gamma=-1.0), "`gamma` must be in"),
    (vt.Asymmetric, dict(clip=2.0), "`clip` must be in"),
    (vt.Asymmetric, dict(gamma_neg=-1.0), "`gamma_neg` must be in"),
    (vt.Asymmetric, dict(gamma_pos=-0.5), "`gamma_pos` must be in"),
    (vt.BinaryCrossentropy, dict(epsilon=-1e-7), "`epsilon` must be in"),
    (vt.SigmoidF1, dict(epsilon=-1.0), "`epsilon` must be in"),
    (vt.SigmoidF1, dict(from_logits=1), "`from_logits` must be a bool"),
    (vt.SoftScoreLoss, dict(f_beta=0.0), "`f_beta` must be in"),
])
def test_same_argument_checks_as_the_keras_losses(module, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        module(**kwargs)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_per_label_sample_weight_matches_the_keras_side(n):
    keras_losses = pytest.importorskip("VLAP.losses")
    y, u = random_multilabel(n=max(n, 2), num_labels=4, seed=40)
    y, u = y[:n], u[:n]
    w = np.random.default_rng(n).choice([0.0, 1.0, 2.0], size=y.shape).astype("float32")
    for kw in (dict(beta=2.0), dict(average="micro")):
        expected = float(keras_losses.SigmoidF1(**kw)(y, u, sample_weight=w))
        got = float(vt.SigmoidF1(**kw)(torch.tensor(u), torch.tensor(y), sample_weight=w))
        assert got == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match=r"\(batch_size,\), \(batch_size, 1\) or "
                                         r"\(batch_size, num_labels\)"):
        vt.SigmoidF1()(torch.tensor(u), torch.tensor(y), sample_weight=np.ones((n, 5)))
    with pytest.raises(ValueError, match=r"element-wise loss must have shape \(batch_size,\)"):
        vt.Focal()(torch.tensor(u), torch.tensor(y), sample_weight=np.ones((n, 4)))


def test_bfloat16_logits_give_a_float32_loss():
    y, u = random_multilabel(seed=41)
    u16 = torch.tensor(u).to(torch.bfloat16)
    for module in (vt.SigmoidF1(), vt.BinaryCrossentropy(), vt.Focal(), vt.Asymmetric()):
        out = module(u16, torch.tensor(y))
        assert out.dtype == torch.float32
        assert float(out) == pytest.approx(float(module(u16.float(), torch.tensor(y))), abs=1e-6)
