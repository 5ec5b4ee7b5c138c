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

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from app.core import EmotionLensError
from app.core.detection import KEYPOINT_NAMES, Detection, blazeface_file
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
    """BlazeFace short or full range on LiteRT. Close it, or use it as a context manager.

    Its `name` is `blazeface` (short range) or `blazeface-full`; a model bundle's crop is
    calibrated per name (`app.core.bundle.crop_for`)."""

    name = "blazeface"

    def __init__(self, min_score: float = 0.5, variant: str = "short", max_faces: int = 16,
                 num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        path = blazeface_file(variant)  # checks the variant name
        self.variant = variant
        self.name = "blazeface" if variant == "short" else f"blazeface-{variant}"
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


Box = tuple[float, float, float, float]


def _overlap(a: Box, b: Box) -> tuple[float, float]:
    """IoU and intersection over the smaller box of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a, area_b = a[2] * a[3], b[2] * b[3]
    union = area_a + area_b - inter
    return (inter / union if union > 0 else 0.0), (inter / max(min(area_a, area_b), 1e-9))


def merge_detections(dets: list[Detection], iou_threshold: float = SUPPRESSION_IOU,
                     within: float = 0.6) -> list[Detection]:
    """Non-maximum suppression across passes (whole frame and tiles, or two models): highest
    score first, a detection is dropped when it overlaps a kept one by IoU > `iou_threshold`, or
    when more than `within` of the smaller box lies inside it (a face cut by a tile edge)."""
    kept: list[Detection] = []
    for det in sorted(dets, key=lambda d: -d.score):
        if all(iou <= iou_threshold and inside < within
               for iou, inside in (_overlap(det.box, k.box) for k in kept)):
            kept.append(det)
    return kept


def tile_grid(width: int, height: int, tile: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Square-ish tiles (x, y, w, h) of about `tile` pixels covering the frame, neighbours
    overlapping by `overlap` of a tile."""
    def starts(length: int) -> list[tuple[int, int]]:
        if length <= tile:
            return [(0, length)]
        n = math.ceil((length - overlap * tile) / ((1 - overlap) * tile))
        size = length / (n * (1 - overlap) + overlap)  # n tiles of `size`, overlapping, end to end
        step = size * (1 - overlap)
        return [(round(i * step), round(i * step + size) - round(i * step)) for i in range(n)]

    return [(x, y, w, h) for y, h in starts(height) for x, w in starts(width)]


def short_range_framing(det: Detection, name: str) -> Detection:
    """A full-range detection boxed as short range boxes the same face (the box narrowed and
    lowered by the medians in `app.core.bundle.FULL_RANGE_FRAMING`); keypoints unchanged."""
    from app.core.bundle import FULL_RANGE_FRAMING

    _, ratio, dx, dy = FULL_RANGE_FRAMING["mediapipe-full"]
    x, y, w, h = det.box
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
    nw, nh = ratio * w, ratio * h
    return Detection((cx - nw / 2, cy - nh / 2, nw, nh), det.score, det.keypoints, name)


def _new_to(faces: list[Detection], det: Detection) -> bool:
    """`det` is none of `faces`: no IoU above the suppression threshold, not mostly inside one."""
    return all(iou <= SUPPRESSION_IOU and inside < 0.6
               for iou, inside in (_overlap(det.box, k.box) for k in faces))


class AdaptiveBlazeFaceDetector:
    """The default: BlazeFace short range on every frame, and full range as well (merged) when
    short range finds no face, or a face under `small` of the frame's longer side (near the
    short-range limit), or on the first frame and every `every`-th frame after it (far faces
    behind near ones), and on every frame while full range finds faces short range misses.

    A still image is its own first frame: both models. A webcam with a face near it costs the
    short-range model on 29 frames out of 30. Boxes are in short range's framing (full-range ones
    converted, `short_range_framing`), so one crop calibration serves both. Call `reset` when a
    new source starts.

    `background` (the live window): the periodic look for far faces, when it is the only reason
    for a full-range pass, runs on a thread of its own while the frame goes on with short range's
    faces; when that look finds a face short range misses, full range runs on the next frames as
    usual (a far face then shows a frame or two later). Its frame is never changed while the look
    runs: callers hand each frame over and do not write into it. Files keep the exact schedule."""

    name = "blazeface-auto"

    def __init__(self, min_score: float = 0.5, max_faces: int = 64, small: float = 0.15,
                 every: int = 30, background: bool = False):
        self.short: BlazeFaceDetector | None = BlazeFaceDetector(min_score=min_score, variant="short",
                                                                 max_faces=max_faces)
        self.full: BlazeFaceDetector | None = BlazeFaceDetector(min_score=min_score, variant="full",
                                                                max_faces=max_faces)
        self.small, self.every, self.max_faces = small, every, max_faces
        self.full_passes = 0  # frames on which full range ran, since the last reset
        self.background_looks = 0  # of them, periodic looks run on the background thread
        self._pool = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="blazeface-full")
                      if background else None)
        self._look: tuple[Future[list[Detection]], list[Detection]] | None = None
        self.reset()

    def reset(self) -> None:
        self._drop_look()
        self._since_full: int | None = None  # detector calls since the last full-range pass
        self._far_faces = False  # the last full-range pass found faces short range missed
        self.full_passes = 0
        self.background_looks = 0

    @property
    def background(self) -> bool:
        """The periodic look runs on a background thread (see the class)."""
        return self._pool is not None

    def _drop_look(self) -> None:
        """Wait for a background look still running, so that the full-range model is free, and
        forget it: a new source, or a full-range pass on this frame, supersedes it."""
        if self._look is not None:
            self._look[0].exception()  # waits (an error of its own is the next pass's to raise)
            self._look = None

    def _collect(self) -> None:
        """A finished background look: faces it found that short range missed on its frame turn
        full range on for the next frames."""
        if self._look is None or not self._look[0].done():
            return
        future, found = self._look
        self._look = None
        full = [short_range_framing(d, self.name) for d in future.result()]
        self._far_faces = self._far_faces or any(_new_to(found, d) for d in full)

    def full_range_reason(self, short_faces: list[Detection], frame_side: int) -> str | None:
        """Why full range runs on this frame ("first", "far", "missing", "small", "periodic"),
        or None when short range's faces are enough."""
        if self._since_full is None:
            return "first"
        if self._far_faces:
            return "far"
        if not short_faces:
            return "missing"
        if min(d.box[2] for d in short_faces) < self.small * frame_side:
            return "small"
        return "periodic" if self._since_full >= self.every - 1 else None

    def needs_full_range(self, short_faces: list[Detection], frame_side: int) -> bool:
        return self.full_range_reason(short_faces, frame_side) is not None

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        if self.short is None or self.full is None:
            raise EmotionLensError("face detector used after close()")
        self._collect()
        found = [Detection(d.box, d.score, d.keypoints, self.name) for d in self.short.detect(frame_bgr)]
        reason = self.full_range_reason(found, max(frame_bgr.shape[:2]))
        if reason is None:
            self._since_full = (self._since_full or 0) + 1
            return found
        if self._pool is not None and reason == "periodic":
            self._since_full = 0
            if self._look is None:  # (one still running is the look for this period)
                self.full_passes += 1
                self.background_looks += 1
                self._look = (self._pool.submit(self.full.detect, frame_bgr), found)
            return found
        self._drop_look()
        self._since_full = 0
        self.full_passes += 1
        full = [short_range_framing(d, self.name) for d in self.full.detect(frame_bgr)]
        # faces only full range sees keep it running on the next frames
        self._far_faces = any(_new_to(found, d) for d in full)
        # where both see a face, short range's box stays (a full-range pass that finds nothing
        # new changes nothing), unless it spans two full-range faces: two heads side by side
        # that short range boxed as one
        kept = [d for d in found if sum(_overlap(d.box, f.box)[1] > 0.3 for f in full) < 2]
        return (kept + [f for f in full if _new_to(kept, f)])[: self.max_faces]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # a look still running finishes with its model
            self._pool = None
        self._look = None
        for det in (self.short, self.full):
            if det is not None:
                det.close()
        self.short = self.full = None

    def __enter__(self) -> AdaptiveBlazeFaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TiledBlazeFaceDetector:
    """BlazeFace full range on the whole frame, then on overlapping tiles of it at full
    resolution, merged: it finds faces down to about 2.3 % of the frame's longer side (about
    25 px in 1080p; the whole-frame pass alone, about 7 %), at the cost of a model run per tile
    (8 on a 1080p frame, 6 on 640×480). For files with small faces: group photos, classrooms,
    wide shots. It wants the frame at full resolution (`wants_full_frame`): the pipeline does
    not reduce it for this detector."""

    name = "blazeface-tiled"
    wants_full_frame = True

    def __init__(self, min_score: float = 0.5, max_faces: int = 64, tile_min: int = 320,
                 tiles_per_side: int = 3, overlap: float = 0.25, whole_side: int = 640):
        self._det: BlazeFaceDetector | None = BlazeFaceDetector(min_score=min_score, variant="full",
                                                                max_faces=max_faces)
        self.max_faces = max_faces
        self.tile_min, self.tiles_per_side, self.overlap = tile_min, tiles_per_side, overlap
        self.whole_side = whole_side

    def tiles(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """The tiles of a frame: none when the frame is under 1.5 tiles on its longer side."""
        tile = max(self.tile_min, round(max(width, height) / self.tiles_per_side))
        if max(width, height) < 1.5 * tile:
            return []
        return tile_grid(width, height, tile, self.overlap)

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        det = self._det
        if det is None:
            raise EmotionLensError("face detector used after close()")
        h, w = frame_bgr.shape[:2]
        # the whole frame, reduced by exact halvings as the pipeline does for other detectors
        small, factor = frame_bgr, 1
        while max(small.shape[:2]) >= 2 * self.whole_side:
            sh, sw = small.shape[0] // 2 * 2, small.shape[1] // 2 * 2
            small = cv2.resize(small[:sh, :sw], (sw // 2, sh // 2), interpolation=cv2.INTER_AREA)
            factor *= 2
        found = [d.scaled(factor) if factor != 1 else d for d in det.detect(small)]
        for x, y, tw, th in self.tiles(w, h):
            margin = 0.01 * max(tw, th)
            for d in det.detect(frame_bgr[y:y + th, x:x + tw]):
                bx, by, bw, bh = d.box
                # a face cut by an edge between tiles is whole in the next tile, or big enough
                # for the whole-frame pass: its cut half would only shift the box
                if (x > 0 and bx < margin) or (y > 0 and by < margin) \
                        or (x + tw < w and bx + bw > tw - margin) or (y + th < h and by + bh > th - margin):
                    continue
                kps = {k: (px + x, py + y) for k, (px, py) in d.keypoints.items()}
                found.append(Detection((bx + x, by + y, bw, bh), d.score, kps, self.name))
        faces = [Detection(d.box, d.score, d.keypoints, self.name) for d in merge_detections(found)]
        return faces[: self.max_faces]

    def close(self) -> None:
        if self._det is not None:
            self._det.close()
            self._det = None

    def __enter__(self) -> TiledBlazeFaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
