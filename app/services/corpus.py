"""`emotion-lens batch`: a corpus of videos and images annotated on this machine's cores or on a
Ray cluster, with a manifest and a summary table.

For each item (`corpus_items.plan`: names and layout) the per-item task (`corpus_task`) writes a
CSV with `annotate`'s columns, and with `video` the annotated MP4 (PNG for an image) beside it.
`DIR/manifest.csv` has one row per item: input, status (done, failed or skipped), a one-line
message, frames, frames with faces, faces (face IDs), face rows, seconds, and the outputs
(relative to DIR). It is rewritten whole (atomically) as items finish, and rows of inputs that
this run does not cover are kept. `DIR/summary.csv` holds, per item and face ID, the frames seen,
each label's share and the mean probabilities (`corpus_tables.summarize`).

Running the same command again skips each item that the manifest says is done, whose outputs are
all there and whose run record (`<csv>.run.json`) is still the same run: the same input (size
and modification time), options and model. Every other item runs with `annotate`'s resume: a
partial CSV keeps its rows and continues after them (none is written twice); an item whose CSV
holds another run fails in one line (`overwrite` starts every item again). Items that failed are
tried again. One batch at a time writes to a folder (a lock on the manifest).
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core import EmotionLensError
from app.core.atomic import replacing
from app.core.baseline import BaselineRanges
from app.core.bundle import ModelBundle, load_bundle
from app.core.classify import Classifier
from app.core.native import quiet_native_stderr
from app.core.outputs import input_files, lock_outputs
from app.core.runs import differences, read_record, run_identity
from app.core.settings import PipelineSettings
from app.services.corpus_items import Item, plan
from app.services.corpus_task import DONE, FAILED, INTERRUPTED, SKIPPED, Outcome, Task, cpu_count

MANIFEST, SUMMARY = "manifest.csv", "summary.csv"
MANIFEST_COLUMNS = ("input", "status", "message", "frames", "frames_with_faces", "faces", "face_rows",
                    "seconds", "csv", "video")
EARLIER = "done by an earlier run"
WRITE_EVERY_S = 1.0  # the manifest is rewritten at most this often while items finish (and at the end)
RAY_EXTRA = 'pip install "emotion-lens[cluster]"'
CORES_PER_WORKER = 1  # the rule measured by benchmarks/corpus_scaling.py (see split_cores)


def split_cores(cores: int, workers: int | None = None) -> tuple[int, int]:
    """Worker processes and classifier threads per worker for `cores` CPUs: by default a worker
    per core, with one classifier thread each. Measured on 2 cores (benchmarks/corpus_scaling.py,
    the README's table): in two interleaved runs two workers of one thread were 8-9 % faster
    than one worker (CSV only), and a second classifier thread gained nothing in either layout:
    a pipeline already overlaps decoding, detection and the rest on three threads of its own, so
    a second process fills the gaps better than a second thread. With `workers`
    given, the cores are shared out among them (0: in this process, all cores to it)."""
    cores = max(1, cores)
    if workers is None:
        return max(1, cores // CORES_PER_WORKER), 1
    if workers < 0:
        raise EmotionLensError("--workers must be 0 (in this process) or more")
    return workers, max(1, cores // max(1, workers))


# --- the manifest -------------------------------------------------------------------------------

def read_manifest(path: Path) -> dict[str, dict[str, str]]:
    """The rows of an earlier manifest by input (none when it is missing or unreadable)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return {row["input"]: row for row in csv.DictReader(f) if row.get("input")}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError):
        return {}


def write_manifest(path: Path, rows: dict[str, dict[str, str]]) -> None:
    """The rows (sorted by input) as CSV, whole or not at all (`app.core.atomic.replacing`)."""
    with replacing(path, newline="") as f:
        writer = csv.DictWriter(f, MANIFEST_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[key] for key in sorted(rows))


def _rel(path: Path | None, out_dir: Path) -> str:
    return Path(os.path.relpath(path, out_dir)).as_posix() if path is not None else ""


