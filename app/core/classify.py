"""Classifier runtime: LiteRT for `.tflite` (int8 or float, no TensorFlow import) and Keras for
`.keras` (float; uses a GPU when the Keras backend has one). All faces of a frame in one batch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from app.core.bundle import ModelBundle, load_bundle
from app.core.native import quiet_native_stderr
from app.core.settings import BACKENDS


class LiteRTModel:
    """A .tflite model run with ai-edge-litert; handles int8/uint8 quantized inputs and outputs."""

    def __init__(self, path: Path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        try:
            with quiet_native_stderr():
                self._interp = Interpreter(model_path=str(path),
                                           num_threads=num_threads or min(2, os.cpu_count() or 1))
        except (ValueError, RuntimeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise EmotionLensError(f"cannot load {path.name}: not a valid .tflite model ({first})") from None
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise EmotionLensError(f"cannot load {path.name}: the .tflite model has {len(inp)} "
                                   f"input(s) and {len(out)} output(s), not one of each")
        self._in, self._out = inp[0], out[0]
        try:  # a damaged file can parse and still fail here (a bad shape, quantization or buffer)
            self.input_shape = tuple(int(d) for d in self._in["shape"])
            self.num_outputs = int(self._out["shape"][-1])
            self._batch = int(self._in["shape"][0])
            self.quantized = self._in["dtype"] in (np.int8, np.uint8)
            with quiet_native_stderr():  # the delegate announces itself on allocation
                self._interp.allocate_tensors()
                self.predict(np.zeros((1, *self.input_shape[1:]), dtype=np.float32))
        except (ValueError, RuntimeError, IndexError, TypeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise EmotionLensError(f"cannot load {path.name}: the .tflite model does not run "
                                   f"({first})") from None

    def _ensure_batch(self, n: int) -> None:
        if n != self._batch:
            shape = [n, *self.input_shape[1:]]
            self._interp.resize_tensor_input(self._in["index"], shape)
            with quiet_native_stderr():
                self._interp.allocate_tensors()
            self._batch = n

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x: float32 (N, H, W, C) already normalized; returns float32 (N, classes).

        Batches are padded to a power of two so that a changing face count re-plans the
        interpreter only a handful of times."""
        n = len(x)
        bucket = 1 << max(0, (n - 1).bit_length())
        if bucket != n:
            x = np.concatenate([x, np.zeros((bucket - n, *x.shape[1:]), dtype=x.dtype)])
        return self._invoke(x)[:n]

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        self._ensure_batch(len(x))
        if self.quantized:
            scale, zero = self._in["quantization"]
            info = np.iinfo(self._in["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(self._in["dtype"])
        else:
            x = x.astype(self._in["dtype"], copy=False)
        self._interp.set_tensor(self._in["index"], x)
        self._interp.invoke()
        y = self._interp.get_tensor(self._out["index"])
        if self._out["dtype"] in (np.int8, np.uint8):
            scale, zero = self._out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, dtype=np.float32)


def load_keras_file(path: str | Path, what: str = "") -> Any:
    """A `.keras` model loaded in safe mode (no code from the file runs), uncompiled. A file Keras
    cannot read is one line: "[what: ]cannot load PATH: reason"."""
    import keras

    import app.core.layers  # noqa: F401  (registers the project's layers, e.g. HorizontalFlip)

    try:
        return keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:  # keras raises many types for bad files
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise EmotionLensError(f"{what + ': ' if what else ''}cannot load {path}: {first}") from None


class KerasModel:
    """A .keras model loaded with safe_mode (no code from the file is executed)."""

    def __init__(self, path: Path):
        self._model = load_keras_file(path)
        self.input_shape = tuple(self._model.input_shape)
        self.num_outputs = int(self._model.output_shape[-1])
        self.quantized = False

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._model(x, training=False), dtype=np.float32)


def _softmax_if_needed(y: np.ndarray) -> np.ndarray:
    sums = y.sum(axis=1, keepdims=True)
    # same test as np.all(y >= 0) and np.allclose(sums, 1, atol=0.05), at a tenth of the cost
    if y.min() >= 0 and float(np.abs(sums - 1.0).max()) <= 0.05 + 1e-5:
        return y / np.maximum(sums, 1e-9)
    e = np.exp(y - y.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Classifier:
    """Loads a model bundle and classifies aligned face crops (uint8 N×H×W×C) in one batch."""

    def __init__(self, bundle: ModelBundle | str | Path | None = None, backend: str = "auto",
                 num_threads: int | None = None):
        self.bundle = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
        if backend not in BACKENDS:
            raise EmotionLensError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        kinds = self.bundle.available_kinds
        if backend == "auto":
            order = ["int8", "float16", "float32", "keras"]
            backend = next(k for k in order if k in kinds)
        elif backend not in kinds:
            raise EmotionLensError(
                f"model {self.bundle.name!r} has no {backend} file (it has: {', '.join(kinds)})")
        self.backend = backend
        path = self.bundle.verify(backend)
        try:
            self.model: LiteRTModel | KerasModel = (
                KerasModel(path) if backend == "keras" else LiteRTModel(path, num_threads))
            self._check_matches_card()
        except EmotionLensError as exc:  # the card is fine, its model file is not
            raise EmotionLensError(f"invalid model bundle {self.bundle.path}: {exc}") from None
        spec = self.bundle.input
        self._scale = np.float32(1.0 / spec.std)
        self._offset = np.float32(-spec.mean / spec.std)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.bundle.labels

    def _check_matches_card(self) -> None:
        spec, shape = self.bundle.input, self.model.input_shape
        expected = (spec.size, spec.size, spec.channels)
        if tuple(shape[1:]) != expected:
            raise EmotionLensError(
                f"model file input {tuple(shape[1:])} does not match model.json input {expected}")
        if self.model.num_outputs != len(self.bundle.labels):
            raise EmotionLensError(
                f"model file has {self.model.num_outputs} outputs but model.json lists "
                f"{len(self.bundle.labels)} labels")

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        return crops.astype(np.float32) * self._scale + self._offset

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, labels) for uint8 crops (N, size, size, channels)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return _softmax_if_needed(self.model.predict(self.preprocess(crops)))

    @property
    def description(self) -> str:
        return f"{self.bundle.name} ({self.backend})"
