"""The log file: rotating, in the user's state folder (the GUI and CLI both write it)."""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from app.core.native import give_python_stderr_its_own_fd

# `extra=FILE_ONLY` keeps a record off the console (the CLI prints its own one line for it)
FILE_ONLY = {"console": False}


def log_dir() -> Path:
    if override := os.environ.get("EMOTION_LENS_LOG_DIR"):
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "EmotionLens" / "logs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "EmotionLens"
    base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return base / "emotion-lens"


class ConsoleFormatter(logging.Formatter):
    """A record's message without its traceback or stack: those go to the log file only."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def setup_logging(verbose: bool = False) -> Path | None:
    """Log to `<log_dir>/emotion-lens.log` (1 MB × 3 files); warnings also go to stderr, as one
    line each without a traceback, unless logged with `extra=FILE_ONLY`."""
    give_python_stderr_its_own_fd()  # before the console handler takes sys.stderr
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for old in [h for h in root.handlers if getattr(h, "_emotion_lens", False)]:
        root.removeHandler(old)  # called again (tests, a second main()): replace, don't stack
        old.close()
    path: Path | None = log_dir() / "emotion-lens.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3,
                                                       encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._emotion_lens = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    except OSError:
        path = None  # an unwritable home must not stop the app
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(ConsoleFormatter("%(levelname)s: %(message)s"))
    console.addFilter(lambda record: getattr(record, "console", True))
    console._emotion_lens = True  # type: ignore[attr-defined]
    root.addHandler(console)
    return path
