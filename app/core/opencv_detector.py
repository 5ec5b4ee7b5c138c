"""The fallback face detector: OpenCV's Haar cascades, with the eyes found by a second cascade so
that alignment can still level them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.core import EmotionLensError
from app.core.detection import Detection


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
