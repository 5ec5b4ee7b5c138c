"""The README screenshot: the app in a real X window (run it under Xvfb), playing a video live
with the overlay and charts, captured from the screen.

    xvfb-run -s "-screen 0 1360x860x24" uv run python -m app.ui.demo_screenshot \\
        --source VIDEO --out assets/screenshots/main_window.png [--model DIR] [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model", default="")
    p.add_argument("--seconds", type=float, default=8.0, help="play this long before the shot")
    p.add_argument("--width", type=int, default=1200, help="width of the saved PNG")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow
    from app.ui.settings import UiSettings
    from app.ui.theme import apply_dark_theme

    app = QApplication(sys.argv[:1])
    apply_dark_theme(app)
    window = MainWindow(UiSettings(model=args.model, loop_video=True), None, persist=False)
    window.move(0, 0)
    window.resize(1360, 820)
    window.show()
    window.open_path(args.source)

    def shoot() -> None:
        window.refresh_charts()
        window.refresh_status()
        app.processEvents()
        screen = QGuiApplication.primaryScreen()
        geo = window.frameGeometry()
        image = screen.grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height()).toImage()
        _save_small(image, args.out, args.width)
        print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB), "
              f"{window.frames_shown} frames shown")
        window.close()
        app.quit()

    QTimer.singleShot(int(args.seconds * 1000), shoot)
    app.exec()
    return 0


def _save_small(image: object, out: Path, width: int) -> None:
    """Scale to `width` and quantize to 256 colours (a README image, not an archive)."""
    from PySide6.QtCore import QBuffer, QIODevice, Qt
    from PySide6.QtGui import QImage

    assert isinstance(image, QImage)
    if image.width() > width:
        image = image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
    try:
        import io

        from PIL import Image

        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buf, "PNG")
        pil = Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB")
        pil.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                     dither=Image.Dither.FLOYDSTEINBERG).save(out, optimize=True)
    except ImportError:
        image.save(str(out), "PNG")


if __name__ == "__main__":
    sys.exit(main())
