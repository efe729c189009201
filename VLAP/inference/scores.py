"""Run a model over data: ``predict_scores`` returns ``(y_true, probabilities)``.

Whether a model's outputs are logits travels with the model
(:func:`output_is_logits`: a packaged model's own setting, the compiled loss's
``from_logits``, or a sigmoid/softmax output activation), so no caller applies
a sigmoid twice. Probabilities are computed in float64 from the logits: a
float32 sigmoid rounds every logit above about 17 to 1.0.
"""

import inspect
from collections.abc import Iterator

import numpy as np
from scipy.special import expit

from VLAP._arrays import to_numpy
from VLAP._sparse import to_dense
from VLAP.inference.rule import split_heads  # noqa: F401  (re-exported: same object)


def output_is_logits(model) -> bool:
    """Whether `model` outputs logits (True) or probabilities (False).

    In order: a packaged model's (:class:`VLAP.inference.Predictor`) own
    `from_logits`; the compiled loss's `from_logits`; a last layer whose
    activation is a sigmoid or softmax (probabilities); else logits.

    Example:
    >>> import keras
    >>> output_is_logits(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    True
    >>> output_is_logits(keras.Sequential([keras.Input((3,)),
    ...                                    keras.layers.Dense(2, activation="sigmoid")]))
    False
    """
    own = getattr(model, "from_logits", None)
    if isinstance(own, bool):
        return own
    loss = getattr(model, "loss", None)
    for candidate in ([loss] if not isinstance(loss, (list, tuple, dict)) else []):
        flag = getattr(candidate, "from_logits", None)
        if isinstance(flag, bool):
            return flag
    layers = getattr(model, "layers", None)
    if layers:
        activation = getattr(layers[-1], "activation", None)
        name = getattr(activation, "__name__", "") or ""
        if name in ("sigmoid", "softmax", "hard_sigmoid"):
            return False
    return True


def output_heads(model) -> int:
    """1, or 2 for a dual-head model (decision head, then score head).

    A dual-head model (``head="dual"``, :class:`VLAP.models.DualHeadLogits`,
    trained with :class:`VLAP.losses.DualHead`) outputs ``(batch, 2 * L)``:
    columns ``[:L]`` decide (logit > cut point), columns ``[L:]`` score and rank.
    Known from a packaged model's `head`, the compiled loss's
    `outputs_per_label`, or a last layer that is a `DualHeadLogits`.

    Example:
    >>> import keras
    >>> output_heads(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    1
    """
    head = getattr(model, "head", None)
    if head in ("single", "dual"):
        return 2 if head == "dual" else 1
    if int(getattr(getattr(model, "loss", None), "outputs_per_label", 1) or 1) == 2:
        return 2
    layers = getattr(model, "layers", None)
    if layers:
        from VLAP.models.head import DualHeadLogits

        if isinstance(layers[-1], DualHeadLogits):
            return 2
    return 1


def _outputs_and_decisions(outputs):
    """(outputs as float64, decisions or None) of what a model's predict returns.

    A packaged model returns a dict with its own decisions (`"labels"`) and its
    logits (or, for a probability model, `"scores"`).
    """
    if isinstance(outputs, dict) and "labels" in outputs:
        raw = outputs["logits"] if "logits" in outputs else outputs["scores"]
        raw = np.asarray(to_numpy(raw), dtype=np.float64)
        if "score_logits" in outputs:  # a dual head: decision half, then score half
            raw = np.concatenate(
                [raw, np.asarray(to_numpy(outputs["score_logits"]), dtype=np.float64)], axis=1)
        return raw, np.asarray(to_numpy(outputs["labels"])).astype(np.uint8)
    return _output_array(outputs), None


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


def _check_outputs(outputs, y_true, heads=1):
    if outputs.shape != (y_true.shape[0], heads * y_true.shape[1]) or y_true.ndim != 2:
        what = ("the shape of the labels" if heads == 1 else
                "twice the labels' columns (a dual head: decision head, then score head)")
        raise ValueError(
            f"The model's outputs must have {what}. Received: "
            f"outputs.shape={outputs.shape}, y.shape={y_true.shape}"
        )


