"""``VLAP.train``: compile and fit a multilabel model with a VLAP loss.

What a run does, in order:

1. resolves the loss (a name such as ``"sigmoidF1"``, ``"bce"``, ``"focal"``,
   ``"asl"``, ``"unboundedF1"``, or a loss object);
2. compiles with Adam and multilabel metrics (macro and micro F1 at the
   threshold, mean number of predicted labels: never keras-hub's default sparse
   accuracy, which fails on multilabel targets);
3. fits with early stopping on validation macro-F1 (restoring the best weights),
   a checkpoint every epoch, a ``history.csv``, optional TensorBoard logs;
4. writes a run directory: ``config.json`` (the arguments), ``versions.json``
   (library versions), ``history.csv``, ``checkpoints/last.keras`` and
   ``checkpoints/best.keras``, ``state.json`` (last finished epoch, best score).

``resume=True`` continues a killed run from ``checkpoints/last.keras``: model,
optimizer state, epoch counter, early-stopping state and the data order are
restored, so the resumed run ends where an uninterrupted one would (checked on
the TensorFlow CPU backend with a seed).

Defaults, and why they differ from the paper's code:

* ``learning_rate="auto"``: 5e-5 when the model holds a keras-hub transformer
  backbone (the usual fine-tuning rate for DistilBERT/BERT), else 1e-3 (Adam's
  default, right for CNN and MLP heads). The paper's code used 1e-5 with batch
  256, which moves a freshly initialised head very slowly.
* sigmoidF1's ``beta=1, eta=0`` (the loss's own defaults). The paper's code used
  S=-10, E=1, i.e. beta=10, eta=1, but applied S to probabilities (a double
  sigmoid), so S was almost 1 everywhere and the loss nearly flat. Pass
  ``loss_kwargs={"beta": ..., "eta": ...}`` to tune; ``vlap reproduce --grid``
  searches them.
"""

import contextlib
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import keras

from VLAP import losses as _losses
from VLAP._validation import check_positive_int
from VLAP import metrics as _metrics

MONITOR = "val_f1_macro"  # the default early-stopping / best-model criterion


def library_versions():
    """Versions of Python, Keras (and its backend) and the libraries a run used."""
    import numpy

    out = {"python": platform.python_version(), "platform": platform.platform(),
           "keras": keras.__version__, "backend": keras.config.backend(),
           "numpy": numpy.__version__}
    for name in ("tensorflow", "torch", "jax", "keras_hub", "transformers", "sklearn"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "?")
    from VLAP import __version__

    out["VLAP"] = __version__
    return out


def _has_transformer_backbone(model):
    try:
        import keras_hub
    except ImportError:  # pragma: no cover - keras-hub is a dependency
        return False
    return any(isinstance(layer, keras_hub.models.Backbone)
               for layer in model._flatten_layers(include_self=True, recursive=True))


def _resolve_learning_rate(learning_rate, model):
    if learning_rate == "auto":
        return 5e-5 if _has_transformer_backbone(model) else 1e-3
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
            or not learning_rate > 0:
        raise ValueError("`learning_rate` must be a positive number or 'auto'. "
                         f"Received: learning_rate={learning_rate!r}")
    return float(learning_rate)


def _is_legacy_model(model):
    """True for a tf-keras (Keras 2) model, e.g. transformers 4.x TF classes."""
    if isinstance(model, keras.Model):
        return False
    tf_keras = sys.modules.get("tf_keras")
    return tf_keras is not None and isinstance(model, tf_keras.Model)


