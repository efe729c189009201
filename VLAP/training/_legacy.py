"""``VLAP.train`` for tf-keras (Keras 2) models: the paper's original flow.

The paper's README trains a transformers 4.x ``TFDistilBertForSequenceClassification``,
a tf-keras model, on ``VLAP.createDataset(dict(tokens), y.astype(float), is_image=False)``.
Those classes need the ``legacy`` extra (``pip install "VLAP[legacy]"``:
transformers 4.x and tf-keras). :func:`VLAP.train` sends such models here.

What this path does (a subset of the Keras 3 path, on tf-keras):

* resolves the loss by name with :func:`VLAP.losses.get` (the Keras 3 loss runs on
  the TensorFlow tensors of the tf-keras graph; it is wrapped in a plain function
  of ``(y_true, logits)``, since tf-keras does not accept Keras 3 ``Loss`` objects
  as such). The Hugging Face model's ``train_step`` hands the loss the logits,
  not its output dataclass, when the labels are one tensor;
* compiles with tf-keras' Adam (``learning_rate="auto"``: 5e-5, the usual
  fine-tuning rate for these transformer models);
* computes the validation macro- and micro-F1 at ``threshold`` after each epoch
  with scikit-learn (logged as ``val_f1_macro`` / ``val_f1_micro``), and stops
  early on ``val_f1_macro``, restoring the weights of the best epoch.

No run directory, checkpoints or ``resume`` here: those need Keras 3 ``.keras``
files. Use :func:`VLAP.models.text_classifier` for the full feature set.

This module imports neither tf-keras nor transformers at import time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from VLAP import losses as _losses
from VLAP._validation import check_positive_int, check_threshold
from VLAP.training.compile import resolve_learning_rate

MONITOR = "val_f1_macro"

_INSTALL_HINT = ('The paper\'s original flow (transformers 4.x TF models on tf-keras) '
                 'needs the `legacy` extra: pip install "VLAP[legacy]" '
                 "(transformers 4.x and tf-keras). Or use the Keras 3 models in "
                 "VLAP.models (e.g. VLAP.models.text_classifier), which need neither.")


def _require_tf_keras():
    """Import tf-keras, or raise an ImportError that says how to install it."""
    try:
        import tf_keras
    except ImportError as err:
        raise ImportError(f"tf-keras is not installed. {_INSTALL_HINT}") from err
    return tf_keras


def _check_num_labels(model, num_labels):
    """Compare ``num_labels`` with the model's ``config.num_labels``; returns the count."""
    config = getattr(model, "config", None)
    model_labels = getattr(config, "num_labels", None)
    if num_labels is None:
        return model_labels
    check_positive_int("num_labels", num_labels)
    if model_labels is not None and model_labels != num_labels:
        raise ValueError(
            f"`num_labels`={num_labels} but the model has {model_labels} output labels "
            f"(model.config.num_labels={model_labels}). Build the model for {num_labels} "
            f"labels, e.g. {type(model).__name__}.from_pretrained(..., "
            f"num_labels={num_labels}) or a config with num_labels={num_labels}.")
    return num_labels


def _logits(outputs):
    """The logits of a model call: a Hugging Face output object, a tuple or a tensor."""
    logits = getattr(outputs, "logits", None)
    if logits is not None:
        return logits
    if isinstance(outputs, dict):
        return outputs["logits"] if "logits" in outputs else next(iter(outputs.values()))
    if isinstance(outputs, (tuple, list)):
        return outputs[0]
    return outputs


