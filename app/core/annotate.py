"""Offline annotation of a video, image or image folder: annotated media, CSV and JSON.

Plain Python so the CLI and the GUI's annotation dialog share it: progress goes to a callback and a
cancel callback stops it, keeping everything written so far.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import cv2

from app import __version__
from app.core import EmotionLensError
from app.core.baseline import FaceCalibrator
from app.core.outputs import check_paths, lock_outputs
from app.core.pipeline import Detected, FramesAhead, Pipeline
from app.core.render import draw_overlay
from app.core.results import CsvWriter, FrameResult, SummaryBuilder, resume_point, write_json
from app.core.runs import (
    check_same_run,
    now_iso,
    resumable_outputs,
    run_details,
    run_identity,
    update_run,
    write_record,
)
from app.core.sources import IMAGE_SUFFIXES, Frame, ImageFile, ImageFolder, VideoFile, open_source
from app.core.video_writer import VideoWriter

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int | None], None]  # frames done, total (None if unknown)


@dataclass
class AnnotateOutputs:
    video: Path | None = None  # annotated MP4 (videos) or PNG (images)
    csv: Path | None = None
    json: Path | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.video, self.csv, self.json) if p is not None]


@dataclass
class AnnotateReport:
    frames: int
    frames_with_faces: int
    stopped_early: bool = False
    expected_frames: int | None = None
    cancelled: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: AnnotateOutputs = field(default_factory=AnnotateOutputs)
    skipped: list[Path] = field(default_factory=list)  # files of a folder that did not decode
    baseline: dict[str, Any] | None = None  # FaceCalibrator.to_dict() when a baseline was set


def default_outputs(source: Path, out_dir: Path = Path()) -> AnnotateOutputs:
    """Annotated media and CSV in `out_dir`, named after the input."""
    stem = source.stem if source.is_file() else source.name
    media_suffix = ".png" if source.suffix.lower() in IMAGE_SUFFIXES else ".mp4"
    if source.is_dir():
        return AnnotateOutputs(csv=out_dir / f"{stem}_emotions.csv")
    return AnnotateOutputs(video=out_dir / f"{stem}_annotated{media_suffix}",
                           csv=out_dir / f"{stem}_emotions.csv")


def check_outputs(source: Path, outputs: AnnotateOutputs, overwrite: bool,
                  need_bytes: int = 0, resume: bool = False) -> None:
    """Fail before any work when an output is the input (by file identity), a folder, or an
    existing file (without `overwrite`; with `resume`, the files of the run in the CSV may be
    rebuilt), or lands in a missing, unwritable or full folder (`app.core.outputs.check_paths`)."""
    replaceable = resumable_outputs(outputs.csv) if resume and outputs.csv is not None else []
    check_paths(source, outputs.paths(), overwrite, need_bytes, replaceable)


def need_bytes(source: Path, outputs: AnnotateOutputs, frames: int | None) -> int:
    """A rough need of disk space for `outputs` (checked by `check_outputs`): the annotated video
    about as big as the input, ~300 bytes per CSV row and twice that per JSON row (`frames`
    rows, 1000 when unknown)."""
    rows = frames or 1000
    return (source.stat().st_size if outputs.video and source.is_file() else 0) \
        + 300 * rows * ((outputs.csv is not None) + 2 * (outputs.json is not None))


def _row(frame: FrameResult, labels: tuple[str, ...], file: str | None = None,
         calibrated: bool = False) -> list[dict[str, Any]]:
    rows = []
    for face in frame.faces:
        x, y, w, h = face.box
        cal = ({f"cal_{name}": None if face.calibrated is None else round(float(face.calibrated[i]), 5)
                for i, name in enumerate(labels)} if calibrated else {})
        rows.append({"frame": frame.index, "time_s": round(frame.time_s, 3), "face_id": face.face_id,
                     "x": round(x), "y": round(y), "w": round(w), "h": round(h),
                     **{name: round(float(p), 5) for name, p in zip(labels, face.probs, strict=True)},
                     "label": face.label(labels), **cal,
                     **({"file": file} if file is not None else {})})
    return rows


@dataclass
class BaselinePass:
    """What the first pass of a calibrated annotation leaves: the baseline of each face seen in the
    range, and the result of every frame it processed (frames 0 to `last`), which the full run
    replays rather than computes again. The pipeline is left as after frame `last`."""

    calibrator: FaceCalibrator
    results: dict[int, FrameResult]

    @property
    def last(self) -> int:
        return max(self.results, default=-1)


def measure_baseline(source_path: Path, pipeline: Pipeline, start_s: float, end_s: float,
                     progress: ProgressFn | None = None) -> BaselinePass:
    """The first pass of a calibrated annotation: `source_path` from its start to `end_s`
    through a freshly reset `pipeline` (so that face IDs are those of the full run), each face
    seen from `start_s` to `end_s` measured as neutral. `progress(done, total)` after each frame."""
    calibrator = FaceCalibrator.for_bundle(pipeline.classifier.bundle)
    calibrator.collect_range(start_s, end_s)
    source = open_source(source_path)
    total = source.frame_count

    def in_range() -> Iterator[Frame]:
        for frame in source:  # not one frame past the range reaches the detector (it has state)
            if frame.time_s > end_s:
                return
            yield frame

    results: dict[int, FrameResult] = {}
    pipeline.reset()
    try:
        with pipeline.ahead(in_range()) as frames:
            for item in frames:
                result = pipeline.process(item)
                results[result.index] = calibrator.apply(result)
                if progress:
                    progress(len(results), total)
    except BaseException:
        pipeline.reset()
        raise
    finally:
        source.close()
    calibrator.finish_range()
    return BaselinePass(calibrator, results)


def _source_kind(source: object) -> str:
    return {ImageFolder: "folder", ImageFile: "image", VideoFile: "video"}.get(type(source), "video")


def annotate(source_path: Path, outputs: AnnotateOutputs, pipeline: Pipeline,
             progress: ProgressFn | None = None, cancelled: Callable[[], bool] | None = None,
             resume: bool = False, overwrite: bool = False,
             baseline: tuple[float, float] | None = None) -> AnnotateReport:
    """Run `pipeline` over every frame of `source_path` and write the requested outputs.

    The outputs are checked (`check_outputs`) and locked for the whole run: a second run writing
    any of them fails in one line. Existing files are replaced only with `overwrite`.

    With `resume`, an existing CSV from an interrupted run is kept if it holds the same run (its
    record beside it: input, options, model; else one line says what differs): frames it holds
    are replayed from it (not recomputed, no row written twice), tracking continues from its last
    frame, and the video and JSON are rebuilt whole. With no CSV there, the run starts fresh.

    With `baseline` (start, end in seconds of the source), a first pass over the source up to
    `end` measures the neutral baseline of each face seen in that range (`measure_baseline`);
    the run then starts over, and every row of those faces, from the first frame, gets their
    calibrated probabilities (`cal_<label>` columns in CSV and JSON, and on the overlay). A face
    not seen in the range has no baseline: its `cal_` cells are empty (null in the JSON) and the
    overlay shows its raw values. `report.baseline` says which faces were calibrated."""
    check_outputs(source_path, outputs, overwrite, resume=resume)  # clear messages, no lock files
    with lock_outputs(outputs.paths()):
        check_outputs(source_path, outputs, overwrite, resume=resume)  # another run may have won
        return _annotate(source_path, outputs, pipeline, progress, cancelled, resume, baseline)


def _annotate(source_path: Path, outputs: AnnotateOutputs, pipeline: Pipeline,
              progress: ProgressFn | None, cancelled: Callable[[], bool] | None,
              resume: bool, baseline: tuple[float, float] | None = None) -> AnnotateReport:
    identity = run_identity(source_path, pipeline.settings, pipeline.classifier, baseline)
    resuming = resume and outputs.csv is not None and outputs.csv.is_file()
    if resuming:
        assert outputs.csv is not None
        check_same_run(outputs.csv, identity)
    first = measure_baseline(source_path, pipeline, *baseline, progress=progress) \
        if baseline else None
    run = _Run(source_path, outputs, pipeline, first, progress)
    run.resume_from_csv(resuming)
    run.open_outputs(identity, resuming)
    return run.frames_through(cancelled)


class _Run:
    """One annotation run over an opened source, from `_annotate`'s checks to the finished
    outputs: where it starts (a resumed CSV), the outputs opened, every frame computed or
    replayed and written, and the outputs finished whatever happens."""

    def __init__(self, source_path: Path, outputs: AnnotateOutputs, pipeline: Pipeline,
                 first: BaselinePass | None, progress: ProgressFn | None):
        self.source_path, self.outputs, self.pipeline, self.progress = \
            source_path, outputs, pipeline, progress
        self.calibrator = first.calibrator if first is not None else None
        self.first = first
        self.source = open_source(source_path)
        self.labels = pipeline.labels
        self.summary = SummaryBuilder(self.labels)
        self.is_folder = isinstance(self.source, ImageFolder)
        self.start = 0  # the first frame to compute
        self.replay: dict[int, FrameResult] = {}  # the frames of the resumed CSV
        self.computed: dict[int, FrameResult] = {}  # frames of the baseline pass, replayed
        self.csv_writer: CsvWriter | None = None
        self.video: VideoWriter | None = None
        self.json_rows: list[dict[str, Any]] = []
        self.report = AnnotateReport(frames=0, frames_with_faces=0, outputs=outputs)

    def resume_from_csv(self, resuming: bool) -> None:
        """The frames a resumed CSV holds (replayed, its torn tail cut off), and the pipeline
        set to go on from the last frame done, by the CSV or by the baseline pass."""
        if resuming and self.outputs.csv:
            try:
                point = resume_point(self.outputs.csv, self.labels)
            except ValueError as exc:
                self.source.close()
                raise EmotionLensError(f"cannot resume: {exc}") from None
            self.start, self.replay = point.start_frame, point.frames
            with open(self.outputs.csv, "r+b") as f:
                f.truncate(point.keep_bytes)
        # frames the baseline pass computed are replayed, not computed again: the pipeline goes
        # on from its last one, exactly as one pass over the source would
        first = self.first
        self.computed = first.results if first is not None and self.start <= first.last + 1 else {}
        if not self.computed:
            self.pipeline.reset()
            if self.replay:
                last = self.replay[max(self.replay)]
                next_id = 1 + max(f.face_id for r in self.replay.values() for f in r.faces)
                self.pipeline.seed(last, next_id=next_id)

    def open_outputs(self, identity: dict[str, Any], resuming: bool) -> None:
        """The CSV (appended to when resuming) and the run's record beside it."""
        outputs, pipeline, source = self.outputs, self.pipeline, self.source
        if not outputs.csv:
            return
        self.csv_writer = CsvWriter(outputs.csv, self.labels, append=resuming,
                                    file_column=self.is_folder,
                                    calibrated=self.calibrator is not None)
        # after the CSV is (re)started: a record never vouches for another run's rows
        details = run_details("annotate", str(self.source_path.resolve()), _source_kind(source),
                              classifier=pipeline.classifier, settings=pipeline.settings,
                              detector=pipeline.detector.name, fps=source.fps,
                              frame_size=getattr(source, "size", None),
                              frame_count=source.frame_count)
        details["baseline"] = self.calibrator.to_dict() if self.calibrator is not None else None
        write_record(outputs.csv, identity, outputs.paths(), resumed=resuming, run=details)

    def _skip_done(self) -> None:
        """A resumed video with no video output to rebuild: the done frames are accounted for
        from the CSV, and decoding starts after them."""
        for index in range(self.start):
            done = self.replay.get(index) or FrameResult(index, 0.0, [])
            self.summary.add(done)
            if self.outputs.json:
                if self.calibrator is not None:
                    self.calibrator.apply(done)
                self.json_rows.extend(_row(done, self.labels, calibrated=self.calibrator is not None))
        self.source.seek(self.start)

    def _result(self, item: Frame | Detected, file: str | None) -> FrameResult:
        """The frame's result: replayed from the baseline pass or the resumed CSV, or computed;
        a computed or newly replayed one goes to the CSV."""
        frame = item if isinstance(item, Frame) else item.frame
        if isinstance(item, Frame) and frame.index >= self.start:  # computed by the baseline pass
            result = self.computed[frame.index]
            fresh = True
        elif isinstance(item, Frame):  # in the CSV of the run resumed
            result = self.replay.get(frame.index) or FrameResult(frame.index, frame.time_s, [])
            fresh = False
        else:
            result = self.pipeline.process(item)
            fresh = True
        if self.calibrator is not None:  # with the range closed: calibrated values
            self.calibrator.apply(result)
        if fresh and self.csv_writer:
            self.csv_writer.write(result, file or "")
        return result

    def _write_media(self, frame: Frame, result: FrameResult) -> None:
        if self.video is not None:
            self.video.write(draw_overlay(frame.image, result, self.labels, smoothed=True),
                             frame.time_s)
        elif self.outputs.video and isinstance(self.source, ImageFile):
            annotated = draw_overlay(frame.image.copy(), result, self.labels, smoothed=False)
            if not cv2.imwrite(str(self.outputs.video), annotated):
                raise EmotionLensError(f"cannot write image {self.outputs.video}")

    def frames_through(self, cancelled: Callable[[], bool] | None) -> AnnotateReport:
        """Every frame, computed or replayed, into the outputs; the outputs finished as far as
        they go whatever stops the run (a cancel, Ctrl-C, an error)."""
        source, outputs, report = self.source, self.outputs, self.report
        frames: FramesAhead | None = None
        finished = False
        ctrl_c = _CtrlC().start()
        try:
            is_video = isinstance(source, VideoFile)
            if is_video and outputs.video:
                self.video = VideoWriter(outputs.video, source.fps or 30.0, source.size,
                                         audio_from=self.source_path)
            total = source.frame_count
            if self.start and is_video and self.video is None:
                self._skip_done()
            # decoding and detection run ahead on their own threads; frames done are replayed
            start, computed = self.start, self.computed
            frames = self.pipeline.ahead(source, skip=lambda f: f.index < start or f.index in computed)
            for item in frames:
                if ctrl_c.pressed or (cancelled is not None and cancelled()):
                    report.cancelled = True
                    break
                frame = item if isinstance(item, Frame) else item.frame
                file = frame.file.name if self.is_folder and frame.file is not None else None
                result = self._result(item, file)
                self.summary.add(result)
                if outputs.json:
                    self.json_rows.extend(_row(result, self.labels, file,
                                               calibrated=self.calibrator is not None))
                self._write_media(frame, result)
                if self.progress and frame.index not in computed:  # the baseline pass counted those
                    self.progress(self.summary.frames, total)
            if is_video:
                report.stopped_early = source.stopped_early and not report.cancelled
                report.expected_frames = source.frame_count
            finished = True
        except KeyboardInterrupt:
            report.cancelled = True  # Ctrl-C: the outputs are finished as far as they go and say so
            raise
        finally:
            # every step runs even when one fails (the reading threads stop before the source
            # closes under them); a failure is raised only when no other error is on its way out
            failures = _run_all([frames.close if frames is not None else None, source.close,
                                 self.csv_writer.close if self.csv_writer else None,
                                 self.video.close if self.video is not None else None])
            failures += self._finish()
            ctrl_c.stop()
            if failures and finished:
                raise failures[0]
        if ctrl_c.pressed:
            raise KeyboardInterrupt  # after the outputs are finished: the CLI says "interrupted"
        return report

    def _finish(self) -> list[Exception]:
        """The report and summary, the run's record and the JSON: the errors, each step run."""
        report, calibrator, pipeline = self.report, self.calibrator, self.pipeline
        report.frames = self.summary.frames
        report.frames_with_faces = self.summary.frames_with_faces
        report.skipped = list(getattr(self.source, "skipped", []))
        report.summary = self.summary.to_dict(
            source=str(self.source_path), model=pipeline.classifier.bundle.name,
            backend=pipeline.classifier.backend, detector=pipeline.detector.name,
            min_face_px=pipeline.settings.min_face_px,
            emotion_lens_version=__version__, cancelled=report.cancelled,
            stopped_early=report.stopped_early, expected_frames=report.expected_frames,
            skipped_files=[str(p) for p in report.skipped],
            **({"baseline": calibrator.to_dict()} if calibrator is not None else {}),
        )
        report.baseline = calibrator.to_dict() if calibrator is not None else None
        failures: list[Exception] = []
        csv = self.outputs.csv
        if csv and csv.is_file():
            failures += _run_all([partial(
                update_run, csv, finished=now_iso(), frames=report.frames,
                frames_with_faces=report.frames_with_faces, cancelled=report.cancelled,
                stopped_early=report.stopped_early)])
        if self.outputs.json:
            failures += _run_all([partial(write_json, self.outputs.json,
                                          {"summary": report.summary, "rows": self.json_rows})])
        return failures


class _CtrlC:
    """Annotating in the main thread (the CLI), the first Ctrl-C stops the run after the frame
    it is on, so CSV, JSON and video end at the same frame, and `KeyboardInterrupt` is raised
    once they are finished; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def start(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._press)
            except ValueError:  # not the main interpreter
                self._previous = None
        return self

    def _press(self, _signum: int, _frame: FrameType | None) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def stop(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _run_all(steps: list[Callable[[], object] | None]) -> list[Exception]:
    """Run each step; the errors they raised, in order (each also goes to the log file)."""
    failures: list[Exception] = []
    for step in steps:
        if step is None:
            continue
        try:
            step()
        except Exception as exc:
            log.info("while finishing the outputs: %s: %s", type(exc).__name__, exc)
            failures.append(exc)
    return failures


__all__ = ["AnnotateOutputs", "AnnotateReport", "BaselinePass", "annotate", "check_outputs",
           "default_outputs", "measure_baseline", "need_bytes"]