class _RunState(keras.callbacks.Callback):
    """Checkpoint every epoch, keep the best, record state for ``resume``.

    Also carries the early-stopping bookkeeping (best score, epochs without
    improvement), so that a resumed run stops at the same epoch as an
    uninterrupted one.
    """

    def __init__(self, run_dir, patience, state, restore_best, monitor=MONITOR):
        super().__init__()
        self.monitor = monitor
        # losses are minimised, scores maximised
        self.sign = -1.0 if monitor.endswith("loss") else 1.0
        self.run_dir = Path(run_dir)
        self.patience = patience
        self.state = state
        self.restore_best = restore_best
        self.best_weights = None

    def on_train_begin(self, logs=None):
        if self.restore_best and self.state.get("best_epoch") is not None:
            best = self.run_dir / "checkpoints" / "best.keras"
            if best.exists():
                self.best_weights = keras.saving.load_model(best, compile=False).get_weights()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"`{self.monitor}` is missing from the epoch logs ({sorted(logs)}); "
                           "train() needs validation data.")
        score = float(logs[self.monitor])
        ckpt = self.run_dir / "checkpoints"
        ckpt.mkdir(parents=True, exist_ok=True)
        best = self.state.get("best")
        improved = best is None or self.sign * score > self.sign * best
        if improved:
            self.state.update(best=score, best_epoch=epoch, wait=0)
            _atomic_save(self.model, ckpt / "best.keras")
            if self.restore_best:
                self.best_weights = self.model.get_weights()
        else:
            self.state["wait"] = self.state.get("wait", 0) + 1
        _atomic_save(self.model, ckpt / "last.keras")
        self.state["last_epoch"] = epoch
        self.state["seed_generators"] = _get_seed_states(self.model)
        _write_json(self.run_dir / "state.json", self.state)
        if self.patience is not None and self.state["wait"] >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def _seed_generators(model):
    return [sg for layer in model._flatten_layers(include_self=True, recursive=True)
            for sg in getattr(layer, "_seed_generators", ())]


def _get_seed_states(model):
    """States of the model's random seed generators (dropout, augmentation layers).

    ``.keras`` files do not store them, so a resumed run would otherwise draw
    different dropout masks from the uninterrupted one.
    """
    return [keras.ops.convert_to_numpy(sg.state.value).tolist()
            for sg in _seed_generators(model)]


def _set_seed_states(model, states):
    generators = _seed_generators(model)
    if states is None or len(states) != len(generators):
        return False
    for sg, value in zip(generators, states):
        sg.state.assign(keras.ops.convert_to_tensor(value, dtype=sg.state.dtype))
    return True


def _epoch_stream(train_ds, initial_epoch):
    """One repeated stream of epochs, skipping those already trained.

    Epoch ``k`` of a resumed run must see the batches epoch ``k`` of the
    uninterrupted run saw. A tf.data shuffle reseeds itself each time it is
    iterated again, and Keras creates a backend-dependent number of iterators
    per epoch, so counting iterators is fragile. Instead, training always reads
    ``train_ds.repeat()`` with ``steps_per_epoch`` = batches per epoch: the
    shuffle then reseeds once per epoch inside one stream, and resuming skips
    ``initial_epoch * steps`` batches of that same stream.
    """
    import tensorflow as tf

    if not isinstance(train_ds, tf.data.Dataset):
        if initial_epoch:
            raise TypeError("`resume=True` needs `train_ds` as a tf.data.Dataset "
                            f"(e.g. from VLAP.createDataset). Received: {type(train_ds)}")
        return train_ds, None
    steps = int(train_ds.cardinality())
    if steps == tf.data.INFINITE_CARDINALITY:
        raise ValueError("`train_ds` is infinite (it repeats); pass one epoch of data.")
    if steps == tf.data.UNKNOWN_CARDINALITY:
        steps = sum(1 for _ in train_ds)
    if steps == 0:
        raise ValueError("`train_ds` is empty: it yields no batch.")
    stream = train_ds.repeat()
    if initial_epoch:
        stream = stream.skip(initial_epoch * steps)
    return stream, steps


def _atomic_save(model, path):
    """Write to a temporary file, then rename: a kill never leaves half a checkpoint."""
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _write_json(path, obj):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def _new_run_dir(base):
    base = Path(base)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        path = base / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run directory under {base}")


