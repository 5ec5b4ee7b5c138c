"""Overlay drawing shared by the annotated video/image and the GUI."""

from __future__ import annotations

import cv2
import numpy as np

from app.core.results import FrameResult

# BGR colours per expression (colour-blind-friendly Okabe-Ito palette)
COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (0, 94, 213),
    "disgust": (115, 158, 0),
    "fear": (167, 121, 204),
    "happy": (66, 228, 240),
    "sad": (178, 114, 0),
    "surprise": (0, 159, 230),
    "neutral": (200, 200, 200),
}


def color_for(label: str) -> tuple[int, int, int]:
    return COLORS.get(label, (255, 255, 255))


def draw_overlay(image: np.ndarray, result: FrameResult, labels: tuple[str, ...],
                 smoothed: bool = True, selected_id: int | None = None) -> np.ndarray:
    """Draw box, face ID, label and confidence for each face onto `image` (in place) and return it.
    A face with a neutral baseline shows its calibrated probabilities (`FaceResult.shown`)."""
    h, w = image.shape[:2]
    thickness = max(1, round(min(h, w) / 300))
    font_scale = max(0.4, min(h, w) / 900)
    for face in result.faces:
        probs = face.shown(smoothed=smoothed)
        label = labels[int(np.argmax(probs))]
        conf = float(np.max(probs))
        color = color_for(label)
        x, y, bw, bh = (round(v) for v in face.box)
        box_thick = thickness * 2 if face.face_id == selected_id else thickness
        cv2.rectangle(image, (x, y), (x + bw, y + bh), color, box_thick, cv2.LINE_AA)
        text = f"#{face.face_id} {label} {conf:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        ty = y - 4 if y - th - base - 4 >= 0 else min(y + bh + th + base + 4, h - 1)
        cv2.rectangle(image, (x, ty - th - base), (x + tw + 4, ty + base // 2), color, cv2.FILLED)
        cv2.putText(image, text, (x + 2, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), thickness, cv2.LINE_AA)
    return image
