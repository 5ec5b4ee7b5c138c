import cv2
import numpy as np
import pytest

from app.core.align import align_face, crop_transform, eye_angle, to_bgr_uint8
from app.core.bundle import CropSpec
from app.core.detect import create_detector

CROP = CropSpec(scale=1.17, offset_y=-0.08)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    pad = max(h, w) // 2
    big = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    hh, ww = big.shape[:2]
    m = cv2.getRotationMatrix2D((ww / 2, hh / 2), degrees, 1.0)
    return cv2.warpAffine(big, m, (ww, hh), borderMode=cv2.BORDER_REPLICATE)


def _face(image):
    with create_detector("mediapipe") as det:
        faces = det.detect(image)
    assert len(faces) == 1
    return faces[0]


@pytest.mark.parametrize("degrees", [-25.0, 15.0, 30.0])
def test_alignment_levels_a_rotated_face(media, degrees):
    image = cv2.imread(str(media / "single_face.jpg"))
    upright = _face(image)
    base_angle = eye_angle(upright)
    rotated = rotate(image, degrees)
    face = _face(rotated)
    # cv2 rotates counter-clockwise for positive angles; in image coordinates (y down) the eye
    # line's angle decreases by the same amount
    assert eye_angle(face) == pytest.approx(base_angle - degrees, abs=6)
    # after alignment the eye keypoints sit on one horizontal line of the crop
    m = crop_transform(face, CROP, 48)
    eyes = np.array([face.keypoints["right_eye"], face.keypoints["left_eye"]])
    mapped = eyes @ m[:, :2].T + m[:, 2]
    assert abs(mapped[0, 1] - mapped[1, 1]) < 1.5
    assert mapped[0, 0] < mapped[1, 0]  # not flipped
    # and the eyes land where they do in the crop of the upright photo (within 10 % of the crop)
    m0 = crop_transform(upright, CROP, 48)
    eyes0 = np.array([upright.keypoints["right_eye"], upright.keypoints["left_eye"]])
    mapped0 = eyes0 @ m0[:, :2].T + m0[:, 2]
    assert np.abs(mapped - mapped0).max() < 4.8, (mapped, mapped0)


def test_crop_shapes_and_channels(media):
    image = cv2.imread(str(media / "two_faces.jpg"))  # large faces: area-reduced path
    with create_detector("mediapipe") as det:
        faces = det.detect(image)
    gray = align_face(image, faces[0], CROP, 48, 1)
    rgb = align_face(image, faces[0], CROP, 64, 3)
    assert gray.shape == (48, 48, 1) and gray.dtype == np.uint8
    assert rgb.shape == (64, 64, 3)
    assert gray.std() > 10  # a face, not a flat patch
    # RGB order: the red channel of the crop equals the blue-last channel of a BGR crop
    bgr_crop = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    assert np.array_equal(bgr_crop[..., 2], rgb[..., 0])


def test_face_at_frame_edge_is_padded_not_black(media):
    image = cv2.imread(str(media / "single_face.jpg"))
    face = _face(image)
    x, y, w, h = face.box
    cut = image[:, int(x + w / 2):]  # left half of the face cut off by the frame edge
    from app.core.detect import Detection
    shifted = Detection((x - int(x + w / 2), y, w, h), face.score, {}, "mediapipe")
    crop = align_face(cut, shifted, CROP, 48, 1)
    assert crop.shape == (48, 48, 1)
    assert (crop == 0).mean() < 0.05


@pytest.mark.parametrize("shape,dtype", [((10, 12), np.uint8), ((10, 12, 1), np.uint8),
                                         ((10, 12, 4), np.uint8), ((10, 12, 3), np.uint16),
                                         ((10, 12, 3), np.float32)])
def test_any_image_becomes_bgr_uint8(shape, dtype):
    img = np.ones(shape, dtype=dtype)
    out = to_bgr_uint8(img)
    assert out.shape == (10, 12, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("box_px", [40, 45, 50, 59, 75, 300])
def test_a_shrunk_face_is_area_averaged_not_aliased(box_px):
    """Detail finer than the crop's pixels is averaged, whatever the shrink factor. The worst case,
    a 1-pixel checkerboard, read at 48 px from a face box of 45-300 px (shrunk 1.1-7×): a
    bilinear warp that shrinks reads 4 taps per output pixel and skips the rest, and turns it into
    moiré (std about 42 of 255 at every factor; before 2026-12-06 the crop did that below a 2×
    shrink). Area-reduced first, at most half of that is left (fractional factors leave a beat of
    the pattern), and under a tenth from 2× on. A box of 40 px is read enlarged: no reduction,
    the warp alone, as before."""
    from app.core.detect import Detection

    board = ((np.indices((600, 600)).sum(axis=0) % 2) * 255).astype(np.uint8)
    image = cv2.cvtColor(board, cv2.COLOR_GRAY2BGR)
    det = Detection((300 - box_px // 2, 300 - box_px // 2, box_px, box_px), 0.9, {}, "test")
    matrix = crop_transform(det, CROP, 48)
    zoom = float(np.hypot(*matrix[0, :2]))
    crop = align_face(image, det, CROP, 48, 1)[..., 0].astype(np.float64)
    warped = cv2.warpAffine(board, matrix, (48, 48), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
    assert warped.std() > 35  # the pattern survives a plain warp at every one of these sizes
    assert abs(crop.mean() - 127.5) < 4
    if zoom >= 1.0:
        assert np.abs(crop - warped).max() <= 1
    elif zoom >= 0.5:
        assert crop.std() < 0.6 * warped.std(), (zoom, crop.std(), warped.std())
    else:
        assert crop.std() < 0.1 * warped.std(), (zoom, crop.std(), warped.std())