def _history_rows(path):
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def train(model, train_ds, val_ds, num_classes=None, loss="sigmoidF1", *, epochs=10,
          learning_rate="auto", loss_kwargs=None, threshold=0.5, patience=3,
          restore_best=True, seed=None, run_dir=None, resume=False, verbose="auto",
          tensorboard=False, strategy=None, callbacks=None, deterministic=None,
          monitor=MONITOR):
    """Train a multilabel model; returns ``(model, history)``.

    Args:
        model: keras.Model. Outputs one logit per label (VLAP's models do).
            A transformers 4.x ``TFDistilBertForSequenceClassification`` (tf-keras,
            the ``legacy`` extra) is accepted too.
        train_ds: tf.data.Dataset of ``(features, labels)`` (e.g. from
            ``VLAP.createDataset``).
        val_ds: tf.data.Dataset. Used for early stopping on macro-F1.
        num_classes: int or None. Number of labels; checked against the model's
            output when given (the paper's signature).
        loss: str or keras.losses.Loss. Any name ``VLAP.losses.get`` accepts.
        epochs: int. Maximum number of epochs.
        learning_rate: float or "auto" (5e-5 for transformer backbones, else 1e-3).
        loss_kwargs: dict or None. Options for a loss given by name, e.g.
            ``{"beta": 10.0, "eta": 0.0}`` for sigmoidF1.
        threshold: float. Probability threshold of the F1 metrics.
        patience: int or None. Early-stopping patience in epochs (None: off).
        restore_best: bool. End with the weights of the best validation epoch.
        seed: int or None. Seeds Python, NumPy and the backend; with the
            TensorFlow backend also turns on deterministic ops.
        run_dir: str or None. Folder for checkpoints, history and config; a new
            time-stamped folder under ``runs/`` when None. An existing run
            directory is only reused with ``resume=True``.
        resume: bool. Continue the run in ``run_dir`` from its last checkpoint.
        verbose: "auto", 0, 1 or 2. Keras progress output.
        tensorboard: bool. Also write TensorBoard logs to ``run_dir/tensorboard``.
        strategy: a ``tf.distribute`` strategy (TensorFlow backend); the model is
            cloned into its scope. On JAX use ``keras.distribution`` instead.
        callbacks: list of extra Keras callbacks.
        deterministic: bool or None. TensorFlow op determinism (default: on when
            ``seed`` is given).
        monitor: str. The validation log that early stopping and the best
            checkpoint follow: ``"val_f1_macro"`` (default; F1 at ``threshold``),
            ``"val_f1_micro"``, or ``"val_loss"`` (minimised; any name ending in
            "loss" is). Macro-F1 at a fixed threshold can stop a loss that has not
            yet pushed any probability over the threshold (focal, early on); the
            loss does not.

    Returns:
        ``(model, history)``: the trained model and a ``keras.callbacks.History``
        whose ``.history`` holds every epoch, including those before a resume.

    Example:
    >>> import tempfile, numpy as np, keras, VLAP
    >>> x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    >>> y = (x[:, :3] > 0).astype("float32")
    >>> ds = VLAP.createDataset(x, y, batch_size=16, seed=0)
    >>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    >>> model, history = VLAP.train(model, ds, ds, 3, epochs=2, seed=0, verbose=0,
    ...                             run_dir=tempfile.mkdtemp())
    >>> sorted(k for k in history.history if k.startswith("val_f1"))
    ['val_f1_macro', 'val_f1_micro']
    """
    if _is_legacy_model(model):
        from VLAP.training import _legacy

        unsupported = {k: v for k, v in dict(run_dir=run_dir, resume=resume,
                                               tensorboard=tensorboard,
                                               strategy=strategy).items() if v}
        if unsupported:
            raise ValueError(
                "The legacy tf-keras path (transformers 4.x TF models) supports no "
                f"{sorted(unsupported)}; use a VLAP.models Keras 3 model for those.")

        return _legacy.train(model, train_ds, val_ds, num_classes, loss=loss,
                             epochs=epochs, learning_rate=learning_rate,
                             loss_kwargs=loss_kwargs, threshold=threshold, seed=seed,
                             verbose=verbose, patience=patience,
                             restore_best=restore_best, callbacks=callbacks)
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: {type(model).__name__}")
    check_positive_int("epochs", epochs)
    if patience is not None:
        check_positive_int("patience", patience)
    if num_classes is not None:
        check_positive_int("num_classes", num_classes)
        out = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
        if out is not None and out != num_classes:
            raise ValueError(f"`num_classes`={num_classes} but the model outputs {out} "
                             "values per example.")
    if loss_kwargs and not isinstance(loss, str):
        raise ValueError("`loss_kwargs` only applies when `loss` is a name. "
                         f"Received: loss={loss!r}")
    loss_obj = _losses.get(loss, **(loss_kwargs or {}))
    lr = _resolve_learning_rate(learning_rate, model)

    if resume:
        if run_dir is None:
            raise ValueError("`resume=True` needs the `run_dir` of the run to continue.")
        run_dir = Path(run_dir)
        if not (run_dir / "state.json").exists():
            raise FileNotFoundError(f"nothing to resume in {run_dir}: no state.json "
                                    "(was a first epoch ever finished there?)")
        state = json.loads((run_dir / "state.json").read_text())
    else:
        if run_dir is None:
            run_dir = _new_run_dir("runs")
        else:
            run_dir = Path(run_dir)
            if (run_dir / "state.json").exists():
                raise FileExistsError(
                    f"{run_dir} already holds a run; pass resume=True to continue it, "
                    "or choose a new run_dir (runs are never overwritten).")
            run_dir.mkdir(parents=True, exist_ok=True)
        state = {}

    if seed is not None:
        keras.utils.set_random_seed(seed)
    if keras.config.backend() == "tensorflow" and (deterministic or
                                                   (deterministic is None and seed is not None)):
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    if not isinstance(monitor, str) or not monitor.startswith("val_"):
        raise ValueError("`monitor` must name a validation log such as 'val_f1_macro' "
                         f"or 'val_loss'. Received: monitor={monitor!r}")
    config = {"loss": loss_obj.name, "loss_config": loss_obj.get_config(),
              "monitor": monitor,
              "epochs": epochs, "learning_rate": lr, "threshold": threshold,
              "patience": patience, "restore_best": restore_best, "seed": seed,
              "num_classes": num_classes, "model": type(model).__name__}
    if not resume:
        _write_json(run_dir / "config.json", config)
        _write_json(run_dir / "versions.json", library_versions())

    initial_epoch = 0
    if resume:
        last = run_dir / "checkpoints" / "last.keras"
        if not last.exists():
            raise FileNotFoundError(f"no checkpoint to resume from: {last} is missing")
        model = keras.saving.load_model(last)
        if not _set_seed_states(model, state.get("seed_generators")):
            import warnings

            warnings.warn("could not restore the random generators' states; the "
                          "resumed run will draw different dropout masks.", stacklevel=2)
        initial_epoch = int(state["last_epoch"]) + 1
    else:
        if strategy is not None:
            with strategy.scope():
                clone = keras.models.clone_model(model)
                clone.set_weights(model.get_weights())
                model = clone
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss_obj,
                          metrics=_metrics.training_metrics(threshold=threshold))

    cbs = [_RunState(run_dir, patience, state, restore_best, monitor),
           keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume)]
    if tensorboard:
        cbs.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    cbs += list(callbacks or [])

    history = keras.callbacks.History()
    if initial_epoch < epochs and not (patience is not None and
                                       state.get("wait", 0) >= patience):
        stream, steps = _epoch_stream(train_ds, initial_epoch)
        history = model.fit(stream, validation_data=val_ds, epochs=epochs,
                            steps_per_epoch=steps, initial_epoch=initial_epoch,
                            callbacks=cbs, verbose=verbose, shuffle=False)
    else:
        cbs[0].set_model(model)
        cbs[0].on_train_begin()
        cbs[0].on_train_end()
    # the full history, including epochs before a resume
    rows = _history_rows(run_dir / "history.csv")
    if rows:
        history.history = {k: [float(r[k]) for r in rows] for k in rows[0] if k != "epoch"}
        history.epoch = [int(r["epoch"]) for r in rows]
    history.run_dir = run_dir
    return model, history
