"""A dark Fusion palette, so the video, the charts and the widgets look like one app."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

DARK = {
    QPalette.ColorRole.Window: "#26262b",
    QPalette.ColorRole.WindowText: "#e6e6ea",
    QPalette.ColorRole.Base: "#1b1b20",
    QPalette.ColorRole.AlternateBase: "#23232a",
    QPalette.ColorRole.ToolTipBase: "#30303a",
    QPalette.ColorRole.ToolTipText: "#e6e6ea",
    QPalette.ColorRole.Text: "#e6e6ea",
    QPalette.ColorRole.Button: "#303038",
    QPalette.ColorRole.ButtonText: "#e6e6ea",
    QPalette.ColorRole.BrightText: "#ff6060",
    QPalette.ColorRole.Highlight: "#3d7bd9",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6aa5ff",
    QPalette.ColorRole.PlaceholderText: "#8a8a90",
}


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in DARK.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6e6e76"))
    app.setPalette(palette)
