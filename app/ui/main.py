"""`emotion-lens` without a command: the desktop app, and its smoke mode.

Smoke mode (`--screenshot OUT.png` and/or `--quit-after-frames N`) runs the source through the
full GUI path (capture thread, inference worker, overlay, charts) for N frames (30 when only a
screenshot is asked for) with no pacing and no dropped frames, saves a screenshot of the whole
main window, and exits 0. It uses the default settings plus the command line, never the stored
ones, and stores nothing. Without a display it runs on Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from app.core import EmotionLensError
from app.core.settings_args import settings_from_args

log = logging.getLogger(__name__)

SMOKE_TIMEOUT_S = 180
SMOKE_DEFAULT_FRAMES = 30


def _has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _check_x11_plugin() -> None:
    """Qt aborts (no Python exception) when a library its X11 plugin needs is missing
    (libxcb-cursor0, libxcb-icccm4, ...): name the missing ones, and their packages, in one line."""
    if not sys.platform.startswith("linux") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb" or not os.environ.get("DISPLAY"):
        return
    from app.ui.x11 import check_xcb_libraries, xcb_plugin

    check_xcb_libraries(xcb_plugin())


def _validate(args: argparse.Namespace) -> None:
    n = getattr(args, "quit_after_frames", None)
    if n is not None and n < 1:
        raise EmotionLensError("--quit-after-frames must be at least 1")
    shot: Path | None = getattr(args, "screenshot", None)
    if shot is not None:
        if shot.suffix.lower() != ".png":
            raise EmotionLensError("--screenshot must end in .png")
        if not shot.resolve().parent.is_dir():
            raise EmotionLensError(f"folder for the screenshot does not exist: {shot.parent}")


def _cli_overrides(args: argparse.Namespace, base: object) -> dict[str, object]:
    """UiSettings fields the command line (or its --config file) sets for this run."""
    from app.ui.settings import parse_size

    out: dict[str, object] = {}
    if getattr(args, "config", None) is not None:
        out.update(backend=base.backend, detector=base.detector,  # type: ignore[attr-defined]
                   smoothing=base.smoothing_half_life_s,  # type: ignore[attr-defined]
                   min_face_score=base.min_face_score)  # type: ignore[attr-defined]
    for arg, field in (("backend", "backend"), ("detector", "detector"),
                       ("smoothing", "smoothing"), ("min_face_score", "min_face_score")):
        value = getattr(args, arg, None)
        if value is not None:
            out[field] = value
    if getattr(args, "model", None) is not None:
        out["model"] = str(args.model)
    if getattr(args, "camera_size", None):
        parse_size(args.camera_size)  # one-line error before any window
        out["camera_size"] = args.camera_size
    return out


def run(args: argparse.Namespace) -> int:
    _validate(args)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # our one-line messages say it better
    smoke = args.screenshot is not None or args.quit_after_frames is not None
    if not _has_display() and not os.environ.get("QT_QPA_PLATFORM"):
        if not smoke:
            raise EmotionLensError("no display to open a window on (for a headless run use "
                                   "--screenshot/--quit-after-frames, or set QT_QPA_PLATFORM)")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    _check_x11_plugin()
    base = settings_from_args(args)
    overrides = _cli_overrides(args, base)

    from PySide6.QtCore import QSettings, QTimer, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from app.ui.settings import APPLICATION, ORGANIZATION, UiSettings, load_ui_settings
    from app.ui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Emotion Lens")
    qInstallMessageHandler(_qt_message)
    apply_dark_theme(app)
    _set_icon(app)
    qsettings = QSettings()
    stored = UiSettings() if smoke else load_ui_settings(qsettings)
    ui = replace(stored, model_folders=list(stored.model_folders))
    for key, value in overrides.items():
        setattr(ui, key, value)

    from app.ui.main_window import MainWindow

    window = MainWindow(ui, qsettings, base, smoke=smoke, persist=not smoke)
    window.stored_ui, window.cli_overrides = stored, overrides
    if not smoke:
        window.restore_window()
    result = {"code": 0}
    previous_hook = sys.excepthook
    sys.excepthook = _make_excepthook(window)
    try:
        if smoke:
            _arm_smoke(app, window, args, result, QTimer)
        window.show()
        window.open_source_text(args.source)
        if not smoke:
            window.find_cameras()
        code = app.exec()
    finally:
        sys.excepthook = previous_hook
        window.close()
    return result["code"] if smoke else int(code)


def _set_icon(app: object) -> None:
    from PySide6.QtGui import QIcon

    from app.core.bundle import PROJECT_ROOT  # the bundle's folder in a frozen app

    icon = PROJECT_ROOT / "assets" / "icons" / "emotion-lens.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))  # type: ignore[attr-defined]
    app.setDesktopFileName("emotion-lens")  # type: ignore[attr-defined]


def _qt_message(kind: object, context: object, message: str) -> None:
    """Qt's own warnings (e.g. the offscreen platform's) go to the log, not the terminal."""
    log.debug("qt: %s", message)


def _make_excepthook(window: object):  # -> Callable
    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected %s: %s", kind.__name__, exc, exc_info=(kind, exc, tb))  # traceback: log file
        try:
            window.show_error(f"unexpected {kind.__name__}: {exc} (details in the log)")  # type: ignore[attr-defined]
        except Exception:
            print(f"error: unexpected {kind.__name__}: {exc}", file=sys.stderr)

    return hook


def _arm_smoke(app: object, window: object, args: argparse.Namespace, result: dict[str, int],
               qtimer: type) -> None:
    from app.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    frames = args.quit_after_frames or SMOKE_DEFAULT_FRAMES
    window.smoke_frames = frames
    window.controller.set_limit(frames)
    shot: Path | None = args.screenshot
    stats = {"faces": 0}
    window.frameShown.connect(
        lambda _seq: stats.__setitem__("faces", stats["faces"] + bool(window.latest
                                                                      and window.latest.result.faces)))

    def shoot() -> None:
        window.refresh_charts()
        window.refresh_status()
        app.processEvents()  # type: ignore[attr-defined]
        if window.frames_shown == 0:
            message = window.errors[-1] if window.errors else "no frame was processed"
            print(f"error: {message}", file=sys.stderr)
            result["code"] = 2
        elif shot is not None and not window.grab().save(str(shot), "PNG"):
            print(f"error: cannot write {shot}", file=sys.stderr)
            result["code"] = 2
        else:
            info = window.controller.pipeline_info
            model = f"{info.model} ({info.backend}, {info.detector})" if info else "no model"
            done = window.latest.seq if window.latest else 0
            print(f"smoke: {done} frames processed, {window.frames_shown} painted "
                  f"({stats['faces']} with faces), "
                  f"model {model}" + (f", screenshot {shot}" if shot else ""))
            if info is None:
                message = window.errors[-1] if window.errors else "the model did not load"
                print(f"error: {message}", file=sys.stderr)
                result["code"] = 2
        app.quit()  # type: ignore[attr-defined]

    def timeout() -> None:
        print(f"error: smoke mode timed out after {SMOKE_TIMEOUT_S} s "
              f"({window.frames_shown} frames shown)", file=sys.stderr)
        result["code"] = 1
        app.quit()  # type: ignore[attr-defined]

    window.smokeDone.connect(lambda: qtimer.singleShot(150, shoot))
    qtimer.singleShot(SMOKE_TIMEOUT_S * 1000, timeout)
