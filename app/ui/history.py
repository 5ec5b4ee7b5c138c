"""Rolling per-face probability history for the charts and the face list (plain Python, no Qt)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from app.core.results import FaceResult, FrameResult


@dataclass
class FaceTrace:
    face_id: int
    times: deque[float] = field(default_factory=deque)
    probs: deque[np.ndarray] = field(default_factory=deque)
    last_seen_s: float = 0.0
    last_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


class FaceHistory:
    """The smoothed probabilities of every face over the last `window_s` seconds of source time:
    calibrated while the face has a neutral baseline (`FaceResult.shown`), as the overlay shows."""

    def __init__(self, window_s: float = 30.0):
        self.window_s = float(window_s)
        self.traces: dict[int, FaceTrace] = {}
        self.latest: FrameResult | None = None

    def clear(self) -> None:
        self.traces.clear()
        self.latest = None

    def set_window(self, window_s: float) -> None:
        self.window_s = float(window_s)
        if self.latest is not None:
            self._prune(self.latest.time_s)

    def add(self, result: FrameResult) -> None:
        if self.latest is not None and result.time_s < self.latest.time_s:
            self.clear()  # the source restarted: old history would draw backwards
        self.latest = result
        for face in result.faces:
            trace = self.traces.get(face.face_id)
            if trace is None:
                trace = self.traces[face.face_id] = FaceTrace(face.face_id)
            trace.times.append(result.time_s)
            trace.probs.append(np.asarray(face.shown(smoothed=True), dtype=np.float32))
            trace.last_seen_s = result.time_s
            trace.last_box = face.box
        self._prune(result.time_s)

    def _prune(self, now: float) -> None:
        start = now - self.window_s
        for fid in list(self.traces):
            trace = self.traces[fid]
            while trace.times and trace.times[0] < start:
                trace.times.popleft()
                trace.probs.popleft()
            if not trace.times:
                del self.traces[fid]

    def face_ids(self) -> list[int]:
        """Faces seen within the window, most recently seen first, then by ID."""
        return sorted(self.traces, key=lambda f: (-self.traces[f].last_seen_s, f))

    def in_view(self) -> dict[int, FaceResult]:
        return {f.face_id: f for f in self.latest.faces} if self.latest else {}

    def series(self, face_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(times N, probabilities N×labels) of one face; empty arrays when unknown."""
        trace = self.traces.get(face_id)
        if trace is None or not trace.times:
            return np.zeros(0), np.zeros((0, 0), dtype=np.float32)
        return np.fromiter(trace.times, float, len(trace.times)), np.stack(trace.probs)

    def current(self, face_id: int) -> tuple[np.ndarray | None, bool]:
        """The newest probabilities shown of a face (smoothed, calibrated when it has a baseline)
        and whether it is in the latest frame."""
        face = self.in_view().get(face_id)
        if face is not None:
            return np.asarray(face.shown(smoothed=True)), True
        trace = self.traces.get(face_id)
        if trace is None or not trace.probs:
            return None, False
        return trace.probs[-1], False

    def auto_face(self) -> int | None:
        """The face the charts follow when the user picked none: the largest face in view, else
        the most recently seen one."""
        faces = self.latest.faces if self.latest else []
        if faces:
            return max(faces, key=lambda f: f.box[2] * f.box[3]).face_id
        ids = self.face_ids()
        return ids[0] if ids else None
