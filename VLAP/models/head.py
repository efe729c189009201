"""What the text and image classifiers share: the paper's head and the task base."""

from __future__ import annotations

from typing import Any

import keras

from VLAP._validation import check_dropout, check_positive_int


@keras.saving.register_keras_serializable(package="VLAP")
class MultilabelHead(keras.layers.Layer):
    """The paper's head: ``Dense(units, relu) -> Dropout(dropout) -> Dense(num_labels)``.

    Outputs one logit per label (no sigmoid: VLAP's losses take logits), in
    the layer's compute dtype: the classifiers build it with
    `dtype=backbone.dtype_policy`, so under `"mixed_bfloat16"` its variables
    stay float32 and its logits are bfloat16.

    Args:
        num_labels: int. Number of labels.
        units: int. Width of the hidden dense layer (1024 in the paper).
        dropout: float. Dropout rate between the two dense layers.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> head = MultilabelHead(3, units=8, dtype="mixed_bfloat16")
    >>> logits = head(keras.ops.ones((2, 4)))
    >>> tuple(logits.shape), keras.backend.standardize_dtype(logits.dtype)
    ((2, 3), 'bfloat16')
    >>> head.classifier.kernel.dtype
    'float32'
    """

    def __init__(self, num_labels: int, units: int = 1024, dropout: float = 0.1,
                 **kwargs: Any) -> None:
        check_positive_int("num_labels", num_labels)
        check_positive_int("head_units", units)
        check_dropout(dropout)
        super().__init__(**kwargs)
        self.num_labels = int(num_labels)
        self.units = int(units)
        self.dropout = float(dropout)
        policy = self.dtype_policy
        self.hidden = keras.layers.Dense(self.units, activation="relu", dtype=policy,
                                         name="pre_classifier")
        self.drop = keras.layers.Dropout(self.dropout, dtype=policy, name="head_dropout")
        self.classifier = keras.layers.Dense(self.num_labels, dtype=policy, name="classifier")

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.classifier.build((None, self.units))
        self.built = True

    def call(self, x, training=False):
        return self.classifier(self.drop(self.hidden(x), training=training))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_labels)

    def get_config(self):
        config = super().get_config()
        config.update({"num_labels": self.num_labels, "units": self.units,
                       "dropout": self.dropout})
        return config


class BackboneTask(keras.Model):
    """Base of the classifiers: a backbone, then :class:`MultilabelHead`.

    Like keras-hub's ``Task``: the backbone is serialized inside the config, and
    ``get_config`` does not chain to ``keras.Model.get_config``. Subclasses add
    their own arguments with ``_task_config``. The head (and the image
    preprocessing) take the dtype policy given as ``dtype=``, by default the
    backbone's, as keras-hub's task heads take ``dtype=backbone.dtype_policy``.
    """

    def _init_task(self, num_labels, backbone, head_units, dropout, freeze_backbone,
                   feature_dim, dtype=None):
        self.num_labels = int(num_labels)
        self.head_units = int(head_units)
        self.dropout = float(dropout)
        self.freeze_backbone = bool(freeze_backbone)
        self.backbone = backbone
        self.backbone.trainable = not self.freeze_backbone
        # The head follows the backbone's dtype policy, as keras-hub's task heads do:
        # under "mixed_bfloat16" it computes (and returns logits) in bfloat16.
        # `dtype` (kept in the config) wins, so a functional backbone, whose own
        # config does not record its policy, reloads with the same head.
        self.head_dtype_policy = (backbone.dtype_policy if dtype is None
                                  else keras.dtype_policies.get(dtype))
        self.head = MultilabelHead(num_labels, head_units, dropout,
                                   dtype=self.head_dtype_policy, name="head")
        # Build the head now so every variable exists before any call (weights can
        # then be loaded right after `from_config`).
        self.head.build((None, int(feature_dim)))

    def _task_config(self):
        return {}

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_labels": self.num_labels,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "head_units": self.head_units,
            "dropout": self.dropout,
            "freeze_backbone": self.freeze_backbone,
            "dtype": keras.dtype_policies.serialize(self.head_dtype_policy),
            **self._task_config(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="VLAP")
class DualHeadLogits(keras.layers.Layer):
    """Two linear heads on one trunk, their logits concatenated: ``(batch, 2 * num_labels)``.

    Columns ``[:num_labels]`` are the decision head (train it with a surrogate such
    as sigmoidF1; a label is predicted where its logit is > 0), columns
    ``[num_labels:]`` the score head (train it with BCE; its scores rank). Train
    with :class:`VLAP.losses.DualHead` (``loss="dual_head"``), which applies each
    loss to its own half; :func:`VLAP.losses.split_dual_logits` splits the output.

    Args:
        num_labels: int. Number of labels (the layer outputs twice as many values).
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> layer = DualHeadLogits(3)
    >>> tuple(layer(keras.ops.ones((2, 4))).shape)
    (2, 6)
    >>> DualHeadLogits.from_config(layer.get_config()).num_labels
    3
    """

    def __init__(self, num_labels: int, **kwargs: Any) -> None:
        check_positive_int("num_labels", num_labels)
        super().__init__(**kwargs)
        self.num_labels = int(num_labels)
        policy = self.dtype_policy
        self.decision = keras.layers.Dense(self.num_labels, dtype=policy, name="decision")
        self.score = keras.layers.Dense(self.num_labels, dtype=policy, name="score")

    def build(self, input_shape):
        self.decision.build(input_shape)
        self.score.build(input_shape)
        self.built = True

    def call(self, x):
        return keras.ops.concatenate([self.decision(x), self.score(x)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * self.num_labels)

    def get_config(self):
        config = super().get_config()
        config.update({"num_labels": self.num_labels})
        return config
