"""UI tests: real Qt on the offscreen platform, the real pipeline, the real sample video.

The model is `models/default` (or `$EMOTION_LENS_TEST_MODEL`); the media come from
`$EMOTION_LENS_SHARED/media` (default `<project root>/../shared/media`). Tests that need either
skip with the reason when it is missing.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt
os.environ.setdefault("EMOTION_LENS_LOG_DIR", tempfile.mkdtemp(prefix="emotion-lens-ui-logs-"))

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def model_dir() -> Path | None:
    override = os.environ.get("EMOTION_LENS_TEST_MODEL")
    path = Path(override) if override else ROOT / "models" / "default"
    return path if (path / "model.json").is_file() else None


def media_dir() -> Path:
    shared = Path(os.environ.get("EMOTION_LENS_SHARED", ROOT.parent / "shared"))
    return shared / "media"


@pytest.fixture(scope="session")
def model() -> Path:
    path = model_dir()
    if path is None:
        pytest.skip("no model bundle: models/default has not been trained yet "
                    "(or set EMOTION_LENS_TEST_MODEL)")
    return path


def _media(name: str) -> Path:
    path = media_dir() / name
    if not path.is_file():
        pytest.skip(f"shared test media {path} is missing (set EMOTION_LENS_SHARED)")
    return path


@pytest.fixture(scope="session")
def video() -> Path:
    return _media("street_phone.mp4")


@pytest.fixture(scope="session")
def two_faces() -> Path:
    return _media("two_faces.jpg")


@pytest.fixture()
def make_window(qtbot, tmp_path: Path, model: Path) -> Iterator[Callable[..., object]]:
    """Build MainWindows with their own ini-file QSettings (never the user's)."""
    from PySide6.QtCore import QSettings

    from app.ui.main_window import MainWindow
    from app.ui.settings import UiSettings, load_ui_settings

    windows: list[MainWindow] = []
    ini = tmp_path / "settings.ini"

    def make(ui: UiSettings | None = None, **kw: object) -> MainWindow:
        qs = QSettings(str(ini), QSettings.Format.IniFormat)
        settings = ui or load_ui_settings(qs)
        if not settings.model:
            settings.model = str(model)
        settings.output_dir = settings.output_dir or str(tmp_path / "out")
        window = MainWindow(settings, qs, **kw)  # type: ignore[arg-type]
        qtbot.addWidget(window)
        window.resize(1100, 700)
        window.show()
        windows.append(window)
        return window

    make.ini = ini  # type: ignore[attr-defined]
    yield make
    for window in windows:
        if window.isVisible() or window.controller.worker.is_alive():
            window.close()


class VideoCamera:
    """A camera device for `Camera(opener=device.opener)`: each open gives a handle that plays a
    real video file at its frame rate, looping like an endless camera. The device can be told to
    fail a read (unplugged), to hang a read (stalled driver) or to refuse some reopen attempts."""

    def __init__(self, path: Path, fail_after: int | None = None, stall_after: int | None = None,
                 opens_failing: int = 0):
        self.path = path
        self.fail_after = fail_after  # reads (over all handles) before one fails
        self.stall_after = stall_after  # reads before one hangs until `release_stall`
        self.opens_failing = opens_failing  # reopen attempts that find no device
        self.release_stall = threading.Event()
        self.reads = 0
        self.opens = 0
        self.lock = threading.Lock()

    def opener(self) -> _Handle:
        with self.lock:
            self.opens += 1
            refuse = self.opens > 1 and self.opens_failing > 0
            if refuse:
                self.opens_failing -= 1
        return _Handle(self, refuse)


class _Handle:
    def __init__(self, device: VideoCamera, refuse: bool):
        self.device = device
        self._cap: cv2.VideoCapture | None = None if refuse else cv2.VideoCapture(str(device.path))
        self.fps = (self._cap.get(cv2.CAP_PROP_FPS) if self._cap else 0) or 25.0

    def isOpened(self) -> bool:
        return self._cap is not None and self._cap.isOpened()

    def set(self, prop: int, value: float) -> bool:
        return False

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        return self._cap.get(prop) if self._cap is not None else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        dev = self.device
        with dev.lock:
            dev.reads += 1
            stall = dev.stall_after is not None and dev.reads > dev.stall_after
            fail = dev.fail_after is not None and dev.reads > dev.fail_after
            if stall:
                dev.stall_after = None
            if fail:
                dev.fail_after = None
        if stall:
            dev.release_stall.wait(30)  # the driver hangs
            return False, None
        if fail or self._cap is None:
            return False, None  # unplugged
        time.sleep(1.0 / self.fps)
        ok, image = self._cap.read()
        if not ok:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
        return ok, image

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
