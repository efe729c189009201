"""The candidate losses beyond the paper (issue 14) on the current Keras backend and in
VLAP.torch: weighted sums, the BCE -> sigmoidF1 schedule, sigmoidF1 on moving-average
counts and the label-count term. Values against NumPy references, state handling in
fit (training batches only, every backend), exact resume of the schedule, serialization
and error messages."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

import VLAP
from VLAP import losses
import reference as ref
from conftest import random_multilabel
from test_losses import EDGE, _grad


def _f(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


def _count_error(y, u):
    return np.abs((ref.sigmoid(u) - y).sum(-1))


ELEMENTWISE_REF = {"binary_crossentropy": ref.bce, "asymmetric": ref.asl, "focal": ref.focal,
                   "label_count_error": _count_error}


# --- values -----------------------------------------------------------------------

def test_label_count_error_matches_formula():
    y, u = random_multilabel(seed=3)
    np.testing.assert_allclose(_f(losses.label_count_error(y, u)), _count_error(y, u),
                               rtol=1e-5)
    p = ref.sigmoid(u)
    np.testing.assert_allclose(_f(losses.label_count_error(y, p, from_logits=False)),
                               _count_error(y, u), rtol=1e-5)


@pytest.mark.parametrize("baseline", sorted(ELEMENTWISE_REF))
@pytest.mark.parametrize("weight", [0.0, 0.3, 2.0])
def test_weighted_sum_is_surrogate_plus_weighted_mean(baseline, weight):
    y, u = random_multilabel(seed=5)
    got = _f(losses.weighted_sum(y, u, baseline=baseline, weight=weight,
                                 surrogate_kwargs={"beta": 2.0, "eta": 0.5}))
    want = ref.sigmoid_f1(y, u, 2.0, 0.5) + weight * ELEMENTWISE_REF[baseline](y, u).mean()
    assert got == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("baseline", sorted(ELEMENTWISE_REF))
def test_weighted_sum_sample_weight_rows_and_entries(baseline):
    y, u = random_multilabel(n=16, num_labels=5, seed=8)
    r = np.random.default_rng(0)
    rows, entries = r.random(16).astype("float32"), r.random((16, 5)).astype("float32")
    f1_rows = _f(losses.sigmoid_f1(y, u, sample_weight=rows))
    got = _f(losses.weighted_sum(y, u, baseline=baseline, weight=0.5, sample_weight=rows))
    base = ELEMENTWISE_REF[baseline](y, u)
    assert got == pytest.approx(f1_rows + 0.5 * np.mean(rows * base), abs=1e-5)
    f1_entries = _f(losses.sigmoid_f1(y, u, sample_weight=entries))
    got = _f(losses.weighted_sum(y, u, baseline=baseline, weight=0.5, sample_weight=entries))
    if baseline == "label_count_error":
        elem = np.abs((entries * (ref.sigmoid(u) - y)).sum(-1)).mean()
    else:  # the element-wise value of each entry, weighted, averaged over all entries
        per_entry = ELEMENTWISE_REF[baseline](y.reshape(-1, 1), u.reshape(-1, 1))
        elem = np.mean(entries.reshape(-1) * per_entry)
    assert got == pytest.approx(f1_entries + 0.5 * elem, abs=1e-5)


def test_mixed_interpolates_between_its_ends():
    y, u = random_multilabel(seed=9)
    bce, f1 = ref.bce(y, u).mean(), ref.sigmoid_f1(y, u)
    for mix in (0.0, 0.25, 1.0):
        assert _f(losses.mixed(y, u, mix=mix)) == pytest.approx((1 - mix) * bce + mix * f1,
                                                                abs=1e-5)


def _ema_reference(batches, momentum, beta=1.0):
    """Bias-corrected EMA of the soft counts, F1 of the corrected counts, per batch."""
    state, decay, out = None, 1.0, []
    for y, u in batches:
        c = np.stack(ref.counts(y, ref.sigmoid(beta * u)))  # tp, fp, tn, fn per label
        state = (1 - momentum) * c if state is None else momentum * state + (1 - momentum) * c
        decay *= momentum
        tp, fp, _, fn = state / (1 - decay)
        out.append(1 - np.mean(2 * tp / (2 * tp + fp + fn + 1e-7)))
    return out


def test_ema_sigmoid_f1_function_matches_reference_and_reduces_to_sigmoid_f1():
    batches = [random_multilabel(n=8, num_labels=4, seed=s) for s in range(4)]
    state, got = None, []
    for y, u in batches:
        loss, state = losses.ema_sigmoid_f1(y, u, state, momentum=0.8)
        got.append(float(_f(loss)))
    np.testing.assert_allclose(got, _ema_reference(batches, 0.8), atol=1e-5)
    y, u = batches[0]
    assert float(_f(losses.ema_sigmoid_f1(y, u, None, momentum=0.0)[0])) == pytest.approx(
        ref.sigmoid_f1(y, u), abs=1e-6)


# --- properties ----------------------------------------------------------------------

_LABELS = st.integers(1, 6).flatmap(lambda L: hnp.arrays(
    "float32", st.tuples(st.integers(1, 10), st.just(L)), elements=st.sampled_from([0.0, 1.0])))
STATELESS = [("weighted_sum", {"baseline": "bce", "weight": 0.3}),
             ("weighted_sum", {"baseline": "asl", "weight": 1.0,
                               "surrogate_kwargs": {"beta": 10.0}}),
             ("weighted_sum", {"baseline": "label_count_error", "weight": 0.1}),
             ("label_count_error", {})]


@settings(max_examples=30, deadline=None)
@given(data=st.data(), weight=st.floats(0, 5), beta=st.floats(0.1, 30),
       baseline=st.sampled_from(sorted(ELEMENTWISE_REF)))
def test_weighted_sum_is_at_least_its_surrogate_and_finite(data, weight, beta, baseline):
    y = data.draw(_LABELS)
    u = data.draw(hnp.arrays("float32", y.shape, elements=st.floats(-1e4, 1e4, width=32)))
    f1 = float(_f(losses.sigmoid_f1(y, u, beta=beta)))
    total = float(_f(losses.weighted_sum(y, u, baseline=baseline, weight=weight,
                                         surrogate_kwargs={"beta": beta})))
    assert np.isfinite(total) and total >= f1 - 1e-5


@settings(max_examples=30, deadline=None)
@given(data=st.data(), momentum=st.floats(0, 0.999), steps=st.integers(1, 4))
def test_ema_loss_stays_in_unit_interval(data, momentum, steps):
    y = data.draw(_LABELS)
    state = None
    for _ in range(steps):
        u = data.draw(hnp.arrays("float32", y.shape, elements=st.floats(-50, 50, width=32)))
        loss, state = losses.ema_sigmoid_f1(y, u, state, momentum=momentum)
        assert -1e-6 <= float(_f(loss)) <= 1.0 + 1e-6


@settings(max_examples=20, deadline=None)
@given(data=st.data(), case=st.sampled_from(STATELESS))
def test_new_losses_have_finite_gradients(data, case):
    y = data.draw(_LABELS)
    u = data.draw(hnp.arrays("float32", y.shape, elements=st.floats(-1e4, 1e4, width=32)))
    loss = losses.get(case[0], **case[1])
    assert np.isfinite(_grad(lambda x: loss(y, x), u)).all()


@pytest.mark.parametrize("case", sorted(EDGE))
@pytest.mark.parametrize("which", range(len(STATELESS)))
def test_new_losses_finite_on_edge_cases(case, which):
    y, u = EDGE[case]
    loss = losses.get(STATELESS[which][0], **STATELESS[which][1])
    assert np.isfinite(_f(loss(y, u))).all()
    assert np.isfinite(_grad(lambda x: ops.sum(loss(y, x)), u)).all()


def test_ema_gradient_reaches_the_current_batch_only_scaled():
    # with a state from earlier batches, d loss / d logits = the plain F1 gradient of the
    # corrected counts, scaled by (1 - m) / (1 - decay * m): compare with finite differences
    y0, u0 = random_multilabel(n=8, num_labels=3, seed=1)
    y, u = random_multilabel(n=8, num_labels=3, seed=2)
    _, state = losses.ema_sigmoid_f1(y0, u0, None, momentum=0.7)
    state = tuple(np.asarray(_f(s), "float32") for s in state)
    fn = lambda x: losses.ema_sigmoid_f1(y, x, state, momentum=0.7)[0]  # noqa: E731
    g = _grad(fn, u)
    i, j, h = 3, 1, 1e-2
    up, down = u.copy(), u.copy()
    up[i, j] += h
    down[i, j] -= h
    numeric = (float(_f(fn(up))) - float(_f(fn(down)))) / (2 * h)
    assert g[i, j] == pytest.approx(numeric, rel=2e-2, abs=1e-5)
    assert abs(g).sum() > 0


# --- Keras classes -----------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs", [
    ("weighted_sum", {"baseline": "asl", "weight": 0.2, "surrogate_kwargs": {"beta": 3.0},
                      "baseline_kwargs": {"gamma_neg": 2.0}}),
    ("label_count_error", {}),
    ("scheduled", {"start_epoch": 2, "ramp_epochs": 3, "end_kwargs": {"beta": 5.0}}),
    ("ema_sigmoid_f1", {"momentum": 0.95, "beta": 2.0}),
])
def test_new_losses_resolve_and_round_trip_their_config(name, kwargs):
    loss = losses.get(name, **kwargs)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    for key, value in kwargs.items():
        assert getattr(again, key) == value


def test_weighted_sum_class_equals_function():
    y, u = random_multilabel(seed=2)
    cls = losses.WeightedSum(baseline="bce", weight=0.4)
    assert _f(cls(y, u)) == pytest.approx(_f(losses.weighted_sum(y, u, weight=0.4)), abs=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"baseline": "sigmoidF1"}, r"`baseline` must be one of \[.*'bce'"),
    ({"surrogate": "bce"}, r"`surrogate` must be one of"),
    ({"baseline_kwargs": {"gama_neg": 1.0}, "baseline": "asl"},
     r"Unknown option 'gama_neg' in `baseline_kwargs` for 'asymmetric'"),
    ({"weight": -1.0}, r"`weight` must be in"),
])
def test_weighted_sum_bad_options_say_what_is_wrong(kwargs, match):
    with pytest.raises(ValueError, match=match):
        losses.WeightedSum(**kwargs)


def test_ema_momentum_must_be_below_one():
    with pytest.raises(ValueError, match="momentum"):
        losses.EMASigmoidF1(momentum=1.0)


def test_stateful_loss_not_attached_says_how_to_attach():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss=losses.EMASigmoidF1())
    x, y = np.zeros((8, 4), "float32"), np.ones((8, 3), "float32")
    with pytest.raises(RuntimeError, match=r"attach"):
        model.fit(x, y, epochs=1, verbose=0)


# --- in training, on this backend ------------------------------------------------------

def _data(n=96, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 6)).astype("float32")
    y = (x @ r.normal(size=(6, 4)) + r.normal(size=(n, 4)) > 0.8).astype("float32")
    y[0], y[1] = 1.0, 0.0
    return x, y


def _train(loss, kwargs, epochs=3, patience=None, **options):
    x, y = _data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    train_ds = VLAP.createDataset(x, y, batch_size=16, is_training=True, seed=0)
    val_ds = VLAP.createDataset(x[:40], y[:40], batch_size=40, is_training=False)
    return VLAP.train(model, train_ds, val_ds, 4, loss=loss, loss_kwargs=kwargs, epochs=epochs,
                      patience=patience, verbose=0, **options)


def test_ema_state_advances_on_training_batches_only():
    model, history = _train("ema_sigmoid_f1", {"momentum": 0.9})
    steps = 3 * 6  # 3 epochs x 96/16 batches; the validation batches must not count
    decay = float(_f(model.loss.state.decay))
    assert decay == pytest.approx(0.9 ** steps, rel=1e-4)
    assert len(history.history["ema_f1"]) == 3


def test_ema_at_momentum_zero_trains_exactly_as_sigmoid_f1():
    _, h_ema = _train("ema_sigmoid_f1", {"momentum": 0.0})
    _, h_f1 = _train("sigmoid_f1", {})
    np.testing.assert_allclose(h_ema.history["loss"], h_f1.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(h_ema.history["val_loss"], h_f1.history["val_loss"], rtol=1e-5)


def test_schedule_moves_from_bce_to_sigmoid_f1_by_epoch():
    _, history = _train("scheduled", {"start_epoch": 1, "ramp_epochs": 2}, epochs=4)
    assert history.history["loss_mix"] == pytest.approx([0.0, 0.0, 0.5, 1.0])


def test_schedule_at_mix_zero_trains_exactly_as_bce():
    _, h_s = _train("scheduled", {"start_epoch": 5}, epochs=2)
    _, h_b = _train("binary_crossentropy", {}, epochs=2)
    np.testing.assert_allclose(h_s.history["loss"], h_b.history["loss"], rtol=1e-5)


def test_early_stopping_never_cuts_a_schedule_short():
    # a learning rate of ~0: nothing ever improves, so patience 1 alone would stop after
    # epoch 1, in the BCE phase; the best epoch is sought from the first pure-F1 one
    # (epoch 4, the baseline) on, so epoch 5 is the one without improvement
    _, history = _train("scheduled", {"start_epoch": 3, "ramp_epochs": 1}, epochs=8,
                        patience=1, learning_rate=1e-12)
    assert history.history["loss_mix"] == pytest.approx([0.0, 0.0, 0.0, 0.0, 1.0, 1.0])


class _Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("simulated crash")


def test_schedule_resumes_exactly(tmp_path):
    kwargs = {"start_epoch": 1, "ramp_epochs": 2}
    model_a, full = _train("scheduled", kwargs, epochs=4, run_dir=tmp_path / "a")
    with pytest.raises(RuntimeError, match="simulated crash"):
        _train("scheduled", kwargs, epochs=4, run_dir=tmp_path / "b", callbacks=[_Crash()])
    model_b, resumed = _train("scheduled", kwargs, epochs=4, run_dir=tmp_path / "b",
                              resume=True)
    assert resumed.history["loss_mix"] == pytest.approx([0.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(resumed.history["loss"], full.history["loss"], rtol=1e-5)
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


# --- VLAP.torch ------------------------------------------------------------------------

def test_torch_modules_match_the_keras_functions():
    torch = pytest.importorskip("torch")
    import VLAP.torch as vt

    y, u = random_multilabel(n=16, num_labels=5, seed=4)
    yt, ut = torch.tensor(y), torch.tensor(u)
    entries = np.random.default_rng(1).random((16, 5)).astype("float32")
    for baseline, weight in (("bce", 0.3), ("asl", 0.5), ("label_count_error", 0.1)):
        for sw in (None, entries):
            want = _f(losses.weighted_sum(y, u, baseline=baseline, weight=weight,
                                          sample_weight=sw))
            got = vt.WeightedSum(baseline=baseline, weight=weight)(
                ut, yt, None if sw is None else torch.tensor(sw))
            assert float(got) == pytest.approx(float(want), abs=1e-5)
    sched = vt.Scheduled(start_epoch=0, ramp_epochs=4)
    sched.set_epoch(1)
    assert float(sched(ut, yt)) == pytest.approx(float(_f(losses.mixed(y, u, mix=0.25))),
                                                 abs=1e-5)
    np.testing.assert_allclose(vt.LabelCountError(reduction="none")(ut, yt).numpy(),
                               _count_error(y, u), rtol=1e-5)


def test_torch_ema_trains_keeps_state_in_state_dict_and_freezes_in_eval():
    torch = pytest.importorskip("torch")
    import VLAP.torch as vt

    batches = [random_multilabel(n=8, num_labels=4, seed=s) for s in range(3)]
    loss_fn = vt.EMASigmoidF1(momentum=0.8)
    got = []
    for y, u in batches:
        logits = torch.tensor(u, requires_grad=True)
        value = loss_fn(logits, torch.tensor(y))
        value.backward()  # the gradient reaches the current batch only
        assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
        got.append(float(value.detach()))
    np.testing.assert_allclose(got, _ema_reference(batches, 0.8), atol=1e-5)
    saved = {k: v.clone() for k, v in loss_fn.state_dict().items()}
    fresh = vt.EMASigmoidF1(momentum=0.8, num_labels=4)
    fresh.load_state_dict(saved)
    fresh.eval()
    y, u = batches[0]
    assert float(fresh(torch.tensor(u), torch.tensor(y))) == pytest.approx(
        ref.sigmoid_f1(y, u), abs=1e-5)  # eval: the batch's own sigmoidF1
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, saved[key])  # and the state is untouched
