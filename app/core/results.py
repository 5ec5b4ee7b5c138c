"""Results as dataclasses, and the CSV / JSON writers shared by the CLI and the GUI recorder."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.core.atomic import replacing


@dataclass(slots=True)
class FaceResult:
    face_id: int
    box: tuple[float, float, float, float]
    score: float
    probs: np.ndarray  # raw per-frame probabilities, in the model's label order
    smoothed: np.ndarray  # temporally smoothed, for display
    keypoints: dict[str, tuple[float, float]] = field(default_factory=dict)
    # corrected by this face's neutral baseline (app.core.baseline.FaceCalibrator), when it has one
    calibrated: np.ndarray | None = None
    calibrated_smoothed: np.ndarray | None = None

    def label(self, labels: tuple[str, ...], smoothed: bool = False) -> str:
        p = self.smoothed if smoothed else self.probs
        return labels[int(np.argmax(p))]

    def shown(self, smoothed: bool = True) -> np.ndarray:
        """What to display: the calibrated probabilities when the face has a baseline, else the
        model's (smoothed or raw)."""
        cal = self.calibrated_smoothed if smoothed else self.calibrated
        if cal is not None:
            return cal
        return self.smoothed if smoothed else self.probs

    def confidence(self, smoothed: bool = False) -> float:
        return float(np.max(self.smoothed if smoothed else self.probs))


@dataclass(slots=True)
class FrameResult:
    index: int
    time_s: float
    faces: list[FaceResult]
    timings_ms: dict[str, float] = field(default_factory=dict)
    size: tuple[int, int] = (0, 0)  # width, height
    small_faces: int = 0  # faces found but smaller than min_face_px: left out of `faces`


class CsvWriter:
    """One row per face per frame: frame, time_s, face_id, x, y, w, h, <labels...>, label, then
    the smoothed probabilities as `smooth_<label>` columns, with `calibrated` the probabilities
    corrected by the face's neutral baseline as `cal_<label>` columns (empty for a face without
    one), and with `file_column` (folder inputs) the image's file name last. Each frame's rows
    go to the file in one piece as the frame is written, so a full disk leaves no partial row (a
    write that fails is taken back off the file), and they are flushed to disk (fsync) at least
    once a second."""

    def __init__(self, path: Path, labels: tuple[str, ...], append: bool = False,
                 flush_every_s: float = 1.0, file_column: bool = False, calibrated: bool = False):
        self.labels = labels
        self.path = Path(path)
        self.file_column = file_column
        self.calibrated = calibrated
        new = not (append and self.path.exists() and self.path.stat().st_size > 0)
        # unbuffered: nothing is held back in Python that a later flush could write half of
        self._file: IO[bytes] = open(  # noqa: SIM115 (a long-lived writer, closed by close())
            self.path, "ab" if append else "wb", buffering=0)
        self._whole = self._file.tell()  # bytes on disk that end with a whole row
        self._rows = io.StringIO(newline="")
        self._writer = csv.writer(self._rows)
        self._flush_every = flush_every_s
        self._last_flush = time.monotonic()
        if new:
            self._writer.writerow(self.header(labels, file_column, calibrated))
            self._put()

    @staticmethod
    def header(labels: tuple[str, ...], file_column: bool = False, calibrated: bool = False,
               ) -> list[str]:
        return ["frame", "time_s", "face_id", "x", "y", "w", "h", *labels, "label",
                *(f"smooth_{name}" for name in labels),
                *((f"cal_{name}" for name in labels) if calibrated else ()),
                *(["file"] if file_column else [])]

    def write(self, frame: FrameResult, file: str = "") -> None:
        """The rows of `frame`; `file` fills the file column."""
        extra = [file] if self.file_column else []
        for face in frame.faces:
            x, y, w, h = face.box
            self._writer.writerow([
                frame.index, f"{frame.time_s:.3f}", face.face_id,
                round(x), round(y), round(w), round(h),
                *(f"{p:.5f}" for p in face.probs), face.label(self.labels),
                *(f"{p:.5f}" for p in face.smoothed), *self._calibrated(face), *extra,
            ])
        self._put()
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every:
            self.flush()
            self._last_flush = now

    def _calibrated(self, face: FaceResult) -> list[str]:
        if not self.calibrated:
            return []
        if face.calibrated is None:
            return [""] * len(self.labels)
        return [f"{p:.5f}" for p in face.calibrated]

    def _put(self) -> None:
        """Write the rows made since the last call, all or none of them."""
        data = self._rows.getvalue().encode("utf-8")
        self._rows.seek(0)
        self._rows.truncate()
        if not data:
            return
        view = memoryview(data)
        try:
            while view:
                written = self._file.write(view)
                if not written:
                    raise OSError(errno.EIO, os.strerror(errno.EIO))
                view = view[written:]
        except OSError as exc:  # a full disk: take the part that made it back off the file
            with contextlib.suppress(OSError):
                os.ftruncate(self._file.fileno(), self._whole)
                self._file.seek(self._whole)
            raise OSError(exc.errno, exc.strerror, str(self.path)) from exc
        self._whole += len(data)

    def flush(self) -> None:
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            try:
                self.flush()
            finally:
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
        self.small_faces = 0  # faces found but smaller than min_face_px, summed over frames
        self.frames_with_only_small_faces = 0

    def add(self, frame: FrameResult) -> None:
        self.frames += 1
        n = len(frame.faces)
        self.faces_per_frame[n] += 1
        if n:
            self.frames_with_faces += 1
        self.small_faces += frame.small_faces
        if frame.small_faces and not n:
            self.frames_with_only_small_faces += 1
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
            "small_faces_skipped": self.small_faces,
            "frames_with_only_small_faces": self.frames_with_only_small_faces,
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
    """Write whole or not at all (`app.core.atomic.replacing`)."""
    with replacing(path) as f:
        f.write(json.dumps(data, indent=2) + "\n")
