"""Help → About: version, the model card in brief, licence, and what the labels do not mean."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from app import __version__
from app.core.bundle import ModelBundle

DISCLAIMER = ("A facial expression is not a felt emotion: the labels describe how a face looks in "
              "a frame, not what a person feels. Do not use them to judge people.")
PRIVACY = "Processing stays on this machine: no frame, face or result leaves it."


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list) and value and all(isinstance(v, int | float | str) for v in value):
        return ", ".join(_scalar(v) or "" for v in value[:8]) + (" …" if len(value) > 8 else "")
    return None


def _rows(data: dict[str, Any], limit: int = 10, prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if len(rows) >= limit:
            break
        text = _scalar(value)
        if text is not None:
            rows.append((f"{prefix}{key}", text))
        elif isinstance(value, dict) and not prefix:
            rows += _rows(value, limit - len(rows), prefix=f"{key}.")
    return rows


def model_card_html(bundle: ModelBundle | None, backend: str | None = None,
                    detector: str | None = None) -> str:
    if bundle is None:
        return "<p>No model is loaded.</p>"
    parts = [f"<p><b>Model:</b> {html.escape(bundle.name)} ({html.escape(str(bundle.path))})"]
    if backend:
        parts.append(f"<br><b>Running:</b> {html.escape(backend)} backend, "
                     f"{html.escape(detector or '?')} face detector")
    parts.append(f"<br><b>Labels:</b> {html.escape(', '.join(bundle.labels))}; input "
                 f"{bundle.input.size}×{bundle.input.size}×{bundle.input.channels}</p>")
    for title, data in (("Metrics", bundle.metrics), ("Provenance", bundle.provenance)):
        rows = _rows(data)
        if rows:
            cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                            for k, v in rows)
            parts.append(f"<p><b>{title}</b></p><table cellspacing='2'>{cells}</table>")
        else:
            parts.append(f"<p><b>{title}:</b> not given in model.json</p>")
    return "".join(parts)


def about_html(bundle: ModelBundle | None, backend: str | None = None,
               detector: str | None = None) -> str:
    return (f"<h3>Emotion Lens {html.escape(__version__)}</h3>"
            "<p>Real-time facial expression recognition on your own machine.</p>"
            f"<p><b>{html.escape(DISCLAIMER)}</b></p>"
            f"<p>{html.escape(PRIVACY)}</p>"
            f"{model_card_html(bundle, backend, detector)}"
            "<p><b>Licence:</b> Emotion Lens is MIT-licensed. The model was trained on "
            "third-party face datasets with their own terms (see the provenance above and the "
            "model card); check them before any non-research use.</p>")


class AboutDialog(QDialog):
    """Help → About, non-modal. The model card makes it long, so it scrolls: as a message box it
    grew to about 850 px and put its Close button off a 768 px screen."""

    def __init__(self, text_html: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Emotion Lens")
        self.setModal(False)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(text_html)
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(480, 560)

    def text(self) -> str:
        return self.browser.toPlainText()
