"""Run a model over data: ``predict_scores`` returns ``(y_true, probabilities)``."""

import inspect

import numpy as np
from scipy.special import expit

from VLAP.evaluation._arrays import to_numpy


def _output_array(outputs):
    """Logits or probabilities out of what a model's predict returns."""
    if hasattr(outputs, "logits"):  # transformers' TFSequenceClassifierOutput
        outputs = outputs.logits
    elif isinstance(outputs, dict):
        if "logits" not in outputs:
            raise ValueError(
                "The model returned a dict without a 'logits' entry. Received "
                f"keys: {sorted(outputs)!r}"
            )
        outputs = outputs["logits"]
    elif isinstance(outputs, (list, tuple)) and len(outputs) == 1:
        outputs = outputs[0]
    return np.asarray(to_numpy(outputs), dtype=np.float64)


def _predict_array(model, x):
    params = inspect.signature(model.predict).parameters
    takes_verbose = "verbose" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return model.predict(x, verbose=0) if takes_verbose else model.predict(x)


def _predict_batch(model, x):
    if hasattr(model, "predict_on_batch"):
        return model.predict_on_batch(x)
    return model.predict(x)


def _batches(data):
    """Iterate ``data``; a tf.data.Dataset yields NumPy off the TensorFlow backend."""
    if (type(data).__module__.startswith("tensorflow")
            and hasattr(data, "as_numpy_iterator")):
        import keras

        if keras.config.backend() != "tensorflow":
            return data.as_numpy_iterator()
    return iter(data)


def _is_xy_pair(data):
    return isinstance(data, (tuple, list)) and len(data) in (2, 3)


def predict_scores(model, data, from_logits=True):
    """Run the model once over `data`; return `(y_true, probabilities)`.

    Args:
        model: keras.Model or any object with `.predict` (its outputs are logits
            unless `from_logits=False`; a transformers output's `.logits` and a
            dict's `"logits"` entry are used).
        data: tf.data.Dataset or iterable of batches yielding `(x, y)` or
            `(x, y, sample_weight)` (the weights are ignored), or a tuple
            `(X, y)` of arrays (`X` may be a dict of arrays). A dataset is read
            once, so shuffled datasets keep labels and predictions aligned.
        from_logits: bool. `True` (default) applies a sigmoid to the outputs.

    Returns:
        tuple `(y_true, probabilities)` of float64 NumPy arrays of shape
        `(n_samples, num_labels)`.
    """
    if not hasattr(model, "predict"):
        raise TypeError(
            f"`model` must have a `predict` method. Received: model={model!r}"
        )
    if not isinstance(from_logits, bool):
        raise TypeError(
            f"`from_logits` must be a bool. Received: from_logits={from_logits!r}"
        )
    if _is_xy_pair(data):
        x, y = data[0], data[1]
        y_true = np.asarray(to_numpy(y))
        outputs = _output_array(_predict_array(model, x))
    elif isinstance(data, (dict, str, bytes, np.ndarray)) or not hasattr(data, "__iter__"):
        raise TypeError(
            "`data` must be a tf.data.Dataset (or iterable of batches) yielding "
            "(x, y), or a tuple (X, y). Received: "
            f"data of type {type(data).__name__}"
        )
    else:
        ys, outs = [], []
        for batch in _batches(data):
            if not _is_xy_pair(batch):
                raise ValueError(
                    "Each batch of `data` must be (x, y) or (x, y, sample_weight): "
                    "evaluation needs the labels. Received: a batch of type "
                    f"{type(batch).__name__}"
                )
            ys.append(np.asarray(to_numpy(batch[1])))
            outs.append(_output_array(_predict_batch(model, batch[0])))
        if not ys:
            raise ValueError("`data` yielded no batches.")
        y_true, outputs = np.concatenate(ys), np.concatenate(outs)
    if outputs.shape != y_true.shape:
        raise ValueError(
            "The model's outputs must have the shape of the labels. Received: "
            f"outputs.shape={outputs.shape}, y.shape={y_true.shape}"
        )
    probabilities = expit(outputs) if from_logits else outputs
    return y_true.astype(np.float64), probabilities


