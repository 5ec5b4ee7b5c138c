"""The main window: its layout (video with overlay, charts, settings dock, status bar) and what
it shows (each processed frame, the charts, the status, errors).

Its actions, menus and toolbar are in `app/ui/window_actions.py`, the source picker (cameras,
files, the source list) in `app/ui/window_sources.py`, calibrating faces in
`app/ui/window_calibration.py`, reports in `app/ui/window_reports.py`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import PipelineSettings
from app.core.sources import CaptureOpener
from app.ui.about import PRIVACY
from app.ui.annotate_dialog import AnnotateDialog
from app.ui.capture import SourceSpec
from app.ui.charts import FacePicker, ProbabilityBars, Timeline
from app.ui.controller import LiveController
from app.ui.history import FaceHistory
from app.ui.inference import PipelineInfo, Processed
from app.ui.latency import FrameMarks
from app.ui.settings import UiSettings, save_ui_settings, save_window_state
from app.ui.settings_panel import SettingsPanel
from app.ui.video_view import VideoView
from app.ui.window_actions import WindowActions
from app.ui.window_calibration import WindowCalibration
from app.ui.window_reports import WindowReports
from app.ui.window_sources import WindowSources

log = logging.getLogger(__name__)

CHART_INTERVAL_S = 0.1  # charts refresh at 10 Hz at most


def faces_status(faces: int, small: int, min_face_px: int) -> str:
    """The status bar's face count, naming the faces left out as smaller than `min_face_px`."""
    text = f"{faces} face{'s' * (faces != 1)}"
    if small:
        text += f" · {small} too small (< {min_face_px} px)"
    return text


