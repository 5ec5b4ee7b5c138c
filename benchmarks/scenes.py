"""Synthetic multi-face scenes built at run time from the shared media (nothing is committed).

The faces of `single_face.jpg` (one) and `two_faces.jpg` (two) are cut out with a margin, scaled
so that the face box is 24 to 400 pixels wide, and placed on a plain or a busy background: in a
grid (a group photo, a video call), at random (a crowd), mixed near and far (one large face and
several small ones), or alone anywhere (near the edges too). Each scene keeps its ground-truth
face boxes, so that a detector's recall and false boxes can be counted (`match`).

The ground truth of a face is the box BlazeFace short range gives on the full-resolution source
photo, scaled with the face: the same convention every detector here is compared with.

`crossing_clip` builds a video-like sequence for tracking: 5 to 12 faces moving on straight lines
that cross, each with its identity known.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

Box = tuple[float, float, float, float]

FACE_SIZES = (24, 32, 48, 64, 96, 128, 192, 256, 400)
FRAME_SIZES = ((640, 480), (1000, 667), (1280, 720), (1920, 1080))
BACKGROUNDS = ("plain", "busy")
MARGIN = 1.6  # the cut-out around a face, in face-box widths


@dataclass(frozen=True)
class FaceCut:
    """A face cut out of a source photo, with its face box inside the cut-out."""

    image: np.ndarray
    box: Box
    source: str


@dataclass
class Scene:
    name: str
    image: np.ndarray
    faces: list[Box]
    layout: str
    background: str
    face_sizes: list[float] = field(default_factory=list)
    # faces cut by the frame's edge: a box on one is neither found nor false
    partial: list[Box] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


@cache
def face_cuts(media: Path) -> tuple[FaceCut, ...]:
    """Every face of single_face.jpg and two_faces.jpg with a margin, found by BlazeFace short
    range on LiteRT (the ground-truth convention)."""
    from app.core.blazeface import BlazeFaceDetector

    cuts = []
    with BlazeFaceDetector(min_score=0.5, variant="short") as det:
        for name in ("single_face.jpg", "two_faces.jpg"):
            image = cv2.imread(str(media / name))
            if image is None:
                raise FileNotFoundError(media / name)
            for d in sorted(det.detect(image), key=lambda d: d.box[0]):
                x, y, w, h = d.box
                side = MARGIN * max(w, h)
                cx, cy = x + w / 2, y + h / 2
                x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2 - 0.05 * side))
                x1 = min(image.shape[1], round(cx + side / 2))
                y1 = min(image.shape[0], round(cy + side / 2 - 0.05 * side))
                cuts.append(FaceCut(image[y0:y1, x0:x1].copy(), (x - x0, y - y0, w, h), name))
    return tuple(cuts)


def busy_background(media: Path, width: int, height: int, seed: int) -> np.ndarray:
    """Clutter without faces: the cartoon frame of no_faces.jpg and the street-light bokeh at the
    left of street_phone.mp4 (away from its face), tiled with flips, under random shapes, lines
    and text."""
    rng = np.random.default_rng(seed)
    pieces = [cv2.imread(str(media / "no_faces.jpg"))]
    cap = cv2.VideoCapture(str(media / "street_phone.mp4"))
    ok, frame = cap.read()
    cap.release()
    if ok:
        pieces.append(frame[:, :220])  # the face is right of x = 250 on every frame
    canvas = np.zeros((height, width, 3), np.uint8)
    tile = max(height // 2, 120)
    for y in range(0, height, tile):
        x = 0
        while x < width:
            piece = pieces[int(rng.integers(len(pieces)))]
            scale = tile / piece.shape[0]
            piece = cv2.resize(piece, (max(1, round(piece.shape[1] * scale)), tile))
            flip = int(rng.integers(-1, 3))
            if flip < 2:
                piece = cv2.flip(piece, flip)
            w = min(piece.shape[1], width - x)
            h = min(tile, height - y)
            canvas[y:y + h, x:x + w] = piece[:h, :w]
            x += w
    for _ in range(int(width * height / 20000)):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = int(rng.integers(4))
        px, py = int(rng.integers(width)), int(rng.integers(height))
        r = int(rng.integers(4, max(5, min(width, height) // 10)))
        if kind == 0:
            cv2.circle(canvas, (px, py), r, color, -1 if rng.random() < 0.5 else 2)
        elif kind == 1:
            cv2.rectangle(canvas, (px, py), (px + r, py + int(rng.integers(4, 2 * r))), color, -1)
        elif kind == 2:
            cv2.line(canvas, (px, py), (int(rng.integers(width)), int(rng.integers(height))), color, 2)
        else:
            cv2.putText(canvas, "EMOTION LENS"[: int(rng.integers(3, 12))], (px, py),
                        cv2.FONT_HERSHEY_SIMPLEX, r / 30, color, 2)
    return canvas


def plain_background(width: int, height: int, seed: int) -> np.ndarray:
    """A flat colour with a gentle gradient (a wall, a studio backdrop)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 220, 3).astype(np.float32)
    ramp = np.linspace(-20, 20, width, dtype=np.float32)[None, :, None]
    return np.clip(base[None, None, :] + ramp + np.zeros((height, 1, 1), np.float32), 0, 255).astype(np.uint8)


