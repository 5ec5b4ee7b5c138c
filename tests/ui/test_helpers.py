"""The plain-Python pieces under the UI: mailbox, result box, history, share over time."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from app.core import EXPRESSIONS, EmotionLensError
from app.core.results import CsvWriter, FaceResult, FrameResult
from app.core.sources import Frame
from app.ui.history import FaceHistory
from app.ui.mailbox import END, FrameMailbox, LatestBox
from app.ui.settings import parse_size
from app.ui.summary import share_over_time


def _frame(i: int) -> Frame:
    return Frame(i, i / 25, np.zeros((4, 4, 3), np.uint8))


def test_mailbox_newest_frame_wins_and_drops_are_counted() -> None:
    box = FrameMailbox()
    gen = box.reset()
    for i in range(5):
        assert box.put(_frame(i), gen)
    got = box.take(0.01)
    assert isinstance(got, Frame) and got.index == 4
    assert box.dropped == 4 and box.posted == 5
    assert box.take(0.01) is None
    box.end(gen)
    assert box.take(0.01) is END
    assert box.take(0.01) is None


def test_mailbox_ignores_an_old_source() -> None:
    box = FrameMailbox()
    old = box.reset()
    box.reset()
    assert not box.put(_frame(0), old)
    assert box.take(0.01) is None


def test_mailbox_put_wait_drops_nothing() -> None:
    box = FrameMailbox()
    gen = box.reset()
    stop = threading.Event()
    taken: list[int] = []

    def consume() -> None:
        while len(taken) < 20:
            item = box.take(0.5)
            if isinstance(item, Frame):
                taken.append(item.index)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(20):
        assert box.put_wait(_frame(i), gen, stop)
    t.join(5)
    assert taken == list(range(20)) and box.dropped == 0


def test_latest_box_wakes_once() -> None:
    box: LatestBox[int] = LatestBox()
    assert box.put(1) is True
    assert box.put(2) is False  # the reader was already woken
    assert box.take() == 2 and box.take() is None and box.replaced == 1


def _result(t: float, faces: list[tuple[int, float]]) -> FrameResult:
    out = []
    for fid, size in faces:
        p = np.full(7, 0.1, np.float32)
        p[fid % 7] = 0.4
        out.append(FaceResult(fid, (0.0, 0.0, size, size), 0.9, p, p.copy()))
    return FrameResult(int(t * 10), t, out)


def test_history_window_auto_face_and_restart() -> None:
    h = FaceHistory(window_s=2.0)
    for i in range(30):
        h.add(_result(i * 0.1, [(1, 50), (2, 80)] if i < 20 else [(1, 50)]))
    times, probs = h.series(1)
    assert times[0] >= 2.9 - 2.0 - 1e-9 and probs.shape[1] == 7
    assert h.auto_face() == 1  # face 2 left the frame: the largest face in view
    assert h.current(2)[1] is False and h.current(1)[1] is True
    h.add(_result(0.0, [(1, 50)]))  # time went backwards: a restarted source
    assert len(h.series(1)[0]) == 1


def test_share_over_time(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    w = CsvWriter(path, EXPRESSIONS)
    for i in range(40):
        w.write(_result(i * 0.1, [(3 if i < 20 else 6, 60)]))
    w.close()
    data = share_over_time(path, EXPRESSIONS, bins=4)
    assert data.shares.shape == (4, 7)
    assert np.allclose(data.shares.sum(axis=1), 1)
    assert data.shares[0, 3] == 1.0 and data.shares[-1, 6] == 1.0
    assert np.isclose(data.overall[3], 0.5)


def test_parse_size() -> None:
    assert parse_size("1280x720") == (1280, 720)
    assert parse_size("") is None
    with pytest.raises(EmotionLensError):
        parse_size("big")


def test_many_qt_calls_do_not_exhaust_none() -> None:
    """PySide6 6.12.0 on Python 3.11 loses a reference to None per void Qt call, and the interpreter
    aborts within seconds of GUI use; pyproject pins PySide6 below it. Run in a child so a
    regression cannot take the test process down."""
    import os
    import subprocess
    import sys

    code = ("import app.ui\nfrom PySide6.QtWidgets import QApplication, QLabel\n"
            "app = QApplication([])\nlabel = QLabel()\n"
            "for _ in range(300_000):\n    label.setText('x'); label.isVisible()\nprint('ok')\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-500:]


def test_recorder_keeps_real_time_in_the_video(tmp_path: Path) -> None:
    import cv2

    from app.ui.recorder import Recorder

    rec = Recorder(tmp_path / "s.csv", EXPRESSIONS, tmp_path / "s.mp4", fps=10)
    image = np.full((48, 64, 3), 90, np.uint8)
    for t in (0.0, 0.35, 0.4):  # two frames dropped between the first and the second
        rec.write(Frame(int(t * 10), t, image), _result(t, [(1, 20)]))
    assert rec.close() == [tmp_path / "s.csv", tmp_path / "s.mp4"]
    assert rec.frames == 3 and rec.video_frames == 5
    cap = cv2.VideoCapture(str(tmp_path / "s.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    cap.release()
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 4


@pytest.mark.parametrize("mirror", [False, True])
def test_snapshot_is_the_frame_at_full_resolution_whatever_the_screen_scale(qtbot, mirror: bool) -> None:
    """`render_image` paints the frame itself (mirrored when the view is), not the view's
    screen-sized copy: on a 2× screen that copy is twice as large as the frame."""
    from PySide6.QtGui import QImage

    from app.ui.video_view import VideoView

    view = VideoView()
    qtbot.addWidget(view)
    view.resize(200, 120)
    view.devicePixelRatioF = lambda: 2.0  # type: ignore[method-assign]  # a HiDPI screen
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    view.mirror = mirror
    view.set_frame(frame, None, ())
    view.grab()  # a paint first: it fills the view's scaled-frame cache
    image = view.render_image()
    assert image is not None and (image.width(), image.height()) == (160, 90)
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(90, -1)
    rgb = rows[:, : 160 * 3].reshape(90, 160, 3)
    want = frame[:, ::-1, ::-1] if mirror else frame[:, :, ::-1]
    assert np.array_equal(rgb, want)
