import itertools

import cv2
import numpy as np
import pytest

from app.core import EmotionLensError
from app.core.sources import Camera, ImageFile, ImageFolder, VideoFile, open_source, read_image
from tests.media_files import truncated_copy


def test_video_file_yields_every_frame_with_times(media):
    src = open_source(media / "street_phone.mp4")
    assert isinstance(src, VideoFile)
    frames = list(src)
    assert len(frames) == src.frame_count == 115
    assert [f.index for f in frames] == list(range(115))
    assert frames[1].time_s == pytest.approx(0.04, abs=1e-3)  # its timestamp, not 1 / average fps
    assert all(a.time_s < b.time_s for a, b in itertools.pairwise(frames))
    assert frames[0].image.shape == (336, 596, 3) and frames[0].image.dtype == np.uint8
    assert not src.stopped_early


def test_image_and_folder_sources(media, tmp_path):
    src = open_source(media / "single_face.jpg")
    assert isinstance(src, ImageFile)
    assert len(list(src)) == 1
    for name in ("a.jpg", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((20, 30), 99, np.uint8))  # grayscale files
    (tmp_path / "c.png").write_bytes(b"not an image")
    folder = open_source(tmp_path)
    assert isinstance(folder, ImageFolder)
    frames = list(folder)
    assert [f.image.shape for f in frames] == [(20, 30, 3)] * 2
    assert [p.name for p in folder.skipped] == ["c.png"]


def test_16bit_and_rgba_images_decode(tmp_path):
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((8, 8, 3), 65535, np.uint16))
    cv2.imwrite(str(tmp_path / "alpha.png"), np.full((8, 8, 4), 200, np.uint8))
    assert read_image(tmp_path / "deep.png").max() == 255
    assert read_image(tmp_path / "alpha.png").shape == (8, 8, 3)


@pytest.mark.parametrize("content,message", [(None, "not found"), (b"", "empty"),
                                             (b"hello, not a video", "cannot decode video")])
def test_bad_video_inputs(tmp_path, content, message):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EmotionLensError, match=message):
        open_source(path)


def test_truncated_video_reports_where_it_stopped(media, tmp_path):
    src = open_source(truncated_copy(media / "street_phone.mp4", tmp_path))
    frames = list(src)
    assert 0 < len(frames) < 115
    assert src.stopped_early


def test_camera_path_with_a_video_behind_it(media):
    cam = Camera(0, opener=lambda: cv2.VideoCapture(str(media / "street_phone.mp4")))
    frames = [cam.read() for _ in range(3)]
    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[2].time_s >= frames[0].time_s


def test_missing_camera_is_a_clear_error():
    with pytest.raises(EmotionLensError, match="not available"):
        Camera(0, opener=lambda: cv2.VideoCapture("/nonexistent/device"))
