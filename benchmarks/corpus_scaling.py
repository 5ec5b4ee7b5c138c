"""Corpus frames/s against worker processes and classifier threads: how `emotion-lens batch`
should share a machine's cores (`app.services.corpus.split_cores`).

    uv run python -m benchmarks.corpus_scaling [--clips 8] [--repeats 2] [--pause PID]

The corpus is the sample video (`$EMOTION_LENS_SHARED/media/street_phone.mp4`, 115 frames, 596×336,
one face) copied `--clips` times, made at run time. Each configuration runs `run_batch` on it
into a fresh folder, CSV only and with the annotated video, and is timed from the call to the
manifest written: worker start-up and model loading included, as a batch pays them. The best of
`--repeats` runs (interleaved, after a warm-up run) counts. With `--pause PID` that process is
stopped (SIGSTOP) while timing and always continued (SIGCONT) after, also by a watchdog if this
script dies (at most 280 s).
Writes benchmarks/results/corpus_scaling.json and corpus_scaling.md (the README's table).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.run import RESULTS, shared_dir

MAX_PAUSE_S = 280
# (workers, classifier threads per worker)
CONFIGS = [(1, 1), (1, 2), (2, 1), (2, 2)]


@contextlib.contextmanager
def paused(pid: int | None) -> Iterator[None]:
    """SIGSTOP `pid` for the block and SIGCONT it after, always: a watchdog process continues it
    after MAX_PAUSE_S even if this one is killed."""
    if pid is None:
        yield
        return
    watchdog = subprocess.Popen(["sh", "-c", f"sleep {MAX_PAUSE_S}; kill -CONT {pid}"],
                                start_new_session=True)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
        watchdog.kill()
        watchdog.wait()


def make_corpus(folder: Path, clips: int) -> int:
    src = shared_dir() / "media" / "street_phone.mp4"
    if not src.is_file():
        raise SystemExit(f"sample video not found: {src} (set EMOTION_LENS_SHARED)")
    for i in range(clips):
        shutil.copy(src, folder / f"clip{i:02d}.mp4")
    from app.core.sources import VideoFile

    source = VideoFile(src)
    frames = sum(1 for _ in source)
    source.close()
    return frames * clips


def time_batch(corpus: Path, out: Path, workers: int, threads: int, video: bool) -> float:
    from app.services.corpus import run_batch

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = run_batch([corpus], out, workers=workers, threads=threads, video=video, bar=False)
    seconds = time.perf_counter() - t0
    if result.failed or result.done != result.items:
        raise SystemExit(f"the batch did not finish: {result.lines()}")
    return seconds


def table(result: dict[str, Any]) -> str:
    lines = [f"Measured {result['date']} on {result['machine']} ({result['cpus']} CPUs), "
             f"{result['clips']} copies of street_phone.mp4 ({result['frames']} frames, 596×336, one "
             f"face), best of {result['repeats']}, start-up included"
             f"{'; the background training run paused while timing' if result['paused'] else ''}; "
             f"load average (1 min, the benchmark included) {result['load_1min'][0]:.1f}–"
             f"{result['load_1min'][1]:.1f}.",
             "",
             "| workers | threads per worker | frames/s, CSV | frames/s, CSV + video |",
             "|---:|---:|---:|---:|"]
    for row in result["rows"]:
        default = " (default)" if row["default"] else ""
        lines.append(f"| {row['workers']}{default} | {row['threads']} | {row['fps_csv']:.0f} | "
                     f"{row['fps_video']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pause", type=int, default=None, metavar="PID",
                    help="SIGSTOP this process while timing (SIGCONT after, always)")
    ap.add_argument("--table", action="store_true",
                    help="measure nothing: rewrite the table from the JSON (the default row marked "
                         "by the current rule)")
    args = ap.parse_args(argv)
    from app.services.corpus import split_cores
    from app.services.corpus_task import cpu_count

    if args.table:
        result = json.loads((RESULTS / "corpus_scaling.json").read_text(encoding="utf-8"))
        for row in result["rows"]:
            row["default"] = (row["workers"], row["threads"]) == split_cores(result["cpus"])
        (RESULTS / "corpus_scaling.json").write_text(json.dumps(result, indent=2) + "\n",
                                                     encoding="utf-8")
        (RESULTS / "corpus_scaling.md").write_text(table(result), encoding="utf-8")
        print(table(result))
        return 0
    cpus = cpu_count()
    default = split_cores(cpus)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        frames = make_corpus(corpus, args.clips)
        warm = Path(tmp) / "warm"
        warm.mkdir()
        make_corpus(warm, 1)
        time_batch(warm, Path(tmp) / "out", 2, 1, True)  # imports and files in the page cache
        times: dict[tuple[int, int, bool], list[float]] = {}
        load = [os.getloadavg()[0]]
        with paused(args.pause):
            for _ in range(args.repeats):  # interleaved: a drift in load touches every row alike
                for workers, threads in CONFIGS:
                    for video in (False, True):
                        seconds = time_batch(corpus, Path(tmp) / "out", workers, threads, video)
                        times.setdefault((workers, threads, video), []).append(seconds)
                        load.append(os.getloadavg()[0])
                        print(json.dumps({"workers": workers, "threads": threads, "video": video,
                                          "seconds": round(seconds, 2)}), file=sys.stderr)
        for workers, threads in CONFIGS:
            row: dict[str, Any] = {"workers": workers, "threads": threads,
                                   "default": (workers, threads) == default}
            for video in (False, True):
                best = min(times[(workers, threads, video)])
                row["fps_video" if video else "fps_csv"] = round(frames / best, 1)
                row["seconds_video" if video else "seconds_csv"] = [
                    round(t, 2) for t in times[(workers, threads, video)]]
            rows.append(row)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": "2-core AMD EPYC VM" if cpus == 2 else f"{cpus}-CPU machine", "cpus": cpus,
              "clips": args.clips, "frames": frames, "repeats": args.repeats,
              "paused": args.pause is not None,
              "load_1min": [round(min(load), 2), round(max(load), 2)], "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "corpus_scaling.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "corpus_scaling.md").write_text(table(result), encoding="utf-8")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
