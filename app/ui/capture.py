"""The capture thread: opens one source (camera, video, image or folder) and posts its frames to
the mailbox, newest frame wins, paced at the video's frame rate (a camera paces itself).

A plain daemon `threading.Thread`: a camera read stuck in a driver must never keep the app from
quitting. It reports through `LiveEvents`; `app.ui.controller.LiveController` owns it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.core import EmotionLensError
from app.core.sources import (
    Camera,
    CaptureOpener,
    Frame,
    FrameSource,
    VideoFile,
    open_source,
)
from app.ui.display_scale import DisplayScaler
from app.ui.events import LiveEvents, one_line
from app.ui.mailbox import FrameMailbox

log = logging.getLogger(__name__)


def truncated_message(video: VideoFile) -> str:
    """What to tell the user when a video stops decoding before the frame count it announced."""
    done = video.start_frame + video.frames_read
    return (f"{video.name} is truncated or damaged: it stopped decoding after {done} of its "
            f"{video.frame_count} frames")


@dataclass(frozen=True)
class SourceSpec:
    """What to open: a camera (index, wanted size, optional opener for tests) or a file/folder."""

    camera: int | None = None
    path: Path | None = None
    size: tuple[int, int] | None = None
    opener: CaptureOpener | None = None

    @property
    def is_camera(self) -> bool:
        return self.camera is not None

    @property
    def label(self) -> str:
        return f"camera {self.camera}" if self.camera is not None else str(self.path)


@dataclass(frozen=True)
class SourceInfo:
    name: str
    is_camera: bool
    fps: float | None
    frame_count: int | None
    size: tuple[int, int] | None


class CaptureThread(threading.Thread):
    """Opens one source and posts its frames to the mailbox until stopped or the source ends."""

    def __init__(self, spec: SourceSpec, mailbox: FrameMailbox, generation: int,
                 events: LiveEvents, *, pace: bool = True, lossless: bool = False,
                 loop: bool = False, reconnect_interval_s: float = 1.0, reconnecting: bool = False,
                 time_offset_s: float = 0.0, index_offset: int = 0,
                 display: DisplayScaler | None = None):
        super().__init__(name=f"capture-{generation}", daemon=True)
        self.spec = spec
        self.mailbox = mailbox
        self.generation = generation
        self.events = events
        self.pace = pace
        self.lossless = lossless
        self.loop = loop
        self.reconnect_interval_s = reconnect_interval_s
        self.reconnecting = reconnecting  # a replacement for a stalled camera: retry the open
        self.stop_event = threading.Event()
        self.paused = threading.Event()
        self.abandoned = False  # a stalled read that returns late must not post anything
        self.last_frame_t = time.monotonic()
        self.last_time_s = time_offset_s
        self.last_index = index_offset - 1
        self._time_offset = time_offset_s
        self._index_offset = index_offset
        self.source: FrameSource | None = None
        self.info: SourceInfo | None = None
        self.lost = False
        self.display = display  # makes each posted frame's display copy while it is processed

    # -- control (any thread) --
    def stop(self) -> None:
        self.stop_event.set()

    def abandon(self) -> None:
        self.abandoned = True
        self.stop_event.set()

    @property
    def active(self) -> bool:
        return not self.stop_event.is_set() and not self.abandoned

    # -- thread body --
    def _open(self) -> FrameSource:
        spec = self.spec
        if spec.camera is not None:
            w, h = spec.size or (None, None)
            return Camera(spec.camera, width=w, height=h, opener=spec.opener)
        assert spec.path is not None
        return open_source(spec.path)

    def run(self) -> None:
        try:
            source = self._open_with_retry() if self.reconnecting else self._open()
        except EmotionLensError as exc:
            self.events.sourceFailed.emit(self.generation, one_line(exc))
            return
        except Exception as exc:  # a driver or decoder surprise: one line, never a crash
            log.exception("opening %s", self.spec.label)
            self.events.sourceFailed.emit(self.generation, f"cannot open {self.spec.label}: "
                                          f"{one_line(exc)}")
            return
        if source is None:
            return
        self.source = source
        try:
            if not self.active:
                return
            info = SourceInfo(source.name, self.spec.is_camera, source.fps, source.frame_count,
                              getattr(source, "size", None))
            self.info = info
            if not self.reconnecting:
                self.events.sourceOpened.emit(self.generation)
            self.last_frame_t = time.monotonic()
            if isinstance(source, Camera):
                self._run_camera(source)
            else:
                self._run_file(source)
        except Exception as exc:
            log.exception("reading %s", self.spec.label)
            if self.active:
                self.events.sourceFailed.emit(self.generation, f"reading {self.spec.label} failed: "
                                              f"{one_line(exc)}")
        finally:
            try:
                (self.source or source).close()
            except Exception:
                log.debug("closing %s", self.spec.label, exc_info=True)

    def _open_with_retry(self) -> FrameSource | None:
        while self.active:
            try:
                return self._open()
            except Exception as exc:
                log.info("reconnecting %s: %s", self.spec.label, one_line(exc))
            if self.stop_event.wait(self.reconnect_interval_s):
                return None
        return None

    def _post(self, frame: Frame) -> bool:
        if self.abandoned:
            return False
        self.last_frame_t = time.monotonic()
        frame.read_at = time.perf_counter()
        self.last_time_s = frame.time_s
        self.last_index = frame.index
        if self.lossless:
            posted = self.mailbox.put_wait(frame, self.generation, self.stop_event)
        else:
            posted = self.mailbox.put(frame, self.generation)
        if posted and self.display is not None:
            self.display.prepare(frame.image)  # in parallel with its inference
        return posted

    def _run_camera(self, cam: Camera) -> None:
        while self.active:
            frame = cam.read()
            if not self.active:
                return
            if frame is None:
                self.lost = True
                self.events.cameraLost.emit(self.generation)
                if not self._reconnect(cam):
                    return
                self.lost = False
                self.reconnecting = True
                continue
            self.last_frame_t = time.monotonic()
            if self.reconnecting:  # back only once it delivers again
                self.reconnecting = False
                self.events.cameraBack.emit(self.generation)
            if self.paused.is_set():
                continue  # keep the driver's buffer fresh; show nothing new
            frame.time_s += self._time_offset
            frame.index += self._index_offset
            self._post(frame)

    def _reconnect(self, cam: Camera) -> bool:
        while not self.stop_event.wait(self.reconnect_interval_s):
            try:
                if cam.reopen():
                    self.last_frame_t = time.monotonic()
                    return True
            except Exception as exc:
                log.info("camera reopen failed: %s", one_line(exc))
        return False

    def _run_file(self, source: FrameSource) -> None:
        offset_s, offset_i = 0.0, 0
        warned = False
        while True:
            base: float | None = None
            last_t = 0.0
            count = 0
            for frame in source:
                if not self.active:
                    return
                while self.paused.is_set() and self.active:
                    self.stop_event.wait(0.05)
                    base = None  # resume where it paused, not in a hurry to catch up
                if not self.active:
                    return
                frame.time_s += offset_s
                frame.index += offset_i
                last_t = frame.time_s
                count += 1
                if self.pace:
                    base = self._pace(frame.time_s if source.fps else count - 1.0, base)
                    if base is None:
                        return
                self._post(frame)
            if isinstance(source, VideoFile) and source.stopped_early and not warned:
                warned = True  # once, not on every loop
                self.events.sourceWarning.emit(self.generation, truncated_message(source))
            more = self.loop and self.active and isinstance(source, VideoFile) and count > 1
            if not more:
                break
            dt = 1.0 / source.fps if source.fps else 1.0 / 30.0
            offset_s, offset_i = last_t + dt, offset_i + count
            source.close()
            source = VideoFile(source.path)
            self.source = source
        if self.active:
            self.mailbox.end(self.generation)
            self.events.sourceEnded.emit(self.generation)

    def _pace(self, t: float, base: float | None) -> float | None:
        """Wait until media time `t` is due on the wall clock; returns the clock base, None when
        stopped. Falling behind re-bases instead of bursting to catch up."""
        now = time.monotonic()
        if base is None:
            return now - t
        delay = base + t - now
        if delay > 0:
            if self.stop_event.wait(delay):
                return None
            return base
        return now - t if delay < -0.25 else base
