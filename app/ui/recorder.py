"""Recording a live session: the CSV `emotion-lens annotate` writes, optionally the annotated video,
and beside the CSV the same record of the run as annotate's (`<csv>.run.json`, app/core/runs.py:
source, model and its card's accuracy, settings, start time, frame size, fps; at the end the
frames recorded and the neutral baselines, if any), which `emotion-lens report` reads.

Written from the inference thread (every processed frame, none skipped by the UI); started and
stopped from the UI thread. Plain Python, no Qt.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.render import draw_overlay
from app.core.results import CsvWriter, FrameResult
from app.core.runs import live_identity, now_iso, run_details, write_record
from app.core.sources import IMAGE_SUFFIXES, Frame
from app.core.video_writer import VideoWriter

if TYPE_CHECKING:
    from app.core.baseline import FaceCalibrator
    from app.core.pipeline import Pipeline


def session_paths(folder: Path, with_video: bool, now: datetime | None = None) -> tuple[Path, Path | None]:
    """`session_YYYYmmdd_HHMMSS_emotions.csv` (and `..._annotated.mp4`) in `folder`, not
    overwriting an earlier session."""
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    base = f"session_{stamp}"
    n = 1
    while (folder / f"{base}_emotions.csv").exists() or (folder / f"{base}_annotated.mp4").exists():
        n += 1
        base = f"session_{stamp}_{n}"
    return folder / f"{base}_emotions.csv", (folder / f"{base}_annotated.mp4" if with_video else None)


def _source_kind(source: str) -> str:
    path = Path(source)
    if path.is_dir():
        return "folder"
    if path.is_file():
        return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    return "camera"


class Recorder:
    """`source` (a camera's name or a file's path), `pipeline` (the model, backend, detector and
    settings in use) and `calibrator` (the neutral baselines; the CSV then has `cal_<label>`
    columns, empty for faces without one) go into the record beside the CSV; without them it
    says they are unknown."""

    def __init__(self, csv_path: Path, labels: tuple[str, ...], video_path: Path | None = None,
                 fps: float | None = None, *, source: str | None = None,
                 pipeline: Pipeline | None = None, calibrator: FaceCalibrator | None = None):
        self.csv_path = Path(csv_path)
        self.video_path = Path(video_path) if video_path else None
        self.labels = labels
        self.fps = fps or 30.0
        self.frames = 0  # processed frames recorded (CSV)
        self.video_frames = 0  # frames in the video, repeats included
        self._t0: float | None = None
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._csv: CsvWriter | None = CsvWriter(self.csv_path, labels,
                                                calibrated=calibrator is not None)
        self._video: VideoWriter | None = None
        self._closed = False
        self.calibrator = calibrator
        classifier = pipeline.classifier if pipeline is not None else None
        settings = pipeline.settings if pipeline is not None else None
        self._identity = live_identity(source or "unknown", settings, classifier)
        self._run: dict[str, Any] = run_details(
            "record", source or "unknown", _source_kind(source) if source else "unknown",
            classifier=classifier, settings=settings,
            detector=pipeline.detector.name if pipeline is not None else None, labels=labels,
            fps=fps)
        self._write_record()

    def _write_record(self) -> None:
        outputs = [self.csv_path, *([self.video_path] if self.video_path is not None else [])]
        if self.calibrator is not None:
            self._run["baseline"] = self.calibrator.to_dict()
        write_record(self.csv_path, self._identity, outputs, run=self._run)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def write(self, frame: Frame, result: FrameResult) -> None:
        """Append one processed frame (raises EmotionLensError/OSError when the disk says no)."""
        with self._lock:
            if self._closed or self._csv is None:
                return
            self._csv.write(result)
            if self.video_path is not None:
                if self._video is None:
                    h, w = frame.image.shape[:2]
                    self._video = VideoWriter(self.video_path, self.fps, (w, h))
                    self._t0 = frame.time_s
                    # the video is constant-rate from this frame: its time t is source time t0 + t
                    self._run["video_start_s"] = round(frame.time_s, 3)
                    self._run["video_fps"] = self.fps
                annotated = draw_overlay(frame.image.copy(), result, self.labels)
                for _ in range(self._repeats(frame.time_s)):
                    self._video.write(annotated)
                    self.video_frames += 1
            self.frames += 1
            self._run["last_frame"] = result.index
            if self.frames == 1:  # the record learns the frame size and where the session starts
                h, w = frame.image.shape[:2]
                self._run["source"]["frame_size"] = [w, h]
                self._run["first_frame"] = result.index
                self._run["first_frame_time_s"] = round(frame.time_s, 3)
                self._write_record()

    def _repeats(self, time_s: float) -> int:
        """How often to write this frame so the video keeps real time when frames were dropped
        (at most one second's worth: a gap from a lost camera is not filled)."""
        assert self._t0 is not None
        due = int((time_s - self._t0) * self.fps) + 1 - self.video_frames
        return max(1, min(due, round(self.fps)))

    def close(self) -> list[Path]:
        """Finish the files; returns what was written. Safe to call twice."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            written = [self.csv_path]
            try:
                if self._csv is not None:
                    self._csv.close()
                self._run.update(finished=now_iso(), frames=self.frames,
                                 video_frames=self.video_frames)
                self._write_record()
            finally:
                self._csv = None
                if self._video is not None:
                    video, self._video = self._video, None
                    video.close()
                    written.append(video.path)
            return written
