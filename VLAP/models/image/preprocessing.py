"""The in-model pixel scaling of `ImageClassifier` (formulas: `VLAP.data.images`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

from VLAP.data.images import PIXEL_SCALINGS, SCALING_ALIASES, resolve_scaling, scale_pixels

if TYPE_CHECKING:
    from VLAP.data.dataset import PixelScaling


@keras.saving.register_keras_serializable(package="VLAP")
class ImagePreprocessing(keras.layers.Layer):
    """Scale [0, 255] RGB pixels the way a backbone expects.

    The formula of each mode is `VLAP.data.images.PIXEL_SCALINGS[mode]`, the
    same one `create_dataset(scale=...)` applies in `tf.data`.

    Args:
        mode: str. One of:
            `"raw"`: unchanged (for backbones that rescale inside themselves,
            or inputs that are already scaled);
            `"unit"`: to [0, 1];
            `"symmetric"`: to [-1, 1] (MobileNetV2);
            `"caffe"`: RGB to BGR, minus the ImageNet BGR mean (ResNet50);
            `"torch"`: to [0, 1], then ImageNet mean/std normalisation
            (keras-hub ResNet and most PyTorch-trained backbones).
            keras.applications' names `"tf"` (= symmetric) and the former
            `"none"` (= raw) and `"rescale"` (= unit) are accepted and stored
            under the canonical name.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> x = np.array([[[[0.0, 127.5, 255.0]]]], "float32")
    >>> [round(float(v), 4) for v in ImagePreprocessing("symmetric")(x)[0, 0, 0]]
    [-1.0, 0.0, 1.0]
    """

    MODES = (*PIXEL_SCALINGS, *SCALING_ALIASES)

    def __init__(self, mode: PixelScaling = "raw", **kwargs: Any) -> None:
        mode = resolve_scaling(mode, "mode")
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs):
        x = keras.ops.cast(inputs, self.compute_dtype)
        return scale_pixels(
            x, self.mode,
            flip=lambda t: keras.ops.flip(t, axis=-1),
            constant=lambda v: keras.ops.convert_to_tensor(v, dtype=self.compute_dtype),
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config

