"""The per-item task of a corpus: one item annotated by `app.core.annotate.annotate`, its outcome
as plain data. The same function runs in this process, in a pool worker and in a Ray task; each
worker keeps one pipeline (the model loaded once) for all the items it is given.

An item that fails (a file that does not decode, a full disk, any error) is an outcome with a
one-line message, never an exception: a bad file never stops the batch. A run interrupted (Ctrl-C,
or the driver's stop) finishes its outputs where it stopped, like `annotate`, and a later run
resumes them (`annotate(resume=True)`: the rows on disk are kept, none is written twice).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.core import EmotionLensError
from app.core.annotate import AnnotateOutputs, annotate, check_outputs, need_bytes
from app.core.pipeline import Pipeline
from app.core.settings import PipelineSettings

DONE, FAILED, SKIPPED, INTERRUPTED = "done", "failed", "skipped", "interrupted"
REPORT_EVERY_S = 0.25  # how often a worker reports frames done


@dataclass(frozen=True)
class Task:
    """What a worker needs for one item (paths as strings: the same on every machine)."""

    key: str
    source: str
    csv: str
    media: str | None
    overwrite: bool = False
    frames: int | None = None  # expected, for the disk-space check
    out_dir: str = ""  # empty parent folders up to here are removed again when the item fails
    baseline: tuple[float, float] | None = None  # seconds of this item in which faces are neutral


@dataclass
class Outcome:
    key: str
    status: str  # DONE, FAILED or INTERRUPTED (SKIPPED is decided before any task runs)
    message: str = ""
    frames: int = 0
    frames_with_faces: int = 0
    faces: int = 0  # face IDs
    face_rows: int = 0  # one per face per frame
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


class FrameCounter:
    """A progress callback for `annotate` that hands frame counts to `report` at most every
    `REPORT_EVERY_S` (and the rest on `flush`), and tells `annotate` to stop when `stop` says so
    (asked at the same pace: it may be a call to another process)."""

    def __init__(self, report: Callable[[int], None] | None, stop: Callable[[], bool] | None):
        self._report, self._stop = report, stop
        self._done, self._sent = 0, 0
        self._next = time.monotonic() + REPORT_EVERY_S
        self.stopped = False

    def __call__(self, done: int, _total: int | None) -> None:
        self._done = done
        if time.monotonic() >= self._next:
            self.flush()
            self._next = time.monotonic() + REPORT_EVERY_S

    def flush(self) -> None:
        if self._report is not None and self._done > self._sent:
            self._report(self._done - self._sent)
            self._sent = self._done
        if self._stop is not None and not self.stopped:
            self.stopped = bool(self._stop())

    def cancelled(self) -> bool:
        return self.stopped


def one_line(exc: BaseException) -> str:
    if isinstance(exc, EmotionLensError):
        # annotate's advice names its own options; in a batch, --overwrite starts an item again
        return str(exc).replace("without --resume (and with --overwrite)", "with --overwrite")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}; what was written before is kept"
    return f"unexpected {type(exc).__name__}: {exc}"


def _remove_empty_parents(path: Path, top: str) -> None:
    """Remove the folders made for a failed item's outputs, up to (not including) `top`."""
    if not top:
        return
    stop = Path(top)
    folder = path.parent
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def run_task(task: Task, pipeline: Pipeline, report: Callable[[int], None] | None = None,
             stop: Callable[[], bool] | None = None) -> Outcome:
    """Annotate one item into its outputs (resuming its partial outputs unless `overwrite`);
    frame counts go to `report` as they are done, and `stop` ends the item early."""
    started = time.monotonic()
    counter = FrameCounter(report, stop)
    counter.flush()
    if counter.stopped:
        return Outcome(task.key, INTERRUPTED, "stopped before it started")
    source, csv = Path(task.source), Path(task.csv)
    outputs = AnnotateOutputs(video=Path(task.media) if task.media else None, csv=csv)
    made = not csv.parent.exists()
    try:
        csv.parent.mkdir(parents=True, exist_ok=True)
        resume = not task.overwrite
        check_outputs(source, outputs, task.overwrite, resume=resume,
                      need_bytes=need_bytes(source, outputs, task.frames))
        try:
            report_ = annotate(source, outputs, pipeline, progress=counter,
                               cancelled=counter.cancelled, resume=resume, overwrite=task.overwrite,
                               baseline=task.baseline)
        except KeyboardInterrupt:  # Ctrl-C in this process: annotate finished the outputs
            counter.flush()
            return Outcome(task.key, INTERRUPTED, "interrupted; run the same command again to resume",
                           seconds=time.monotonic() - started)
    except Exception as exc:  # a bad file never stops the batch: it is this item's outcome
        counter.flush()
        if made:
            _remove_empty_parents(csv, task.out_dir)
        return Outcome(task.key, FAILED, one_line(exc), seconds=time.monotonic() - started)
    counter.flush()
    summary = report_.summary
    outcome = Outcome(task.key, DONE, "", report_.frames, report_.frames_with_faces,
                      len(summary.get("faces", {})), int(summary.get("face_rows", 0)),
                      time.monotonic() - started)
    if report_.cancelled:
        outcome.status = INTERRUPTED
        outcome.message = (f"interrupted after {report_.frames} frames; run the same command again "
                           f"to resume")
    if report_.skipped:
        names = [p.name for p in report_.skipped]
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        outcome.warnings.append(f"{len(names)} file(s) are not readable images: "
                                f"{', '.join(names[:5])}{more}")
    if report_.stopped_early:
        outcome.warnings.append(f"stopped decoding after frame {report_.frames - 1} of "
                                f"{report_.expected_frames} (truncated or damaged)")
    if outcome.status == DONE and outcome.warnings:
        outcome.message = "; ".join(outcome.warnings)
    return outcome


# --- one pipeline per worker process --------------------------------------------------------------

_PIPELINE: tuple[tuple[object, ...], Pipeline] | None = None


def worker_pipeline(settings: PipelineSettings, model: str | None) -> Pipeline:
    """This process's pipeline for `settings` and the bundle at `model` (None: models/default),
    made on first use and kept for every later item."""
    global _PIPELINE
    key = (settings, model)
    if _PIPELINE is None or _PIPELINE[0] != key:
        if _PIPELINE is not None:
            with contextlib.suppress(Exception):
                _PIPELINE[1].close()
        _PIPELINE = (key, Pipeline(settings, model=model))
    return _PIPELINE[1]


def cpu_count() -> int:
    """The CPUs this process may use (its affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


__all__ = ["DONE", "FAILED", "INTERRUPTED", "SKIPPED", "Outcome", "Task", "cpu_count", "one_line",
           "run_task", "worker_pipeline"]
