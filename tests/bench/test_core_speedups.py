"""The speed-ups made in app/core for the performance targets keep behaviour."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from app.core.align import align_face
from app.core.bundle import CropSpec
from app.core.classify import _softmax_if_needed
from app.core.detect import Detection
from app.core.pipeline import Pipeline, halve
from app.core.settings import PipelineSettings
from app.core.track import _assign, iou
from tests.conftest import ROOT


@pytest.mark.parametrize("n,m", [(1, 1), (1, 5), (5, 1), (2, 2), (3, 5), (5, 3), (4, 4), (6, 6),
                                 (7, 9), (9, 7)])
def test_assignment_is_optimal_like_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 10 + m)
    for _ in range(20):
        cost = rng.random((n, m)) * 2
        rows, cols = _assign(cost)
        r2, c2 = linear_sum_assignment(cost)
        assert cost[rows, cols].sum() == pytest.approx(cost[r2, c2].sum())
        assert rows == sorted(rows) and len(rows) == min(n, m) == len(set(cols))


@pytest.mark.parametrize("size,target,factor", [((1920, 1080), (640, 360), 2), ((3841, 2161), (640, 360), 4),
                                                ((1279, 719), (640, 360), 1), ((762, 768), (635, 640), 1)])
def test_halve_reduces_by_exact_powers_of_two(size: tuple[int, int], target: tuple[int, int],
                                              factor: int) -> None:
    w, h = size
    image = np.zeros((h, w, 3), np.uint8)  # the factor depends on the size alone
    small, got = halve(image, *target)
    assert got == factor
    assert small.shape == (h // factor, w // factor, 3)


@pytest.mark.parametrize("detector", ["mediapipe", "blazeface", "opencv"])
def test_detection_on_a_frame_halved_for_the_detector_maps_back(media, default_model,
                                                                 detector: str) -> None:
    """A 4× enlarged photo is halved twice for the detector: the same faces come back, boxed
    where they are in the full frame."""
    from app.core.sources import read_image

    image = read_image(media / "two_faces.jpg")
    big = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
    settings = PipelineSettings(detector=detector, detect_max_side=image.shape[1] // 2)
    with Pipeline(settings, default_model) as pipe:
        want = pipe.detect(image)
        got = pipe.detect(big)
    assert len(want) == len(got) == 2
    for w in want:
        enlarged = tuple(v * 4 for v in w.box)
        assert max(iou(enlarged, g.box) for g in got) > 0.9
        # keypoints too
        g = max(got, key=lambda g: iou(enlarged, g.box))
        for name, (x, y) in w.keypoints.items():
            gx, gy = g.keypoints[name]
            assert abs(gx - 4 * x) < 0.1 * enlarged[2] and abs(gy - 4 * y) < 0.1 * enlarged[3]


def test_softmax_check_is_unchanged() -> None:
    probs = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], dtype=np.float32)
    assert np.allclose(_softmax_if_needed(probs), probs)
    logits = np.array([[1.0, -2.0, 0.5]], dtype=np.float32)
    e = np.exp(logits - logits.max())
    assert np.allclose(_softmax_if_needed(logits), e / e.sum())
    near = np.array([[0.5, 0.5 + 0.049]], dtype=np.float32)  # within atol: renormalized
    assert np.allclose(_softmax_if_needed(near).sum(), 1.0)


def test_gray_crop_of_a_large_face_matches_colour_then_gray() -> None:
    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    frame = cv2.resize(small, (1200, 800), interpolation=cv2.INTER_CUBIC)
    det = Detection((400.0, 200.0, 300.0, 300.0), 0.9,
                    {"right_eye": (480.0, 300.0), "left_eye": (620.0, 320.0)}, "mediapipe")
    crop = CropSpec(scale=1.17, offset_y=-0.08)
    gray = align_face(frame, det, crop, 48, 1)[..., 0].astype(int)
    rgb = align_face(frame, det, crop, 48, 3)
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(int)
    assert np.abs(gray - ref).mean() < 1.5


def test_mediapipe_drawing_helpers_stay_importable_and_lazy() -> None:
    code = """
import sys
from app.core.detect import create_detector
with create_detector("mediapipe"):
    pass
assert "matplotlib" not in sys.modules, "drawing helpers were executed"
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.vision import drawing_utils
assert vision.drawing_utils is drawing_utils
assert drawing_utils.DrawingSpec is not None and "matplotlib" in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-800:]
