"""`detect_every` = k: the detector runs on every k-th frame while faces are found, and faces keep
their boxes and IDs in between. (Whether it keeps accuracy is measured by
`benchmarks/detect_every.py`, not asserted here.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.detect import Detection
from app.core.pipeline import Pipeline
from app.core.settings import PipelineSettings
from app.core.sources import Frame

BOX = (40.0, 30.0, 64.0, 64.0)


class CountingDetector:
    name = "mediapipe"

    def __init__(self, faces: int = 1):
        self.calls = 0
        self.faces = faces

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        self.calls += 1
        return [Detection((BOX[0] + 70 * i, *BOX[1:]), 0.9, {}, self.name)
                for i in range(self.faces)]

    def close(self) -> None:
        pass


def _frames(n: int) -> list[Frame]:
    rng = np.random.default_rng(0)
    return [Frame(i, i / 25, rng.integers(0, 255, (160, 240, 3), dtype=np.uint8))
            for i in range(n)]


def test_detector_runs_every_kth_frame_and_ids_hold(int8_bundle: Path) -> None:
    det = CountingDetector(faces=2)
    with Pipeline(PipelineSettings(detect_every=3), model=int8_bundle, detector=det) as p:
        results = [p.process(f) for f in _frames(9)]
    assert det.calls == 3
    assert all(len(r.faces) == 2 for r in results)
    assert {tuple(f.face_id for f in r.faces) for r in results} == {(1, 2)}
    assert all(r.timings_ms["detect"] >= 0 for r in results)


def test_default_detects_every_frame_and_empty_frames_are_not_reused(int8_bundle: Path) -> None:
    det = CountingDetector(faces=1)
    with Pipeline(PipelineSettings(), model=int8_bundle, detector=det) as p:
        for f in _frames(4):
            p.process(f)
    assert det.calls == 4
    empty = CountingDetector(faces=0)
    with Pipeline(PipelineSettings(detect_every=4), model=int8_bundle, detector=empty) as p:
        for f in _frames(4):
            assert p.process(f).faces == []
    assert empty.calls == 4  # nothing found: look again on the next frame


def test_reset_forgets_the_reused_detections(int8_bundle: Path) -> None:
    det = CountingDetector(faces=1)
    with Pipeline(PipelineSettings(detect_every=5), model=int8_bundle, detector=det) as p:
        frames = _frames(3)
        p.process(frames[0])
        p.reset()
        p.process(frames[1])
    assert det.calls == 2
