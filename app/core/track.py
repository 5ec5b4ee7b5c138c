"""Stable face IDs across frames and per-face temporal smoothing of the probabilities."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]
UNMATCHABLE = 1e6  # the cost of a track-detection pair the tracker refuses to match
PREDICT_MAX_S = 0.2  # how far ahead a track's box is moved on at its velocity


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _match_cost(a: Box, b: Box) -> float:
    """0 (same place) .. 1+ (unrelated): IoU, or centre distance in face widths when they don't overlap."""
    overlap = iou(a, b)
    if overlap > 0:
        return 1.0 - overlap
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    dist = np.hypot(ax + aw / 2 - bx - bw / 2, ay + ah / 2 - by - bh / 2)
    return 1.0 + dist / max(aw, bw, 1e-6)


@functools.cache
def _picks(large: int, small: int) -> np.ndarray:
    """Every ordered choice of `small` distinct indices out of `large`, as rows."""
    return np.array(list(itertools.permutations(range(large), small)), dtype=np.intp)


def _assign(cost: np.ndarray) -> tuple[list[int], list[int]]:
    """Minimum-cost assignment (rows, cols), as `scipy.optimize.linear_sum_assignment`.

    Up to 6 faces or tracks it is solved here by enumeration (≤ 720 candidates, vectorized);
    SciPy is imported only beyond that, as `scipy.optimize` costs about a second to import:
    paid at start-up, or as a freeze on the first frame with two faces."""
    n, m = cost.shape
    small, large = min(n, m), max(n, m)
    if small == 1:
        flat = int(np.argmin(cost))
        return [flat // m], [flat % m]
    if math.perm(large, small) <= 720:
        table = cost if n <= m else cost.T
        picks = _picks(large, small)
        best = picks[int(np.argmin(table[np.arange(small), picks].sum(axis=1)))].tolist()
        pairs = sorted((i, j) if n <= m else (j, i) for i, j in enumerate(best))
        return [r for r, _ in pairs], [c for _, c in pairs]
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return rows.tolist(), cols.tolist()


@dataclass
class Track:
    face_id: int
    box: Box
    last_seen_s: float
    smoothed: np.ndarray | None = None
    hits: int = 1
    history: list[float] = field(default_factory=list)
    velocity: tuple[float, float] = (0.0, 0.0)  # of the box, pixels per second
    moved_s: float | None = None  # when the box last changed (a reused detection does not)

    def predicted(self, time_s: float) -> Box:
        """The box moved on at its velocity to `time_s`, for at most PREDICT_MAX_S: a face
        unseen for longer is looked for near where it was, not swept across the frame."""
        if self.moved_s is None:
            return self.box
        dt = min(time_s - self.moved_s, PREDICT_MAX_S)
        x, y, w, h = self.box
        return (x + self.velocity[0] * dt, y + self.velocity[1] * dt, w, h)

    def observe(self, box: Box, time_s: float) -> None:
        """A new detection of this face: its velocity follows the box (smoothed), measured
        between boxes that differ, so that detections reused between runs of the detector
        (`detect_every`) count as no observation."""
        if box != self.box:
            if self.moved_s is not None and time_s > self.moved_s:
                dt = time_s - self.moved_s
                vx = (box[0] + box[2] / 2 - self.box[0] - self.box[2] / 2) / dt
                vy = (box[1] + box[3] / 2 - self.box[1] - self.box[3] / 2) / dt
                self.velocity = (0.5 * (self.velocity[0] + vx), 0.5 * (self.velocity[1] + vy))
            self.moved_s = time_s
        self.box = box
        self.last_seen_s = time_s
        self.hits += 1


class Tracker:
    """Greedy-optimal (Hungarian) matching of detections to live tracks.

    A detection joins a track when IoU ≥ `min_iou`, or when their centres are within
    `max_center_dist` face widths; tracks unseen for `timeout_s` are dropped.
    """

    def __init__(self, min_iou: float = 0.2, max_center_dist: float = 0.6, timeout_s: float = 1.0):
        self.min_iou = min_iou
        self.max_cost = 1.0 + max_center_dist
        self.timeout_s = timeout_s
        self.tracks: list[Track] = []
        self._next_id = 1
        self._last_update_s: float | None = None

    def reset(self) -> None:
        self.tracks.clear()
        self._next_id = 1
        self._last_update_s = None

    def seed(self, tracks: list[tuple[int, Box, np.ndarray | None]], time_s: float,
             next_id: int) -> None:
        """Continue from saved state (annotation `--resume`): live tracks and the next free ID."""
        self.tracks = [Track(face_id=fid, box=box, last_seen_s=time_s, smoothed=smoothed)
                       for fid, box, smoothed in tracks]
        self._next_id = max(next_id, *(fid + 1 for fid, _, _ in tracks), 1)
        self._last_update_s = time_s

    def update(self, boxes: list[Box], time_s: float) -> list[Track]:
        """Tracks for `boxes`, in the same order; new faces get new IDs.

        Tracks seen on the previous update are matched first, the others (faces missed or
        hidden for a while) to the detections left: a track waiting where a face was hidden
        never takes the detection of a face that went on being seen and passes by it."""
        self.tracks = [t for t in self.tracks if time_s - t.last_seen_s <= self.timeout_s
                       and time_s >= t.last_seen_s]
        assigned: list[Track | None] = [None] * len(boxes)
        fresh = [t for t in self.tracks if t.last_seen_s == self._last_update_s]
        stale = [t for t in self.tracks if t.last_seen_s != self._last_update_s]
        for group in (fresh, stale):
            free = [i for i, a in enumerate(assigned) if a is None]
            if not group or not free:
                continue
            # where the face was, or where it went at its velocity: whichever fits better
            cost = np.array([[min(_match_cost(t.box, boxes[i]), _match_cost(t.predicted(time_s), boxes[i]))
                              for i in free] for t in group])
            # pairs that may not match are priced out before the assignment, not rejected after
            # it: otherwise the cheapest total can trade a face's own good match for a pair
            # that is then refused (two faces passing each other swapped IDs)
            allowed = (cost <= 1.0 - self.min_iou) | ((cost > 1.0) & (cost <= self.max_cost))
            rows, cols = _assign(np.where(allowed, cost, UNMATCHABLE))
            for r, c in zip(rows, cols, strict=True):
                if allowed[r, c]:
                    assigned[free[c]] = group[r]
        for i, box in enumerate(boxes):
            track = assigned[i]
            if track is None:
                track = Track(face_id=self._next_id, box=box, last_seen_s=time_s, hits=0,
                              moved_s=time_s)
                self._next_id += 1
                self.tracks.append(track)
            track.observe(box, time_s)
            assigned[i] = track
        self._last_update_s = time_s
        return [t for t in assigned if t is not None]


class Smoother:
    """Exponential moving average per track, time-aware: `half_life_s` is the time for an old
    probability's weight to halve (0 disables smoothing)."""

    def __init__(self, half_life_s: float = 0.25):
        self.half_life_s = max(0.0, half_life_s)
        self._last_t: dict[int, float] = {}

    def update(self, track: Track, probs: np.ndarray, time_s: float) -> np.ndarray:
        last = self._last_t.get(track.face_id)
        self._last_t[track.face_id] = time_s
        if track.smoothed is None or last is None or self.half_life_s == 0:
            track.smoothed = probs.astype(np.float32, copy=True)
            return track.smoothed
        dt = max(time_s - last, 0.0)
        keep = 0.5 ** (dt / self.half_life_s) if dt > 0 else 0.5
        track.smoothed = keep * track.smoothed + (1.0 - keep) * probs
        return track.smoothed

    def seed(self, face_id: int, time_s: float) -> None:
        self._last_t[face_id] = time_s

    def forget(self, live_ids: set[int]) -> None:
        for fid in [f for f in self._last_t if f not in live_ids]:
            del self._last_t[fid]
