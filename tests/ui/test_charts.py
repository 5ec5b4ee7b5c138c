"""The charts' drawing cost: the timeline's x range moves in whole steps while the history is
short, so a refresh paints the plot once (a range that changed every refresh re-laid the axis
out and painted it twice, about 4 ms more of the UI thread, which the video frames share)."""

from __future__ import annotations

import numpy as np
import pytest

from app.ui.charts import GROW_S, Timeline

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.fixture()
def timeline(qtbot) -> Timeline:
    t = Timeline()
    qtbot.addWidget(t)
    t.resize(420, 220)
    t.set_labels(LABELS)
    t.show()
    qtbot.waitExposed(t)
    return t


def _series(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    times = np.arange(0.0, seconds, 1 / 30)
    return times, rng.dirichlet(np.ones(len(LABELS)), len(times))


def test_the_shown_span_grows_in_steps_then_stays(timeline: Timeline) -> None:
    rng = np.random.default_rng(0)
    spans = []
    for seconds in (0.5, 3.0, 5.2, 9.9, 10.4, 29.0, 31.0, 80.0):
        times, probs = _series(seconds, rng)
        timeline.set_series(times, probs, float(times[-1]), "Face #1")
        lo, hi = timeline.viewRange()[0]
        spans.append(round((hi - lo) / 1.02, 1))  # setXRange's 1 % padding on each side
    assert spans == [5.0, 5.0, 10.0, 10.0, 15.0, 30.0, 30.0, 30.0]
    assert GROW_S == 5.0


def test_a_refresh_paints_the_timeline_once_while_the_history_grows(qtbot, timeline) -> None:
    rng = np.random.default_rng(1)
    paints = []
    original = type(timeline).paintEvent

    def counting(event):
        paints.append(1)
        original(timeline, event)

    timeline.paintEvent = counting  # type: ignore[method-assign]
    start = 3.0
    for k in range(30):  # 10 Hz refreshes of a history growing from 3 to 6 s
        times, probs = _series(start + 0.1 * k, rng)
        timeline.set_series(times, probs, float(times[-1]), "Face #1")
        qtbot.wait(15)
    # once per refresh, and once more where the span steps (32 here); 40 when the range moved
    # every refresh
    assert 25 <= len(paints) <= 34


def test_curves_are_drawn_from_one_point_per_two_pixels(timeline: Timeline) -> None:
    """A 30 s history (900 samples) on a 420-pixel timeline: each curve gets about half the
    plot's width in points, evenly spaced, ending on the newest sample."""
    from app.ui.charts import MAX_POINTS

    rng = np.random.default_rng(2)
    times, probs = _series(30.0, rng)
    timeline.set_series(times, probs, float(times[-1]), "Face #1")
    width = timeline.plotItem.vb.width() * timeline.devicePixelRatioF()
    curve = timeline.curves["happy"]
    assert 60 <= len(curve.xData) == timeline.points_limit() <= min(MAX_POINTS, width / 2 + 1)
    assert len(curve.xData) < len(times)
    assert curve.yData[-1] == probs[-1, LABELS.index("happy")] and curve.xData[-1] == 0.0
    timeline.resize(1400, 220)  # wider: more points, up to MAX_POINTS
    timeline.set_series(times, probs, float(times[-1]), "Face #1")
    assert len(timeline.curves["happy"].xData) == MAX_POINTS