class MainWindow(WindowActions, WindowSources, WindowCalibration, WindowReports, QMainWindow):
    """Observes `LiveController` results; paints and charts them. Everything slow runs elsewhere.

    The layout is built here; the actions, menus and toolbar come from `WindowActions`, opening
    sources from `WindowSources`."""

    camerasFound = Signal()  # from the probe thread; the list is in `_probed`
    frameShown = Signal(int)  # processed-frame number of the packet just painted
    reportReady = Signal(str)  # a report just written (its path), before it is opened
    smokeDone = Signal()

    def __init__(self, ui: UiSettings, qsettings: QSettings | None = None,
                 base: PipelineSettings | None = None, *, smoke: bool = False,
                 persist: bool = True, controller: LiveController | None = None):
        super().__init__()
        self.ui = ui
        self.qsettings = qsettings
        self.base = base or PipelineSettings()
        self.smoke = smoke
        self.persist = persist and qsettings is not None
        self.stored_ui: UiSettings | None = None  # what to save for fields the CLI overrode
        self.cli_overrides: dict[str, object] = {}
        self.camera_opener: CaptureOpener | None = None  # tests put a video behind the camera path
        self.history = FaceHistory(ui.timeline_s)
        self.selected_face: int | None = None
        self.latest: Processed | None = None
        self.labels: tuple[str, ...] = ()
        self.cameras: list[int] | None = None
        self._probed: list[int] = []
        self.errors: list[str] = []
        self.smoke_frames: int | None = None
        self.frames_shown = 0
        self._message_box: QMessageBox | None = None
        self._dialogs: list[QWidget] = []
        self._charts_dirty = False
        self._last_processing_error = 0.0
        self._smoke_finished = False
        self._current: SourceSpec | None = None

        self.setWindowTitle("Emotion Lens")
        self.setAcceptDrops(True)
        self.controller = controller or LiveController(ui.pipeline(self.base), ui.model_path(),
                                                       smoke=smoke)
        self.controller.set_loop(ui.loop_video)
        self._build_widgets()
        self._build_actions()
        self._build_status_bar()
        self._build_reports()
        self._connect()
        # charts at 10 Hz, drawn right after a frame is painted (so that they never hold up the
        # next one); this timer covers the times when no frames arrive. The video paints per frame.
        self._charts_at = 0.0
        self._chart_timer = QTimer(self)
        self._chart_timer.setInterval(round(CHART_INTERVAL_S * 1000))
        self._chart_timer.timeout.connect(self._refresh_if_dirty)
        self._chart_timer.start()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(250)
        self._status_timer.timeout.connect(self.refresh_status)
        self._status_timer.start()
        self.resize(1360, 820)

    # ---------------------------------------------------------------- building
    def _build_widgets(self) -> None:
        self.video = VideoView()
        self.video.scaler = self.controller.display
        self.video.set_placeholder("Starting…")
        self.bars = ProbabilityBars()
        self.faces = FacePicker()
        self.timeline = Timeline()
        self.timeline.set_window(self.ui.timeline_s)
        right = QWidget()
        col = QVBoxLayout(right)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.bars, 3)
        col.addWidget(QLabel("Faces (click one here or in the video):"))
        col.addWidget(self.faces, 1)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.video)
        top.addWidget(right)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 1)
        top.setSizes([900, 380])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.timeline)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([560, 220])
        self.setCentralWidget(self.splitter)

        self.panel = SettingsPanel(self.ui)
        self.settings_dock = QDockWidget("Settings", self)
        self.settings_dock.setObjectName("settings_dock")
        self.settings_dock.setWidget(self.panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.settings_dock)
        self.settings_dock.hide()

        self.source_combo = QComboBox()
        self.source_combo.setMinimumContentsLength(22)
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_combo.setToolTip("Source: a camera, a video or an image")

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.rec_label = QLabel()
        self.rec_label.setStyleSheet("color: #e03030; font-weight: bold")
        self.fps_label = QLabel("– fps")
        # faces in the latest frame, and those found but left out as smaller than min_face_px:
        # "0 faces" never hides faces that were there but too small
        self.faces_label = QLabel()
        self.faces_label.setToolTip("Faces in the latest frame. \"Too small\": faces found but "
                                    "smaller than min_face_px (a [pipeline] value of --config), "
                                    "left out of the overlay, charts and recordings")
        self.timing_label = QLabel()
        self.model_label = QLabel("model: loading…")
        self.privacy_label = QLabel("processing stays on this machine")
        self.privacy_label.setToolTip(PRIVACY)
        # widths for the widest numbers, so the bar neither jitters nor clips as they change
        for label, widest in ((self.fps_label, "000.0 fps · 00000 dropped"),
                              (self.timing_label, "detect 000.0 · align 00.0 · classify 000.0 · "
                                                  "track 00.0 ms")):
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(widest) + 8)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for w in (self.rec_label, self.fps_label, self.faces_label, self.timing_label,
                  self.model_label, self.privacy_label):
            w.setContentsMargins(8, 0, 8, 0)
            sb.addPermanentWidget(w)
        self.rec_label.hide()
        # A message (source opened, paused, camera lost, file saved...) is drawn left of these
        # labels, in what they leave free: the stage times, which change every frame anyway, make
        # room for it while it shows, and so does the face count.
        sb.messageChanged.connect(self._on_status_message)

    def _on_status_message(self, text: str) -> None:
        self.timing_label.setVisible(not text)
        self.faces_label.setVisible(not text)

    def _connect(self) -> None:
        c = self.controller
        c.resultReady.connect(self._on_result_ready)
        c.sourceOpened.connect(self._on_source_opened)
        c.sourceFailed.connect(self._on_source_failed)
        c.sourceEnded.connect(self._on_source_ended)
        c.sourceWarning.connect(self.show_error)
        c.sourceDrained.connect(self._on_source_drained)
        c.cameraLost.connect(self._on_camera_lost)
        c.cameraBack.connect(self._on_camera_back)
        c.pipelineLoading.connect(lambda text: self.model_label.setText(text))
        c.pipelineReady.connect(self._on_pipeline_ready)
        c.pipelineFailed.connect(self._on_pipeline_failed)
        c.processingError.connect(self._on_processing_error)
        c.recordingError.connect(self._uncheck_record)
        c.recordingSaved.connect(self._on_recording_saved)
        c.limitReached.connect(self._on_limit)
        c.calibrationDone.connect(self._on_calibration_done)
        c.calibrationFailed.connect(self._on_calibration_failed)
        self.video.faceClicked.connect(self._on_face_signal)
        self.video.calibrateRequested.connect(self.calibrate_face)
        self.video.clearCalibrationRequested.connect(self.clear_calibration)
        self.faces.faceChosen.connect(self._on_face_signal)
        self.source_combo.activated.connect(self._on_source_chosen)
        self.panel.pipelineChanged.connect(self.apply_pipeline_settings)
        self.panel.cameraSizeChanged.connect(self._on_camera_size)
        self.panel.timelineChanged.connect(self._on_timeline)
        self.panel.modelFolderInvalid.connect(self.show_error)
        self.camerasFound.connect(self._on_cameras_found)

    # ---------------------------------------------------------------- drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        path = paths[0]
        if path.is_dir() and (path / "model.json").is_file():
            self.panel.add_model_folder(path)
        else:
            self.open_path(path)

    # ---------------------------------------------------------------- results
    def _on_result_ready(self) -> None:
        packet = self.controller.take_latest()
        if packet is None:
            return
        self.latest = packet
        if packet.labels:
            self._set_labels(packet.labels)
        self.history.add(packet.result)
        if self.selected_face is not None and self.selected_face not in self.history.traces:
            self.select_face(None)  # the chosen face left long ago: follow the largest again
        marks = FrameMarks(packet.frame.read_at, packet.picked_at, packet.done_at,
                           time.perf_counter(), packet.result.timings_ms)
        self.video.set_frame(packet.frame.image, packet.result, self.labels, marks, packet.calibration)
        self.frames_shown += 1
        self._charts_dirty = True
        if time.monotonic() - self._charts_at >= CHART_INTERVAL_S:
            self.video.repaint()  # this frame first, then the charts in the time before the next
            self.refresh_charts()
        self.frameShown.emit(packet.seq)
        if self.smoke and self.smoke_frames is not None and packet.seq >= self.smoke_frames:
            self._finish_smoke()

    def charted_face(self) -> int | None:
        if self.selected_face is not None and self.selected_face in self.history.traces:
            return self.selected_face
        return self.history.auto_face()

    def _on_face_signal(self, face_id: int) -> None:
        self.select_face(None if face_id < 0 else face_id)

    def select_face(self, face_id: int | None) -> None:
        """Chart this face (None: the largest face in view, following it)."""
        self.selected_face = face_id
        self.video.set_selected(face_id)
        self.faces.choose(face_id)
        self.refresh_charts()

    def select_next_face(self) -> None:
        ids = sorted(self.history.traces)
        if not ids:
            return
        cur = self.charted_face()
        nxt = ids[(ids.index(cur) + 1) % len(ids)] if cur in ids else ids[0]
        self.select_face(nxt)

    def _refresh_if_dirty(self) -> None:
        if self._charts_dirty and time.monotonic() - self._charts_at >= CHART_INTERVAL_S:
            self.refresh_charts()

    def refresh_charts(self) -> None:
        self._charts_dirty = False
        self._charts_at = time.monotonic()
        face = self.charted_face()
        auto = self.selected_face is None
        in_view = self.history.in_view()
        rows = []
        for fid in self.history.face_ids():
            probs, seen = self.history.current(fid)
            label = ""
            if probs is not None and self.labels:
                i = int(probs.argmax())
                label = f"  {self.labels[i]} {probs[i]:.0%}{self._calibration_words(fid)}"
            rows.append((fid, f"Face #{fid}{label}{'' if fid in in_view else '  (not in view)'}",
                         seen))
        self.faces.set_faces(rows, self.selected_face)
        if not self.labels:
            return
        if face is None:
            self.bars.set_values(None, "No face")
            self.timeline.set_series(self.history.series(-1)[0], self.history.series(-1)[1], 0.0,
                                     f"No face in the last {self.history.window_s:.0f} s")
            return
        probs, seen = self.history.current(face)
        suffix = (" (auto)" if auto else "") + self._calibration_words(face)
        self.bars.set_values(probs, f"Face #{face}{suffix}" + ("" if seen else ": not in view"),
                             stale=not seen)
        times, series = self.history.series(face)
        now = self.history.latest.time_s if self.history.latest else 0.0
        self.timeline.set_series(times, series, now,
                                 f"Face #{face}{suffix}: last {self.history.window_s:.0f} s")

    def _calibration_words(self, face_id: int) -> str:
        state = self.calibration_of(face_id)
        if state is None:
            return ""
        if state.state == "collecting":
            return f" · calibrating {state.progress or 0.0:.0%}"
        return " · calibrated"

    def refresh_status(self) -> None:
        p = self.latest
        if p is not None:
            dropped = f" · {p.dropped} dropped" if p.dropped else ""
            self.fps_label.setText(f"{p.fps:.1f} fps{dropped}")
            self.faces_label.setText(faces_status(len(p.result.faces), p.result.small_faces,
                                                  self.ui.pipeline(self.base).min_face_px))
            t = p.result.timings_ms
            if t:
                self.timing_label.setText(" · ".join(f"{k} {v:.1f}" for k, v in t.items()) + " ms")
        recorder = self.controller.recorder
        if recorder is not None:
            s = int(recorder.elapsed_s)
            self.rec_label.setText(f"● REC {s // 60}:{s % 60:02d}")
            self.rec_label.show()
        else:
            self.rec_label.hide()

    # ---------------------------------------------------------------- pipeline
    def apply_pipeline_settings(self) -> None:
        self.controller.configure(self.ui.pipeline(self.base), self.ui.model_path())

    def _on_pipeline_ready(self, info: PipelineInfo) -> None:
        # the bundle's folder name keeps the bar short; its full name is in the tooltip
        self.model_label.setText(f"model {Path(info.model_path).name or info.model} · "
                                 f"{info.backend} · {info.detector}")
        self.model_label.setToolTip(f"{info.model}\n{info.model_path}")
        self._set_labels(info.labels)

    def _set_labels(self, labels: tuple[str, ...]) -> None:
        if labels != self.labels:
            self.labels = labels
            self.bars.set_labels(labels)
            self.timeline.set_labels(labels)

    def _on_pipeline_failed(self, message: str) -> None:
        self.model_label.setText("no model")
        self.show_error(f"{message} (pick another model in Settings)")
        if self.smoke:
            self._finish_smoke()
        else:
            self.settings_dock.show()

    def _on_processing_error(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_processing_error > 5.0:
            self._last_processing_error = now
            self.show_error(message, box=False)

    def _on_camera_size(self, size: str) -> None:
        if self._current is not None and self._current.is_camera:
            self.open_camera(self._current.camera or 0)

    def _on_timeline(self, seconds: float) -> None:
        self.history.set_window(seconds)
        self.timeline.set_window(seconds)
        self._charts_dirty = True

    # ---------------------------------------------------------------- errors
    def show_error(self, message: str, box: bool = True) -> None:
        """One clear line in the status bar and (non-modal, never stacking) a message box."""
        log.info("shown to the user: %s", message)  # the log file; the terminal stays quiet
        self.errors.append(message)
        self.statusBar().showMessage(message, 15000)
        if self.smoke or not box:
            return
        if self._message_box is None:
            self._message_box = QMessageBox(QMessageBox.Icon.Warning, "Emotion Lens", message,
                                            QMessageBox.StandardButton.Ok, self)
            self._message_box.setModal(False)
        else:
            self._message_box.setText(message)
        self._message_box.show()

    # ---------------------------------------------------------------- smoke mode
    def _on_limit(self) -> None:
        if self.smoke:
            self._on_result_ready()
            self._finish_smoke()

    def _finish_smoke(self) -> None:
        if not self._smoke_finished:
            self._smoke_finished = True
            self.refresh_charts()
            self.refresh_status()
            self.smokeDone.emit()

    # ---------------------------------------------------------------- closing
    def save_settings(self) -> None:
        if not self.persist or self.qsettings is None:
            return
        ui = self.ui
        if self.cli_overrides and self.stored_ui is not None:
            ui = replace(ui, model_folders=list(ui.model_folders))
            for key, value in self.cli_overrides.items():
                if getattr(ui, key) == value:  # not changed in the GUI: keep what was stored
                    setattr(ui, key, getattr(self.stored_ui, key))
        save_ui_settings(self.qsettings, ui)
        save_window_state(self.qsettings, self.saveGeometry(), self.saveState())

    def restore_window(self) -> None:
        if self.qsettings is None:
            return
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.panel.flush()
        try:
            self.save_settings()
        except Exception:
            log.exception("saving settings")
        for dialog in self._dialogs:
            if isinstance(dialog, AnnotateDialog) and dialog.report is None:
                dialog.job.cancel()
                dialog.job.wait(5.0)
        self._chart_timer.stop()
        self._status_timer.stop()
        if self.reports.busy:  # let a report being written finish (a minute at most)
            self.reports.wait(60_000)
        self.controller.shutdown()
        super().closeEvent(event)
