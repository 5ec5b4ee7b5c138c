"""Live calibration ("this face is neutral now") for the inference thread: `LiveCalibration` runs
the UI's requests on `app.core.baseline.FaceCalibrator`, fills each result's calibrated values,
and says when a face's baseline is done or failed. Plain Python, no Qt.

The UI thread only queues requests (`request`, `clear`); the inference thread applies them
before each frame (`apply`), so the calibrator is used from that one thread. Its record
(`to_dict`, which the recorder writes from other threads) goes through a lock.

Besides what the core checks (at least `min_frames` frames in the window), a face counts as
lost, and fails, when it is out of the picture for `lost_after_s` while its baseline is being
measured, and every measurement fails when the source ends first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

from app.core.baseline import LIVE_SECONDS, FaceCalibrator
from app.core.results import FrameResult

LOST_AFTER_S = 1.0  # out of the picture this long while measured: lost (the tracker's timeout)


@dataclass(frozen=True)
class FaceState:
    """What the overlay shows of one face's calibration: "collecting" (with `progress` 0..1) or
    "calibrated"."""

    state: str
    progress: float | None = None


@dataclass(frozen=True)
class Outcome:
    """A measurement that ended: the face, whether it has its new baseline, and one line on it."""

    face_id: int
    ok: bool
    message: str


class LockedCalibrator(FaceCalibrator):
    """A `FaceCalibrator` whose record (`to_dict`) can be read from any thread while the
    inference thread uses it: both go through `lock`."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lock = threading.RLock()

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return super().to_dict()


@dataclass
class _Watch:
    """A measurement the UI asked for: its length, and when its face was last seen."""

    seconds: float
    last_seen_s: float | None = None
    had_baseline: bool = False


