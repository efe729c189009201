"""The loss registry (VLAP.ops.registry) is the one table of losses.

* Parity: for every registered loss and every value of its options' declared
  grid, the Keras loss (on the current KERAS_BACKEND; CI runs this file on
  TensorFlow, PyTorch and JAX) and the ``VLAP.torch`` module give the same value
  and the same gradient w.r.t. the predictions, on the same random inputs,
  without and with ``sample_weight``.
* Derivation: every name resolves in both front-ends, every registered loss has
  a Keras class and a torch module named as registered, and their options are
  the registry's; a loss registered at run time appears everywhere at once.
"""

import inspect

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import VLAP.torch as vt  # noqa: E402
from VLAP import losses  # noqa: E402
from VLAP.experiments.results import display_name  # noqa: E402
from VLAP.ops import core, registry  # noqa: E402
from VLAP.torch import hf  # noqa: E402

BACKEND = keras.config.backend()
# float64 on TensorFlow and PyTorch: both sides then agree to rounding (~1e-15),
# far inside 1e-6. JAX computes in float32 unless `jax_enable_x64` is switched on
# for the whole process, which would change every other test of the session; there
# both sides run in float32. Values and gradients are sums of ~80 terms of size
# <= 1 (16 examples x 5 labels) computed by two libraries that order the sums
# differently (XLA, ATen): float32's 6e-8 relative rounding over ~100 additions
# and a few divisions stays below 2e-5, the tolerance used there.
DTYPE = "float32" if BACKEND == "jax" else "float64"
ATOL = 2e-5 if DTYPE == "float32" else 1e-6
N, L = 16, 5
EPOCHS = (0, 3, 12)  # Scheduled: before, inside and after the grids' ramps


def _cases():
    for spec in registry.specs():
        yield pytest.param(spec.name, {}, id=f"{spec.name}-defaults")
        for option in spec.options:
            for value in option.grid:
                yield pytest.param(spec.name, {option.name: value},
                                   id=f"{spec.name}-{option.name}={value!r}")


def _inputs(spec, options, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((N, L)) < 0.4).astype(DTYPE)
    width = L * spec.outputs_per_label
    u = (2.0 * rng.standard_normal((N, width))).astype(DTYPE)
    if not options.get("from_logits", True):
        u = (1.0 / (1.0 + np.exp(-u))).astype(DTYPE)  # probabilities in (0, 1)
    weights = [None, rng.choice([0.0, 0.5, 1.0, 2.0], size=N).astype(DTYPE)]
    if spec.kind == "batch":  # entry weights inside the counts
        weights.append(rng.choice([0.0, 1.0, 3.0], size=(N, L)).astype(DTYPE))
    return y, u, weights


