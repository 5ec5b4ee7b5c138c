"""The detector in the app: the settings panel lists every detector with the default first, stored
settings from before the default changed move to it, and the status bar names the faces left out
as smaller than `min_face_px`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSettings

from app.core.settings import DEFAULT_DETECTOR, DETECTORS, PipelineSettings
from app.ui.main_window import faces_status
from app.ui.settings import UiSettings, load_ui_settings, save_ui_settings
from tests.ui.conftest import media_dir

WAIT_MS = 30_000


def test_panel_lists_every_detector_default_first(make_window) -> None:
    window = make_window()
    combo = window.panel.detector_combo
    keys = [combo.itemData(i) for i in range(combo.count())]
    assert keys == list(DETECTORS) and keys[0] == DEFAULT_DETECTOR
    assert combo.currentData() == DEFAULT_DETECTOR
    assert "default" in combo.itemText(0)


def test_settings_stored_with_the_old_default_move_to_the_new_one(tmp_path: Path) -> None:
    old = QSettings(str(tmp_path / "old.ini"), QSettings.Format.IniFormat)
    old.setValue("detector", "mediapipe")  # written by every save before settings_version 2
    old.setValue("smoothing", 0.5)
    old.sync()
    loaded = load_ui_settings(old)
    assert loaded.detector == DEFAULT_DETECTOR and loaded.smoothing == 0.5
    # chosen since: kept
    new = QSettings(str(tmp_path / "new.ini"), QSettings.Format.IniFormat)
    save_ui_settings(new, UiSettings(detector="mediapipe"))
    assert load_ui_settings(new).detector == "mediapipe"
    other = QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat)
    other.setValue("detector", "opencv")
    other.sync()
    assert load_ui_settings(other).detector == "opencv"
    assert UiSettings().pipeline().detector == DEFAULT_DETECTOR


def test_faces_status_text() -> None:
    assert faces_status(0, 0, 20) == "0 faces"
    assert faces_status(1, 0, 20) == "1 face"
    assert faces_status(0, 2, 20) == "0 faces · 2 too small (< 20 px)"


def test_status_bar_names_faces_too_small(qtbot, make_window, tmp_path: Path) -> None:
    face = cv2.imread(str(media_dir() / "single_face.jpg"))
    if face is None:
        import pytest

        pytest.skip("shared media missing (set EMOTION_LENS_SHARED)")
    canvas = np.full((240, 320, 3), 128, np.uint8)
    canvas[70:166, 110:206] = cv2.resize(face, (96, 96), interpolation=cv2.INTER_AREA)
    image = tmp_path / "small_face.png"
    cv2.imwrite(str(image), canvas)
    window = make_window(base=PipelineSettings(min_face_px=64))
    window.open_path(image)
    qtbot.waitUntil(lambda: window.latest is not None and window.latest.result.small_faces == 1,
                    timeout=WAIT_MS)
    window.refresh_status()
    assert window.faces_label.text() == "0 faces · 1 too small (< 64 px)"
    window.statusBar().clearMessage()  # a message ("opened ...") makes room for itself
    qtbot.waitUntil(window.faces_label.isVisible, timeout=WAIT_MS)
