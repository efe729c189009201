"""Compile a model for multilabel training: loss, optimizer, metrics, precision.

:func:`compile_for_multilabel` is the first step of :func:`VLAP.train`, usable
on its own before a plain ``model.fit``:

* the loss is resolved by name (:func:`VLAP.losses.get`);
* the optimizer is Adam at :func:`resolve_learning_rate`;
* the metrics are :func:`VLAP.metrics.training_metrics` with the loss's own
  ``from_logits``: a model with a sigmoid output trained with
  ``SigmoidF1(from_logits=False)`` thresholds its probabilities, not
  ``sigmoid(probabilities)``;
* optionally a dtype policy (``"mixed_bfloat16"``) and a ``tf.distribute``
  strategy, for which the model is rebuilt from its config (same weights).

Example:
>>> import keras, VLAP
>>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
>>> model = VLAP.training.compile_for_multilabel(model, "sigmoidF1", learning_rate=0.01)
>>> model.loss.name, round(float(model.optimizer.learning_rate), 4)
('sigmoid_f1', 0.01)
"""

import contextlib
import math

import keras

from VLAP import losses as _losses
from VLAP import metrics as _metrics
from VLAP._validation import check_threshold

__all__ = ["compile_for_multilabel", "resolve_learning_rate", "resolve_loss",
           "has_transformer_backbone", "with_dtype_policy"]


def has_transformer_backbone(model):
    """True when ``model`` holds a keras-hub ``Backbone`` (a pretrained transformer)."""
    try:
        import keras_hub
    except ImportError:  # pragma: no cover - keras-hub is a dependency
        return False
    return any(isinstance(layer, keras_hub.models.Backbone)
               for layer in model._flatten_layers(include_self=True, recursive=True))


def resolve_learning_rate(learning_rate, *, transformer):
    """The learning rate of a run: a positive finite number, or ``"auto"``.

    ``"auto"`` is 5e-5 for a pretrained transformer (``transformer=True``: the
    usual DistilBERT/BERT fine-tuning rate), else 1e-3 (Adam's default, right
    for CNN and MLP heads).

    Example:
    >>> resolve_learning_rate("auto", transformer=False)
    0.001
    """
    if learning_rate == "auto":
        return 5e-5 if transformer else 1e-3
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
            or not learning_rate > 0 or not math.isfinite(learning_rate):
        raise ValueError("`learning_rate` must be a positive number or 'auto'. "
                         f"Received: learning_rate={learning_rate!r}")
    return float(learning_rate)


def resolve_loss(loss, loss_kwargs=None):
    """A loss object from a name (with ``loss_kwargs``) or a loss object."""
    if loss_kwargs and not isinstance(loss, str):
        raise ValueError("`loss_kwargs` only applies when `loss` is a name. "
                         f"Received: loss={loss!r}")
    return _losses.get(loss, **(loss_kwargs or {}))


def with_dtype_policy(model, dtype_policy):
    """A copy of ``model`` whose layers compute under ``dtype_policy``, same weights.

    A policy is fixed when a layer is built, so the model is rebuilt from its
    serialized config in which every ``float32`` layer policy is replaced by
    ``dtype_policy`` (layers that pin another policy, and input dtypes, are left
    as they are). The global policy is not changed. Variables keep the policy's
    variable dtype (float32 for ``"mixed_bfloat16"``).
    """
    policy = keras.dtype_policies.get(dtype_policy)
    target = keras.dtype_policies.serialize(policy)

    def swap(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") \
                    and node.get("config", {}).get("name") == "float32":
                return target
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(value) for value in node]
        return node

    config = swap(keras.saving.serialize_keras_object(model))
    clone = keras.saving.deserialize_keras_object(config)
    clone.set_weights(model.get_weights())
    return clone


def compile_for_multilabel(model, loss="sigmoidF1", *, learning_rate="auto",
                           loss_kwargs=None, threshold=0.5, num_labels=None,
                           strategy=None, dtype_policy=None):
    """Compile ``model`` with a VLAP loss, Adam and the multilabel training metrics.

    Args:
        model: keras.Model. Outputs one logit (or, with a loss given
            ``from_logits=False``, one probability) per label.
        loss: str or keras.losses.Loss. Any name :func:`VLAP.losses.get` accepts.
        learning_rate: float or "auto". See :func:`resolve_learning_rate`.
        loss_kwargs: dict or None. Options for a loss given by name.
        threshold: float in (0, 1). Probability threshold of the F1 metrics.
        num_labels: int or None. Builds the metrics' state eagerly when given.
        strategy: a ``tf.distribute`` strategy or None. The model is rebuilt in
            its scope (same weights) and compiled there.
        dtype_policy: str or None. E.g. ``"mixed_bfloat16"``: the model is
            rebuilt under that policy (:func:`with_dtype_policy`); the losses
            compute their counts in float32.

    Returns:
        The compiled model: ``model`` itself, or its rebuilt copy when
        ``strategy`` or ``dtype_policy`` is given.
    """
    threshold = check_threshold(threshold)
    loss_obj = resolve_loss(loss, loss_kwargs)
    lr = resolve_learning_rate(learning_rate, transformer=has_transformer_backbone(model))
    from_logits = bool(getattr(loss_obj, "from_logits", True))
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if dtype_policy is not None:
            model = with_dtype_policy(model, dtype_policy)
        elif strategy is not None:
            clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            model = clone
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss_obj,
                      metrics=_metrics.training_metrics(threshold=threshold,
                                                        from_logits=from_logits,
                                                        num_labels=num_labels))
    return model
