"""Alignment: level the eyes, crop with the model's framing, resize, convert channels.

One function for serving and for training on raw photos, so the model sees the same crops in both.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from app.core.bundle import CropSpec
from app.core.detect import Detection


def to_bgr_uint8(frame: np.ndarray) -> np.ndarray:
    """Bring any image array (gray, BGRA, 16-bit, float 0..1) to 3-channel uint8 BGR."""
    if frame.dtype != np.uint8:
        if np.issubdtype(frame.dtype, np.floating):
            frame = np.clip(np.nan_to_num(frame) * (255.0 if frame.max(initial=0) <= 1.0 else 1.0), 0, 255)
        elif frame.dtype == np.uint16:
            frame = frame / 257.0
        else:
            frame = np.clip(frame, 0, 255)
        frame = frame.astype(np.uint8)
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return cv2.cvtColor(frame[:, :, 0], cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise ValueError(f"unsupported image shape {frame.shape}")


def eye_angle(detection: Detection) -> float:
    """Roll of the face in degrees (positive: the subject's left eye is lower in the image)."""
    kps = detection.keypoints
    if "right_eye" not in kps or "left_eye" not in kps:
        return 0.0
    (rx, ry), (lx, ly) = kps["right_eye"], kps["left_eye"]
    if lx == rx and ly == ry:
        return 0.0
    return math.degrees(math.atan2(ly - ry, lx - rx))


def crop_transform(detection: Detection, crop: CropSpec, size: int) -> np.ndarray:
    """2×3 affine matrix mapping frame pixels to the `size`×`size` aligned crop."""
    x, y, w, h = detection.box
    angle = eye_angle(detection) if crop.rotate else 0.0
    # offsets are in the face's own (rotated) frame, in box widths/heights
    theta = math.radians(angle)
    dx, dy = crop.offset_x * w, crop.offset_y * h
    cx = x + w / 2 + dx * math.cos(theta) - dy * math.sin(theta)
    cy = y + h / 2 + dx * math.sin(theta) + dy * math.cos(theta)
    # detectors box a rolled face about as tightly as its upright extent times cos(roll): undo it
    side = max(crop.scale * max(w, h) / max(math.cos(theta), 0.7), 1e-3)
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    matrix[0, 2] += size / 2 - cx
    matrix[1, 2] += size / 2 - cy
    return matrix


def align_face(frame_bgr: np.ndarray, detection: Detection, crop: CropSpec, size: int,
               channels: int) -> np.ndarray:
    """The aligned face: uint8, `size`×`size`×`channels` (1: gray, 3: RGB).

    Large faces are first reduced with area averaging (no aliasing); regions outside the frame repeat
    the edge pixels, as a face cut by the frame edge should not turn black.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    matrix = crop_transform(detection, crop, size)
    src = frame_bgr
    zoom = math.hypot(matrix[0, 0], matrix[0, 1])  # output pixels per frame pixel
    gray_done = False
    if zoom < 1.0:
        # area-reduce the part of the frame the crop covers so the warp samples at about 1:1: a
        # bilinear warp that shrinks (zoom < 1) reads 4 taps per output pixel and skips the rest,
        # which aliases fine detail (a 2:1 shrink drops every other pixel) and leaves the face
        # sharper and noisier than any face the models learned on
        fh, fw = frame_bgr.shape[:2]
        inv = cv2.invertAffineTransform(matrix)
        corners = inv[:, :2] @ np.array([[0.0, size, 0.0, size], [0.0, 0.0, size, size]]) \
            + inv[:, 2:]
        margin = 2.0 / zoom + 1.0  # bilinear taps and rounding, in frame pixels
        x0 = max(int(corners[0].min() - margin), 0)
        y0 = max(int(corners[1].min() - margin), 0)
        x1 = min(int(corners[0].max() + margin) + 1, fw)
        y1 = min(int(corners[1].max() + margin) + 1, fh)
        if x1 > x0 and y1 > y0:
            roi = frame_bgr[y0:y1, x0:x1]
            if channels == 1:  # gray before reducing: a third of the pixels to average
                roi = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY)
                gray_done = True
            new_w, new_h = max(1, round((x1 - x0) * zoom)), max(1, round((y1 - y0) * zoom))
            src = cv2.resize(roi, (new_w, new_h), interpolation=cv2.INTER_AREA)
            sx, sy = (x1 - x0) / new_w, (y1 - y0) / new_h
            # roi-small -> frame: p = p' * s + origin ; fold into the matrix
            matrix = np.hstack([matrix[:, :2] * (sx, sy),
                                matrix[:, :2] @ ((x0,), (y0,)) + matrix[:, 2:]])
    out = cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    if channels == 1:
        gray = out if gray_done else cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        return gray.reshape(size, size, 1)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