@dataclass
class LiveCalibration:
    """The UI's live calibration of one source's faces (see the module docstring). `calibrator`
    is None when no model is loaded or the model cannot be calibrated (`unavailable` says why)."""

    seconds: float = LIVE_SECONDS
    lost_after_s: float = LOST_AFTER_S
    calibrator: LockedCalibrator | None = None
    unavailable: str = "the model is not loaded yet"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pending: list[tuple[str, int | None, float]] = field(default_factory=list, repr=False)
    _watch: dict[int, _Watch] = field(default_factory=dict, repr=False)
    _known: set[int] = field(default_factory=set, repr=False)  # faces calibrated or collecting

    # -- UI thread --
    def request(self, face_id: int, seconds: float | None = None) -> None:
        """Take `face_id`'s next `seconds` (default `self.seconds`) as its neutral baseline."""
        with self._lock:
            self._pending.append(("start", face_id, seconds or self.seconds))
            self._known.add(face_id)

    def clear(self, face_id: int | None = None) -> None:
        """Drop `face_id`'s baseline and any measurement of it (None: every face's)."""
        with self._lock:
            self._pending.append(("clear", face_id, 0.0))
            if face_id is None:
                self._known.clear()
            else:
                self._known.discard(face_id)

    @property
    def active(self) -> bool:
        """Whether some face is calibrated, being measured or asked to be (as the UI last knew)."""
        with self._lock:
            return bool(self._known)

    @property
    def has_pending(self) -> bool:
        with self._lock:
            return bool(self._pending)

    # -- inference thread --
    def set_calibrator(self, calibrator: LockedCalibrator | None, unavailable: str = "",
                       ) -> list[Outcome]:
        """A new model (or none): face IDs start over, so every baseline and request goes;
        returns the measurements (asked for or running) that this ends."""
        with self._lock:
            ended = sorted({fid for what, fid, _ in self._pending if what == "start" and fid is not None}
                           | set(self._watch))
            self.calibrator = calibrator
            self.unavailable = unavailable
            self._pending.clear()
            self._watch.clear()
            self._known.clear()
        return [Outcome(fid, False, f"face #{fid} not calibrated: the model was reloaded (face IDs "
                                    f"start over)") for fid in ended]

    def reset(self) -> None:
        """A new source: face IDs start over."""
        with self._lock:
            self._pending.clear()
            self._watch.clear()
            self._known.clear()
        if self.calibrator is not None:
            with self.calibrator.lock:
                self.calibrator.reset()

    def run_requests(self, source_done: bool) -> list[Outcome]:
        """Carry out the UI's requests (a start fails at once when the source has ended)."""
        with self._lock:
            pending, self._pending = self._pending, []
        cal = self.calibrator
        out: list[Outcome] = []
        for what, face_id, seconds in pending:
            if cal is None:
                if what == "start" and face_id is not None:
                    out.append(self._fail(face_id, f"face #{face_id} cannot be calibrated: "
                                                   f"{self.unavailable}"))
                continue
            with cal.lock:
                if what == "clear":
                    if face_id is None:
                        cal.reset()
                        self._watch.clear()
                    else:
                        cal.forget(face_id)
                        self._watch.pop(face_id, None)
                    continue
                assert face_id is not None
                if source_done:
                    out.append(self._fail(face_id, f"face #{face_id} not calibrated: the source has "
                                                   f"ended (calibrating needs {seconds:g} s of it)"))
                    continue
                cal.start(face_id, seconds)
                self._watch[face_id] = _Watch(seconds, had_baseline=face_id in cal.baselines)
        return out

    def apply(self, result: FrameResult) -> list[Outcome]:
        """Run the UI's requests, then measure and calibrate the faces of `result` (in place;
        `FaceResult.calibrated`, `calibrated_smoothed`); returns the measurements that ended."""
        out = self.run_requests(False)
        cal = self.calibrator
        if cal is None:
            return out
        with cal.lock:
            if not cal.baselines and not self._watch:
                return out  # nothing to do: the usual case costs two checks a frame
            cal.apply(result)
            seen = {face.face_id for face in result.faces}
            for face_id, watch in list(self._watch.items()):
                if face_id in seen or watch.last_seen_s is None:  # the clock starts at once
                    watch.last_seen_s = result.time_s
                elif result.time_s - watch.last_seen_s > self.lost_after_s:
                    cal.cancel(face_id)
                    del self._watch[face_id]
                    out.append(self._fail(face_id, f"face #{face_id} not calibrated: it left the "
                                                   f"picture during the {watch.seconds:g} s"
                                                   + self._kept(watch)))
                    continue
                state = cal.state(face_id)
                if state == "collecting":
                    continue
                del self._watch[face_id]
                frames = cal.failed.get(face_id)
                if frames is not None:
                    out.append(self._fail(face_id, f"face #{face_id} not calibrated: only {frames} "
                                                   f"frame{'s' * (frames != 1)} of it in "
                                                   f"{watch.seconds:g} s" + self._kept(watch)))
                elif state == "calibrated":
                    b = cal.baselines[face_id]
                    out.append(Outcome(face_id, True, f"face #{face_id} calibrated: its neutral "
                                                      f"baseline is {b.frames} frames over "
                                                      f"{b.end_s - b.start_s:.1f} s"))
        return out

    @staticmethod
    def _kept(watch: _Watch) -> str:
        return " (it keeps its earlier baseline)" if watch.had_baseline else ""

    def _fail(self, face_id: int, message: str) -> Outcome:
        cal = self.calibrator
        if cal is None or face_id not in cal.baselines:
            with self._lock:
                self._known.discard(face_id)
        return Outcome(face_id, False, message)

    def end_of_source(self) -> list[Outcome]:
        """The source ended: the measurements still running fail."""
        out = self.run_requests(True)
        cal = self.calibrator
        if cal is None:
            return out
        with cal.lock:
            for face_id, watch in list(self._watch.items()):
                cal.cancel(face_id)
                del self._watch[face_id]
                out.append(self._fail(face_id, f"face #{face_id} not calibrated: the source ended "
                                               f"before {watch.seconds:g} s of it were seen"
                                               + self._kept(watch)))
        return out

    def refill(self, result: FrameResult, source_done: bool) -> tuple[FrameResult, list[Outcome]]:
        """A still picture (paused, or the source ended): run the requests and return a copy of
        `result` with the calibrated values as they are now (nothing measured from it again)."""
        out = self.run_requests(source_done)
        faces = []
        cal = self.calibrator
        for face in result.faces:
            corrected = cal.correct(face.face_id, face.probs) if cal is not None else None
            smoothed = cal.correct(face.face_id, face.smoothed) if cal is not None else None
            faces.append(replace(face, calibrated=corrected, calibrated_smoothed=smoothed))
        return replace(result, faces=faces), out

    def states(self, result: FrameResult) -> dict[int, FaceState]:
        """The calibration of each face of `result` that has one or is being measured."""
        cal = self.calibrator
        if cal is None:
            return {}
        with cal.lock:
            if not cal.baselines and not self._watch:
                return {}
            out: dict[int, FaceState] = {}
            for face in result.faces:
                fid = face.face_id
                if fid in self._watch:
                    out[fid] = FaceState("collecting", cal.progress(fid, result.time_s) or 0.0)
                elif fid in cal.baselines:
                    out[fid] = FaceState("calibrated")
            return out
