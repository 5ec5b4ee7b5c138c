"""Display copies made ahead on the capture thread (app/ui/display_scale.py): the same picture as
the panel's own resize, used only for the very frame and size they were made for, and used while
a real video plays in the real window."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.ui.display_scale import DisplayScaler, display_frame
from app.ui.video_view import VideoView

WAIT_MS = 30_000


def _frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (240, 320, 3), dtype=np.uint8)


def test_display_frame_is_the_resized_frame_in_bgra() -> None:
    image = _frame()
    for key, interp in (((400, 300, False), cv2.INTER_LINEAR), ((100, 75, False), cv2.INTER_AREA)):
        out = display_frame(image, key)
        assert out.shape == (key[1], key[0], 4) and out.flags.c_contiguous
        assert np.array_equal(out[:, :, :3], cv2.resize(image, key[:2], interpolation=interp))
        assert (out[:, :, 3] == 255).all()
    mirrored = display_frame(image, (320, 240, True))
    assert np.array_equal(mirrored[:, :, :3], image[:, ::-1])


def test_a_copy_is_taken_only_for_its_own_frame_and_size() -> None:
    scaler = DisplayScaler()
    image, other = _frame(0), _frame(1)
    scaler.prepare(image)  # no size asked for yet: nothing made
    assert scaler.prepared == 0 and scaler.take(image, (160, 120, False)) is None
    scaler.want((160, 120, False))
    scaler.prepare(image)
    assert scaler.take(other, (160, 120, False)) is None  # an equal-sized other frame
    assert scaler.take(image, (161, 120, False)) is None  # the panel was resized since
    assert scaler.take(image, (160, 120, True)) is None  # mirrored since
    copy = scaler.take(image, (160, 120, False))
    assert copy is not None and np.array_equal(copy, display_frame(image, (160, 120, False)))
    assert scaler.take(image, (160, 120, False)) is None  # handed out once
    scaler.prepare(np.zeros((10, 10), np.uint8))  # not BGR: left to the panel's own check
    assert scaler.prepared == 1 and scaler.taken == 1


def test_the_panel_paints_the_same_picture_from_a_copy_made_ahead(qtbot) -> None:
    image = _frame(2)
    plain, ahead = VideoView(), VideoView()
    ahead.scaler = DisplayScaler()
    for view in (plain, ahead):
        qtbot.addWidget(view)
        view.resize(500, 400)
        view.set_frame(image, None, ())
    first = ahead.grab().toImage()  # asks for its size; nothing was ready: its own resize
    assert ahead.scaler.taken == 0
    image2 = _frame(3)
    ahead.scaler.prepare(image2)  # as the capture thread does, before the result arrives
    for view in (plain, ahead):
        view.set_frame(image2, None, ())
    shots = [plain.grab().toImage(), ahead.grab().toImage()]
    assert ahead.scaler.taken == 1
    assert shots[0] == shots[1] and shots[1] != first


def test_frames_of_a_playing_video_are_painted_from_copies_made_ahead(qtbot, make_window,
                                                                        video: Path) -> None:
    window = make_window()
    window.open_path(video)
    display = window.controller.display
    qtbot.waitUntil(lambda: display.taken >= 10, timeout=WAIT_MS)
    assert window.video.frames_painted >= display.taken


def test_closing_the_source_forgets_the_last_copy(qtbot, make_window, video: Path) -> None:
    window = make_window()
    window.open_path(video)
    display = window.controller.display
    qtbot.waitUntil(lambda: display.prepared >= 3 and window.latest is not None, timeout=WAIT_MS)
    display.prepare(window.latest.frame.image)  # one waiting, whatever the paints took
    assert display.holds_copy
    window.controller.close_source()
    assert not display.holds_copy  # no frame held once the source is gone


def test_the_painted_frame_keeps_its_colours(qtbot) -> None:
    """BGR in, the same colours on screen (BGRA read as RGB32: no red/blue swap)."""
    from PySide6.QtGui import QColor

    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :80] = (0, 0, 255)  # red (BGR)
    image[:, 80:] = (255, 0, 0)  # blue
    view = VideoView()
    view.scaler = DisplayScaler()
    qtbot.addWidget(view)
    view.resize(320, 240)
    view.set_frame(image, None, ())
    for ahead in (False, True):
        if ahead:
            view.scaler.prepare(image := image.copy())
            view.set_frame(image, None, ())
        shot = view.grab().toImage()
        rect = view.image_rect()
        y = int(rect.center().y())
        left = QColor(shot.pixel(int(rect.left() + rect.width() * 0.25), y))
        right = QColor(shot.pixel(int(rect.left() + rect.width() * 0.75), y))
        assert (left.red(), left.green(), left.blue()) == (255, 0, 0)
        assert (right.red(), right.green(), right.blue()) == (0, 0, 255)
    assert view.scaler.taken == 1
