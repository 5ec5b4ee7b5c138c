"""iPPM (improved pyramid pooling module) on a backbone feature map.

For the feature map I and each level i: F_i = Conv_{k_i}(MaxPool_{s_i}(UpSample_{s_i}(I))):
nearest-neighbour upsampling by s_i, max-pooling with an s_i×s_i window (stride 1, 'same', so it
acts at the upsampled resolution and mixes neighbouring cells at sub-cell offsets), then a
128-filter convolution of kernel k_i with ReLU. The levels and I are brought to the finest
resolution (nearest upsampling by s_max / s_i) and concatenated before the classifier head
(global average pooling follows, so the common resolution only matters for alignment).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from training.architectures import keras_module as _keras

SCALES = (1, 2, 4)
KERNELS = (1, 3, 5)
FILTERS = 128


def check(scales: Sequence[int], kernels: Sequence[int]) -> str | None:
    """Why these iPPM levels cannot be built (one line), or None when they can."""
    if not scales or not all(isinstance(v, int) and v > 0 for v in (*scales, *kernels)):
        return f"iPPM scales and kernels must be positive integers: {list(scales)}, {list(kernels)}"
    if any(max(scales) % s for s in scales):
        return f"iPPM scales must divide the largest one: {list(scales)}"
    if len(scales) != len(kernels):
        return (f"iPPM needs one kernel per scale: {len(scales)} scales {list(scales)}, "
                f"{len(kernels)} kernels {list(kernels)}")
    return None


def ippm_block(feat: Any, scales: tuple[int, ...] = SCALES, kernels: tuple[int, ...] = KERNELS,
               filters: int = FILTERS, keras_module: Any = None) -> Any:
    L = _keras(keras_module).layers
    problem = check(scales, kernels)
    if problem:
        raise ValueError(problem)
    s_max = max(scales)
    levels = [L.UpSampling2D(s_max, interpolation="nearest", name="ippm_identity_up")(feat)
              if s_max > 1 else feat]
    for i, (s, k) in enumerate(zip(scales, kernels, strict=True)):
        x = L.UpSampling2D(s, interpolation="nearest", name=f"ippm{i}_up")(feat) if s > 1 else feat
        if s > 1:
            x = L.MaxPooling2D(pool_size=s, strides=1, padding="same", name=f"ippm{i}_pool")(x)
        x = L.Conv2D(filters, k, padding="same", use_bias=False, name=f"ippm{i}_conv")(x)
        x = L.BatchNormalization(name=f"ippm{i}_bn")(x)
        x = L.ReLU(name=f"ippm{i}_relu")(x)
        if s_max // s > 1:
            x = L.UpSampling2D(s_max // s, interpolation="nearest", name=f"ippm{i}_align")(x)
        levels.append(x)
    return L.Concatenate(name="ippm_concat")(levels)