def iter_outputs(model, data) -> "Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]":
    """Run the model over `data` batch by batch; yield `(y_true, outputs, decisions)`.

    `outputs` are the model's outputs as float64 (logits, or probabilities for
    a probability model; both heads of a dual-head model, see
    :func:`output_heads`), `decisions` the 0/1 decisions of a packaged model's
    own rule (None for other models). Arguments as :func:`predict_scores`.
    """
    if not hasattr(model, "predict"):
        raise TypeError(
            f"`model` must have a `predict` method. Received: model={model!r}"
        )

    heads = output_heads(model)

    def finish(y, result):
        outputs, decisions = result
        y = np.asarray(to_numpy(y))
        _check_outputs(outputs, y, heads)
        return y, outputs, decisions

    if _is_xy_pair(data):
        yield finish(data[1], _outputs_and_decisions(_predict_array(model, to_dense(data[0]))))
        return
    if isinstance(data, (dict, str, bytes, np.ndarray)) or not hasattr(data, "__iter__"):
        raise TypeError(
            "`data` must be a tf.data.Dataset (or iterable of batches) yielding "
            "(x, y), or a tuple (X, y). Received: "
            f"data of type {type(data).__name__}"
        )
    empty = True
    for batch in _batches(data):
        if not _is_xy_pair(batch):
            raise ValueError(
                "Each batch of `data` must be (x, y) or (x, y, sample_weight): "
                "evaluation needs the labels. Received: a batch of type "
                f"{type(batch).__name__}"
            )
        empty = False
        yield finish(batch[1], _outputs_and_decisions(_predict_batch(model, batch[0])))
    if empty:
        raise ValueError("`data` yielded no batches.")


def resolve_from_logits(model, from_logits) -> bool:
    """`from_logits` as given (a bool), or :func:`output_is_logits` for None."""
    if from_logits is None:
        return output_is_logits(model)
    if not isinstance(from_logits, bool):
        raise TypeError(
            f"`from_logits` must be a bool or None. Received: from_logits={from_logits!r}"
        )
    return from_logits


def iter_scores(model, data, from_logits: "bool | None" = None
                ) -> "Iterator[tuple[np.ndarray, np.ndarray]]":
    """Run the model over `data` batch by batch; yield `(y_true, probabilities)`.

    Arguments as :func:`predict_scores`, which concatenates what this yields. A
    tuple `(X, y)` is predicted in one call and yields once. Probabilities are
    float64: a float32 sigmoid rounds every logit above about 17 to 1.0,
    which would turn distinct scores into ties for the ranking metrics.
    """
    from_logits = resolve_from_logits(model, from_logits)
    heads = output_heads(model)
    for y, outputs, _ in iter_outputs(model, data):
        outputs = split_heads(outputs, heads)[1]  # a dual head ranks with its score head
        yield y, (expit(outputs) if from_logits else outputs)


def predict_scores(model, data, from_logits: "bool | None" = None
                   ) -> "tuple[np.ndarray, np.ndarray]":
    """Run the model once over `data`; return `(y_true, probabilities)`.

    Args:
        model: keras.Model or any object with `.predict` (its outputs are logits
            unless `from_logits=False`; a transformers output's `.logits` and a
            dict's `"logits"` entry are used).
        data: tf.data.Dataset or iterable of batches yielding `(x, y)` or
            `(x, y, sample_weight)` (the weights are ignored), or a tuple
            `(X, y)` of arrays (`X` may be a dict of arrays). A dataset is read
            once, so shuffled datasets keep labels and predictions aligned.
        from_logits: bool or None. Whether the outputs are logits (then a
            sigmoid makes them probabilities); None (default) asks the model
            (:func:`output_is_logits`).

    Returns:
        tuple `(y_true, probabilities)` of float64 NumPy arrays of shape
        `(n_samples, num_labels)`.

    See Also:
        :func:`iter_scores` (one batch at a time), :func:`VLAP.evaluate`.
    """
    ys, probs = zip(*iter_scores(model, data, from_logits=from_logits))
    y_true = ys[0] if len(ys) == 1 else np.concatenate(ys)
    probabilities = probs[0] if len(probs) == 1 else np.concatenate(probs)
    return y_true.astype(np.float64), probabilities


__all__ = ["iter_outputs", "iter_scores", "output_heads", "output_is_logits", "predict_scores",
           "resolve_from_logits", "split_heads"]
