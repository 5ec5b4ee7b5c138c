"""BlazeFace on LiteRT against MediaPipe Tasks running the same model: the same faces, scores and
keypoints on real photos and video (MediaPipe rounds its boxes down to whole pixels)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.core.blazeface import VARIANTS, BlazeFaceDetector, ssd_anchors, weighted_nms
from app.core.detect import Detection, create_detector
from app.core.pipeline import Pipeline
from app.core.settings import PipelineSettings
from app.core.sources import VideoFile
from app.core.track import iou


def _frames(media) -> list[np.ndarray]:
    images = [cv2.imread(str(media / n)) for n in ("single_face.jpg", "two_faces.jpg", "no_faces.jpg")]
    video = VideoFile(media / "street_phone.mp4")
    try:
        images += [f.image for i, f in enumerate(video) if i % 10 == 0]
    finally:
        video.close()
    portrait = images[0]
    images.append(np.tile(portrait, (2, 2, 1)))  # 4 faces
    images.append(cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY))  # gray input
    return images


@pytest.mark.parametrize("variant", ["short", "full"])
def test_same_detections_as_mediapipe(media, variant):
    suffix = "-full" if variant == "full" else ""
    mp = create_detector("mediapipe" + suffix, min_score=0.5)
    bf = create_detector("blazeface" + suffix, min_score=0.5)
    compared = 0
    try:
        for image in _frames(media):
            ref = sorted(mp.detect(image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)),
                         key=lambda d: d.box[0])
            got = sorted(bf.detect(image), key=lambda d: d.box[0])
            assert len(got) == len(ref), ([d.box for d in ref], [d.box for d in got])
            for a, b in zip(ref, got, strict=True):
                assert b.score == pytest.approx(a.score, abs=2e-3)
                size = a.box[2]
                for name, (px, py) in a.keypoints.items():
                    qx, qy = b.keypoints[name]
                    assert abs(px - qx) <= 0.5 + 0.01 * size and abs(py - qy) <= 0.5 + 0.01 * size, name
                # MediaPipe truncates its box to whole pixels: under a pixel of difference
                assert all(abs(u - v) <= 1.01 + 0.01 * size for u, v in zip(a.box, b.box, strict=True))
                assert iou(a.box, b.box) > 0.95
                assert b.detector == "blazeface" + suffix and a.detector == "mediapipe" + suffix
                compared += 1
    finally:
        mp.close()
        bf.close()
    assert compared >= 15


def test_anchor_counts_match_the_models():
    for variant, n in (("short", 896), ("full", 2304)):
        spec = VARIANTS[variant]
        anchors = ssd_anchors(spec.size, spec.strides, spec.two_anchors_per_layer)
        assert anchors.shape == (n, 2)
        assert anchors.min() > 0 and anchors.max() < 1
    # short range: 16×16 cells × 2 anchors, then 8×8 cells × 6, row by row
    a = ssd_anchors(128, (8, 16, 16, 16), True)
    assert np.allclose(a[0], a[1]) and np.allclose(a[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(a[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(a[512], [0.5 / 8, 0.5 / 8]) and np.allclose(a[512:518], a[512])


def test_weighted_nms_merges_overlaps_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    points = np.zeros((3, 6, 2), dtype=np.float32)
    points[1] += 3.0
    scores = np.array([0.6, 0.9, 0.7], dtype=np.float32)
    out = weighted_nms(boxes, points, scores)
    assert len(out) == 2
    (box, pts, score), (box2, _, score2) = out
    assert score == pytest.approx(0.9) and score2 == pytest.approx(0.7)
    w = np.array([0.9, 0.6]) / 1.5
    assert np.allclose(box, w[0] * boxes[1] + w[1] * boxes[0])
    assert np.allclose(pts, w[0] * 3.0)
    assert np.allclose(box2, boxes[2])
    assert weighted_nms(boxes[:0], points[:0], scores[:0]) == []


def test_min_score_and_max_faces(media):
    image = np.tile(cv2.imread(str(media / "single_face.jpg")), (2, 2, 1))
    with BlazeFaceDetector(min_score=0.5, max_faces=3) as det:
        assert len(det.detect(image)) == 3
    with BlazeFaceDetector(min_score=0.999) as det:
        assert det.detect(image) == []


def test_pipeline_gives_the_same_labels_with_either_detector(media, default_model):
    """blazeface shares MediaPipe's crop calibration: the classifier sees the same crops."""
    results = {}
    for name in ("mediapipe", "blazeface"):
        with Pipeline(PipelineSettings(detector=name, smoothing_half_life_s=0), default_model) as pipe:
            video = VideoFile(media / "street_phone.mp4")
            try:
                results[name] = [pipe.process(f) for f in video]
            finally:
                video.close()
    agree = total = decided = agree_decided = 0
    gaps = []
    for a, b in zip(results["mediapipe"], results["blazeface"], strict=True):
        assert len(a.faces) == len(b.faces)
        for fa, fb in zip(a.faces, b.faces, strict=True):
            # the same crop: MediaPipe only rounds its boxes down to whole pixels
            assert max(abs(p - q) for p, q in zip(fa.box, fb.box, strict=True)) < 1.0
            same = int(np.argmax(fa.probs) == np.argmax(fb.probs))
            top2 = np.sort(fa.probs)[-2:]
            is_decided = int(top2[1] - top2[0] > 0.1)  # not a near-tie that any pixel can flip
            total, agree = total + 1, agree + same
            decided, agree_decided = decided + is_decided, agree_decided + same * is_decided
            gaps.append(float(np.abs(fa.probs - fb.probs).max()))
    # that sub-pixel shift moves the probabilities a little (2026-12-02 defaults: median 0.034 and
    # 0.032, 90th percentile 0.073 and 0.083), and most on the happy/sad near-ties of the face
    # looking down. How far those few move is the model's, not the crop's (the largest gap was
    # 0.20 for the mean of epochs 95-106 and 0.32 for 116-120), so the tail is bounded by count
    assert np.median(gaps) < 0.06 and np.percentile(gaps, 90) < 0.12, gaps
    assert np.mean(np.asarray(gaps) > 0.2) <= 0.05, sorted(gaps)[-10:]
    # the sample's smiling woman looking down is a near-tie of happy and sad for the default in
    # some frames: those may flip. The 2026-12-02 default also flips 2 of 104 decided ones on
    # that sub-pixel shift (sad 0.55 / happy 0.24 against 0.39 / 0.44): a model that unsteady on
    # this face, not a different crop (the boxes are checked above)
    assert total >= 100 and decided >= 60 and agree_decided >= 0.97 * decided, (agree_decided,
                                                                             decided)
    assert agree / total >= 0.9, (agree, total)


