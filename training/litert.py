"""Batch inference on `.tflite` files for evaluation: chunks over the app's own LiteRT runtime
(`app.core.classify.LiteRTModel`), so training measures exactly what the app runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core import EmotionLensError
from app.core.classify import LiteRTModel


class TFLiteModel:
    def __init__(self, path: str | Path, num_threads: int = 2) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise EmotionLensError(f"model file not found: {self.path}")
        self.model = LiteRTModel(self.path, num_threads=num_threads)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, without the batch dimension."""
        return tuple(self.model.input_shape[1:])

    def predict(self, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """`x`: float model input (already normalized). Returns float outputs (N, classes)."""
        outs = [self.model.predict(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0, self.model.num_outputs), np.float32)
