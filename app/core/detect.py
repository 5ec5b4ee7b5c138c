"""Face detection behind one interface: `create_detector(name)` builds the detector a name stands
for (names in `app.core.settings.DETECTORS`).

The factory sits above the runtimes, which share `app/core/detection.py` (`Detection`, the
keypoint names, the `FaceDetector` protocol, the model files):
- `app/core/blazeface.py`: the default, BlazeFace short and full range on LiteRT
  (`blazeface-auto`, `blazeface`, `blazeface-full`, `blazeface-tiled`);
- `app/core/mediapipe_detector.py`: the same models through MediaPipe Tasks (`mediapipe`,
  `mediapipe-full`);
- `app/core/opencv_detector.py`: the fallback, OpenCV's Haar cascades (`opencv`).
The shared types and the runtimes' classes are re-exported here, so `from app.core.detect import
Detection` keeps working.
"""

from __future__ import annotations

import sys

from app.core import EmotionLensError
from app.core.blazeface import AdaptiveBlazeFaceDetector, BlazeFaceDetector, TiledBlazeFaceDetector
from app.core.detection import KEYPOINT_NAMES, Detection, FaceDetector, blazeface_file
from app.core.mediapipe_detector import (
    BLOCKING_PROXY,
    MediaPipeFaceDetector,
    blazeface_model,
    block_mediapipe_usage_logging,
)
from app.core.opencv_detector import OpenCVFaceDetector
from app.core.settings import DEFAULT_DETECTOR, DETECTORS

__all__ = [
    "BLOCKING_PROXY",
    "KEYPOINT_NAMES",
    "AdaptiveBlazeFaceDetector",
    "BlazeFaceDetector",
    "Detection",
    "FaceDetector",
    "MediaPipeFaceDetector",
    "OpenCVFaceDetector",
    "TiledBlazeFaceDetector",
    "blazeface_file",
    "blazeface_model",
    "block_mediapipe_usage_logging",
    "create_detector",
]


def create_detector(name: str = DEFAULT_DETECTOR, min_score: float = 0.5,
                    live: bool = False) -> FaceDetector:
    """`blazeface-auto` (the default: BlazeFace on LiteRT, short range on every frame and full
    range when faces are small, missing or far), `blazeface-full` (full range on every frame),
    `blazeface` (short range: faces near the camera only), `blazeface-tiled` (full range on the
    whole frame and on tiles of it, for small faces in large frames), `mediapipe` /
    `mediapipe-full` (the short and full range models through MediaPipe Tasks: the same
    detections as `blazeface` / `blazeface-full`, slower) or `opencv` (Haar cascades).

    `live` (the desktop window, where a frame's latency counts): `blazeface-auto` looks for far
    faces on a background thread (`AdaptiveBlazeFaceDetector(background=True)`)."""
    if name in ("mediapipe", "mediapipe-short"):
        return _mediapipe_detector(min_score, "short")
    if name == "mediapipe-full":
        return _mediapipe_detector(min_score, "full")
    if name in ("blazeface", "blazeface-full"):
        return BlazeFaceDetector(min_score=min_score, variant="full" if name.endswith("full") else "short")
    if name == "blazeface-auto":
        return AdaptiveBlazeFaceDetector(min_score=min_score, background=live)
    if name == "blazeface-tiled":
        return TiledBlazeFaceDetector(min_score=min_score)
    if name == "opencv":
        return OpenCVFaceDetector(min_score=min_score)
    raise EmotionLensError(f"unknown detector {name!r} (choose {', '.join(DETECTORS)})")


def _mediapipe_detector(min_score: float, variant: str) -> FaceDetector:
    """MediaPipe Tasks' BlazeFace, or one line when MediaPipe is not there: the default desktop
    bundle leaves it out (packaging/emotion-lens.spec; `packaging/build.sh --full` has it)."""
    try:
        return MediaPipeFaceDetector(min_score=min_score, variant=variant)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "mediapipe":
            raise
        suffix = "" if variant == "short" else f"-{variant}"
        name, same = f"mediapipe{suffix}", f"blazeface{suffix}"
        if getattr(sys, "frozen", False):
            raise EmotionLensError(f"detector {name} needs MediaPipe Tasks, which this desktop bundle leaves "
                                   f"out: use {same} (the same model on LiteRT) or the full bundle "
                                   f"(packaging/build.sh --full)") from None
        raise EmotionLensError(f"detector {name} needs MediaPipe Tasks, which is not installed: "
                               f"pip install mediapipe, or use {same} (the same model on LiteRT)") from None
