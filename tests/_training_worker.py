"""Training checks run in a subprocess with KERAS_BACKEND set (see test_training.py).

Usage: ``python tests/_training_worker.py MODE OUT_DIR``. Prints one line
``VLAP-RESULT <json>``; arrays go to ``OUT_DIR/<name>.npz``.

Modes:
* ``smoke``: metrics that follow the loss's from_logits; every paper loss under
  ``dtype_policy="mixed_bfloat16"``.
* ``resume-full``: uninterrupted runs (with and without dropout), and a run
  interrupted after epoch 2 then resumed in the same process (no dropout).
* ``resume-kill``: the dropout run, SIGKILLed in the middle of epoch 3.
* ``resume-continue``: ``resume=True`` on the killed run, in a fresh process.
* ``distribute``: one SGD step with 1 and with 2 replicas (TF MirroredStrategy
  over 2 logical CPUs; JAX DataParallel over 2 host devices).
* ``dist-full``: uninterrupted runs without strategy, with 1 and with 2 replicas
  (same devices as ``distribute``); ``dist-kill-R``: an R-replica run SIGKILLed in
  the middle of epoch 3; ``dist-continue-R``: ``resume=True`` on it.
"""

import json
import os
import signal
import sys

import numpy as np

# the checkout this file belongs to, whatever copy of VLAP is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras  # noqa: E402

import VLAP  # noqa: E402

BACKEND = keras.config.backend()
RESUME_KW = dict(loss="sigmoidF1", loss_kwargs={"beta": 2.0}, epochs=5, seed=11,
                 patience=None, restore_best=False, learning_rate=0.01, verbose=0)


def _data(n=96, features=6, labels=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features, labels)).astype("float32")
    return x, (x @ w > 0.5).astype("float32")


def _datasets(seed=5):
    x, y = _data()
    return (VLAP.createDataset(x[:64], y[:64], batch_size=16, seed=seed),
            VLAP.createDataset(x[64:], y[64:], batch_size=16, is_training=False))


def _model(seed, dropout, activation=None):
    keras.utils.set_random_seed(seed)  # the initial weights only (test fixture)
    layers = [keras.Input((6,)), keras.layers.Dense(8, activation="relu")]
    if dropout:
        layers.append(keras.layers.Dropout(0.3))
    layers.append(keras.layers.Dense(4, activation=activation))
    return keras.Sequential(layers)


def _save(out, name, model, history):
    np.savez(os.path.join(out, f"{name}.npz"), *model.get_weights())
    return {k: history.history[k] for k in ("loss", "val_loss", "val_f1_macro")}


