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


def _reflect_101(x: Any, r: int, axis: int) -> Any:
    """`x` padded by `r` along `axis` with its mirror image without the edge pixel (OpenCV's
    BORDER_REFLECT_101: ...c b | a b c ... x y | x w...)."""
    n = x.shape[axis]

    def part(start: int, stop: int) -> Any:
        index = [slice(None)] * len(x.shape)
        index[axis] = slice(start, stop)
        return x[tuple(index)]

    head = keras.ops.flip(part(1, r + 1), axis=axis)
    tail = keras.ops.flip(part(n - r - 1, n - 1), axis=axis)
    return keras.ops.concatenate([head, x, tail], axis=axis)


@keras.saving.register_keras_serializable(package="emotion_lens")
class GaussianBlur(keras.layers.Layer):
    """A fixed Gaussian blur of `sigma` px over an NHWC image, borders reflected (as OpenCV's
    GaussianBlur: BORDER_REFLECT_101), the same for every channel; no trainable weights.

    A model trained on augmented images has seen every face resampled (each rotation, zoom and
    shift interpolates), so a little smoothing at test time gives it what it learned on. In
    TFLite: REVERSE_V2 and CONCATENATION for the borders, one DEPTHWISE_CONV_2D, all with fast
    int8 kernels (about 0.05 ms per face; MIRROR_PAD, the obvious op, took 0.5 ms)."""

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
        padded = _reflect_101(_reflect_101(inputs, r, axis=1), r, axis=2)
        return keras.ops.depthwise_conv(padded, self.kernel, strides=1, padding="valid")

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sigma": self.sigma}
