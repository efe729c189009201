"""Compile a model for multilabel training: loss, optimizer, metrics, precision.

:func:`compile_for_multilabel` is the first step of :func:`VLAP.train`, usable
on its own before a plain ``model.fit``:

* the loss is resolved by name (:func:`VLAP.losses.get`);
* the optimizer is Adam at :func:`resolve_learning_rate`;
* the metrics are :func:`VLAP.metrics.training_metrics` with the loss's own
  ``from_logits``: a model with a sigmoid output trained with
  ``SigmoidF1(from_logits=False)`` thresholds its probabilities, not
  ``sigmoid(probabilities)``;
* with a dual-head loss (``outputs_per_label = 2``, :class:`VLAP.losses.DualHead`)
  the model outputs ``(batch, 2 * num_labels)`` and the metrics score the
  decision head, columns ``[:num_labels]`` (:func:`decision_head_metrics`);
* optionally a dtype policy (``"mixed_bfloat16"``) and a ``tf.distribute``
  strategy, for which the model is rebuilt from its config (same weights).

Example:
>>> import keras, VLAP
>>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
>>> model = VLAP.training.compile_for_multilabel(model, "sigmoidF1", learning_rate=0.01)
>>> model.loss.name, round(float(model.optimizer.learning_rate), 4)
('sigmoid_f1', 0.01)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any, Literal

import keras

from VLAP import losses as _losses
from VLAP import metrics as _metrics
from VLAP._compat import flatten_layers
from VLAP._validation import check_threshold

__all__ = ["compile_for_multilabel", "resolve_learning_rate", "resolve_loss",
           "has_transformer_backbone", "with_dtype_policy", "outputs_per_label",
           "decision_head_metrics", "DecisionHeadF1", "DecisionHeadMeanPredictedLabels"]


def outputs_per_label(loss: Any) -> int:
    """Output columns per label a model trained with ``loss`` has: 2 for a dual-head
    loss (decision head, then score head), else 1.

    Example:
    >>> import VLAP
    >>> outputs_per_label(VLAP.losses.get("dual_head")), outputs_per_label("sigmoidF1")
    (2, 1)
    """
    return int(getattr(loss, "outputs_per_label", 1) or 1)


def _decision_half(y_true, y_pred):
    y_pred = keras.ops.convert_to_tensor(y_pred)
    return _losses.split_dual_logits(y_pred, keras.ops.convert_to_tensor(y_true).shape[-1])[0]


@keras.saving.register_keras_serializable(package="VLAP")
class DecisionHeadF1(_metrics.MultilabelF1):
    """:class:`VLAP.metrics.MultilabelF1` of a dual-head model's decision head
    (columns ``[:num_labels]`` of its ``(batch, 2 * num_labels)`` output).

    Example:
    >>> m = DecisionHeadF1(average="micro")
    >>> m.update_state([[1, 0]], [[2.0, -1.0, -5.0, 5.0]])  # the score head is ignored
    >>> float(m.result())
    1.0
    """

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, _decision_half(y_true, y_pred), sample_weight)


@keras.saving.register_keras_serializable(package="VLAP")
class DecisionHeadMeanPredictedLabels(_metrics.MeanPredictedLabels):
    """:class:`VLAP.metrics.MeanPredictedLabels` of a dual-head model's decision head."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, _decision_half(y_true, y_pred), sample_weight)


def decision_head_metrics(threshold: float = 0.5, from_logits: bool = True,
                          num_labels: int | None = None) -> list[keras.metrics.Metric]:
    """:func:`VLAP.metrics.training_metrics` (same names: ``f1_macro``, ``f1_micro``,
    ``mean_predicted_labels``) computed on a dual-head model's decision head."""
    kwargs = {"threshold": threshold, "from_logits": from_logits}
    return [DecisionHeadF1(average="macro", num_labels=num_labels, **kwargs),
            DecisionHeadF1(average="micro", num_labels=num_labels, **kwargs),
            DecisionHeadMeanPredictedLabels(**kwargs)]


def has_transformer_backbone(model: keras.Model) -> bool:
    """True when ``model`` holds a keras-hub ``Backbone`` (a pretrained transformer)."""
    try:
        import keras_hub
    except ImportError:  # pragma: no cover - keras-hub is a dependency
        return False
    return any(isinstance(layer, keras_hub.models.Backbone)
               for layer in flatten_layers(model))


def resolve_learning_rate(learning_rate: float | Literal["auto"], *, transformer: bool) -> float:
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


def resolve_loss(loss: str | keras.losses.Loss,
                 loss_kwargs: Mapping[str, Any] | None = None) -> keras.losses.Loss:
    """A loss object from a name (with ``loss_kwargs``) or a loss object."""
    if loss_kwargs and not isinstance(loss, str):
        raise ValueError("`loss_kwargs` only applies when `loss` is a name. "
                         f"Received: loss={loss!r}")
    return _losses.get(loss, **(loss_kwargs or {}))


def with_dtype_policy(model: keras.Model, dtype_policy: str) -> keras.Model:
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


def compile_for_multilabel(model: keras.Model, loss: str | keras.losses.Loss = "sigmoidF1", *,
                           learning_rate: float | Literal["auto"] = "auto",
                           loss_kwargs: Mapping[str, Any] | None = None,
                           threshold: float = 0.5, num_labels: int | None = None,
                           strategy: Any = None,
                           dtype_policy: str | None = None) -> keras.Model:
    """Compile ``model`` with a VLAP loss, Adam and the multilabel training metrics.

    Args:
        model: keras.Model. Outputs one logit (or, with a loss given
            ``from_logits=False``, one probability) per label; two per label
            (decision head, then score head) with a dual-head loss.
        loss: str or keras.losses.Loss. Any name :func:`VLAP.losses.get` accepts.
        learning_rate: float or "auto". See :func:`resolve_learning_rate`.
        loss_kwargs: dict or None. Options for a loss given by name.
        threshold: float in (0, 1). Probability threshold of the F1 metrics.
        num_labels: int or None. Builds the metrics' state eagerly when given
            (the number of labels, not of output columns).
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
    make_metrics = decision_head_metrics if outputs_per_label(loss_obj) == 2 \
        else _metrics.training_metrics
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if dtype_policy is not None:
            model = with_dtype_policy(model, dtype_policy)
        elif strategy is not None:
            clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            model = clone
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss_obj,
                      metrics=make_metrics(threshold=threshold, from_logits=from_logits,
                                           num_labels=num_labels))
    return model
