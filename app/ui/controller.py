"""Live processing off the UI thread, and the UI's handle on it (`LiveController`).

    capture ──(FrameMailbox: newest frame wins)──▶ inference ──(LatestBox)──▶ UI thread

The capture thread opens the source and reads it (paced at the video's frame rate; a camera paces
itself). The inference thread owns the `Pipeline`: it takes the newest frame, runs
detect → align → classify → track, feeds the recorder, and leaves the result in a one-slot box,
waking the UI with a Qt signal only when the box was empty. Nothing queues anywhere, so a slow
model drops frames instead of lagging, and the UI thread only paints.

Both threads are plain daemon `threading.Thread`s: a camera read stuck in a driver must never keep
the app from quitting. `LiveController` (a QObject in the UI thread) owns them and turns what they
report into Qt signals. One module each: `app/ui/capture.py` (the capture thread),
`app/ui/inference.py` (the inference thread), `app/ui/events.py` (what they report), and this one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.core import EmotionLensError
from app.core.settings import PipelineSettings
from app.core.sources import CaptureOpener
from app.ui.capture import CaptureThread, SourceInfo, SourceSpec
from app.ui.display_scale import DisplayScaler
from app.ui.events import LiveEvents, one_line
from app.ui.inference import InferenceWorker, PipelineInfo, Processed
from app.ui.mailbox import FrameMailbox
from app.ui.recorder import Recorder

log = logging.getLogger(__name__)


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
    calibrationDone = Signal(int, str)
    calibrationFailed = Signal(int, str)

    def __init__(self, settings: PipelineSettings, model: Path | None, *, smoke: bool = False,
                 stall_timeout_s: float = 3.0, reconnect_interval_s: float = 1.0,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.smoke = smoke  # no pacing, no dropped frames
        self.stall_timeout_s = stall_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self.loop = False
        self.mailbox = FrameMailbox()
        self.display = DisplayScaler()  # frames resized for the video panel on the capture thread
        self.events = LiveEvents()
        self.capture: CaptureThread | None = None
        self.spec: SourceSpec | None = None
        self.source_info: SourceInfo | None = None
        self.camera_lost = False
        self.paused = False
        self.recorder: Recorder | None = None
        self.saved_csv: Path | None = None  # the CSV of the last recording finished
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
        ev.calibrationDone.connect(self.calibrationDone)
        ev.calibrationFailed.connect(self.calibrationFailed)
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
                               reconnect_interval_s=self.reconnect_interval_s, display=self.display,
                               **kw)  # type: ignore[arg-type]
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
        self.display.clear()  # the last frame's display copy (a 4K one is 33 MB)

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

    # -- calibration --
    def calibrate(self, face_id: int, seconds: float | None = None) -> None:
        """Take `face_id`'s next `seconds` (3 s) as its neutral baseline; `calibrationDone` or
        `calibrationFailed` says how it went."""
        self.worker.calibration.request(face_id, seconds)

    def clear_calibration(self, face_id: int | None = None) -> None:
        """Drop `face_id`'s baseline (None: every face's); the overlay shows raw values again."""
        self.worker.calibration.clear(face_id)

    @property
    def calibration_active(self) -> bool:
        return self.worker.calibration.active

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
        calibration = self.worker.calibration
        # cal_<label> columns whenever the model can be calibrated: a face calibrated after the
        # recording started fills them from its baseline on (they stay empty for the others)
        calibrator = calibration.calibrator
        recorder = Recorder(csv_path, info.labels, video_path, fps, source=self._source_name(),
                            pipeline=self.worker.pipeline, calibrator=calibrator)
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
            written = recorder.close()
            self.saved_csv = recorder.csv_path
            return written

        def finish() -> None:
            try:
                written = recorder.close()
            except Exception as exc:
                log.exception("finishing the recording")
                with contextlib.suppress(RuntimeError):
                    self.events.recordingError.emit(f"finishing the recording failed: "
                                                    f"{one_line(exc)}")
                return
            self.saved_csv = recorder.csv_path
            with contextlib.suppress(RuntimeError):  # the window may be gone by now
                self.events.recordingSaved.emit(", ".join(str(p) for p in written))

        threading.Thread(target=finish, name="recording-close", daemon=False).start()
        return []

    def _source_name(self) -> str | None:
        """What the record names as the source: a file's path, or the camera."""
        spec = self.spec
        if spec is None:
            return None
        return str(spec.path.resolve()) if spec.path is not None else spec.label

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
