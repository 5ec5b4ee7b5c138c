"""Results as dataclasses, and the CSV / JSON writers shared by the CLI and the GUI recorder."""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np


@dataclass(slots=True)
class FaceResult:
    face_id: int
    box: tuple[float, float, float, float]
    score: float
    probs: np.ndarray  # raw per-frame probabilities, in the model's label order
    smoothed: np.ndarray  # temporally smoothed, for display
    keypoints: dict[str, tuple[float, float]] = field(default_factory=dict)

    def label(self, labels: tuple[str, ...], smoothed: bool = False) -> str:
        p = self.smoothed if smoothed else self.probs
        return labels[int(np.argmax(p))]

    def confidence(self, smoothed: bool = False) -> float:
        return float(np.max(self.smoothed if smoothed else self.probs))


@dataclass(slots=True)
class FrameResult:
    index: int
    time_s: float
    faces: list[FaceResult]
    timings_ms: dict[str, float] = field(default_factory=dict)
    size: tuple[int, int] = (0, 0)  # width, height


class CsvWriter:
    """One row per face per frame: frame, time_s, face_id, x, y, w, h, <labels...>, label, then
    the smoothed probabilities as `smooth_<label>` columns. Flushed at least once a second."""

    def __init__(self, path: Path, labels: tuple[str, ...], append: bool = False,
                 flush_every_s: float = 1.0):
        self.labels = labels
        self.path = Path(path)
        new = not (append and self.path.exists() and self.path.stat().st_size > 0)
        self._file: IO[str] = open(  # noqa: SIM115 (a long-lived writer, closed by close())
            self.path, "a" if append else "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._flush_every = flush_every_s
        self._last_flush = time.monotonic()
        if new:
            self._writer.writerow(self.header(labels))

    @staticmethod
    def header(labels: tuple[str, ...]) -> list[str]:
        return ["frame", "time_s", "face_id", "x", "y", "w", "h", *labels, "label",
                *(f"smooth_{name}" for name in labels)]

    def write(self, frame: FrameResult) -> None:
        for face in frame.faces:
            x, y, w, h = face.box
            self._writer.writerow([
                frame.index, f"{frame.time_s:.3f}", face.face_id,
                round(x), round(y), round(w), round(h),
                *(f"{p:.5f}" for p in face.probs), face.label(self.labels),
                *(f"{p:.5f}" for p in face.smoothed),
            ])
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()


class SummaryBuilder:
    """Accumulates what the JSON summary reports: frame counts (with and without faces), faces per
    frame, label shares, mean probabilities, and per-face-ID statistics."""

    def __init__(self, labels: tuple[str, ...]):
        self.labels = labels
        self.frames = 0
        self.frames_with_faces = 0
        self.face_rows = 0
        self.faces_per_frame: Counter[int] = Counter()
        self.label_counts: Counter[str] = Counter()
        self.prob_sum = np.zeros(len(labels), dtype=np.float64)
        self.ids: dict[int, dict[str, Any]] = {}

    def add(self, frame: FrameResult) -> None:
        self.frames += 1
        n = len(frame.faces)
        self.faces_per_frame[n] += 1
        if n:
            self.frames_with_faces += 1
        for face in frame.faces:
            self.face_rows += 1
            label = face.label(self.labels)
            self.label_counts[label] += 1
            self.prob_sum += face.probs
            entry = self.ids.setdefault(face.face_id, {"first_frame": frame.index, "frames": 0,
                                                       "labels": Counter()})
            entry["frames"] += 1
            entry["last_frame"] = frame.index
            entry["labels"][label] += 1

    def to_dict(self, **extra: Any) -> dict[str, Any]:
        rows = max(self.face_rows, 1)
        return {
            **extra,
            "labels": list(self.labels),
            "frames": self.frames,
            "frames_with_faces": self.frames_with_faces,
            "frames_without_faces": self.frames - self.frames_with_faces,
            "face_rows": self.face_rows,
            "faces_per_frame": {str(k): v for k, v in sorted(self.faces_per_frame.items())},
            "label_share": {name: self.label_counts[name] / rows for name in self.labels},
            "mean_probabilities": dict(zip(self.labels, (self.prob_sum / rows).round(5).tolist(),
                                           strict=True)),
            "faces": {
                str(fid): {**{k: v for k, v in e.items() if k != "labels"},
                           "dominant": e["labels"].most_common(1)[0][0]}
                for fid, e in sorted(self.ids.items())
            },
        }


@dataclass
class ResumePoint:
    """Where an interrupted annotation continues: the frames already on disk, the first frame to
    redo (the last frame in the file, which may be incomplete) and the byte length to keep."""

    frames: dict[int, FrameResult]
    start_frame: int
    keep_bytes: int


def resume_point(path: Path, labels: tuple[str, ...]) -> ResumePoint:
    data = Path(path).read_bytes()
    lines = data.split(b"\n")[:-1]  # a last piece without newline is half a row: dropped
    if not lines:
        return ResumePoint({}, 0, 0)
    header = next(csv.reader([lines[0].decode("utf-8", errors="replace")]))
    n = len(labels)
    if header[: 7 + n] != CsvWriter.header(labels)[: 7 + n]:
        raise ValueError(f"{path} has other columns than this model's ({', '.join(labels)})")
    smooth_at = header.index(f"smooth_{labels[0]}") if f"smooth_{labels[0]}" in header else None
    frames: dict[int, FrameResult] = {}
    starts: dict[int, int] = {}  # byte offset where each frame's rows begin
    offset = len(lines[0]) + 1
    for raw in lines[1:]:
        line_start, offset = offset, offset + len(raw) + 1
        row = next(csv.reader([raw.decode("utf-8", errors="replace")]), [])
        if len(row) < 8 + n:
            continue
        idx = int(row[0])
        probs = np.array([float(v) for v in row[7 : 7 + n]], dtype=np.float32)
        smoothed = (np.array([float(v) for v in row[smooth_at : smooth_at + n]], dtype=np.float32)
                    if smooth_at is not None and len(row) >= smooth_at + n else probs.copy())
        box = (float(row[3]), float(row[4]), float(row[5]), float(row[6]))
        starts.setdefault(idx, line_start)
        frames.setdefault(idx, FrameResult(idx, float(row[1]), [])).faces.append(
            FaceResult(int(row[2]), box, 1.0, probs, smoothed))
    if not frames:
        return ResumePoint({}, 0, len(lines[0]) + 1)
    last = max(frames)
    keep = starts[last]
    del frames[last]
    return ResumePoint(frames, last, keep)


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = Path(path).with_suffix(Path(path).suffix + ".part")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
