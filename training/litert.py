"""Batch inference on `.tflite` files with LiteRT (float or int8/uint8 quantized I/O).

The app's own runtime is `app.core.classify`; this helper evaluates whole datasets quickly
(batched) and reads the quantization parameters the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core import EmotionLensError


class TFLiteModel:
    def __init__(self, path: str | Path, num_threads: int = 2) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover
            from tensorflow.lite import Interpreter  # type: ignore[no-redef]
        self.path = Path(path)
        if not self.path.is_file():
            raise EmotionLensError(f"model file not found: {self.path}")
        try:
            self.interp = Interpreter(model_path=str(self.path), num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:
            raise EmotionLensError(f"cannot load {self.path.name}: {exc}") from None
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self._batch = 0

    @property
    def input_dtype(self) -> type:
        return self.inp["dtype"]

    @property
    def input_quantization(self) -> tuple[float, int]:
        return tuple(self.inp["quantization"])  # type: ignore[return-value]

    def _prepare(self, n: int) -> None:
        if n != self._batch:
            self.interp.resize_tensor_input(self.inp["index"], [n, *self.inp["shape"][1:]])
            self.interp.allocate_tensors()
            self.inp = self.interp.get_input_details()[0]
            self.out = self.interp.get_output_details()[0]
            self._batch = n

    def predict(self, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """`x`: float model input (already normalized). Returns float probabilities."""
        outs = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            self._prepare(len(xb))
            dtype = self.inp["dtype"]
            if dtype in (np.int8, np.uint8):
                scale, zp = self.inp["quantization"]
                info = np.iinfo(dtype)
                xb = np.clip(np.rint(xb / scale + zp), info.min, info.max).astype(dtype)
            else:
                xb = xb.astype(dtype)
            self.interp.set_tensor(self.inp["index"], xb)
            self.interp.invoke()
            y = self.interp.get_tensor(self.out["index"])
            if self.out["dtype"] in (np.int8, np.uint8):
                scale, zp = self.out["quantization"]
                y = (y.astype(np.float32) - zp) * scale
            outs.append(y.astype(np.float32))
        return np.concatenate(outs) if outs else np.zeros((0, int(self.out["shape"][-1])), np.float32)