def _split_batch(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError("`val_ds` must yield (features, labels) pairs, e.g. from "
                         "VLAP.createDataset(X, y). Received an element of type "
                         f"{type(batch).__name__}.")
    return batch[0], batch[1]


def _make_loss(loss_obj):
    """A plain ``(y_true, logits)`` function around a Keras 3 VLAP loss object."""
    import tensorflow as tf

    def loss_fn(y_true, logits):
        logits = _logits(logits)
        return loss_obj(tf.cast(y_true, logits.dtype), logits)

    loss_fn.__name__ = loss_obj.name
    return loss_fn


def _f1_callback(tf_keras, val_ds, threshold, num_labels):
    """A tf-keras callback adding ``val_f1_macro`` and ``val_f1_micro`` to the epoch logs."""
    import numpy as np
    import tensorflow as tf

    from VLAP.evaluation.counts import ThresholdedCounts  # VLAP's one counting path

    # logit > log(t / (1 - t))  <=>  sigmoid(logit) > t (VLAP.metrics' convention)
    cut = math.log(threshold / (1.0 - threshold))

    Callback: Any = tf_keras.callbacks.Callback  # tf_keras is imported by the caller

    class ValidationF1(Callback):
        def __init__(self):
            super().__init__()
            self._predict = None

        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            if self._predict is None:
                model = self.model
                self._predict = tf.function(lambda x: _logits(model(x, training=False)),
                                            reduce_retracing=True)
            # Iterate the batches ourselves: a shuffled val_ds keeps features and
            # labels paired, which model.predict(val_ds) would not.
            trues, preds = [], []
            for batch in val_ds:
                x, y = _split_batch(batch)
                trues.append(np.asarray(y))
                preds.append(np.asarray(self._predict(x), dtype=np.float64))
            if not trues:
                raise ValueError("`val_ds` is empty: it yields no batch.")
            y_true = np.concatenate(trues).astype(int)
            logits = np.concatenate(preds)
            if num_labels is not None and y_true.shape[-1] != num_labels:
                raise ValueError(f"`val_ds` labels have {y_true.shape[-1]} columns but the "
                                 f"model has {num_labels} labels.")
            counts = ThresholdedCounts(y_true.shape[-1])
            counts.update(y_true, logits, threshold=cut)
            scores = counts.metrics()
            logs["val_f1_macro"] = scores["f1_macro"]
            logs["val_f1_micro"] = scores["f1_micro"]

    return ValidationF1()


def train(model: Any, train_ds: Any, val_ds: Any, num_labels: int | None = None, *,
          loss: Any = "sigmoidF1", epochs: int = 10, learning_rate: float | Literal["auto"] = "auto",
          loss_kwargs: Mapping[str, Any] | None = None, threshold: float = 0.5,
          seed: int | None = None, verbose: int | str = "auto", patience: int | None = 3,
          restore_best: bool = True, callbacks: Sequence[Any] | None = None) -> tuple[Any, Any]:
    """Train a tf-keras model (transformers 4.x ``TF*ForSequenceClassification``).

    Called by :func:`VLAP.train` for tf-keras models; the arguments mean the same.

    Returns:
        ``(model, history)``: the model (weights of the best validation epoch when
        ``restore_best``) and a ``tf_keras.callbacks.History`` whose ``.history``
        has ``loss``, ``val_loss``, ``val_f1_macro`` and ``val_f1_micro`` per epoch.
    """
    tf_keras = _require_tf_keras()
    if not isinstance(model, tf_keras.Model):
        raise TypeError("the legacy path trains tf-keras models (e.g. transformers 4.x "
                        f"TFDistilBertForSequenceClassification). Received: "
                        f"{type(model).__name__}")
    import keras

    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            "tf-keras models train on TensorFlow, and VLAP's losses run on them through "
            f"Keras 3's TensorFlow backend; the Keras backend is {keras.config.backend()!r}. "
            "Set KERAS_BACKEND=tensorflow before importing keras/VLAP.")

    check_positive_int("epochs", epochs)
    check_positive_int("patience", patience, allow_none=True)
    threshold = check_threshold(threshold)
    num_labels = _check_num_labels(model, num_labels)
    if loss_kwargs and not isinstance(loss, str):
        raise ValueError("`loss_kwargs` only applies when `loss` is a name. "
                         f"Received: loss={loss!r}")
    if val_ds is None:
        raise ValueError("`val_ds` is required: training stops early on its macro-F1.")
    loss_obj = _losses.get(loss, **(loss_kwargs or {}))
    # "auto" = 5e-5: these are always pretrained transformers
    lr = resolve_learning_rate(learning_rate, transformer=True)

    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "problem_type"):
        # Documents the task; the TF classes' own loss (used only when labels are
        # fed as inputs) ignores it, and the loss here is the VLAP one.
        config.problem_type = "multi_label_classification"

    if seed is not None:
        tf_keras.utils.set_random_seed(seed)

    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate=lr),
                  loss=_make_loss(loss_obj))
    # tf-keras' EarlyStopping restores the best weights at the end of training
    # whether or not it stopped the run; patience=None keeps only the restoring.
    stopper = tf_keras.callbacks.EarlyStopping(
        monitor=MONITOR, mode="max", patience=epochs if patience is None else patience,
        restore_best_weights=restore_best)
    # The F1 callback must come first: it writes the value EarlyStopping reads.
    cbs = [_f1_callback(tf_keras, val_ds, threshold, num_labels), stopper]
    cbs += list(callbacks or [])
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=cbs,
                        verbose=verbose)
    return model, history
