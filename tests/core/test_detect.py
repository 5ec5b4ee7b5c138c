import subprocess
import sys

import cv2
import numpy as np
import pytest

from app.core import EmotionLensError
from app.core.detect import KEYPOINT_NAMES, blazeface_model, create_detector
from app.core.settings import DEFAULT_DETECTOR, DETECTORS, PipelineSettings
from tests.conftest import ROOT

EXPECTED = {"single_face.jpg": 1, "two_faces.jpg": 2, "no_faces.jpg": 0}


@pytest.mark.parametrize("backend", list(DETECTORS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_face_counts_on_real_photos(media, backend, name):
    image = cv2.imread(str(media / name))
    with create_detector(backend) as det:
        faces = det.detect(image)
    assert len(faces) == EXPECTED[name], [f.box for f in faces]
    h, w = image.shape[:2]
    for face in faces:
        x, y, bw, bh = face.box
        assert 0.0 <= face.score <= 1.0
        assert bw > 20 and bh > 20
        assert -0.1 * w < x < w and -0.1 * h < y < h
        assert set(KEYPOINT_NAMES) <= set(face.keypoints)
        # keypoints lie in or near their face box, eyes above the mouth
        for px, py in face.keypoints.values():
            assert x - 0.2 * bw <= px <= x + 1.2 * bw and y - 0.2 * bh <= py <= y + 1.2 * bh
        assert face.keypoints["right_eye"][1] < face.keypoints["mouth"][1]


def test_two_faces_are_distinct_people(media):
    image = cv2.imread(str(media / "two_faces.jpg"))
    with create_detector("mediapipe") as det:
        a, b = sorted(det.detect(image), key=lambda f: f.box[0])
    assert a.box[0] + a.box[2] <= b.box[0] + 0.1 * b.box[2]  # side by side, not overlapping


def test_metadata_is_attached_in_memory():
    model = blazeface_model("short")
    assert model[4:8] == b"TFL3"
    assert b"TFLITE_METADATA" in model


def test_unknown_detector_is_a_clear_error():
    with pytest.raises(EmotionLensError, match="unknown detector"):
        create_detector("yolo")


@pytest.mark.parametrize("backend", ["mediapipe", "blazeface", "blazeface-full", "blazeface-auto",
                                     "blazeface-tiled"])
def test_blank_and_tiny_frames_have_no_faces(backend):
    with create_detector(backend) as det:
        assert det.detect(np.zeros((480, 640, 3), np.uint8)) == []
        assert det.detect(np.full((4, 4, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("backend", ["mediapipe", "blazeface", "blazeface-auto", "blazeface-tiled"])
def test_closed_detector_refuses_work(backend):
    det = create_detector(backend)
    det.close()
    det.close()  # idempotent
    with pytest.raises(EmotionLensError):
        det.detect(np.zeros((64, 64, 3), np.uint8))


# ---------------------------------------------------------------- the default: every distance

def _scene_faces(media, faces: int, face_px: float, size: tuple[int, int], background: str, seed: int = 0):
    """`faces` faces of about `face_px` pixels in a row-major grid on a `size` frame, from the
    sample photos (benchmarks/scenes.py), and their true boxes."""
    from benchmarks.scenes import _background, face_cuts, paste

    width, height = size
    canvas = _background(media, background, width, height, seed)
    cuts = face_cuts(media)
    cols = min(faces, 4)
    rows = -(-faces // cols)
    truth = []
    for i in range(faces):
        r, c = divmod(i, cols)
        x = (c + 0.5) * width / cols - face_px / 2
        y = (r + 0.5) * height / rows - face_px / 2
        truth.append(paste(canvas, cuts[i % len(cuts)], face_px * (0.9 + 0.05 * (i % 4)), x, y,
                           soft=background == "busy", flip=bool(i % 2)))
    return canvas, truth


def _found(detector_name: str, image: np.ndarray, **overrides):
    from app.core.pipeline import find_faces

    settings = PipelineSettings().with_overrides(detector=detector_name, **overrides)
    with create_detector(settings.detector, settings.min_face_score) as det:
        return find_faces(det, image, settings)


def test_the_default_is_blazeface_on_litert_short_and_full_range():
    from app.core.blazeface import AdaptiveBlazeFaceDetector

    assert DEFAULT_DETECTOR == "blazeface-auto" == PipelineSettings().detector == DETECTORS[0]
    with create_detector(DEFAULT_DETECTOR) as det:
        assert isinstance(det, AdaptiveBlazeFaceDetector) and det.name == "blazeface-auto"
        assert det.short is not None and det.short.variant == "short"
        assert det.full is not None and det.full.variant == "full"
    for name in ("blazeface", "blazeface-full", "mediapipe", "mediapipe-full"):
        with create_detector(name) as det:  # each model alone, on either runtime, by name
            assert det.name == name


def test_default_runs_full_range_only_when_faces_are_small_missing_or_far(media):
    """A face near the camera: full range on the first frame and every 30th only. No face, or a
    small one: full range on every frame. Faces only full range finds: full range while they
    are there."""
    from benchmarks.scenes import _background, face_cuts, paste

    near = np.full((480, 640, 3), 120, np.uint8)
    paste(near, face_cuts(media)[0], 200, 220, 120, soft=False)
    far = np.full((480, 640, 3), 120, np.uint8)
    for i in range(4):
        paste(far, face_cuts(media)[i % 3], 60, 60 + 150 * i, 200, soft=False)
    empty = _background(media, "busy", 640, 480, 1)
    with create_detector(DEFAULT_DETECTOR, PipelineSettings().min_face_score) as det:
        counts = []
        for image in (near, far, empty):
            det.reset()
            found = [len(det.detect(image)) for _ in range(61)]
            counts.append((found[0], found[-1], det.full_passes))
        assert counts[0] == (1, 1, 3)  # frames 0, 30 and 60
        assert counts[1] == (4, 4, 61)
        assert counts[2] == (0, 0, 61)
        det.reset()
        assert det.full_passes == 0


def test_default_boxes_full_range_faces_as_short_range_does(media):
    """Full-range faces come in short range's framing, so that the short-range crop fits them."""
    from app.core.blazeface import AdaptiveBlazeFaceDetector

    image = cv2.imread(str(media / "single_face.jpg"))
    with create_detector("blazeface") as short, create_detector("blazeface-full") as full:
        (s,), (f,) = short.detect(image), full.detect(image)
    with AdaptiveBlazeFaceDetector() as det:
        det.short.detect = lambda frame: []  # type: ignore[method-assign]  # only full range sees it
        (a,) = det.detect(image)
    from app.core.track import iou

    assert a.keypoints == f.keypoints and a.score == f.score and a.detector == "blazeface-auto"
    assert iou(a.box, s.box) > iou(f.box, s.box)
    assert a.box[2] == pytest.approx(0.959 * f.box[2])


def test_the_default_never_loads_mediapipe(tmp_path):
    code = ("import sys; from app.core.detect import create_detector; "
            "from app.core.settings import PipelineSettings; "
            "d = create_detector(PipelineSettings().detector); d.close(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mediapipe'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("background", ["plain", "busy"])
def test_group_photo_gives_exactly_its_five_faces(media, background):
    """A 1000×667 group photo with five faces of about 100 px: the former default (short range)
    found none; the default finds all five and nothing else."""
    image, truth = _scene_faces(media, 5, 100, (1000, 667), background)
    from benchmarks.scenes import match

    faces, small = _found(DEFAULT_DETECTOR, image)
    hit, false = match(truth, [f.box for f in faces])
    assert (hit, false, len(faces), small) == (5, 0, 5, 0), [f.box for f in faces]
    short, _ = _found("blazeface", image)
    assert short == []  # what the short-range model (the former default's) gives


def test_default_finds_near_and_far_faces_in_one_frame(media):
    """One face near the camera and four far behind: all five."""
    from benchmarks.scenes import _background, face_cuts, match, paste

    image = _background(media, "busy", 1280, 720, 3)
    cuts = face_cuts(media)
    truth = [paste(image, cuts[0], 300, 80, 200, soft=True)]
    for i, x in enumerate((600, 760, 920, 1080)):
        truth.append(paste(image, cuts[1 + i % 2], 120, x, 120 + 260 * (i % 2), soft=True))
    faces, _ = _found(DEFAULT_DETECTOR, image)
    assert match(truth, [f.box for f in faces]) == (5, 0)


def test_tiled_detector_finds_small_faces_in_a_large_frame(media):
    """1920×1080 with twelve faces of about 48 px (a classroom, a wide shot): too small for the
    whole-frame pass; the tiles find them."""
    from benchmarks.scenes import match

    image, truth = _scene_faces(media, 12, 48, (1920, 1080), "plain", seed=2)
    whole, _ = _found(DEFAULT_DETECTOR, image)
    tiled, _ = _found("blazeface-tiled", image)
    assert match(truth, [f.box for f in whole])[0] <= 4
    hit, false = match(truth, [f.box for f in tiled])
    assert hit >= 11 and false == 0
    assert all(f.detector == "blazeface-tiled" for f in tiled)


def test_tiles_cover_the_frame_with_overlap():
    from app.core.blazeface import TiledBlazeFaceDetector, tile_grid

    tiles = tile_grid(1920, 1080, 640, 0.25)
    covered = np.zeros((1080, 1920), bool)
    for x, y, w, h in tiles:
        assert w <= 640 and h <= 640 and x + w <= 1920 and y + h <= 1080
        covered[y:y + h, x:x + w] = True
    assert covered.all() and len(tiles) == 8
    xs = sorted({x for x, _, _, _ in tiles})
    widths = {x: w for x, _, w, _ in tiles}
    assert all(xs[i] + widths[xs[i]] - xs[i + 1] >= 0.24 * widths[xs[i]] for i in range(len(xs) - 1))
    with TiledBlazeFaceDetector() as det:
        assert det.tiles(381, 384) == []  # a small image: the whole-frame pass only
        assert len(det.tiles(640, 480)) == 6 and len(det.tiles(1920, 1080)) == 8


def test_merge_drops_overlapping_and_contained_boxes():
    from app.core.blazeface import merge_detections
    from app.core.detect import Detection

    whole = Detection((100, 100, 80, 80), 0.9)
    inside = Detection((140, 110, 36, 60), 0.6)  # part of the same face: within it, IoU 0.34
    shifted = Detection((105, 102, 80, 80), 0.7)
    other = Detection((300, 100, 80, 80), 0.6)
    assert merge_detections([inside, shifted, other, whole]) == [whole, other]
    assert merge_detections([inside, other], within=0.9) == [inside, other]


def test_cli_help_names_the_default_detector():
    from app.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert f"default: {DEFAULT_DETECTOR}" in text
    for name in DETECTORS:
        assert name in text


def test_live_default_looks_for_far_faces_in_the_background(media):
    """The desktop window's default (`live`): the periodic look for far faces runs beside the
    frame, which goes on with short range's faces; far faces it finds then come on the next
    frames, where full range runs as in files. Files keep the exact schedule."""
    import time

    from benchmarks.scenes import _background, face_cuts, match, paste

    image = _background(media, "busy", 1280, 720, 3)
    cuts = face_cuts(media)
    near_only = image.copy()
    truth = [paste(near_only, cuts[0], 300, 80, 200, soft=True)]
    both = near_only.copy()
    for i, x in enumerate((600, 760, 920, 1080)):
        truth.append(paste(both, cuts[1 + i % 2], 120, x, 120 + 260 * (i % 2), soft=True))
    score = PipelineSettings().min_face_score
    with create_detector(DEFAULT_DETECTOR, score, live=True) as live, \
            create_detector(DEFAULT_DETECTOR, score) as files:
        assert live.background and not files.background
        # a near face alone: the same faces and passes, two of the three looks in the background
        for det in (live, files):
            found = [len(det.detect(near_only)) for _ in range(61)]
            assert (found[0], found[-1], det.full_passes) == (1, 1, 3)
        assert (live.background_looks, files.background_looks) == (2, 0)
        # far faces appear: files see them at the next look (frame 90), the window just after
        for det in (live, files):
            det.reset()
            det.detect(near_only)  # frame 0: both models, nothing far
            assert [len(det.detect(both)) for _ in range(29)] == [1] * 29  # short range only
        assert len(files.detect(both)) == 5  # frame 30, full range on it
        assert len(live.detect(both)) == 1  # frame 30 goes on; the look runs beside it
        assert live.background_looks == 1
        deadline, faces = time.monotonic() + 10, []
        while len(faces) < 5 and time.monotonic() < deadline:
            faces = live.detect(both)
        assert match(truth, [f.box for f in faces]) == (5, 0)
        assert [f.box for f in faces] == [f.box for f in files.detect(both)]  # full range on both
    with create_detector(DEFAULT_DETECTOR, score, live=True) as det:
        for _ in range(31):
            det.detect(near_only)
    assert det.background_looks == 1  # closed with a look submitted: it finished first
