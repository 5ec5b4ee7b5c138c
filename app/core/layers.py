"""Keras layers of the project's own that model files may use, registered so that `.keras` files
holding them load in safe mode (a Lambda layer would be refused there: it runs code from the file).

This is the one module of app/core that imports Keras at import time: only `load_keras_file`
(app/core/classify.py) and training import it, never the int8 path.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="emotion_lens")
class HorizontalFlip(keras.layers.Layer):
    """The input mirrored left to right: NHWC, reversed along the width axis (axis 2).

    Exact (a permutation of pixels), no weights; in TFLite it is one REVERSE_V2, which has int8
    kernels, so a model using it converts to full integer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any) -> Any:
        return keras.ops.flip(inputs, axis=2)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def gaussian_kernel_1d(sigma: float) -> list[float]:
    """Normalized Gaussian taps, radius ceil(3 sigma) (at least 1)."""
    import math

    radius = max(1, math.ceil(3 * sigma))
    taps = [math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-radius, radius + 1)]
    total = sum(taps)
    return [t / total for t in taps]


@keras.saving.register_keras_serializable(package="emotion_lens")
class GaussianBlur(keras.layers.Layer):
    """A fixed Gaussian blur of `sigma` px over an NHWC image, borders reflected (as OpenCV's
    GaussianBlur: BORDER_REFLECT_101), the same for every channel; no trainable weights.

    A model trained on augmented images has seen every face resampled (each rotation, zoom and
    shift interpolates), so a little smoothing at test time gives it what it learned on. In
    TFLite it is MIRROR_PAD and one DEPTHWISE_CONV_2D, both with int8 kernels."""

    def __init__(self, sigma: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not sigma > 0:
            raise ValueError(f"GaussianBlur needs sigma > 0 (got {sigma})")
        self.sigma = float(sigma)
        self._taps = gaussian_kernel_1d(self.sigma)

    def build(self, input_shape: Any) -> None:
        import numpy as np

        taps = np.asarray(self._taps, dtype="float32")
        channels = int(input_shape[-1])
        kernel = np.outer(taps, taps)[:, :, None, None] * np.ones((1, 1, channels, 1), "float32")
        self.kernel = self.add_weight(name="kernel", shape=kernel.shape, trainable=False,
                                      initializer=keras.initializers.Constant(kernel))

    def call(self, inputs: Any) -> Any:
        r = len(self._taps) // 2
        padded = keras.ops.pad(inputs, [[0, 0], [r, r], [r, r], [0, 0]], mode="reflect")
        return keras.ops.depthwise_conv(padded, self.kernel, strides=1, padding="valid")

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sigma": self.sigma}
