"""Without a usable model the window still builds, says why in one line, and shows the picture."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from app.ui.main_window import MainWindow
from app.ui.settings import UiSettings


def test_missing_model_is_an_error_message_not_a_crash(qtbot, tmp_path: Path, video: Path) -> None:
    qs = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(UiSettings(model=str(tmp_path / "no_such_model")), qs)
    qtbot.addWidget(window)
    window.show()
    window.open_path(video)
    qtbot.waitUntil(lambda: bool(window.errors) and window.frames_shown >= 3, timeout=30_000)
    assert "model bundle not found" in window.errors[0] and "\n" not in window.errors[0]
    assert window.settings_dock.isVisible()  # where to pick another model
    assert window.model_label.text() == "no model"
    assert window.latest is not None and window.latest.result.faces == []
    window.close()
