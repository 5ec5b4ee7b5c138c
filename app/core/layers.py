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
