"""ReadAhead: the same items in the same order, errors where they happened, and a clean stop."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.core.prefetch import ReadAhead
from app.core.sources import VideoFile


def test_same_frames_as_reading_directly(media):
    direct = VideoFile(media / "street_phone.mp4")
    try:
        expected = [(f.index, f.image.copy()) for f in direct]
    finally:
        direct.close()
    video = VideoFile(media / "street_phone.mp4")
    try:
        with ReadAhead(video) as frames:
            got = [(f.index, f.image) for f in frames]
        assert not video.stopped_early
    finally:
        video.close()
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, expected, strict=True))


def test_error_reaches_the_consumer_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise OSError("disk gone")

    ahead = ReadAhead(items())
    assert next(ahead) == 1 and next(ahead) == 2
    with pytest.raises(OSError, match="disk gone"):
        next(ahead)
    with pytest.raises(StopIteration):
        next(ahead)
    ahead.close()


def test_close_stops_the_thread_without_reading_everything():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = threading.active_count()
    ahead = ReadAhead(endless(), depth=2)
    assert next(ahead) == 0
    time.sleep(0.1)  # the thread fills the queue, then waits
    ahead.close()
    assert threading.active_count() == before
    assert len(produced) <= 5  # one taken, two queued, one waiting to be put
    with pytest.raises(StopIteration):
        next(ahead)


def test_waited_time_and_bad_depth():
    def slow():
        time.sleep(0.05)
        yield "x"

    with ReadAhead(slow()) as ahead:
        assert next(ahead) == "x"
        assert ahead.waited_s > 0.02
    with pytest.raises(ValueError):
        ReadAhead([], depth=0)