def _keras_value_and_grad(fn, u):
    """``fn(x)`` and its gradient w.r.t. ``x`` at ``u`` on the current backend."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(u)
        with tf.GradientTape() as tape:
            value = fn(x)
        return float(value), tape.gradient(value, x).numpy()
    if BACKEND == "torch":
        x = torch.tensor(u, requires_grad=True)
        value = fn(x)
        value.backward()
        return float(value.detach()), x.grad.numpy()
    import jax

    value, grad = jax.value_and_grad(lambda x: fn(x))(u)
    return float(value), np.asarray(grad)


def _torch_value_and_grad(module, u, y, w):
    x = torch.tensor(u, requires_grad=True)
    value = module(x, torch.tensor(y), None if w is None else torch.tensor(w))
    value.backward()
    return float(value.detach()), x.grad.numpy()


def _close(keras_side, torch_side, what):
    assert np.isfinite(keras_side[1]).all() and np.isfinite(torch_side[1]).all(), \
        f"a gradient is not finite: {what}"
    np.testing.assert_allclose(keras_side[0], torch_side[0], rtol=0, atol=ATOL,
                               err_msg=f"value, {what}")
    np.testing.assert_allclose(keras_side[1], torch_side[1], rtol=0, atol=ATOL,
                               err_msg=f"gradient, {what}")


@pytest.mark.parametrize("name,options", list(_cases()))
def test_keras_and_torch_agree_on_value_and_gradient(name, options):
    spec = registry.loss_spec(name)
    y, u, weights = _inputs(spec, options, seed=len(name) + len(options))
    for w in weights:
        what = f"{name} {options}, sample_weight shape {None if w is None else w.shape}"
        if name == "scheduled":  # the classes need a model and epochs: the same step
            keras_loss, module = losses.Scheduled(**options), vt.Scheduled(**options)
            fn_options = {k: v for k, v in options.items()
                          if k not in ("start_epoch", "ramp_epochs")}
            for epoch in EPOCHS:
                mix = keras_loss.mix_at(epoch)
                assert module.set_epoch(epoch) == mix
                _close(_keras_value_and_grad(lambda x: losses.mixed(
                    y, x, mix=mix, sample_weight=w, **fn_options), u),
                    _torch_value_and_grad(module, u, y, w), f"{what}, epoch {epoch}")
        elif name == "ema_sigmoid_f1":  # two training steps; the second reads the state
            module = vt.EMASigmoidF1(**options).train()
            _, u2, _ = _inputs(spec, options, seed=99)
            _, state = losses.ema_sigmoid_f1(y, u, None, sample_weight=w, **options)
            state = tuple(keras.ops.convert_to_numpy(s) for s in state)
            _torch_value_and_grad(module, u, y, w)
            _close(_keras_value_and_grad(lambda x: losses.ema_sigmoid_f1(
                y, x, state, sample_weight=w, **options)[0], u2),
                _torch_value_and_grad(module, u2, y, w), what)
        else:
            keras_loss = losses.get(name, dtype=DTYPE, **options)
            module = vt.get_loss(name, **options)
            _close(_keras_value_and_grad(lambda x: keras_loss(y, x, sample_weight=w), u),
                   _torch_value_and_grad(module, u, y, w), what)


# --- the registry is the only table ----------------------------------------------------


def test_every_name_resolves_in_both_front_ends():
    names = set(losses.NAMES)
    assert names == set(registry.names()) == set(hf.LOSSES)
    for name in names:
        key = losses.canonical_name(name)
        assert type(losses.get(name)) is losses.loss_class(key)
        assert type(vt.get_loss(name)) is vt.module_class(key) is hf.LOSSES[name]
    # the aliases are written once, in the registry
    assert losses.canonical_name("bce") == "binary_crossentropy"
    assert losses.canonical_name("asl") == "asymmetric"
    assert losses.canonical_name("sigmoidF1") == "sigmoid_f1"


@pytest.mark.parametrize("spec", registry.specs(), ids=lambda s: s.name)
def test_each_loss_has_a_keras_class_and_a_torch_module_with_its_options(spec):
    cls, module = losses.loss_class(spec.name), vt.module_class(spec.name)
    assert cls.__name__ == module.__name__ == spec.class_name
    assert getattr(losses, spec.class_name) is cls and getattr(vt, spec.class_name) is module
    assert keras.saving.get_registered_name(cls) == f"VLAP>{spec.class_name}"
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert tuple(params) == losses.loss_options(spec.name)
    assert tuple(params[:len(spec.options)]) == spec.option_names
    torch_params = [p for p in inspect.signature(module.__init__).parameters if p != "self"]
    assert tuple(torch_params[:len(spec.options)]) == spec.option_names
    for p in (inspect.signature(cls.__init__).parameters,
              inspect.signature(module.__init__).parameters):
        assert {o.name: p[o.name].default for o in spec.options} == spec.defaults()
    assert cls().outputs_per_label == spec.outputs_per_label
    if spec.formula is not None:
        assert display_name(spec.name) == spec.display
    else:  # a composite or stateful loss is named by its parts, never by its bare name
        assert display_name(spec.name) != spec.name
    assert (spec.name in losses.PAPER_LOSSES) == spec.paper
    assert (spec.name in losses.STATEFUL) == spec.stateful
    assert (spec.name in losses.DUAL_HEAD) == (spec.outputs_per_label == 2)


@pytest.mark.parametrize("spec", registry.specs(), ids=lambda s: s.name)
def test_each_public_function_has_the_registry_defaults(spec):
    fn = getattr(losses, spec.function, None)
    if fn is None:  # not every loss has a public function (scheduled: VLAP.losses.mixed)
        return
    params = inspect.signature(fn).parameters
    for option in spec.options:
        if option.name in params:
            assert params[option.name].default == option.default, option.name
        else:  # fbeta_loss & co. forward **kwargs to soft_score_loss
            assert any(p.kind == p.VAR_KEYWORD for p in params.values()), option.name


def test_parts_come_from_the_registry_on_both_sides():
    y, u, _ = _inputs(registry.loss_spec("jaccard"), {}, seed=3)
    keras_value = float(losses.WeightedSum(surrogate="jaccard", dtype=DTYPE)(y, u))
    torch_value = float(vt.WeightedSum(surrogate="jaccard")(torch.tensor(u), torch.tensor(y)))
    assert keras_value == pytest.approx(torch_value, abs=ATOL)
    for front_end in (losses.WeightedSum, vt.WeightedSum):
        with pytest.raises(ValueError, match=r"`surrogate` must be .*one of \[.*'jaccard'"):
            front_end(surrogate="bce")
        with pytest.raises(ValueError, match=r"`baseline` must be .*one of \[.*'asl'"):
            front_end(baseline="sigmoidF1")
        with pytest.raises(ValueError, match="Unknown option 'gama' in `baseline_kwargs`"):
            front_end(baseline="focal", baseline_kwargs={"gama": 1.0})
    with pytest.raises(ValueError, match=r"`loss` must be .*Did you mean 'jaccard'"):
        vt.get_loss("jacard")


def _brier(xp, y_true, y_pred, *, from_logits=True, power=2.0):
    p = xp.sigmoid(y_pred) if from_logits else y_pred
    return xp.mean(xp.power(xp.abs(p - xp.cast_like(y_true, p)), power), -1)


def _pooled_counts(xp, y_true, y_pred, *, sample_weight=None):
    return core.soft_confusion(xp, y_true, y_pred, sample_weight=sample_weight)


def _one_minus_dice(xp, counts, *, smooth=1.0):
    tp, fp, _, fn = (xp.sum(c) for c in counts)
    return 1.0 - (2.0 * tp + smooth) / (2.0 * tp + fp + fn + smooth)


@pytest.fixture
def new_losses():
    from VLAP._validation import check_number

    power = registry.Option("power", 2.0, grid=(1.5,),
                            check=lambda v: check_number("power", v, low=1.0))
    specs = [
        registry.register_loss("test_brier", kind="elementwise", formula=_brier,
                               options=(registry.FROM_LOGITS, power), aliases=("tbrier",),
                               display="Brier (test)"),
        registry.register_loss("test_dice", kind="batch",
                               formula=registry.BatchFormula(_pooled_counts, _one_minus_dice),
                               options=(registry.Option("smooth", 1.0, grid=(0.1,)),)),
    ]
    yield specs
    for spec in specs:
        registry.unregister_loss(spec.name)


def test_a_registered_loss_is_in_every_front_end_at_once(new_losses, tmp_path):
    for spec in new_losses:
        assert spec.name in losses.NAMES and spec.name in hf.LOSSES
        for options in ({}, *({o.name: v} for o in spec.options for v in o.grid)):
            y, u, weights = _inputs(spec, options, seed=7)
            for w in weights:
                keras_loss = losses.get(spec.name, dtype=DTYPE, **options)
                _close(_keras_value_and_grad(lambda x: keras_loss(y, x, sample_weight=w), u),
                       _torch_value_and_grad(vt.get_loss(spec.name, **options), u, y, w),
                       f"{spec.name} {options}")
        again = keras.losses.deserialize(keras.losses.serialize(losses.get(spec.name)))
        assert type(again) is losses.loss_class(spec.name)
    assert display_name("tbrier") == "Brier (test)"
    assert losses.WeightedSum(baseline="tbrier").baseline == "tbrier"
    assert isinstance(vt.WeightedSum(surrogate="test_dice").surrogate, vt.TestDice)
    with pytest.raises(ValueError, match="`power` must be in"):
        losses.get("tbrier", power=0.5)
    with pytest.raises(ValueError, match="`power` must be in"):
        vt.get_loss("tbrier", power=0.5)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_loss("tbrier", kind="elementwise", formula=_brier)


def test_a_loss_registered_anew_gets_new_classes():
    first = registry.register_loss("test_again", kind="elementwise", formula=_brier,
                                   options=(registry.FROM_LOGITS,))
    made = losses.loss_class("test_again"), vt.module_class("test_again")
    registry.unregister_loss("test_again")
    with pytest.raises(ValueError, match="Unknown loss 'test_again'"):
        losses.get("test_again")
    second = registry.register_loss("test_again", kind="elementwise", formula=_brier,
                                    options=(registry.FROM_LOGITS,
                                             registry.Option("power", 2.0)))
    try:
        assert second is not first
        assert losses.loss_class("test_again") is not made[0]
        assert vt.module_class("test_again") is not made[1]
        assert losses.get("test_again", power=3.0).power == 3.0
    finally:
        registry.unregister_loss("test_again")


def test_a_registration_is_checked():
    with pytest.raises(ValueError, match="Option 'gamma' of loss 'bad' is not an argument"):
        registry.register_loss("bad", kind="elementwise", formula=_brier,
                               options=(registry.Option("gamma", 1.0),))
    with pytest.raises(ValueError, match="argument `kind`"):
        registry.register_loss("bad", kind="pairwise", formula=_brier)
    with pytest.raises(TypeError, match="BatchFormula"):
        registry.register_loss("bad", kind="batch", formula=_brier)
    assert "bad" not in registry.names()


def test_the_registry_imports_no_framework():
    import subprocess
    import sys

    code = ("import sys, VLAP.ops.registry, VLAP.experiments.results; "
            "bad = [m for m in ('tensorflow', 'keras', 'torch', 'jax') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