def _row(item: Item, out_dir: Path, outcome: Outcome) -> dict[str, str]:
    status = DONE if outcome.status == DONE else FAILED  # interrupted: failed, resumed next time
    return {"input": item.key, "status": status, "message": outcome.message,
            "frames": str(outcome.frames), "frames_with_faces": str(outcome.frames_with_faces),
            "faces": str(outcome.faces), "face_rows": str(outcome.face_rows),
            "seconds": f"{outcome.seconds:.2f}",
            "csv": _rel(item.csv, out_dir) if item.csv.is_file() else "",
            "video": _rel(item.media, out_dir) if status == DONE else ""}


def _done_before(item: Item, row: dict[str, str] | None, out_dir: Path, identity: Callable[[Path], Any],
                 ) -> bool:
    """Whether an earlier run finished `item` with these settings and model (see the module's
    docstring)."""
    if row is None or row.get("status") not in (DONE, SKIPPED) or row.get("csv") != _rel(item.csv, out_dir):
        return False
    if item.media is not None and row.get("video") != _rel(item.media, out_dir):
        return False
    if not all(p.is_file() for p in item.outputs()):
        return False
    try:
        record = read_record(item.csv)
        return not differences(record["identity"], identity(item.source))
    except (EmotionLensError, OSError):
        return False


def expected_frames(item: Item) -> int | None:
    """How many frames `item` should have, for the progress bar (None when unknown)."""
    if item.kind == "images":
        return len(input_files(item.source))
    if item.kind == "image":
        return 1
    import cv2

    with quiet_native_stderr():
        cap = cv2.VideoCapture(str(item.source))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
    return count if count > 0 else None


# --- progress -----------------------------------------------------------------------------------

