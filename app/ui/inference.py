"""The inference thread: owns the `Pipeline` (built and used on this thread only), takes the
newest frame from the mailbox, runs detect → align → classify → track → calibrate (the faces
with a neutral baseline, `app/ui/calibration.py`), feeds the recorder, and leaves the result in a
one-slot box (`LatestBox`), waking the UI with a Qt signal only when the box was empty.

A plain daemon `threading.Thread`, reporting through `LiveEvents`;
`app.ui.controller.LiveController` owns it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.core import EmotionLensError
from app.core.pipeline import Pipeline
from app.core.results import FrameResult
from app.core.settings import PipelineSettings
from app.core.sources import Frame
from app.ui.calibration import FaceState, LiveCalibration, LockedCalibrator, Outcome
from app.ui.events import LiveEvents, one_line
from app.ui.mailbox import END, FrameMailbox, LatestBox
from app.ui.recorder import Recorder

log = logging.getLogger(__name__)


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
    calibration: dict[int, FaceState] = field(default_factory=dict)  # faces with a baseline or measured
    # perf_counter when the worker took the frame and posted this result (app/ui/latency.py);
    # 0.0 for a still picture's refresh, which is not a new frame
    picked_at: float = 0.0
    done_at: float = 0.0


@dataclass(frozen=True)
class PipelineInfo:
    model: str
    model_path: Path
    backend: str
    detector: str
    labels: tuple[str, ...]


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
        self.calibration = LiveCalibration()  # requests from the UI thread, applied here
        self._last_packet: Processed | None = None

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
            self._last_packet = None
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
                    self._report(self.calibration.end_of_source())
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
                self._process(self._last_frame, generation, again=True)  # a still picture shows the change
        if reset and self.pipeline is not None:
            self.pipeline.reset()
        if reset:
            self.calibration.reset()
        if (self._source_done or self.paused) and self.calibration.has_pending:
            self._refresh_still()

    def _refresh_still(self) -> None:
        """A calibration request on a still picture: show it on that picture at once."""
        packet = self._last_packet
        if packet is None or packet.generation != self.mailbox.generation:
            self._report(self.calibration.run_requests(self._source_done))
            return
        result, outcomes = self.calibration.refill(packet.result, self._source_done)
        self._report(outcomes)
        still = replace(packet, result=result, calibration=self.calibration.states(result),
                        picked_at=0.0, done_at=0.0)
        self._last_packet = still
        if self.latest.put(still):
            self.events.resultReady.emit()

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
            pipeline = Pipeline(settings, model=model, live=True)
        except Exception as exc:
            if not isinstance(exc, EmotionLensError):
                log.exception("building the pipeline")
            self.info = None
            self._report(self.calibration.set_calibrator(None, "no model is loaded"))
            self.events.pipelineFailed.emit(one_line(exc))
            return
        self.pipeline = pipeline
        bundle = pipeline.classifier.bundle
        try:
            self._report(self.calibration.set_calibrator(LockedCalibrator.for_bundle(bundle)))
        except EmotionLensError as exc:  # e.g. a model without a neutral label
            self._report(self.calibration.set_calibrator(None, one_line(exc)))
        self.info = PipelineInfo(bundle.name, bundle.path, pipeline.classifier.backend,
                                 pipeline.detector.name, pipeline.labels)
        self.events.pipelineReady.emit()

    def _process(self, frame: Frame, generation: int | None = None, again: bool = False) -> None:
        """`again`: the last frame processed once more (a model change on a still picture): no
        latency marks, it was read long ago."""
        picked_at = 0.0 if again else time.perf_counter()
        generation = self.mailbox.generation if generation is None else generation
        self._last_frame = frame
        pipeline = self.pipeline
        labels: tuple[str, ...] = ()
        calibration: dict[int, FaceState] = {}
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
            self._report(self.calibration.apply(result))  # before the recorder: cal_ columns
            calibration = self.calibration.states(result)
            self._record(frame, result)
        now = time.monotonic()
        self._times.append(now)
        while self._times and now - self._times[0] > 1.0:
            self._times.popleft()
        span = now - self._times[0] if len(self._times) > 1 else 0.0
        fps = (len(self._times) - 1) / span if span > 0 else 0.0
        self._seq += 1
        packet = Processed(frame, result, self._seq, generation, fps, self.mailbox.dropped, labels,
                           calibration, picked_at, 0.0 if again else time.perf_counter())
        self._last_packet = packet
        if self.latest.put(packet):
            self.events.resultReady.emit()
        if self.limit is not None and self._seq == self.limit:
            self.events.limitReached.emit()

    def _report(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            signal = self.events.calibrationDone if outcome.ok else self.events.calibrationFailed
            signal.emit(outcome.face_id, outcome.message)

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
