"""The one pipeline every front end uses: detect → align → classify (one batch) → track/smooth."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.core.align import align_face
from app.core.bundle import ModelBundle, load_bundle
from app.core.classify import Classifier
from app.core.detect import Detection, FaceDetector, create_detector
from app.core.prefetch import ReadAhead
from app.core.results import FaceResult, FrameResult
from app.core.settings import PipelineSettings
from app.core.sources import Frame
from app.core.track import Smoother, Tracker

STAGES = ("detect", "align", "classify", "track")


def halve(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, int]:
    """`image` reduced by exact 2× area halvings while it is at least twice `width`×`height`
    (an odd last row or column is dropped), and the factor it was reduced by (a power of 2).
    Each halving takes the fast path of INTER_AREA; one INTER_AREA resize to a fractional scale
    takes 4-20 ms on a 1-4 megapixel frame."""
    factor = 1
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        ih, iw = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
        image = cv2.resize(image[:ih, :iw], (iw // 2, ih // 2), interpolation=cv2.INTER_AREA)
        factor *= 2
    return image, factor


@dataclass(frozen=True, slots=True)
class Detected:
    """A frame with the faces found in it, ahead of the rest of the pipeline (`Pipeline.ahead`)."""

    frame: Frame
    detections: list[Detection]
    detect_ms: float
    started_s: float  # time.perf_counter() when its detection began
    small_faces: int = 0  # faces found but smaller than `min_face_px`, left out


def find_faces(detector: FaceDetector, image: np.ndarray,
               settings: PipelineSettings) -> tuple[list[Detection], int]:
    """The faces `detector` finds in `image` as the pipeline sees them: the frame reduced by exact
    halvings to about `detect_max_side` (unless the detector wants the full frame), boxes back in
    frame pixels, the `max_faces` best. Returns them and how many faces were found but left out
    as smaller than `min_face_px`."""
    # Only exact halvings here: every detector resamples its input once more itself (BlazeFace
    # warps the frame onto its 128/192-pixel input, the OpenCV one scans at most 400 pixels),
    # so a last fractional step to `detect_max_side` would be a second resize for nothing.
    small, factor = image, 1
    limit = 0 if getattr(detector, "wants_full_frame", False) else settings.detect_max_side
    if limit:
        h, w = image.shape[:2]
        small, factor = halve(image, max(1, w * limit // max(h, w)), max(1, h * limit // max(h, w)))
    dets = detector.detect(small)
    if factor != 1:
        dets = [d.scaled(factor) for d in dets]
    min_px = settings.min_face_px
    kept = [d for d in dets if min(d.box[2], d.box[3]) >= min_px]
    kept.sort(key=lambda d: -d.score)
    return kept[: settings.max_faces], len(dets) - len(kept)


class Pipeline:
    """Owns a detector, a classifier, a tracker and a smoother. Not thread-safe: one per thread.
    Close it (or use `with`) to release the detector."""

    def __init__(self, settings: PipelineSettings | None = None,
                 model: ModelBundle | str | Path | None = None,
                 detector: FaceDetector | None = None, live: bool = False):
        """`live`: frames come from the desktop window, where each frame's latency counts
        (`create_detector(live=True)`); files are processed on the exact schedule."""
        self.settings = settings or PipelineSettings()
        bundle = model if isinstance(model, ModelBundle) else load_bundle(model)
        self.classifier = Classifier(bundle, backend=self.settings.backend,
                                     num_threads=self.settings.threads)
        self.detector = detector or create_detector(self.settings.detector,
                                                    min_score=self.settings.min_face_score, live=live)
        self.tracker = Tracker(min_iou=self.settings.track_min_iou,
                               timeout_s=self.settings.track_timeout_s)
        self.smoother = Smoother(self.settings.smoothing_half_life_s)
        spec = bundle.input
        self._crop = spec.crop_for(self.detector.name)
        self._size, self._channels = spec.size, spec.channels
        self._batch = np.empty((0, spec.size, spec.size, spec.channels), dtype=np.uint8)
        self._last_dets: list[Detection] = []  # for settings.detect_every > 1
        self._since_detect = 0
        self.small_faces = 0  # in the latest detection: found, but under min_face_px

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The faces in `image` (see `find_faces`); `small_faces` then says how many more were
        found but left out as smaller than `min_face_px`."""
        dets, self.small_faces = find_faces(self.detector, image, self.settings)
        return dets

    def align(self, image: np.ndarray, dets: list[Detection]) -> np.ndarray:
        n = len(dets)
        if self._batch.shape[0] < n:
            self._batch = np.empty((n, self._size, self._size, self._channels), dtype=np.uint8)
        for i, det in enumerate(dets):
            self._batch[i] = align_face(image, det, self._crop, self._size, self._channels)
        return self._batch[:n]

    def _detect_or_reuse(self, image: np.ndarray) -> list[Detection]:
        """Detections for this frame: fresh, or with `detect_every` = k > 1 the last ones for up
        to k - 1 frames after a detection that found faces."""
        if self.settings.detect_every > 1 and self._last_dets \
                and self._since_detect < self.settings.detect_every - 1:
            self._since_detect += 1
            return self._last_dets
        self._last_dets = self.detect(image)
        self._since_detect = 0
        return self._last_dets

    def detect_frame(self, frame: Frame) -> Detected:
        """The first stage of `process` on its own (it may run on another thread than the rest:
        see `ahead`)."""
        t0 = time.perf_counter()
        dets = self._detect_or_reuse(frame.image)
        return Detected(frame, dets, (time.perf_counter() - t0) * 1e3, t0, self.small_faces)

    def ahead(self, frames: Iterable[Frame], skip: Callable[[Frame], bool] | None = None,
              depth: int = 2, detect_thread: bool = True) -> FramesAhead:
        """`frames` decoded on one thread (up to `depth` ahead) and, with `detect_thread`
        (default, as `annotate` runs), their faces detected on another, ahead of the caller, who
        hands each `Detected` to `process`: the stages overlap, with the same results as
        processing frame by frame. Without it the faces are detected on the caller's thread as it
        takes each frame (see `FramesAhead` for which is faster where). Frames for which `skip`
        is true come through undetected (as `Frame`). Close it (or use `with`) before closing the
        source; until then the detector belongs to the detecting thread (no `reset` meanwhile)."""
        return FramesAhead(self, frames, skip, depth, detect_thread)

    def process(self, frame: Frame | Detected) -> FrameResult:
        """Detect (unless `frame` comes from `detect_frame`), align, classify, track, smooth."""
        detected = frame if isinstance(frame, Detected) else self.detect_frame(frame)
        frame, dets = detected.frame, detected.detections
        t1 = time.perf_counter()
        crops = self.align(frame.image, dets)
        t2 = time.perf_counter()
        probs = self.classifier.predict(crops)
        t3 = time.perf_counter()
        tracks = self.tracker.update([d.box for d in dets], frame.time_s)
        faces = []
        for det, track, p in zip(dets, tracks, probs, strict=True):
            smoothed = self.smoother.update(track, p, frame.time_s)
            faces.append(FaceResult(track.face_id, det.box, det.score, p, smoothed.copy(),
                                    det.keypoints))
        self.smoother.forget({t.face_id for t in self.tracker.tracks})
        t4 = time.perf_counter()
        timings = {"detect": detected.detect_ms, "align": (t2 - t1) * 1e3,
                   "classify": (t3 - t2) * 1e3, "track": (t4 - t3) * 1e3}
        h, w = frame.image.shape[:2]
        return FrameResult(frame.index, frame.time_s, faces, timings, (w, h), detected.small_faces)

    def seed(self, last: FrameResult, next_id: int) -> None:
        """Continue tracking and smoothing from a saved frame (annotation `--resume`)."""
        self.reset()
        self.tracker.seed([(f.face_id, f.box, f.smoothed.copy()) for f in last.faces], last.time_s,
                          next_id)
        for face in last.faces:
            self.smoother.seed(face.face_id, last.time_s)

    def reset(self) -> None:
        """Forget tracks (a new source starts)."""
        self.tracker.reset()
        self._last_dets = []
        self._since_detect = 0
        self.small_faces = 0
        reset_detector = getattr(self.detector, "reset", None)
        if reset_detector is not None:  # a detector with a schedule (blazeface-auto) starts over
            reset_detector()
        self.smoother = Smoother(self.settings.smoothing_half_life_s)

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FramesAhead:
    """See `Pipeline.ahead`. While it runs, the pipeline's detector belongs to its thread.

    Which is faster depends on how much the caller does per frame. Measured on 2 vCPUs
    (2026-12-04, `emotion-lens bench`): one face a frame, 524 frames/s with the detecting thread
    and 560-591 without; four faces a frame, 428 with it and 307-330 without. `annotate` of the
    sample video looped 8×, CSV only: 618 with it and 562 without (medians of 3 alternating
    runs). So `annotate` and `bench` keep it (the benchmark notes in the README have more)."""

    def __init__(self, pipeline: Pipeline, frames: Iterable[Frame],
                 skip: Callable[[Frame], bool] | None, depth: int, detect_thread: bool = True):
        self._decoded = ReadAhead(frames, depth, name="decode-ahead")
        detected = self._detect(pipeline, self._decoded, skip)
        # one detected frame waiting is enough to keep the caller busy; more would only add latency
        self._detected: ReadAhead[Frame | Detected] | None = (
            ReadAhead(detected, 1, name="detect-ahead") if detect_thread else None)
        self._items: Iterator[Frame | Detected] = self._detected if self._detected is not None else detected

    @property
    def detect_thread(self) -> bool:
        """Detection runs on a thread of its own (else on the caller's)."""
        return self._detected is not None

    @staticmethod
    def _detect(pipeline: Pipeline, frames: Iterable[Frame],
                skip: Callable[[Frame], bool] | None) -> Iterator[Frame | Detected]:
        for frame in frames:
            yield frame if skip is not None and skip(frame) else pipeline.detect_frame(frame)

    @property
    def waited_s(self) -> float:
        """How long the caller waited for the latest frame (to be decoded, or detected on the
        detecting thread; detection on the caller's thread is not waiting)."""
        return (self._detected or self._decoded).waited_s

    def __iter__(self) -> Iterator[Frame | Detected]:
        return self

    def __next__(self) -> Frame | Detected:
        return next(self._items)

    def close(self) -> None:
        """Stop the threads and wait for them (each finishes the frame it is on)."""
        if self._detected is not None:
            self._detected.stop()
        self._decoded.close()  # the detecting thread, waiting for a frame, sees the stop
        if self._detected is not None:
            self._detected.close()

    def __enter__(self) -> FramesAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
