"""Annotate a video file from the GUI: `app.core.annotate.annotate` in a worker thread, a progress
dialog with ETA and cancel (what was written is kept), then a summary of the emotion share over time
with "Open report" (the main window builds it)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.annotate import AnnotateOutputs, AnnotateReport, annotate
from app.core.pipeline import Pipeline
from app.core.settings import PipelineSettings
from app.ui.events import one_line
from app.ui.summary import ShareOverTime, share_over_time
from app.ui.video_view import qcolor

log = logging.getLogger(__name__)


def outputs_for(video: Path, annotated: Path) -> AnnotateOutputs:
    """The annotated MP4 the user chose and the CSV beside it (`<name>_emotions.csv`)."""
    stem = annotated.stem.removesuffix("_annotated") or video.stem
    return AnnotateOutputs(video=annotated, csv=annotated.with_name(f"{stem}_emotions.csv"))


def format_eta(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "estimating…"
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"about {h}:{m:02d}:{s:02d} left" if h else f"about {m}:{s:02d} left"


class AnnotateJob(QObject):
    """Runs one annotation on a daemon thread with its own Pipeline."""

    loaded = Signal()
    progress = Signal(int, int)  # frames done, total (-1: unknown)
    finished = Signal()  # the report is in `report` (no Python objects through queued signals)
    failed = Signal(str)

    def __init__(self, source: Path, outputs: AnnotateOutputs, settings: PipelineSettings,
                 model: Path | None, parent: QObject | None = None):
        super().__init__(parent)
        self.source, self.outputs, self.settings, self.model = source, outputs, settings, model
        self.cancel_event = threading.Event()
        self._last_emit = 0.0
        self.report: AnnotateReport | None = None
        self._thread = threading.Thread(target=self._run, name="annotate", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last_emit >= 0.1 or (total is not None and done >= total):
            self._last_emit = now
            self.progress.emit(done, -1 if total is None else total)

    def _run(self) -> None:
        try:
            with Pipeline(self.settings, model=self.model) as pipeline:
                self.loaded.emit()
                report = annotate(self.source, self.outputs, pipeline, progress=self._progress,
                                  cancelled=self.cancel_event.is_set,
                                  overwrite=True)  # the window asked before replacing a file
        except Exception as exc:
            log.exception("annotating %s", self.source)
            self.failed.emit(one_line(exc))
            return
        self.report = report
        self.finished.emit()


class AnnotateDialog(QDialog):
    """Progress bar, frames done of total, speed, ETA and Cancel. Emits `done` with the report."""

    done = Signal(object)  # AnnotateReport
    error = Signal(str)

    def __init__(self, source: Path, outputs: AnnotateOutputs, settings: PipelineSettings,
                 model: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Annotating {source.name}")
        self.setMinimumWidth(460)
        self.source = source
        self.outputs = outputs
        self.report: AnnotateReport | None = None
        self.failure: str | None = None
        layout = QVBoxLayout(self)
        target = ", ".join(p.name for p in outputs.paths())
        layout.addWidget(QLabel(f"<b>{source.name}</b> → {target}"))
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        layout.addWidget(self.bar)
        self.status = QLabel("loading the model…")
        layout.addWidget(self.status)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop; the annotated video and CSV keep the frames done so far")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QDialogButtonBox()
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        layout.addWidget(buttons)
        self._t0 = time.monotonic()
        self._start_done = 0
        self.job = AnnotateJob(source, outputs, settings, model, self)
        self.job.loaded.connect(self._on_loaded)
        self.job.progress.connect(self._on_progress)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)

    def start(self) -> None:
        self.job.start()
        self.show()

    def cancel(self) -> None:
        self.job.cancel()
        self.cancel_button.setEnabled(False)
        self.status.setText("cancelling… (finishing the files)")

    def reject(self) -> None:  # Esc or the window's close button: cancel, then close when done
        if self.report is None and self.failure is None:
            self.cancel()
        else:
            super().reject()

    def _on_loaded(self) -> None:
        self._t0 = time.monotonic()
        self.status.setText("starting…")

    def _on_progress(self, done: int, total: int) -> None:
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        rate = done / elapsed
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
            eta = (total - done) / rate if rate > 0 else None
            text = f"frame {done} of {total} · {rate:.1f} fps · {format_eta(eta)}"
        else:
            text = f"frame {done} · {rate:.1f} fps"
        if not self.job.cancel_event.is_set():
            self.status.setText(text)

    def _on_finished(self) -> None:
        report = self.job.report
        assert report is not None
        self.report = report
        self.accept()
        self.done.emit(report)

    def _on_failed(self, message: str) -> None:
        self.failure = message
        self.reject()
        self.error.emit(message)


class ShareChart(pg.PlotWidget):
    """Stacked areas: the share of each expression among the faces in each time bin."""

    def __init__(self, data: ShareOverTime, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setLabel("bottom", "time (s)")
        # a band above 100 % for the legend (on an opaque ground, as the areas fill the plot)
        self.setYRange(0, 1.16, padding=0)
        self.getAxis("left").setTicks([[(v, f"{v:.0%}") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        self.addLegend(offset=(8, 2), colCount=7, labelTextSize="8pt",
                       brush=pg.mkBrush(27, 27, 32, 235), pen=pg.mkPen("#4a4a52"))
        if not len(data.starts):
            return
        x = np.column_stack([data.starts, data.ends]).ravel()
        rows = np.repeat(data.shares, 2, axis=0)
        # an invisible pen, not None: pyqtgraph gives a curve without a pen no path to fill to,
        # and the bottom label's area then stayed empty
        below = pg.PlotDataItem(x, np.zeros_like(x), pen=pg.mkPen(None))
        cum = np.zeros(len(x))
        for i, name in enumerate(data.labels):
            if not rows[:, i].any():
                continue
            cum = cum + rows[:, i]
            above = pg.PlotDataItem(x, cum.copy(), pen=pg.mkPen(qcolor(name), width=1), name=name)
            self.addItem(above)
            fill = pg.FillBetweenItem(below, above, brush=pg.mkBrush(qcolor(name)))
            self.addItem(fill)
            below = above


class SummaryDialog(QDialog):
    """After an annotation: counts, where the files are, the emotion share over time, and "Open
    report" (`reportRequested` with the CSV's path)."""

    reportRequested = Signal(str)

    def __init__(self, report: AnnotateReport, labels: tuple[str, ...], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Annotation summary")
        self.resize(720, 480)
        s = report.summary
        layout = QVBoxLayout(self)
        head = f"<b>{Path(s.get('source', '')).name}</b>: {report.frames} frames"
        if report.expected_frames:
            head += f" of {report.expected_frames}"
        head += f", {report.frames_with_faces} with faces, {s.get('face_rows', 0)} face rows"
        if report.cancelled:
            head += "<br><b>Cancelled</b>: the files hold the frames done before the cancel."
        elif report.stopped_early:
            head += "<br>The video stopped decoding early (truncated or damaged)."
        share = s.get("label_share", {})
        # the four commonest labels, leaving out those that round to 0 %
        top = [kv for kv in sorted(share.items(), key=lambda kv: -kv[1]) if kv[1] >= 0.005][:4]
        if s.get("face_rows"):
            head += "<br>Overall: " + ", ".join(f"{k} {v:.0%}" for k, v in top)
        info = QLabel(head)
        info.setWordWrap(True)
        layout.addWidget(info)
        self.data: ShareOverTime | None = None
        if report.outputs.csv is not None and report.outputs.csv.is_file():
            try:
                self.data = share_over_time(report.outputs.csv, labels)
            except (OSError, ValueError) as exc:
                layout.addWidget(QLabel(f"cannot read {report.outputs.csv.name}: {exc}"))
        if self.data is not None and len(self.data.starts):
            self.chart = ShareChart(self.data)
            layout.addWidget(self.chart, 1)
        else:
            layout.addWidget(QLabel("No faces were found, so there is no emotion share to show."))
        files = QLabel("<br>".join(f"wrote <a href='{QUrl.fromLocalFile(str(p)).toString()}'>{p}</a>"
                                   for p in report.outputs.paths() if p.exists()))
        files.setTextFormat(Qt.TextFormat.RichText)
        files.setOpenExternalLinks(True)
        files.setWordWrap(True)
        layout.addWidget(files)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.report_button: QPushButton | None = None
        csv = report.outputs.csv
        if csv is not None and csv.is_file():
            self.report_button = buttons.addButton("Open report", QDialogButtonBox.ButtonRole.ActionRole)
            self.report_button.setToolTip(f"Build the HTML report of {csv.name} and open it")
            self.report_button.clicked.connect(lambda: self.reportRequested.emit(str(csv)))
        folder = next((p.parent for p in report.outputs.paths()), None)
        if folder is not None:
            open_folder = buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
            open_folder.clicked.connect(
                lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