class _KillMidEpoch(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.batch, self.epoch = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.at and batch == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill after epoch 2")


def resume_full(out):
    res = {}
    for dropout in (True, False):
        train_ds, val_ds = _datasets()
        model, hist = VLAP.train(_model(2, dropout), train_ds, val_ds,
                                 run_dir=os.path.join(out, f"full-{dropout}"), **RESUME_KW)
        res[f"full-{dropout}"] = _save(out, f"full-{dropout}", model, hist)
    run = os.path.join(out, "interrupted")
    train_ds, val_ds = _datasets()
    try:
        VLAP.train(_model(2, False), train_ds, val_ds, run_dir=run, callbacks=[_Interrupt()],
                   **RESUME_KW)
    except KeyboardInterrupt:
        pass
    train_ds, val_ds = _datasets()
    model, hist = VLAP.train(_model(99, False), train_ds, val_ds, run_dir=run, resume=True,
                             **RESUME_KW)
    res["resumed-False"] = _save(out, "resumed-False", model, hist)
    return res


def resume_kill(out):
    train_ds, val_ds = _datasets()
    VLAP.train(_model(2, True), train_ds, val_ds, run_dir=os.path.join(out, "killed"),
               callbacks=[_KillMidEpoch(epoch=2, batch=1)], **RESUME_KW)
    return {"not": "killed"}


def resume_continue(out):
    train_ds, val_ds = _datasets()
    model, hist = VLAP.train(_model(99, True), train_ds, val_ds,
                             run_dir=os.path.join(out, "killed"), resume=True, **RESUME_KW)
    return {"resumed-True": _save(out, "resumed-True", model, hist)}


def smoke(out):
    from sklearn.metrics import f1_score

    res = {}
    # a sigmoid output trained with from_logits=False: the logged metrics must
    # threshold the probabilities themselves
    train_ds, val_ds = _datasets()
    model, hist = VLAP.train(_model(3, False, activation="sigmoid"), train_ds, val_ds,
                             loss=VLAP.losses.SigmoidF1(from_logits=False), epochs=2,
                             patience=None, restore_best=False, learning_rate=0.01,
                             verbose=0)
    x, y = _data()
    pred = (keras.ops.convert_to_numpy(model.predict(x[64:], verbose=0)) > 0.5).astype(int)
    res["logged_f1_macro"] = hist.history["val_f1_macro"][-1]
    res["sklearn_f1_macro"] = float(f1_score(y[64:], pred, average="macro",
                                             zero_division=0))
    res["logged_mean_predicted_labels"] = hist.history["val_mean_predicted_labels"][-1]
    res["mean_predicted_labels"] = float(pred.sum(1).mean())
    # every paper loss under a mixed-precision policy (the global one untouched)
    res["mixed"] = {}
    for name in VLAP.losses.PAPER_LOSSES:
        train_ds, val_ds = _datasets()
        model, hist = VLAP.train(_model(4, True), train_ds, val_ds, loss=name, epochs=2,
                                 patience=None, learning_rate=0.02, verbose=0,
                                 dtype_policy="mixed_bfloat16")
        logits = model(x[:8])
        loss_value = model.loss(y[:8], logits)
        res["mixed"][name] = {
            "loss": hist.history["loss"],
            "compute_dtype": model.layers[-1].compute_dtype,
            "logits_dtype": keras.backend.standardize_dtype(logits.dtype),
            "loss_dtype": keras.backend.standardize_dtype(loss_value.dtype),
        }
    res["global_policy"] = keras.config.dtype_policy().name
    return res


# two_way: its class-wise log-sum-exps span the global batch (shift: max over replicas)
DISTRIBUTED_LOSSES = ("sigmoidF1", "bce", "jaccard", "two_way", "zlpr")


def distribute(out):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = (rng.random((32, 4)) < 0.4).astype("float32")
    y[:16, 0] = 0.0  # the two replicas' halves see different label statistics
    y[16:, 0] = 1.0
    weights = [rng.normal(size=(6, 4)).astype("float32"), np.zeros(4, "float32")]

    def one_step(loss, scope):
        with scope():
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
            model.set_weights(weights)
            model.compile(optimizer=keras.optimizers.SGD(0.5), loss=VLAP.losses.get(loss))
        hist = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        devices = 1
        if BACKEND == "jax":  # the variables live on every device of the mesh
            devices = len(model.weights[0].value.sharding.device_set)
        return [w.tolist() for w in model.get_weights()], hist.history["loss"][0], devices

    res = {}
    import contextlib

    if BACKEND == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        scopes = {1: contextlib.nullcontext, 2: mirrored.scope}
    else:
        import jax

        assert len(jax.devices()) == 2, jax.devices()

        @contextlib.contextmanager
        def data_parallel():
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=jax.devices()))
            try:
                yield
            finally:
                keras.distribution.set_distribution(None)

        scopes = {1: contextlib.nullcontext, 2: data_parallel}
    for loss in DISTRIBUTED_LOSSES:
        expected = float(keras.ops.convert_to_numpy(
            VLAP.losses.get(loss)(y, x @ weights[0] + weights[1])))
        res[loss] = {"expected_loss": expected}
        for replicas, scope in scopes.items():
            w, logged, devices = one_step(loss, scope)
            res[loss][str(replicas)] = {"weights": w, "loss": logged, "devices": devices}
    return res


# --- issue 19: exact resume and one shuffle iterator under distribution ----------------
DIST_KW = dict(loss="sigmoidF1", epochs=4, seed=11, patience=None, restore_best=False,
               learning_rate=0.02, verbose=0)


def _devices():
    """Two devices for this process: 2 logical CPUs (TF) or 2 host devices (JAX)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    else:
        import jax

        assert len(jax.devices()) == 2, jax.devices()


def _dist(replicas):
    """train() arguments for 0 (no strategy), 1 or 2 replicas; JAX sets the distribution."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        if not replicas:
            return {}
        return {"strategy": tf.distribute.MirroredStrategy(
            [f"/cpu:{i}" for i in range(replicas)])}
    import jax

    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices()[:replicas]) if replicas else None)
    return {}


def _dist_train(out, name, replicas, callbacks=None, resume=False):
    train_ds, val_ds = _datasets()
    kw = _dist(replicas)  # JAX: before the model is built
    model = _model(99 if resume else 2, False)
    model, hist = VLAP.train(model, train_ds, val_ds, 4, run_dir=os.path.join(out, name),
                             resume=resume, callbacks=callbacks, **kw, **DIST_KW)
    return _save(out, name, model, hist)


def dist_full(out):
    """Uninterrupted runs without strategy, with 1 and with 2 replicas."""
    _devices()
    return {f"full-{r}": _dist_train(out, f"full-{r}", r) for r in (0, 1, 2)}


def dist_kill(out, replicas):
    """A run with ``replicas`` replicas, SIGKILLed in the middle of epoch 3."""
    _devices()
    _dist_train(out, f"killed-{replicas}", replicas, callbacks=[_KillMidEpoch(2, 1)])
    return {"not": "killed"}


def dist_continue(out, replicas):
    _devices()
    return {f"resumed-{replicas}": _dist_train(out, f"killed-{replicas}", replicas,
                                               resume=True)}


MODES = {"smoke": smoke, "resume-full": resume_full, "resume-kill": resume_kill,
         "resume-continue": resume_continue, "distribute": distribute,
         "dist-full": dist_full,
         "dist-kill-1": lambda out: dist_kill(out, 1),
         "dist-kill-2": lambda out: dist_kill(out, 2),
         "dist-continue-1": lambda out: dist_continue(out, 1),
         "dist-continue-2": lambda out: dist_continue(out, 2)}

if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    result = MODES[mode](out)
    print("VLAP-RESULT " + json.dumps({"backend": BACKEND, **result}))
