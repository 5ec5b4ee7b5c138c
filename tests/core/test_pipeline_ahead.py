"""Pipeline.ahead: decoding (and detection, on a thread of its own or the caller's) ahead of the
caller give exactly the results of processing frame by frame; skipped frames pass undetected;
errors and stops cross the threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.core.detect import create_detector
from app.core.pipeline import Detected, Pipeline
from app.core.prefetch import ReadAhead
from app.core.settings import PipelineSettings
from app.core.sources import Frame, VideoFile


def _results(pipeline: Pipeline, items) -> list[tuple[int, list]]:
    out = []
    for item in items:
        r = pipeline.process(item)
        out.append((r.index, [(f.face_id, f.box, f.probs.copy(), f.smoothed.copy())
                                    for f in r.faces]))
    return out


def _same(a: list, b: list) -> None:
    assert [i for i, _ in a] == [i for i, _ in b]
    for (_, fa), (_, fb) in zip(a, b, strict=True):
        assert len(fa) == len(fb)
        for (ida, boxa, pa, sa), (idb, boxb, pb, sb) in zip(fa, fb, strict=True):
            assert ida == idb and boxa == boxb
            np.testing.assert_array_equal(pa, pb)
            np.testing.assert_array_equal(sa, sb)


@pytest.mark.parametrize(("detect_every", "detect_thread"), [(1, True), (3, True), (1, False)])
def test_ahead_gives_the_results_of_frame_by_frame(media: Path, default_model: Path,
                                                   detect_every: int, detect_thread: bool) -> None:
    settings = PipelineSettings(detect_every=detect_every)
    with Pipeline(settings, model=default_model) as pipeline:
        video = VideoFile(media / "street_phone.mp4")
        try:
            serial = _results(pipeline, video)
        finally:
            video.close()
        pipeline.reset()
        video = VideoFile(media / "street_phone.mp4")
        try:
            with pipeline.ahead(video, detect_thread=detect_thread) as items:
                assert items.detect_thread is detect_thread
                seen = list(items)
            assert all(isinstance(i, Detected) for i in seen)
            ahead = _results(pipeline, seen)
        finally:
            video.close()
    assert len(serial) == 115 and sum(len(f) for _, f in serial) >= 100
    _same(serial, ahead)


class _CountingDetector:
    """The real MediaPipe detector, counting the frames it is asked about and on which thread."""

    def __init__(self) -> None:
        self._inner = create_detector("mediapipe")
        self.name = self._inner.name
        self.calls: list[str] = []

    def detect(self, image: np.ndarray):
        self.calls.append(threading.current_thread().name)
        return self._inner.detect(image)

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize("detect_thread", [True, False])
def test_skipped_frames_pass_undetected_and_detection_runs_on_its_thread(
        media: Path, default_model: Path, detect_thread: bool) -> None:
    detector = _CountingDetector()
    with Pipeline(model=default_model, detector=detector) as pipeline:
        video = VideoFile(media / "street_phone.mp4")
        try:
            with pipeline.ahead(video, skip=lambda f: f.index < 100, detect_thread=detect_thread) as items:
                seen = list(items)
        finally:
            video.close()
    assert [type(i) for i in seen] == [Frame] * 100 + [Detected] * 15
    assert [i.index for i in seen[:100]] == list(range(100))
    assert [i.frame.index for i in seen[100:]] == list(range(100, 115))
    here = threading.current_thread().name
    assert detector.calls == ["detect-ahead" if detect_thread else here] * 15
    assert sum(len(i.detections) for i in seen[100:]) >= 10


def test_a_decoding_error_reaches_the_caller_after_the_frames_before_it(default_model: Path) -> None:
    def frames():
        for i in range(3):
            yield Frame(i, i / 30, np.full((120, 160, 3), 90, np.uint8))
        raise OSError("camera unplugged")

    with Pipeline(model=default_model) as pipeline, pipeline.ahead(frames()) as items:
        assert [next(items).frame.index for _ in range(3)] == [0, 1, 2]
        with pytest.raises(OSError, match="camera unplugged"):
            next(items)


@pytest.mark.parametrize("detect_thread", [True, False])
def test_close_stops_both_threads_midway(default_model: Path, detect_thread: bool) -> None:
    made = []

    def endless():
        i = 0
        while True:
            made.append(i)
            yield Frame(i, i / 30, np.full((120, 160, 3), 90, np.uint8))
            i += 1

    with Pipeline(model=default_model) as pipeline:
        before = set(threading.enumerate())
        ahead = pipeline.ahead(endless(), detect_thread=detect_thread)
        assert next(ahead).frame.index == 0
        time.sleep(0.2)  # the queues fill, the threads wait
        assert len(set(threading.enumerate()) - before) == (2 if detect_thread else 1)
        ahead.close()
        assert set(threading.enumerate()) == before
        # one taken, 2 (+ 1) queued, one in each thread, one waiting
        assert len(made) <= (7 if detect_thread else 5)
        with pytest.raises(StopIteration):
            next(ahead)


def test_a_waiting_consumer_returns_once_stopped() -> None:
    release = threading.Event()

    def stalled():
        yield 1
        release.wait(5)  # a source that stalls
        yield 2

    ahead = ReadAhead(stalled())
    assert next(ahead) == 1
    threading.Timer(0.1, ahead.stop).start()
    t0 = time.perf_counter()
    with pytest.raises(StopIteration):
        next(ahead)
    assert time.perf_counter() - t0 < 2.0
    release.set()
    ahead.close()

