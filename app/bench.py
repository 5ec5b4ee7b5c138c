"""`emotion-lens bench`: time the headless pipeline on a video or image.

decode → detect → align → classify → track → overlay drawing, per frame, with per-stage times
(mean, p50, p95), end-to-end frames/s, faces/s, per-frame latency p50/p95 and peak RSS. A few
warm-up frames (first-call allocations) are run first and not counted. `--frames N` loops the
input until N frames are measured. By default decoding and detection run ahead on their own
threads, as `annotate` runs (`--ahead decode`: as the desktop app; `--ahead none`: one thread).

`tile=2` (Python API, used by `benchmarks/`) shows each decoded frame as a 2×2 grid, so a one-face
video gives four faces per frame; the copy into the grid is counted as decoding.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app import __version__
from app.core import EmotionLensError
from app.core.machine import machine_info
from app.core.settings import PipelineSettings
from app.core.settings_args import settings_from_args

STAGES = ("decode", "detect", "align", "classify", "track", "overlay")
DEFAULT_WARMUP = 5
# what runs ahead of the measuring thread: nothing; decoding (as in the desktop app, whose capture
# thread decodes); decoding and detection, each on its own thread (as `annotate` runs)
AHEAD_MODES = ("none", "decode", "detect")
# the `fer` package's timing script, run by `--compare-fer PYTHON` in that interpreter
FER_REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "fer_reference.py"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # macOS: bytes; Linux: KiB


def current_rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover - psutil is a dependency
        return float("nan")


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - Windows
        return None


def _stats(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    a = np.asarray(values_ms, dtype=np.float64)
    p50, p95 = np.percentile(a, [50, 95])
    return {"mean": round(float(a.mean()), 4), "p50": round(float(p50), 4),
            "p95": round(float(p95), 4), "max": round(float(a.max()), 4)}


class _Tiler:
    """Copies an H×W frame into an (n·H)×(n·W) grid. A ring of buffers is reused, enough that a
    frame is never overwritten while a reader thread has it queued or it is being processed."""

    RING = 7  # > frames queued between the stages (2 + 1) + one in each of the 3 stages

    def __init__(self, n: int):
        self.n = n
        self._ring: list[np.ndarray] = []
        self._next = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        n = self.n
        if not self._ring or self._ring[0].shape[:2] != (n * h, n * w):
            self._ring = [np.empty((n * h, n * w, 3), dtype=np.uint8) for _ in range(self.RING)]
        buf = self._ring[self._next]
        self._next = (self._next + 1) % self.RING
        for r in range(n):
            for c in range(n):
                buf[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
        return buf


def looped_frames(path: Path, tile: int = 1) -> Iterator[tuple[Any, float]]:
    """(Frame, decode ms) forever: the input replayed from the start when it ends.

    Opening the file again is not counted as decoding; images are copied for each frame (as a
    decoder hands out a new buffer), so the overlay drawn on one frame never reaches the next."""
    from app.core.sources import Frame, ImageFile, ImageFolder, VideoFile, open_source

    source = open_source(path)
    if not isinstance(source, VideoFile | ImageFile | ImageFolder):
        source.close()
        raise EmotionLensError("bench needs a video, an image or a folder of images, not a camera")
    tiler = _Tiler(tile) if tile > 1 else None
    dt = 1.0 / (source.fps or 30.0)
    index = 0
    try:
        while True:
            it = iter(source)
            got = 0
            while True:
                t0 = time.perf_counter()
                frame = next(it, None)
                if frame is None:
                    break
                image = frame.image
                if not isinstance(source, VideoFile):
                    image = image.copy()
                if tiler is not None:
                    image = tiler(image)
                ms = (time.perf_counter() - t0) * 1e3
                got += 1
                yield Frame(index, index * dt, image), ms
                index += 1
            if got == 0:
                raise EmotionLensError(f"no frame could be decoded from {path}")
            if isinstance(source, VideoFile):
                source.close()
                source = VideoFile(path)
    finally:
        source.close()


class _Timed:
    """Frames decoded on the calling thread, with the time the latest one took (`waited_s`, as
    ReadAhead has it)."""

    def __init__(self, frames: Iterator[Any]):
        self._frames = frames
        self.waited_s = 0.0

    def __next__(self) -> Any:
        t0 = time.perf_counter()
        frame = next(self._frames)
        self.waited_s = time.perf_counter() - t0
        return frame

    def close(self) -> None:
        pass


@dataclass
class BenchResult:
    frames: int
    wall_s: float
    cpu_s: float
    faces: int
    stages_ms: dict[str, list[float]]
    frame_ms: list[float]
    faces_per_frame: list[int]
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        n = max(self.frames, 1)
        wall = max(self.wall_s, 1e-9)
        counts = np.bincount(np.asarray(self.faces_per_frame, dtype=np.int64)) \
            if self.faces_per_frame else np.zeros(1, dtype=np.int64)
        frame = _stats(self.frame_ms)
        return {
            "fps": round(self.frames / wall, 2),
            "p50_ms": frame["p50"],
            "p95_ms": frame["p95"],
            "mean_ms": frame["mean"],
            "faces_per_s": round(self.faces / wall, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "frames": self.frames,
            "faces": self.faces,
            "faces_per_frame_mean": round(self.faces / n, 3),
            "faces_per_frame": {str(k): int(v) for k, v in enumerate(counts) if v},
            "wall_s": round(self.wall_s, 4),
            "cpu_ms_per_frame": round(self.cpu_s / n * 1e3, 4),
            "stages": {name: _stats(values) for name, values in self.stages_ms.items()},
            **self.info,
        }


def bench(input_path: str | Path, settings: PipelineSettings | None = None,
          model: str | Path | None = None, frames: int | None = None, *, tile: int = 1,
          warmup: int = DEFAULT_WARMUP, overlay: bool = True,
          ahead: str = "detect") -> dict[str, Any]:
    """Run the pipeline over `input_path` and return the report (see the module docstring).

    `frames=None` measures the input once (one frame for an image, after `warmup` more).
    `ahead` (see AHEAD_MODES): with "detect" (default) frames are decoded on one thread and their
    faces detected on another while the measuring thread aligns, classifies, tracks and draws the
    frames before them, as `annotate` runs; with "decode" only decoding runs ahead; with "none"
    everything runs on the measuring thread. The decode stage is the time the measuring thread
    waited for its next frame (its decoding, with "none"); a frame's latency runs from the start
    of its detection to its overlay drawn, time queued between the stages included."""
    from app.core.pipeline import Detected, Pipeline
    from app.core.render import draw_overlay
    from app.core.sources import open_source

    path = Path(input_path)
    settings = settings or PipelineSettings()
    if frames is not None and frames < 1:
        raise EmotionLensError("--frames must be 1 or more")
    if tile < 1:
        raise EmotionLensError("tile must be 1 or more")
    if ahead not in AHEAD_MODES:
        raise EmotionLensError(f"ahead must be one of {', '.join(AHEAD_MODES)}, not {ahead!r}")
    probe = open_source(path)
    count = probe.frame_count
    fps_nominal = probe.fps
    probe.close()
    if frames is None:
        frames = count or 1

    t_start = time.perf_counter()
    rss_before = current_rss_mb()
    with Pipeline(settings, model=model) as pipeline:
        load_s = time.perf_counter() - t_start
        labels = pipeline.labels
        stages: dict[str, list[float]] = {name: [] for name in STAGES}
        frame_ms: list[float] = []
        faces_per_frame: list[int] = []
        decoded = looped_frames(path, tile)
        source: Any = None
        try:
            for _ in range(warmup):  # on this thread, so that reset() below races with nothing
                frame, _ms = next(decoded)
                result = pipeline.process(frame)
                if overlay:
                    draw_overlay(frame.image, result, labels)
            pipeline.reset()
            images = (frame for frame, _ms in decoded)
            if ahead in ("detect", "decode"):
                source = pipeline.ahead(images, detect_thread=ahead == "detect")
            else:
                source = _Timed(images)
            rss_start = current_rss_mb()
            cpu0 = cpu_seconds()
            t0 = time.perf_counter()
            for _ in range(frames):
                item = next(source)
                t_got = time.perf_counter()
                if not isinstance(item, Detected):
                    item = pipeline.detect_frame(item)
                result = pipeline.process(item)
                t_drawn = time.perf_counter()
                if overlay:
                    draw_overlay(item.frame.image, result, labels)
                t_end = time.perf_counter()
                stages["decode"].append(source.waited_s * 1e3)
                for name, ms in result.timings_ms.items():
                    stages.setdefault(name, []).append(ms)
                stages["overlay"].append((t_end - t_drawn) * 1e3)
                frame_ms.append((t_end - min(item.started_s, t_got)) * 1e3)
                faces_per_frame.append(len(result.faces))
            frame = item.frame
            wall = time.perf_counter() - t0
            cpu = cpu_seconds() - cpu0
        finally:
            if source is not None:
                source.close()
            decoded.close()
        h_w = frame.image.shape[:2]
        info = {
            "input": str(path),
            "input_size": [int(h_w[1]) // tile, int(h_w[0]) // tile],
            "frame_size": [int(h_w[1]), int(h_w[0])],
            "input_fps": fps_nominal,
            "tile": tile,
            "warmup_frames": warmup,
            "overlay": overlay,
            "ahead": ahead,
            "model": pipeline.classifier.bundle.name,
            "model_dir": str(pipeline.classifier.bundle.path),
            "backend": pipeline.classifier.backend,
            "detector": settings.detector,
            "settings": settings.to_dict(),
            "load_s": round(load_s, 3),
            "rss_mb": {"before_load": round(rss_before, 1), "after_warmup": round(rss_start, 1),
                       "end": round(current_rss_mb(), 1)},
            "tensorflow_imported": "tensorflow" in sys.modules,
            "machine": machine_info(),
            "loadavg": loadavg(),
            "emotion_lens_version": __version__,
        }
    result_obj = BenchResult(frames, wall, cpu, sum(faces_per_frame), stages, frame_ms,
                             faces_per_frame, info)
    return result_obj.to_dict()


def run_fer(python: str, input_path: str | Path, frames: int,
            timeout: float = 900) -> dict[str, Any] | str:
    """Time the `fer` package on `input_path` with `python` (an interpreter that has it; see
    benchmarks/setup_fer_venv.sh): its report, or a one-line reason why it did not run.

    The timing script, `benchmarks/fer_reference.py`, comes with a source checkout (it is not
    part of the app or its bundle, and the app never imports it: it runs in `python`)."""
    import subprocess

    script = FER_REFERENCE
    if not script.is_file():
        return (f"the fer reference did not run: {script} is not here (it comes with a source "
                f"checkout of Emotion Lens)")
    try:
        done = subprocess.run([python, str(script), str(input_path), "--frames", str(frames)],
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the fer reference did not run: {exc}"
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()] or ["?"]
        return f"the fer reference failed: {lines[-1][:200]}"
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return "the fer reference printed no report"


def format_report(report: dict[str, Any]) -> str:
    """The human-readable report: one line of totals, then a table of stages."""
    lines = [
        f"{report['input']}: {report['frames']} frames {report['frame_size'][0]}×"
        f"{report['frame_size'][1]}, {report['faces_per_frame_mean']:.2f} faces/frame",
        f"model {report['model']} ({report['backend']}), detector {report['detector']}, "
        f"load {report['load_s']:.2f} s",
        f"{report['fps']:.1f} frames/s, {report['faces_per_s']:.1f} faces/s, latency p50 "
        f"{report['p50_ms']:.2f} ms, p95 {report['p95_ms']:.2f} ms, CPU "
        f"{report['cpu_ms_per_frame']:.2f} ms/frame, peak RSS {report['peak_rss_mb']:.0f} MB",
        "",
        f"{'stage':<10}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}",
    ]
    for name, s in report["stages"].items():
        lines.append(f"{name:<10}{s['mean']:>10.3f}{s['p50']:>10.3f}{s['p95']:>10.3f}")
    fer = report.get("fer")
    if isinstance(fer, dict):
        lines += ["", f"fer {fer['fer_version']} (Haar + mini-XCEPTION) on the same input: "
                      f"{fer['fps']:.1f} frames/s, p95 {fer['p95_ms']:.1f} ms: Emotion Lens is "
                      f"{report['vs_fer']:.1f}× its frames/s"]
    elif isinstance(fer, str):
        lines += ["", f"fer: {fer}"]
    machine = report["machine"]
    load = report.get("loadavg")
    lines += ["", f"machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs"
              + (f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else "")]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """The `bench` subcommand (arguments parsed by `app.cli`)."""
    frames = args.frames
    if frames is not None and frames < 1:
        raise EmotionLensError("--frames must be 1 or more")
    settings = settings_from_args(args)
    report = bench(args.input, settings, model=args.model, frames=frames,
                   tile=int(getattr(args, "tile", None) or 1),
                   ahead=getattr(args, "ahead", None) or "detect")
    fer_python = getattr(args, "compare_fer", None)
    if fer_python:  # after our own run, so that the two never compete for the CPU
        fer = run_fer(fer_python, args.input, report["frames"])
        report["fer"] = fer
        report["vs_fer"] = round(report["fps"] / fer["fps"], 2) \
            if isinstance(fer, dict) and fer.get("fps") else None
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
    return 0
