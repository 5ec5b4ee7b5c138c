"""The window's read → painted latency, stage by stage (app/ui/latency.py): the stages of each
painted frame add up to its total, they come from the real capture thread, worker and paint,
and a still picture shown again after a settings change is not counted as a new frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ui.latency import STAGES, FrameMarks, breakdown, summarize

WAIT_MS = 30_000


def test_breakdown_splits_read_to_painted_into_stages_that_add_up() -> None:
    marks = FrameMarks(read_at=10.000, picked_at=10.002, done_at=10.010, taken_at=10.011,
                       timings={"detect": 3.0, "align": 1.0, "classify": 2.5, "track": 0.5})
    row = breakdown(marks, paint_start=10.013, paint_end=10.014)
    assert tuple(row) == STAGES
    assert row["to worker"] == pytest.approx(2.0)
    assert row["worker rest"] == pytest.approx(8.0 - 7.0)
    assert row["to UI"] == pytest.approx(1.0) and row["to paint"] == pytest.approx(2.0)
    assert row["paint"] == pytest.approx(1.0) and row["total"] == pytest.approx(14.0)
    assert sum(v for k, v in row.items() if k != "total") == pytest.approx(row["total"])
    # a refreshed still picture (no worker marks) or a frame never read is not a measurement
    assert not FrameMarks(10.0, 0.0, 0.0, 10.5).complete
    assert not FrameMarks(0.0, 1.0, 2.0, 3.0).complete
    assert marks.complete


def test_summary_tail_is_made_of_the_slowest_frames() -> None:
    quick = {s: 1.0 for s in STAGES} | {"total": 10.0}
    slow = {s: 1.0 for s in STAGES} | {"detect": 30.0, "total": 40.0}
    summary = summarize([quick] * 95 + [slow] * 5)
    assert summary["detect"]["p50"] == 1.0
    assert summary["detect"]["tail_mean"] == 30.0  # the tail is the 5 slow frames alone
    assert summary["paint"]["tail_mean"] == 1.0
    assert summary["total"]["p95"] >= summary["total"]["p50"]
    assert summarize([]) == {}


def test_the_window_times_each_stage_of_a_playing_video(qtbot, make_window, video: Path) -> None:
    window = make_window()
    window.open_path(video)
    qtbot.waitUntil(lambda: len(window.video.timeline) >= 20, timeout=WAIT_MS)
    rows = list(window.video.timeline)
    assert len(rows) == len(window.video.latencies_ms) or len(rows) == window.video.timeline.maxlen
    for row, total in zip(rows, window.video.latencies_ms, strict=False):
        assert row["total"] == total
        assert sum(v for k, v in row.items() if k != "total") == pytest.approx(row["total"])
        assert row["to worker"] >= 0 and row["to UI"] >= 0 and row["to paint"] >= 0
        assert row["worker rest"] > -0.05  # the pipeline's stages lie inside the worker's time
        assert row["paint"] > 0 and row["detect"] > 0
    assert any(row["classify"] > 0 for row in rows)  # the woman's face is classified
    assert max(row["total"] for row in rows) < 5000  # live frames, not since the source opened


def test_a_still_picture_shown_again_adds_no_latency(qtbot, make_window, two_faces: Path) -> None:
    """A settings change re-processes a still picture read seconds ago: its new paint is not a
    frame's read → painted time (it used to count as one, seconds long)."""
    window = make_window()
    window.open_path(two_faces)
    qtbot.waitUntil(lambda: window.latest is not None and len(window.video.latencies_ms) == 1,
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.controller.worker._source_done, timeout=WAIT_MS)
    first = list(window.video.latencies_ms)
    seq = window.latest.seq
    qtbot.wait(1500)  # the picture is old now
    # a rebuild: the worker processes the last frame again
    window.panel.detector_combo.setCurrentIndex(window.panel.detector_combo.findData("opencv"))
    window.panel.flush()
    qtbot.waitUntil(lambda: window.latest.seq > seq, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.video.result is window.latest.result, timeout=WAIT_MS)
    window.video.repaint()  # painted now, whether or not Qt had got to it
    assert window.latest.result.faces  # the picture was shown again, with its faces
    assert list(window.video.latencies_ms) == first
