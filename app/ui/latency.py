"""Where a frame's time goes between read and painted, in the window.

Each frame carries four clock readings (`time.perf_counter()`): posted by the capture thread,
taken by the inference worker, its result posted, its result taken by the UI thread. The video
panel adds the start and end of the paint that first shows it, and keeps one row per frame:

    to worker    read → the worker takes it (the worker was busy, or asleep)
    detect, align, classify, track    the pipeline's own stages (FrameResult.timings_ms)
    worker rest  the rest of the worker's time (calibration, the recorder, the result's packet)
    to UI        result posted → the UI thread takes it (Qt's queued signal, a busy UI thread)
    to paint     taken → the paint starts (Qt coalesces update() into the next paint event)
    paint        the paint itself (blit, boxes, labels)
    total        read → painted, the figure `latencies_ms` has

`summarize` gives each stage's median and 95th percentile, and the mean of each stage over the
slowest twentieth of frames: what the tail is made of (benchmarks.gui_latency reports it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

PIPELINE_STAGES = ("detect", "align", "classify", "track")
STAGES = ("to worker", *PIPELINE_STAGES, "worker rest", "to UI", "to paint", "paint", "total")


@dataclass(frozen=True)
class FrameMarks:
    """A frame's clock readings up to the UI thread taking its result (perf_counter seconds)."""

    read_at: float
    picked_at: float
    done_at: float
    taken_at: float
    timings: Mapping[str, float] = field(default_factory=dict)  # the pipeline's stages, ms

    @property
    def complete(self) -> bool:
        return 0.0 < self.read_at <= self.picked_at <= self.done_at <= self.taken_at


def breakdown(marks: FrameMarks, paint_start: float, paint_end: float) -> dict[str, float]:
    """One frame's row: milliseconds per stage (`STAGES`); they add up to `total`."""

    def ms(a: float, b: float) -> float:
        return (b - a) * 1e3

    stages = {k: float(marks.timings.get(k, 0.0)) for k in PIPELINE_STAGES}
    work = ms(marks.picked_at, marks.done_at)
    return {"to worker": ms(marks.read_at, marks.picked_at), **stages,
            "worker rest": work - sum(stages.values()), "to UI": ms(marks.done_at, marks.taken_at),
            "to paint": ms(marks.taken_at, paint_start), "paint": ms(paint_start, paint_end),
            "total": ms(marks.read_at, paint_end)}


def summarize(rows: Iterable[Mapping[str, float]], tail: float = 0.05) -> dict[str, dict[str, float]]:
    """{stage: {"p50", "p95", "tail_mean"}} in ms over `rows` (from `breakdown`); `tail_mean` is
    the stage's mean over the slowest `tail` of frames by total. Empty when there are no rows."""
    rows = list(rows)
    if not rows:
        return {}
    table = np.array([[row[s] for s in STAGES] for row in rows], dtype=np.float64)
    totals = table[:, STAGES.index("total")]
    slow = table[totals >= np.quantile(totals, 1.0 - tail)]
    return {s: {"p50": round(float(np.median(table[:, i])), 2),
                "p95": round(float(np.percentile(table[:, i], 95)), 2),
                "tail_mean": round(float(slow[:, i].mean()), 2)}
            for i, s in enumerate(STAGES)}