class CorpusBar:
    """One bar over the whole corpus: frames (with frames/s and time left) and files done."""

    def __init__(self, files: int, frames: int, enabled: bool | None):
        from tqdm import tqdm

        self.files, self.finished = files, 0
        self._bar = tqdm(total=frames or None, unit="frame", file=sys.stderr, dynamic_ncols=True,
                         disable=None if enabled is None else not enabled, leave=False)
        self._bar.set_postfix_str(self._files())
        self.active = not self._bar.disable

    def _files(self) -> str:
        return f"files {self.finished}/{self.files}"

    def frames(self, n: int) -> None:
        if n:
            self._bar.update(n)

    def file_done(self, expected: int | None, got: int) -> None:
        self.finished += 1
        if self._bar.total is not None and expected is not None and got != expected:
            self._bar.total += got - expected  # keep the time left right
        self._bar.set_postfix_str(self._files())

    def write(self, line: str) -> None:
        self._bar.write(line, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()


# --- the batch ----------------------------------------------------------------------------------

@dataclass
class BatchResult:
    out_dir: Path
    items: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    stopped: int = 0  # items a stop or Ctrl-C ended early (failed in the manifest, resumed next time)
    failed_before: int = 0  # of the failed items, those an earlier run had failed too
    interrupted: bool = False
    frames: int = 0  # frames annotated by this run
    seconds: float = 0.0
    rows: dict[str, dict[str, str]] = field(default_factory=dict)  # this run's items, by input
    summarized: bool = True  # False: no summary.csv (pandas missing in this build)
    _stopped: set[str] = field(default_factory=set, repr=False)

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST

    @property
    def summary(self) -> Path:
        return self.out_dir / SUMMARY

    def failures(self) -> list[tuple[str, str]]:
        """(input, message) of the items that failed (not those a stop ended early)."""
        return [(k, r["message"]) for k, r in sorted(self.rows.items())
                if r["status"] == FAILED and k not in self._stopped]

    def lines(self) -> list[str]:
        """What the command says at the end."""
        where = f"see {self.manifest}"
        if self.interrupted:
            return [f"interrupted: {self.done} done, {self.skipped} skipped, {self.failed} failed, "
                    f"{self.stopped} stopped of {self.items} items; run the same command again to "
                    f"continue ({where})"]
        if not self.done and self.skipped:
            what = (f"all {self.skipped} items were" if not self.failed and self.skipped == self.items
                    else f"{self.skipped} of {self.items} items were")
            again = "".join(f"; {n} {label}" for n, label in (
                (self.failed_before, "failed again"), (self.failed - self.failed_before, "failed"))
                if n)
            return [f"nothing to do: {what} done by an earlier run (same input, options and model)"
                    f"{again} ({where})"]
        rate = f" at {self.frames / self.seconds:.0f} frames/s" if self.seconds > 0 else ""
        return [f"{self.items} items: {self.done} done, {self.skipped} skipped ({EARLIER}), "
                f"{self.failed} failed; {self.frames} frames in {self.seconds:.1f} s{rate} (start-up "
                f"included)",
                f"wrote {self.manifest}", *([f"wrote {self.summary}"] if self.summarized else [])]


def run_batch(inputs: list[str | Path], out_dir: str | Path, settings: PipelineSettings | None = None,
              model: str | Path | None = None, workers: int | None = None, threads: int | None = None,
              ray: bool | str = False, video: bool = False, overwrite: bool = False, bar: bool | None = None,
              echo: Callable[[str], None] | None = None, on_frames: Callable[[int], None] | None = None,
              stop: threading.Event | None = None,
              baseline: tuple[float, float] | BaselineRanges | None = None) -> BatchResult:
    """Annotate every item of `inputs` into `out_dir` (see the module's docstring).

    `workers`: processes on this machine (None: the measured default, `split_cores`; 0: in this
    process); `threads`: classifier threads per worker (None: `split_cores`'s share of the
    cores). `ray`: run on Ray instead (True: the cluster started on this machine, else a local
    instance; or an address such as "auto" or "10.0.0.5:6379"). `bar`: a tqdm bar on stderr
    (None: when stderr is a terminal). `echo` gets a line per failed item, `on_frames` the frames done as
    they come, and `stop` (set from another thread) ends the run after the items in flight.
    Ctrl-C does the same and raises `KeyboardInterrupt` once the manifest is written.
    `baseline`: the neutral range (start, end in seconds) of every item, or per-file ranges
    (`app.core.baseline.read_ranges`; an item with no row there has no baseline), as
    `annotate --baseline`."""
    settings = settings or PipelineSettings()
    if workers is not None and workers < 0:
        raise EmotionLensError("--workers must be 0 (in this process) or more")
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise EmotionLensError(f"--out {out} is a file; give a folder")
    # everything that can fail in one line does, before anything is written
    items = plan(list(inputs), out, video)
    bundle = load_bundle(model)
    classifier = Classifier(bundle, backend=settings.backend, num_threads=1)  # the model, checked once
    cluster, joined = None, False
    if ray is not False:
        cluster = _ray_module()
        joined = cluster.connect(None if ray is True else str(ray))
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmotionLensError(f"cannot create the output folder {out}: {exc.strerror or exc}") \
                from None
        with lock_outputs([out / MANIFEST]):
            return _run(items, out, settings, bundle, classifier, (workers, threads), cluster,
                        overwrite, bar, echo, on_frames, stop or threading.Event(), baseline)
    finally:
        if joined:
            cluster.shutdown()


def _range_for(baseline: tuple[float, float] | BaselineRanges | None, source: Path,
               ) -> tuple[float, float] | None:
    """The baseline range of one item: the same for every item, or its row of a ranges CSV."""
    if isinstance(baseline, BaselineRanges):
        return baseline.for_file(source)
    return baseline


def _run(items: list[Item], out: Path, settings: PipelineSettings, bundle: ModelBundle,
         classifier: Classifier, workers: tuple[int | None, int | None], cluster: Any,
         overwrite: bool, bar_on: bool | None, echo: Callable[[str], None] | None,
         on_frames: Callable[[int], None] | None, stop: threading.Event,
         baseline: tuple[float, float] | BaselineRanges | None = None) -> BatchResult:
    started = time.monotonic()
    manifest = read_manifest(out / MANIFEST)
    rows = dict(manifest)
    result = BatchResult(out, items=len(items))
    todo: list[Item] = []
    for item in items:
        old = manifest.get(item.key)
        if not overwrite and _done_before(item, old, out,
                                          lambda s: run_identity(s, settings, classifier,
                                                                 _range_for(baseline, s))):
            assert old is not None
            video = old.get("video", "")
            rows[item.key] = result.rows[item.key] = {
                **old, "status": SKIPPED, "message": EARLIER,
                "video": video if video and (out / video).is_file() else ""}
            result.skipped += 1
        else:
            todo.append(item)
    expected = {item.key: expected_frames(item) for item in todo}
    by_key = {item.key: item for item in todo}
    tasks = [Task(item.key, str(item.source), str(item.csv), str(item.media) if item.media else None,
                  overwrite, expected[item.key], str(out), _range_for(baseline, item.source))
             for item in todo]
    bar = CorpusBar(len(items), sum(n or 0 for n in expected.values()), bar_on)
    bar.finished = result.skipped
    say = None if echo is None else (lambda line: bar.write(line) if bar.active else echo(line))
    last_write = [0.0]

    def frames(n: int) -> None:
        result.frames += n
        bar.frames(n)
        if on_frames is not None and n:
            on_frames(n)

    def outcome(o: Outcome) -> None:
        item = by_key[o.key]
        rows[o.key] = result.rows[o.key] = _row(item, out, o)
        bar.file_done(expected[o.key], o.frames)
        if o.status == DONE:
            result.done += 1
            if say and o.message:
                say(f"warning: {item.rel}: {o.message}")
        elif o.status == INTERRUPTED:
            result.stopped += 1
            result._stopped.add(o.key)
        else:
            result.failed += 1
            result.failed_before += manifest.get(o.key, {}).get("status") == FAILED
            if say:
                say(f"failed: {item.rel}: {o.message}")
        if time.monotonic() - last_write[0] >= WRITE_EVERY_S:
            write_manifest(out / MANIFEST, rows)
            last_write[0] = time.monotonic()

    try:
        if tasks:
            _dispatch(tasks, settings, bundle, classifier, workers, cluster, outcome, frames, stop)
    except KeyboardInterrupt:
        result.interrupted = True
        raise
    finally:
        bar.close()
        result.seconds = time.monotonic() - started
        result.interrupted = result.interrupted or stop.is_set()
        write_manifest(out / MANIFEST, rows)
        summarized = write_summary(out, rows) if result.done or not (out / SUMMARY).exists() else True
        result.summarized = summarized
        if not summarized and say:
            say(f"warning: no {SUMMARY}: pandas is not installed in this build")
    return result


def _dispatch(tasks: list[Task], settings: PipelineSettings, bundle: ModelBundle,
              classifier: Classifier, workers: tuple[int | None, int | None], cluster: Any,
              outcome: Callable[[Outcome], None], frames: Callable[[int], None],
              stop: threading.Event) -> None:
    if cluster is not None:  # app.services.corpus_ray, connected
        files = [bundle.path / "model.json", bundle.verify(classifier.backend)]
        threads = workers[1] or split_cores(CORES_PER_WORKER)[1]
        cluster.run_ray(tasks, replace(settings, threads=threads),
                        cluster.pack_bundle(bundle.path, files), CORES_PER_WORKER, outcome, frames, stop)
        return
    from app.services.corpus_pool import run_here, run_pool

    count, threads = split_cores(cpu_count(), workers[0])
    threads = workers[1] or threads
    model = str(bundle.path)
    if count == 0:
        run_here(tasks, replace(settings, threads=threads), model, outcome, frames, stop)
    else:
        run_pool(tasks, replace(settings, threads=threads), model, min(count, len(tasks)), outcome,
                 frames, stop)


def _ray_module() -> Any:
    """`app.services.corpus_ray`, or one line naming the extra when Ray is not installed."""
    try:
        from app.services import corpus_ray
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise
        raise EmotionLensError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    return corpus_ray


def write_summary(out: Path, rows: dict[str, dict[str, str]]) -> bool:
    """`DIR/summary.csv` from the CSVs of the items done (this run's and earlier ones'); False
    when pandas is missing (the desktop bundle leaves it out)."""
    try:
        import pandas as pd
    except ImportError:
        return False

    from app.services.corpus_tables import read_annotations, summarize, write_table

    parts = []
    for key in sorted(rows):
        row = rows[key]
        path = out / row.get("csv", "")
        if row.get("status") in (DONE, SKIPPED) and row.get("csv") and path.is_file():
            with contextlib.suppress(EmotionLensError, ValueError, OSError):
                parts.append(summarize(read_annotations(path, source=key)))
    table = pd.concat([p for p in parts if not p.empty] or parts[:1]) if parts else None
    if table is None:
        table = pd.DataFrame(columns=["source", "face_id", "frames"])
    write_table(table, out / SUMMARY)
    return True


__all__ = ["MANIFEST", "MANIFEST_COLUMNS", "SUMMARY", "BatchResult", "read_manifest", "run_batch",
           "split_cores", "write_summary"]
