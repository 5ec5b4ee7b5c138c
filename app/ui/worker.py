"""Live processing off the UI thread.

    capture ──(FrameMailbox: newest frame wins)──▶ inference ──(LatestBox)──▶ UI thread

The capture thread opens the source and reads it (paced at the video's frame rate; a camera paces
itself). The inference thread owns the `Pipeline`: it takes the newest frame, runs
detect → align → classify → track, feeds the recorder, and leaves the result in a one-slot box,
waking the UI with a Qt signal only when the box was empty. Nothing queues anywhere, so a slow
model drops frames instead of lagging, and the UI thread only paints.

Both threads are plain daemon `threading.Thread`s: a camera read stuck in a driver must never keep
the app from quitting. `LiveController` (a QObject in the UI thread) owns them and turns what they
report into Qt signals.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.core import EmotionLensError
from app.core.pipeline import Pipeline
from app.core.results import FrameResult
from app.core.settings import PipelineSettings
from app.core.sources import (
    Camera,
    CaptureOpener,
    Frame,
    FrameSource,
    VideoFile,
    open_source,
)
from app.ui.mailbox import END, FrameMailbox, LatestBox
from app.ui.recorder import Recorder

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, EmotionLensError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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


@dataclass
class Processed:
    """One processed frame, as the UI gets it."""

    frame: Frame
    result: FrameResult
    seq: int  # processed frames since the source opened
    generation: int
    fps: float  # processing rate over the last second
    dropped: int  # frames the worker never saw, since the source opened
    labels: tuple[str, ...] = field(default_factory=tuple)


class LiveEvents(QObject):
    """Signals the worker threads emit (delivered queued to the UI thread). They carry only ints
    and strings: Python objects ride in thread-safe attributes instead, as PySide6 can mis-count
    references of queued `object` arguments that are dropped at shutdown."""

    resultReady = Signal()
    sourceOpened = Signal(int)  # generation; the SourceInfo is CaptureThread.info
    sourceFailed = Signal(int, str)
    sourceEnded = Signal(int)  # the capture thread read the last frame
    sourceWarning = Signal(int, str)  # e.g. a truncated video: it plays as far as it decodes
    sourceDrained = Signal(int)  # ... and the worker has processed everything before it
    cameraLost = Signal(int)
    cameraBack = Signal(int)
    pipelineLoading = Signal(str)
    pipelineReady = Signal()  # InferenceWorker.info
    pipelineFailed = Signal(str)
    processingError = Signal(str)
    recordingError = Signal(str)
    recordingSaved = Signal(str)  # the files written, comma-separated
    limitReached = Signal()


@dataclass(frozen=True)
class PipelineInfo:
    model: str
    model_path: Path
    backend: str
    detector: str
    labels: tuple[str, ...]


class CaptureThread(threading.Thread):
    """Opens one source and posts its frames to the mailbox until stopped or the source ends."""

    def __init__(self, spec: SourceSpec, mailbox: FrameMailbox, generation: int,
                 events: LiveEvents, *, pace: bool = True, lossless: bool = False,
                 loop: bool = False, reconnect_interval_s: float = 1.0, reconnecting: bool = False,
                 time_offset_s: float = 0.0, index_offset: int = 0):
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
            return self.mailbox.put_wait(frame, self.generation, self.stop_event)
        return self.mailbox.put(frame, self.generation)

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


class InferenceWorker(threading.Thread):
    """Owns the Pipeline (built and used only on this thread) and processes the newest frame."""

    def __init__(self, mailbox: FrameMailbox, events: LiveEvents, settings: PipelineSettings,
                 model: Path | None):
        super().__init__(name="inference", daemon=True)
        self.mailbox = mailbox
        self.events = events
        self.latest: LatestBox[Processed] = LatestBox()
        self.stop_event = threading.Event()
        self.limit: int | None = None
        self.paused = False  # the picture stands still: show settings changes on it
        self.info: PipelineInfo | None = None
        self._lock = threading.Lock()
        self._pending: tuple[PipelineSettings, Path | None] | None = (settings, model)
        self._reset = False
        self._recorder: Recorder | None = None
        self._seq = 0
        self._times: deque[float] = deque()
        self._last_frame: Frame | None = None
        self._source_done = False
        self.pipeline: Pipeline | None = None
        self._model: Path | None = None

    # -- control (UI thread) --
    def configure(self, settings: PipelineSettings, model: Path | None) -> None:
        with self._lock:
            self._pending = (settings, model)

    def new_source(self) -> None:
        with self._lock:
            self._reset = True
            self._seq = 0
            self._times.clear()
            self._last_frame = None
            self._source_done = False

    def set_recorder(self, recorder: Recorder | None) -> Recorder | None:
        with self._lock:
            old, self._recorder = self._recorder, recorder
            return old

    def stop(self) -> None:
        self.stop_event.set()

    # -- thread body --
    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self._apply_pending()
                if self.limit is not None and self._seq >= self.limit:
                    self.stop_event.wait(0.05)  # smoke mode is done: leave the frames be
                    continue
                item = self.mailbox.take(0.1)
                if item is None:
                    continue
                if item is END:
                    self._source_done = True
                    self.events.sourceDrained.emit(self.mailbox.generation)
                    continue
                assert isinstance(item, Frame)
                self._process(item)
        finally:
            self._close_recorder()
            if self.pipeline is not None:
                self.pipeline.close()
                self.pipeline = None

    def _apply_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
            reset, self._reset = self._reset, False
            generation = self.mailbox.generation
        if pending is not None and not self._retune(*pending):
            self._build(*pending)
            if (self._source_done or self.paused) and self._last_frame is not None:
                self._process(self._last_frame, generation)  # a still picture shows the change
        if reset and self.pipeline is not None:
            self.pipeline.reset()

    def _retune(self, settings: PipelineSettings, model: Path | None) -> bool:
        """Apply a smoothing-only change in place (no reload, no pause in the picture)."""
        pipeline = self.pipeline
        if pipeline is None or self._model != model:
            return False
        if replace(pipeline.settings, smoothing_half_life_s=settings.smoothing_half_life_s) != settings:
            return False
        pipeline.settings = settings
        pipeline.smoother.half_life_s = max(0.0, settings.smoothing_half_life_s)
        return True

    def _build(self, settings: PipelineSettings, model: Path | None) -> None:
        self._model = model
        self.events.pipelineLoading.emit(f"loading model {model or 'models/default'}…")
        old, self.pipeline = self.pipeline, None
        if old is not None:
            old.close()
        try:
            pipeline = Pipeline(settings, model=model)
        except Exception as exc:
            if not isinstance(exc, EmotionLensError):
                log.exception("building the pipeline")
            self.info = None
            self.events.pipelineFailed.emit(one_line(exc))
            return
        self.pipeline = pipeline
        bundle = pipeline.classifier.bundle
        self.info = PipelineInfo(bundle.name, bundle.path, pipeline.classifier.backend,
                                 pipeline.detector.name, pipeline.labels)
        self.events.pipelineReady.emit()

    def _process(self, frame: Frame, generation: int | None = None) -> None:
        generation = self.mailbox.generation if generation is None else generation
        self._last_frame = frame
        pipeline = self.pipeline
        labels: tuple[str, ...] = ()
        if pipeline is None:  # no model: still show the picture
            h, w = frame.image.shape[:2]
            result = FrameResult(frame.index, frame.time_s, [], {}, (w, h))
        else:
            labels = pipeline.labels
            try:
                result = pipeline.process(frame)
            except Exception as exc:
                log.exception("processing frame %d", frame.index)
                self.events.processingError.emit(f"processing failed: {one_line(exc)}")
                return
            self._record(frame, result)
        now = time.monotonic()
        self._times.append(now)
        while self._times and now - self._times[0] > 1.0:
            self._times.popleft()
        span = now - self._times[0] if len(self._times) > 1 else 0.0
        fps = (len(self._times) - 1) / span if span > 0 else 0.0
        self._seq += 1
        packet = Processed(frame, result, self._seq, generation, fps, self.mailbox.dropped, labels)
        if self.latest.put(packet):
            self.events.resultReady.emit()
        if self.limit is not None and self._seq == self.limit:
            self.events.limitReached.emit()

    def _record(self, frame: Frame, result: FrameResult) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        try:
            recorder.write(frame, result)
        except Exception as exc:
            log.exception("recording")
            self._close_recorder()
            self.events.recordingError.emit(f"recording stopped: {one_line(exc)}")

    def _close_recorder(self) -> None:
        recorder = self.set_recorder(None)
        if recorder is not None:
            try:
                recorder.close()
            except Exception:
                log.exception("closing the recording")


class LiveController(QObject):
    """The UI's handle on live processing: open sources, pause, settings, recording, and camera
    fault handling (a read failure or a stall → "camera lost, reconnecting…" and periodic reopen
    attempts, the recording kept)."""

    resultReady = Signal()
    sourceOpened = Signal(object)  # SourceInfo
    sourceFailed = Signal(str)
    sourceEnded = Signal()
    sourceWarning = Signal(str)
    sourceDrained = Signal()
    cameraLost = Signal()
    cameraBack = Signal()
    pipelineLoading = Signal(str)
    pipelineReady = Signal(object)
    pipelineFailed = Signal(str)
    processingError = Signal(str)
    recordingError = Signal(str)
    recordingSaved = Signal(str)
    limitReached = Signal()

    def __init__(self, settings: PipelineSettings, model: Path | None, *, smoke: bool = False,
                 stall_timeout_s: float = 3.0, reconnect_interval_s: float = 1.0,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.smoke = smoke  # no pacing, no dropped frames
        self.stall_timeout_s = stall_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self.loop = False
        self.mailbox = FrameMailbox()
        self.events = LiveEvents()
        self.capture: CaptureThread | None = None
        self.spec: SourceSpec | None = None
        self.source_info: SourceInfo | None = None
        self.camera_lost = False
        self.paused = False
        self.recorder: Recorder | None = None
        self._abandoned: list[CaptureThread] = []
        ev = self.events
        ev.resultReady.connect(self.resultReady)
        ev.sourceOpened.connect(self._on_opened)
        ev.sourceFailed.connect(self._on_failed)
        ev.sourceEnded.connect(self._on_ended)
        ev.sourceWarning.connect(self._on_warning)
        ev.sourceDrained.connect(self._on_drained)
        ev.cameraLost.connect(self._on_lost)
        ev.cameraBack.connect(self._on_back)
        ev.pipelineLoading.connect(self.pipelineLoading)
        ev.pipelineReady.connect(self._on_pipeline_ready)
        ev.pipelineFailed.connect(self.pipelineFailed)
        ev.processingError.connect(self.processingError)
        ev.recordingError.connect(self._on_recording_error)
        ev.recordingSaved.connect(self.recordingSaved)
        ev.limitReached.connect(self.limitReached)
        self.worker = InferenceWorker(self.mailbox, self.events, settings, model)
        self.worker.start()
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(250)
        self._watchdog.timeout.connect(self._check_stall)
        self._watchdog.start()

    # -- sources --
    def open(self, spec: SourceSpec) -> None:
        """Close the current source and open `spec` in a new capture thread (never blocks)."""
        self.stop_recording(wait=False)
        self._stop_capture()
        generation = self.mailbox.reset()
        self.worker.new_source()
        self.spec = spec
        self.source_info = None
        self.camera_lost = False
        self.capture = self._make_capture(spec, generation)
        self.capture.start()

    def _make_capture(self, spec: SourceSpec, generation: int, **kw: object) -> CaptureThread:
        thread = CaptureThread(spec, self.mailbox, generation, self.events, pace=not self.smoke,
                               lossless=self.smoke, loop=self.loop and not self.smoke,
                               reconnect_interval_s=self.reconnect_interval_s, **kw)  # type: ignore[arg-type]
        if self.paused:
            thread.paused.set()
        return thread

    def open_camera(self, index: int, size: tuple[int, int] | None = None,
                    opener: CaptureOpener | None = None) -> None:
        self.open(SourceSpec(camera=index, size=size, opener=opener))

    def open_path(self, path: str | Path) -> None:
        self.open(SourceSpec(path=Path(path)))

    def close_source(self) -> None:
        self.stop_recording(wait=False)
        self._stop_capture()
        self.mailbox.reset()
        self.spec = None
        self.source_info = None

    def _stop_capture(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            self.capture.join(timeout=0.5)
            if self.capture.is_alive():  # stuck in a driver call: let it go, it posts nothing
                self.capture.abandon()
                self._abandoned.append(self.capture)
            self.capture = None

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.worker.paused = paused
        if self.capture is not None:
            if paused:
                self.capture.paused.set()
            else:
                self.capture.paused.clear()

    def set_loop(self, loop: bool) -> None:
        self.loop = loop
        if self.capture is not None:
            self.capture.loop = loop and not self.smoke

    def _current(self, generation: int) -> bool:
        return generation == self.mailbox.generation and self.capture is not None

    def _on_opened(self, generation: int) -> None:
        cap = self.capture
        if self._current(generation) and cap is not None and cap.info is not None:
            self.source_info = cap.info
            self.sourceOpened.emit(cap.info)

    def _on_pipeline_ready(self) -> None:
        if self.worker.info is not None:
            self.pipelineReady.emit(self.worker.info)

    def _on_failed(self, generation: int, message: str) -> None:
        if self._current(generation):
            self.capture = None
            self.sourceFailed.emit(message)

    def _on_ended(self, generation: int) -> None:
        if self._current(generation):
            self.sourceEnded.emit()

    def _on_warning(self, generation: int, message: str) -> None:
        if self._current(generation):
            self.sourceWarning.emit(message)

    def _on_drained(self, generation: int) -> None:
        if generation == self.mailbox.generation:
            self.sourceDrained.emit()

    def _on_lost(self, generation: int) -> None:
        if self._current(generation) and not self.camera_lost:
            self.camera_lost = True
            self.cameraLost.emit()

    def _on_back(self, generation: int) -> None:
        if self._current(generation) and self.camera_lost:
            self.camera_lost = False
            self.cameraBack.emit()

    def _check_stall(self) -> None:
        """A camera that stops delivering without failing its reads: give up on that read and
        reopen the camera in a fresh thread, keeping frame times and indices continuous."""
        cap, spec = self.capture, self.spec
        if cap is None or spec is None or not spec.is_camera or cap.paused.is_set():
            return
        if cap.lost or not cap.is_alive() or cap.source is None:  # reading fails, or still opening
            return
        if time.monotonic() - cap.last_frame_t < self.stall_timeout_s:
            return
        log.info("camera %s stalled; reconnecting", spec.camera)
        if not self.camera_lost:
            self.camera_lost = True
            self.cameraLost.emit()
        cap.abandon()
        self._abandoned.append(cap)
        self._abandoned = [t for t in self._abandoned if t.is_alive()]
        self.capture = self._make_capture(spec, cap.generation, reconnecting=True,
                                          time_offset_s=cap.last_time_s + 1e-3,
                                          index_offset=cap.last_index + 1)
        self.capture.start()

    # -- model and settings --
    def configure(self, settings: PipelineSettings, model: Path | None) -> None:
        self.worker.configure(settings, model)

    @property
    def pipeline_info(self) -> PipelineInfo | None:
        return self.worker.info

    def set_limit(self, frames: int | None) -> None:
        self.worker.limit = frames

    def take_latest(self) -> Processed | None:
        packet = self.worker.latest.take()
        if packet is not None and packet.generation != self.mailbox.generation:
            return None
        return packet

    # -- recording --
    def start_recording(self, csv_path: Path, video_path: Path | None = None) -> Recorder:
        info = self.worker.info
        if info is None:
            raise EmotionLensError("the model is not loaded yet; nothing to record")
        if self.spec is None:
            raise EmotionLensError("no source is open; nothing to record")
        self.stop_recording()
        fps = self.source_info.fps if self.source_info else None
        recorder = Recorder(csv_path, info.labels, video_path, fps)
        self.recorder = recorder
        self.worker.set_recorder(recorder)
        return recorder

    def stop_recording(self, wait: bool = True) -> list[Path]:
        """Stop recording. With `wait=False` the files are finished on a helper thread (the video
        encoder may take a moment to flush) and `recordingSaved` reports them."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return []
        self.worker.set_recorder(None)
        if wait:
            return recorder.close()

        def finish() -> None:
            try:
                written = recorder.close()
            except Exception as exc:
                log.exception("finishing the recording")
                with contextlib.suppress(RuntimeError):
                    self.events.recordingError.emit(f"finishing the recording failed: "
                                                    f"{one_line(exc)}")
                return
            with contextlib.suppress(RuntimeError):  # the window may be gone by now
                self.events.recordingSaved.emit(", ".join(str(p) for p in written))

        threading.Thread(target=finish, name="recording-close", daemon=False).start()
        return []

    def _on_recording_error(self, message: str) -> None:
        self.recorder = None
        self.recordingError.emit(message)

    def shutdown(self) -> None:
        self._watchdog.stop()
        try:
            self.stop_recording()
        except Exception:
            log.exception("closing the recording")
        self._stop_capture()
        self.worker.stop()
        self.worker.join(timeout=5.0)
