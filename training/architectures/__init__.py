"""Model architectures, looked up by name through `training.architectures.registry`."""

from __future__ import annotations

from typing import Any


def keras_module(module: Any = None) -> Any:
    """`module` when given (`tf_keras` for the quantization-aware-training twin), else Keras 3
    (imported here, on first use)."""
    if module is not None:
        return module
    import keras

    return keras
