"""BlazeFace run directly with LiteRT: the model MediaPipe's face detector uses, with MediaPipe's
pre- and post-processing ported to NumPy (letterboxed [-1, 1] input, SSD anchors, sigmoid scores,
weighted non-maximum suppression, letterbox removal).

Same detections as `MediaPipeFaceDetector` (tests/core/test_blazeface.py compares them on real
media) without MediaPipe's graph, which costs about as much per frame as the model itself.
References: mediapipe/calculators/tflite/ssd_anchors_calculator.cc,
mediapipe/calculators/tensor/tensors_to_detections_calculator.cc,
mediapipe/calculators/util/non_max_suppression_calculator.cc and the face_detection graphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.core import EmotionLensError
from app.core.detect import KEYPOINT_NAMES, Detection, blazeface_file
from app.core.native import quiet_native_stderr


@dataclass(frozen=True)
class BlazeFaceVariant:
    size: int
    strides: tuple[int, ...]
    two_anchors_per_layer: bool  # MediaPipe's interpolated_scale_aspect_ratio == 1.0


VARIANTS = {
    "short": BlazeFaceVariant(128, (8, 16, 16, 16), True),
    "full": BlazeFaceVariant(192, (4,), False),
}
RAW_SCORE_LIMIT = 100.0  # MediaPipe's score_clipping_thresh
SUPPRESSION_IOU = 0.3  # MediaPipe's min_suppression_threshold for faces
NUM_KEYPOINTS = 6  # right eye, left eye, nose, mouth, right ear tragion, left ear tragion


def ssd_anchors(size: int, strides: tuple[int, ...], two_per_layer: bool) -> np.ndarray:
    """Anchor centres (N, 2) in [0, 1], in the model's output order (fixed anchor size 1)."""
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        repeats = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            repeats += 2 if two_per_layer else 1
            last += 1
        cells = size // strides[layer]
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(xy, repeats, axis=0))
        layer = last
    return np.concatenate(centres)


def weighted_nms(boxes: np.ndarray, points: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = SUPPRESSION_IOU) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's WEIGHTED non-maximum suppression. boxes (N, 4) as x0, y0, x1, y1; points (N, K, 2).

    Highest score first, every remaining candidate overlapping it by more than `iou_threshold`
    (itself included) is merged into a score-weighted average box and keypoints; the merged
    detection keeps the top score."""
    order = np.argsort(-scores, kind="stable")
    boxes, points, scores = boxes[order], points[order], scores[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    out = []
    remaining = np.arange(len(scores))
    while remaining.size:
        top = remaining[0]
        rest = boxes[remaining]
        ix = np.clip(np.minimum(rest[:, 2], boxes[top, 2]) - np.maximum(rest[:, 0], boxes[top, 0]), 0, None)
        iy = np.clip(np.minimum(rest[:, 3], boxes[top, 3]) - np.maximum(rest[:, 1], boxes[top, 1]), 0, None)
        inter = ix * iy
        union = areas[remaining] + areas[top] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0)
        merge = iou > iou_threshold
        merge[0] = True
        group = remaining[merge]
        w = scores[group][:, None]
        total = float(w.sum())
        box = (boxes[group] * w).sum(axis=0) / total
        pts = (points[group] * w[:, :, None]).sum(axis=0) / total
        out.append((box, pts, float(scores[top])))
        remaining = remaining[~merge]
    return out


class BlazeFaceDetector:
    """BlazeFace short or full range on LiteRT. Close it, or use it as a context manager."""

    name = "blazeface"

    def __init__(self, min_score: float = 0.5, variant: str = "short", max_faces: int = 16,
                 num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        path = blazeface_file(variant)  # checks the variant name
        self.variant = variant
        self._spec = VARIANTS[variant]
        self.min_score = float(min_score)
        self.max_faces = max_faces
        with quiet_native_stderr():
            self._interp: Interpreter | None = Interpreter(model_path=str(path), num_threads=num_threads)
            self._interp.allocate_tensors()
        inp = self._interp.get_input_details()[0]
        outs = sorted(self._interp.get_output_details(), key=lambda o: -int(o["shape"][-1]))
        self._in_index = inp["index"]
        self._box_index, self._score_index = outs[0]["index"], outs[1]["index"]
        size = self._spec.size
        self._anchors = ssd_anchors(size, self._spec.strides, self._spec.two_anchors_per_layer)
        if len(self._anchors) != int(outs[0]["shape"][1]):
            raise EmotionLensError(f"{path.name}: {outs[0]['shape'][1]} boxes but "
                                   f"{len(self._anchors)} anchors")
        self._tensor = np.zeros((1, size, size, 3), dtype=np.float32)
        self._pixels = np.zeros((size, size, 3), dtype=np.uint8)
        # raw score limit for min_score, so that the sigmoid runs on the few candidates only
        p = min(max(self.min_score, 1e-6), 1 - 1e-6)
        self._raw_min = float(np.log(p / (1 - p)))
        self.detect(np.zeros((64, 64, 3), dtype=np.uint8))  # warm-up

    def _letterbox(self, frame_bgr: np.ndarray) -> tuple[float, float, float, float]:
        """Fills the input tensor as MediaPipe's ImageToTensor does (keep aspect ratio: the frame's
        square bounding ROI warped bilinearly onto the input, zero border, range [-1, 1]); returns
        the content's offset and size as fractions of the input."""
        size = self._spec.size
        h, w = frame_bgr.shape[:2]
        side = max(w, h)
        s = size / side
        ox, oy = (side - w) / 2, (side - h) / 2  # the frame's place in the square ROI
        warp = np.array([[s, 0, ox * s], [0, s, oy * s]], dtype=np.float64)
        cv2.warpAffine(frame_bgr, warp, (size, size), dst=self._pixels, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        np.multiply(self._pixels[:, :, ::-1], np.float32(1 / 127.5), out=self._tensor[0], casting="unsafe")
        self._tensor -= 1.0
        return ox / side, oy / side, w / side, h / side

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        if self._interp is None:
            raise EmotionLensError("face detector used after close()")
        if frame_bgr.ndim == 2:
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        h, w = frame_bgr.shape[:2]
        ox, oy, cw, ch = self._letterbox(frame_bgr)
        self._interp.set_tensor(self._in_index, self._tensor)
        self._interp.invoke()
        raw_scores = self._interp.get_tensor(self._score_index)[0, :, 0]
        keep = np.flatnonzero(raw_scores >= self._raw_min)
        if keep.size == 0:
            return []
        raw = self._interp.get_tensor(self._box_index)[0, keep].reshape(len(keep), -1, 2)
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[keep], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
        xy = raw / np.float32(self._spec.size)
        anchors = self._anchors[keep][:, None, :]
        centre, half = xy[:, 0] + anchors[:, 0], xy[:, 1] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        points = xy[:, 2:2 + NUM_KEYPOINTS] + anchors
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        faces = []
        for box, pts, score in weighted_nms(boxes[valid], points[valid], scores[valid])[: self.max_faces]:
            # letterbox removal, then pixels of the frame
            x0, x1 = (box[0] - ox) / cw * w, (box[2] - ox) / cw * w
            y0, y1 = (box[1] - oy) / ch * h, (box[3] - oy) / ch * h
            kps = {name: (float((px - ox) / cw * w), float((py - oy) / ch * h))
                   for name, (px, py) in zip(KEYPOINT_NAMES, pts, strict=False)}
            faces.append(Detection((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), score, kps,
                                   detector=self.name))
        return faces

    def close(self) -> None:
        self._interp = None

    def __enter__(self) -> BlazeFaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
