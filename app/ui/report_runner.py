"""Building the HTML report of a results CSV (`app.services.report.write_report`) off the UI thread:
`ReportRunner` runs one report at a time on its own `QThreadPool` and says when it is written or
why not. The report goes beside the CSV as `<csv stem>_report.html`, or `_report_2.html`, ...
when that name is taken: an earlier report is never replaced."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.core import EmotionLensError
from app.services.report import default_paths, write_report
from app.ui.events import one_line

log = logging.getLogger(__name__)


def free_report_path(csv_path: Path) -> Path:
    """`<csv stem>_report.html` beside `csv_path`, or the first `<stem>_report_N.html` (N = 2, 3,
    ...) for which neither the report nor its segments CSV exists yet."""
    csv_path = Path(csv_path)
    n = 1
    while True:
        html = csv_path.with_name(f"{csv_path.stem}_report{'' if n == 1 else f'_{n}'}.html")
        _, segments = default_paths(csv_path, html)
        if not html.exists() and not segments.exists():
            return html
        n += 1


class _Signals(QObject):
    """Lives in the UI thread; the task emits from the pool's thread (delivered queued)."""

    finished = Signal(str, str)  # CSV, report written
    failed = Signal(str, str)  # CSV, one line on why


class _ReportTask(QRunnable):
    def __init__(self, csv_path: Path, html: Path, signals: _Signals):
        super().__init__()
        self.csv_path, self.html, self.signals = csv_path, html, signals

    def run(self) -> None:
        try:
            written = write_report(self.csv_path, self.html)
        except Exception as exc:  # a bad CSV is an EmotionLensError; anything else is logged too
            if not isinstance(exc, EmotionLensError):
                log.exception("building the report of %s", self.csv_path)
            self.signals.failed.emit(str(self.csv_path), one_line(exc))
            return
        self.signals.finished.emit(str(self.csv_path), str(written.html))


class ReportRunner(QObject):
    """Builds reports one at a time (matplotlib's pyplot is not thread-safe) on a pool thread.
    `started`, then `finished` (CSV, report) or `failed` (CSV, one line), all in the UI thread."""

    started = Signal(str)  # CSV
    finished = Signal(str, str)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self.building: list[Path] = []  # CSVs queued or being reported, oldest first

    @property
    def busy(self) -> bool:
        return bool(self.building)

    def build(self, csv_path: Path) -> Path | None:
        """Start the report of `csv_path`; returns where it will be written (None when that CSV's
        report is on its way already)."""
        csv_path = Path(csv_path)
        if csv_path in self.building:
            return None
        html = free_report_path(csv_path)
        self.building.append(csv_path)
        self.started.emit(str(csv_path))
        self.pool.start(_ReportTask(csv_path, html, self._signals))
        return html

    def wait(self, msecs: int = -1) -> bool:
        """Wait for the reports on their way (at shutdown)."""
        return self.pool.waitForDone(msecs)

    def _done(self, csv: str) -> None:
        path = Path(csv)
        if path in self.building:
            self.building.remove(path)

    def _on_finished(self, csv: str, html: str) -> None:
        self._done(csv)
        self.finished.emit(csv, html)

    def _on_failed(self, csv: str, message: str) -> None:
        self._done(csv)
        self.failed.emit(csv, message)