_SCALED: dict[tuple[int, float, bool], tuple[np.ndarray, Box, np.ndarray]] = {}


def _scaled_masked(cut: FaceCut, face_px: float, flip: bool) -> tuple[np.ndarray, Box, np.ndarray]:
    """`_scaled` with its soft elliptic mask, cached (a clip pastes the same faces every frame)."""
    key = (id(cut), round(face_px, 3), flip)
    if key not in _SCALED:
        if len(_SCALED) > 256:
            _SCALED.clear()
        img, box = _scaled(cut, face_px, flip)
        h, w = img.shape[:2]
        mask = np.zeros((h, w), np.float32)
        cv2.ellipse(mask, (w // 2, h // 2), (int(w * 0.42), int(h * 0.48)), 0, 0, 360, 1.0, -1)
        k = max(3, (w // 12) | 1)
        _SCALED[key] = (img, box, cv2.GaussianBlur(mask, (k, k), 0))
    return _SCALED[key]


def _scaled(cut: FaceCut, face_px: float, flip: bool) -> tuple[np.ndarray, Box]:
    s = face_px / cut.box[2]
    size = (max(1, round(cut.image.shape[1] * s)), max(1, round(cut.image.shape[0] * s)))
    img = cv2.resize(cut.image, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x, y, w, h = (v * s for v in cut.box)
    if flip:
        img = cv2.flip(img, 1)
        x = img.shape[1] - x - w
    return img, (x, y, w, h)


def paste(canvas: np.ndarray, cut: FaceCut, face_px: float, x: float, y: float, soft: bool,
          flip: bool = False) -> Box:
    """Put `cut` with its face box `face_px` wide and its top-left corner at (x, y) of the face
    box; returns the face box in `canvas` (clipped cut-outs keep their face box whole only when
    it fits). `soft` blends an ellipse (a head on a busy scene) instead of a rectangle (a tile)."""
    img, (fx, fy, fw, fh), full_mask = _scaled_masked(cut, face_px, flip)
    ox, oy = round(x - fx), round(y - fy)
    h, w = img.shape[:2]
    H, W = canvas.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, ox), max(0, oy), min(W, ox + w), min(H, oy + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return (x, y, fw, fh)
    part = img[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox].astype(np.float32)
    if soft:
        mask = full_mask[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox, None]
        dst = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
        canvas[cy0:cy1, cx0:cx1] = (mask * part + (1 - mask) * dst).astype(np.uint8)
    else:
        canvas[cy0:cy1, cx0:cx1] = part.astype(np.uint8)
    return (ox + fx, oy + fy, fw, fh)


def _background(media: Path, kind: str, width: int, height: int, seed: int) -> np.ndarray:
    if kind == "busy":
        return busy_background(media, width, height, seed)
    return plain_background(width, height, seed)


def _free(boxes: list[Box], box: Box, gap: float) -> bool:
    x, y, w, h = box
    for bx, by, bw, bh in boxes:
        m = gap * max(w, bw)
        if x < bx + bw + m and bx < x + w + m and y < by + bh + m and by < y + h + m:
            return False
    return True


def _random_boxes(rng: np.random.Generator, sizes: list[float], width: int, height: int,
                  gap: float = 0.6, edge: float = 0.0) -> list[Box]:
    boxes: list[Box] = []
    for s in sizes:
        for _ in range(200):
            x = rng.uniform(-edge * s, width - s + edge * s)
            y = rng.uniform(-edge * s, height - s + edge * s)
            if _free(boxes, (x, y, s, s), gap):
                boxes.append((x, y, s, s))
                break
    return boxes


def scenes(media: Path, seed: int = 0) -> Iterator[Scene]:
    """The test set: every face size in every frame size where it fits, in four layouts, on plain
    and busy backgrounds (about 200 scenes, 1000 faces)."""
    cuts = face_cuts(media)
    rng = np.random.default_rng(seed)
    n = 0

    def make(layout: str, bg: str, width: int, height: int, boxes: list[Box]) -> Scene:
        nonlocal n
        n += 1
        canvas = _background(media, bg, width, height, seed + n)
        faces = []
        for i, (x, y, s, _) in enumerate(boxes):
            cut = cuts[(n + i) % len(cuts)]
            faces.append(paste(canvas, cut, s, x, y, soft=bg == "busy", flip=bool((n + i) % 2)))
        # only faces wholly in the frame count (a cut-off face is a bonus, not a miss)
        inside = [f for f in faces if f[0] >= 0 and f[1] >= 0 and f[0] + f[2] <= width
                  and f[1] + f[3] <= height]
        name = f"{layout}-{bg}-{width}x{height}-{n:03d}"
        return Scene(name, canvas, inside, layout, bg, [f[2] for f in inside],
                     [f for f in faces if f not in inside])

    for width, height in FRAME_SIZES:
        for bg in BACKGROUNDS:
            for s in FACE_SIZES:
                if s * 1.6 > min(width, height):
                    continue
                # grid: a group photo or a video call, up to 4×3 faces of one size
                cols = max(1, min(4, int(width // (s * 1.7))))
                rows = max(1, min(3, int(height // (s * 1.9))))
                cw, ch = width / cols, height / rows
                grid = [(c * cw + (cw - s) / 2, r * ch + (ch - s) / 2, s, s)
                        for r in range(rows) for c in range(cols)]
                yield make("grid", bg, width, height, grid)
                # one face anywhere, edges included
                yield make("single", bg, width, height, _random_boxes(rng, [s], width, height, edge=0.0))
            # a crowd: 5-12 faces of sizes around a random one
            for _ in range(3):
                base = float(rng.choice([s for s in FACE_SIZES if s * 5 < min(width, height) * 1.5]))
                sizes = [max(24.0, base * rng.uniform(0.8, 1.25)) for _ in range(int(rng.integers(5, 13)))]
                yield make("crowd", bg, width, height, _random_boxes(rng, sizes, width, height, gap=0.4))
            # near and far: one large face and several small ones
            for _ in range(2):
                big = min(400.0, min(width, height) * rng.uniform(0.35, 0.55))
                small = [float(rng.choice([s for s in FACE_SIZES if s <= big / 3]))
                         for _ in range(int(rng.integers(3, 7)))]
                yield make("mixed", bg, width, height, _random_boxes(rng, [big, *small], width, height))


def match(truth: list[Box], found: list[Box], min_iou: float = 0.3,
          partial: list[Box] | None = None) -> tuple[int, int]:
    """(faces found, false boxes): one-to-one, greedy by IoU, a pair counting at IoU ≥ `min_iou`.
    A box left over on one of the `partial` faces (cut by the frame's edge) is not false."""
    from app.core.track import iou

    found = [f for f in found if not any(iou(p, f) >= min_iou for p in partial or [])
             or any(iou(t, f) >= min_iou for t in truth)]
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)),
                   reverse=True)
    used_t: set[int] = set()
    used_f: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i in used_t or j in used_f:
            continue
        used_t.add(i)
        used_f.add(j)
    return len(used_t), len(found) - len(used_f)


@dataclass
class ClipFace:
    face_id: int
    cut: FaceCut
    size: float
    start: tuple[float, float]
    velocity: tuple[float, float]  # pixels per frame

    def box(self, t: int) -> Box:
        return (self.start[0] + self.velocity[0] * t, self.start[1] + self.velocity[1] * t,
                self.size, self.size)


def _covered(box: Box, covers: list[Box]) -> float:
    """The fraction of `box` under the union of `covers` (sampled on a 16×16 grid)."""
    x, y, w, h = box
    gx, gy = np.meshgrid(x + (np.arange(16) + 0.5) * w / 16, y + (np.arange(16) + 0.5) * h / 16)
    hit = np.zeros(gx.shape, bool)
    for cx, cy, cw, ch in covers:
        hit |= (gx >= cx) & (gx < cx + cw) & (gy >= cy) & (gy < cy + ch)
    return float(hit.mean())


def crossing_people(faces: int, frames: int, width: int, height: int, size: float,
                    seed: int, cuts: tuple[FaceCut, ...]) -> list[ClipFace]:
    """`faces` faces on lanes across the frame, alternately moving right and left (so that
    neighbours in adjacent lanes pass each other), each lane tilted so that some paths cross,
    at 2 to 14 pixels per frame."""
    rng = np.random.default_rng(seed)
    lanes = max(2, min(4, math.ceil(faces / 3)))
    people = []
    for i in range(faces):
        lane = i % lanes
        right = (i // lanes + lane) % 2 == 0
        s = size * rng.uniform(0.8, 1.2)
        y = (lane + 0.5) * height / lanes - s / 2 + rng.uniform(-0.1, 0.1) * s
        speed = rng.uniform(2.0, 14.0)
        x = rng.uniform(0.0, 0.45) * width if right else rng.uniform(0.55, 1.0) * width - s
        tilt = rng.uniform(-0.35, 0.35) * height / lanes / frames
        people.append(ClipFace(i + 1, cuts[i % len(cuts)], s, (x, y),
                               (speed if right else -speed, tilt)))
    return people


def crossing_clip(media: Path, faces: int, frames: int = 90, width: int = 1280, height: int = 720,
                  size: float = 100.0, seed: int = 0, background: str = "plain"
                  ) -> Iterator[tuple[np.ndarray, list[tuple[int, Box, bool]]]]:
    """`frames` frames (30 per second) of `faces` faces moving on straight lines that cross and
    pass each other, each frame with the truth of every face wholly in the frame: (identity,
    face box, visible). A face is visible unless faces painted over it cover more than a
    quarter of its face box, or other faces' boxes do (two heads overlapping that much give
    the detector one face between them, or the one behind)."""
    cuts = face_cuts(media)
    people = crossing_people(faces, frames, width, height, size, seed, cuts)
    base = _background(media, background, width, height, seed)
    for t in range(frames):
        canvas = base.copy()
        painted: list[tuple[int, Box, Box]] = []  # identity, face box, cut-out extent
        for p in people:
            x, y, s, _ = p.box(t)
            box = paste(canvas, p.cut, s, x, y, soft=True, flip=bool(p.face_id % 2))
            img_w, img_h = p.cut.image.shape[1] * s / p.cut.box[2], p.cut.image.shape[0] * s / p.cut.box[2]
            fx = p.cut.box[0] * s / p.cut.box[2]
            if p.face_id % 2:
                fx = img_w - fx - s
            fy = p.cut.box[1] * s / p.cut.box[2]
            # the soft ellipse covers about 84 % × 96 % of the cut-out around its centre
            ox, oy = box[0] - fx + 0.08 * img_w, box[1] - fy + 0.02 * img_h
            painted.append((p.face_id, box, (ox, oy, 0.84 * img_w, 0.96 * img_h)))
        truth = []
        for k, (fid, box, _) in enumerate(painted):
            if box[0] < 0 or box[1] < 0 or box[0] + box[2] > width or box[1] + box[3] > height:
                continue
            others = [b for j, (_, b, _) in enumerate(painted) if j != k]
            visible = (_covered(box, [c for _, _, c in painted[k + 1:]]) <= 0.25
                       and _covered(box, others) <= 0.25)
            truth.append((fid, box, visible))
        yield canvas, truth
