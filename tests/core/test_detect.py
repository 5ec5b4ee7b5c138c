import cv2
import numpy as np
import pytest

from app.core import EmotionLensError
from app.core.detect import KEYPOINT_NAMES, blazeface_model, create_detector

EXPECTED = {"single_face.jpg": 1, "two_faces.jpg": 2, "no_faces.jpg": 0}


@pytest.mark.parametrize("backend", ["mediapipe", "mediapipe-full", "blazeface", "blazeface-full", "opencv"])
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


@pytest.mark.parametrize("backend", ["mediapipe", "blazeface"])
def test_blank_and_tiny_frames_have_no_faces(backend):
    with create_detector(backend) as det:
        assert det.detect(np.zeros((480, 640, 3), np.uint8)) == []
        assert det.detect(np.full((4, 4, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("backend", ["mediapipe", "blazeface"])
def test_closed_detector_refuses_work(backend):
    det = create_detector(backend)
    det.close()
    det.close()  # idempotent
    with pytest.raises(EmotionLensError):
        det.detect(np.zeros((64, 64, 3), np.uint8))
