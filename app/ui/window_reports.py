"""The main window's reports: "Open report" after a recording or an annotation (a button in the
status bar, and in the annotation summary) and File → "Report of a results CSV…". The report is
built on a pool thread (`app/ui/report_runner.py`) while a busy bar shows, written beside the
CSV (never over an earlier one), then opened in the browser.

`WindowReports` is mixed into `app.ui.main_window.MainWindow`, whose status bar and errors it
uses."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QLabel, QProgressBar, QPushButton

from app.ui.report_runner import ReportRunner

REPORT_LIBRARIES = ("pandas", "matplotlib", "jinja2")  # what app.services.report imports as it runs


def report_unavailable() -> str | None:
    """One line on why no report can be built here (a desktop bundle or an install without one of
    REPORT_LIBRARIES), or None."""
    missing = [name for name in REPORT_LIBRARIES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    if getattr(sys, "frozen", False):
        return (f"reports need {', '.join(missing)}, which this desktop bundle leaves out: use the full "
                f"bundle (packaging/build.sh --full), or `emotion-lens report` from the Python install")
    verb = "is" if len(missing) == 1 else "are"
    return f"reports need {', '.join(missing)}, which {verb} not installed: pip install {' '.join(missing)}"


def _newest_input_s(csv_path: Path) -> float:
    """When the CSV or its run record last changed (0 when neither is there)."""
    times = []
    for path in (csv_path, csv_path.with_name(csv_path.name + ".run.json")):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


class WindowReports:
    """Reports of results CSVs for `MainWindow` (a mixin; its state is set in `_build_reports`)."""

    def _build_reports(self) -> None:
        self.reports = ReportRunner(self)
        self.reports.started.connect(self._on_report_started)
        self.reports.finished.connect(self._on_report_finished)
        self.reports.failed.connect(self._on_report_failed)
        # how a written report is opened: the system's browser (tests put a recorder here)
        self.open_url = QDesktopServices.openUrl
        self.report_csv: Path | None = None  # what the status bar's "Open report" reports
        self.written_reports: dict[Path, Path] = {}  # CSV -> the report built of it here
        self.report_button = QPushButton("Open report")
        self.report_button.setFlat(True)
        self.report_button.setStyleSheet("QPushButton { color: #5aa9ff; font-weight: bold }")
        self.report_button.clicked.connect(lambda: self.open_report())
        self.report_label = QLabel("building the report…")
        self.report_busy = QProgressBar()
        self.report_busy.setRange(0, 0)  # busy: no percentage to show
        self.report_busy.setMaximumWidth(90)
        self.report_busy.setMaximumHeight(14)
        self.report_busy.setTextVisible(False)
        sb = self.statusBar()
        for i, widget in enumerate((self.report_button, self.report_label, self.report_busy)):
            sb.insertPermanentWidget(i, widget)
            widget.hide()

    def offer_report(self, csv_path: Path | None) -> None:
        """Show "Open report" for `csv_path` (a recording or annotation just finished)."""
        if csv_path is None or not Path(csv_path).is_file():
            return
        self.report_csv = Path(csv_path)
        self.report_button.setToolTip(f"Build the HTML report of {self.report_csv.name} and open it")
        self.report_button.show()

    def choose_report_csv(self) -> None:
        start = str(self.report_csv.parent if self.report_csv else self.ui.output_path())
        path, _ = QFileDialog.getOpenFileName(self, "Report of which results CSV?", start,
                                              "Results CSV (*.csv);;All files (*)")
        if path:
            self.open_report(Path(path))

    def open_report(self, csv_path: Path | None = None) -> Path | None:
        """Open the report of `csv_path` (default: the one "Open report" offers): the one built
        here already when the CSV has not changed since, else a new one (returned: where it is
        being written; None when there is nothing to report or it is on its way)."""
        csv = Path(csv_path) if csv_path is not None else self.report_csv
        if csv is None:
            self.show_error("no results CSV to report yet: record, or annotate a video", box=False)
            return None
        why = report_unavailable()
        if why is not None:
            self.show_error(why)
            return None
        done = self.written_reports.get(csv)
        if done is not None and done.is_file() and done.stat().st_mtime >= _newest_input_s(csv):
            self._open_report_file(done)
            return done
        html = self.reports.build(csv)
        if html is None:
            self.statusBar().showMessage(f"the report of {csv.name} is on its way…", 4000)
        return html

    def _on_report_started(self, csv: str) -> None:
        self.report_label.setText(f"building the report of {Path(csv).name}…")
        self.report_label.show()
        self.report_busy.show()
        if Path(csv) == self.report_csv:
            self.report_button.setEnabled(False)

    def _report_idle(self) -> None:
        if not self.reports.busy:
            self.report_label.hide()
            self.report_busy.hide()
        self.report_button.setEnabled(True)

    def _on_report_finished(self, csv: str, html: str) -> None:
        self._report_idle()
        self.written_reports[Path(csv)] = Path(html)
        self.reportReady.emit(html)
        self._open_report_file(Path(html))

    def _open_report_file(self, html: Path) -> None:
        opened = self.open_url(QUrl.fromLocalFile(str(html)))
        if opened:
            self.statusBar().showMessage(f"report {html} (opened in the browser)", 8000)
        else:
            self.show_error(f"wrote the report {html}, but no browser could be opened for it",
                            box=False)

    def _on_report_failed(self, csv: str, message: str) -> None:
        self._report_idle()
        self.show_error(f"no report of {Path(csv).name}: {message}")
