"""Recording a live session: the CSV `emotion-lens annotate` writes, optionally the annotated video.

Written from the inference thread (every processed frame, none skipped by the UI); started and
stopped from the UI thread. Plain Python, no Qt.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from app.core.render import draw_overlay
from app.core.results import CsvWriter, FrameResult
from app.core.sources import Frame
from app.core.video_writer import VideoWriter


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


class Recorder:
    def __init__(self, csv_path: Path, labels: tuple[str, ...], video_path: Path | None = None,
                 fps: float | None = None):
        self.csv_path = Path(csv_path)
        self.video_path = Path(video_path) if video_path else None
        self.labels = labels
        self.fps = fps or 30.0
        self.frames = 0  # processed frames recorded (CSV)
        self.video_frames = 0  # frames in the video, repeats included
        self._t0: float | None = None
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._csv: CsvWriter | None = CsvWriter(self.csv_path, labels)
        self._video: VideoWriter | None = None
        self._closed = False

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
                annotated = draw_overlay(frame.image.copy(), result, self.labels)
                for _ in range(self._repeats(frame.time_s)):
                    self._video.write(annotated)
                    self.video_frames += 1
            self.frames += 1

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
            finally:
                self._csv = None
                if self._video is not None:
                    video, self._video = self._video, None
                    video.close()
                    written.append(video.path)
            return written