def test_detection_type(media):
    with BlazeFaceDetector() as det:
        (face,) = det.detect(cv2.imread(str(media / "single_face.jpg")))
    assert isinstance(face, Detection) and face.box[2] > 100


def _square(det: Detection, crop) -> tuple[float, float, float, float]:
    """The crop square (before rotation) a detection gives with `crop`."""
    x, y, w, h = det.box
    side = crop.scale * max(w, h)
    cx, cy = x + w / 2 + crop.offset_x * w, y + h / 2 + crop.offset_y * h
    return (cx - side / 2, cy - side / 2, side, side)


def test_full_range_crop_frames_faces_as_the_short_range_calibration(fer_val, default_model):
    """The default bundle is calibrated on short-range boxes; full-range boxes are about 4 %
    wider and higher, and their derived crop (app.core.bundle.FULL_RANGE_FRAMING) covers the
    same face region as short range's crop more closely than the short-range crop applied to
    full-range boxes as they are."""
    from app.core.bundle import load_bundle
    from training.calibrate_crop import PAD, UPSCALE, load_sample

    spec = load_bundle(default_model).input
    derived, raw = spec.crop_for("blazeface-full"), spec.crop_for("blazeface")
    assert derived != raw and spec.crop_for("mediapipe-full") == derived
    assert spec.crop_for("blazeface-tiled") == derived
    assert spec.crop_for("blazeface-auto") == raw  # it boxes every face in short range's framing
    better, d_ious, r_ious = 0, [], []
    with create_detector("blazeface", 0.5) as short, create_detector("blazeface-full", 0.5) as full:
        for img in load_sample(fer_val, 15, 3):
            bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            side = bgr.shape[1] * UPSCALE
            big = cv2.resize(bgr, (side, side), interpolation=cv2.INTER_CUBIC)
            pad = int(side * PAD)
            big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            a, f = short.detect(big), full.detect(big)
            if len(a) != 1 or len(f) != 1:
                continue
            ref = _square(a[0], raw)
            d_ious.append(iou(ref, _square(f[0], derived)))
            r_ious.append(iou(ref, _square(f[0], raw)))
            better += d_ious[-1] > r_ious[-1]
    assert len(d_ious) >= 40
    assert np.median(d_ious) > np.median(r_ious) + 0.02 and better >= 0.6 * len(d_ious)


def test_crop_for_derives_full_range_from_short_range_only_when_not_calibrated():
    from app.core.bundle import CropSpec, crop_for

    short = CropSpec(scale=1.2, offset_x=0.01, offset_y=-0.08)
    full = crop_for({"mediapipe": short}, "blazeface-full")
    assert full.scale == pytest.approx(1.2 * 0.959) and full.offset_y == pytest.approx(0.044 - 0.08 * 0.959)
    assert full.offset_x == pytest.approx(0.01 * 0.959)
    own = CropSpec(scale=1.3)
    assert crop_for({"mediapipe": short, "mediapipe-full": own}, "blazeface-full") is own
    assert crop_for({"mediapipe": short, "blazeface-full": own}, "blazeface-full") is own
    assert crop_for({"default": own}, "blazeface-full") is own
    assert crop_for({"mediapipe": short}, "blazeface") is short
