"""The main window: source picker, video with overlay, charts, settings dock, status bar, menus."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.core import EmotionLensError
from app.core.annotate import AnnotateReport, check_outputs, default_outputs
from app.core.bundle import load_bundle
from app.core.settings import PipelineSettings
from app.core.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, CaptureOpener, open_source
from app.ui.about import PRIVACY, AboutDialog, about_html
from app.ui.annotate_dialog import AnnotateDialog, SummaryDialog, outputs_for
from app.ui.cameras import list_cameras
from app.ui.charts import FacePicker, ProbabilityBars, Timeline
from app.ui.history import FaceHistory
from app.ui.recorder import session_paths
from app.ui.settings import UiSettings, parse_size, save_ui_settings, save_window_state
from app.ui.settings_panel import SettingsPanel
from app.ui.video_view import VideoView
from app.ui.worker import LiveController, PipelineInfo, Processed, SourceInfo, SourceSpec, one_line

log = logging.getLogger(__name__)

VIDEO_FILTER = ("Videos and images (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))
                + ");;All files (*)")
NO_SOURCE_HINT = ("Pick a camera in the source list, open a video or image (Ctrl+O), "
                  "or drop a video onto this window.")


CHART_INTERVAL_S = 0.1  # charts refresh at 10 Hz at most


def faces_status(faces: int, small: int, min_face_px: int) -> str:
    """The status bar's face count, naming the faces left out as smaller than `min_face_px`."""
    text = f"{faces} face{'s' * (faces != 1)}"
    if small:
        text += f" · {small} too small (< {min_face_px} px)"
    return text


def source_summary(info: SourceInfo) -> str:
    """One line on an opened source: its name, then its size and frame rate (or frame count)
    where known."""
    parts = []
    if info.size:
        parts.append(f"{info.size[0]}×{info.size[1]}")
    if info.fps:
        parts.append(f"{info.fps:.1f} fps")
    elif not info.is_camera and info.frame_count and info.frame_count > 1:
        parts.append(f"{info.frame_count} frames")
    return f"{info.name}: {', '.join(parts)}" if parts else info.name


class MainWindow(QMainWindow):
    """Observes `LiveController` results; paints and charts them. Everything slow runs elsewhere."""

    camerasFound = Signal()  # from the probe thread; the list is in `_probed`
    frameShown = Signal(int)  # processed-frame number of the packet just painted
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

    def _action(self, text: str, slot: object, shortcuts: tuple[str, ...] = (),
                checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({shortcuts[0]})" if shortcuts else tip)
        if checkable:
            action.toggled.connect(slot)  # type: ignore[arg-type]
        else:  # not the `checked` argument: slots like save_snapshot(path=None) take options
            action.triggered.connect(lambda _checked=False, run=slot: run())  # type: ignore[operator]
        self.addAction(action)  # shortcuts work even when the toolbar is hidden
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open video or image…", self.choose_file, ("Ctrl+O",),
                             tip="Open a video or image")
        self.refresh_cameras_action = a("&Find cameras", self.find_cameras, ("F5",),
                                        tip="Look for cameras again")
        self.annotate_action = a("&Annotate a video…", self.choose_annotation, ("Ctrl+E",),
                                 tip="Write an annotated MP4 and CSV for a video file")
        self.add_model_action = a("Add &model folder…", self.choose_model_folder,
                                  tip="Use a model bundle from another folder")
        self.snapshot_action = a("&Snapshot", self.save_snapshot, ("Ctrl+S",),
                                 tip="Save the current frame with its overlay as PNG")
        self.record_action = a("&Record", self.set_recording, ("Ctrl+R",), checkable=True,
                               tip="Record this session to CSV (and video, if set)")
        self.quit_action = a("&Quit", self.close, ("Ctrl+Q",))
        self.pause_action = a("&Pause", self.set_paused, ("Space", "P"), checkable=True,
                              tip="Pause or resume")
        self.mirror_action = a("&Mirror", self.set_mirror, ("M",), checkable=True,
                               tip="Mirror the picture (display only)")
        self.loop_action = a("&Loop videos", self.set_loop, ("L",), checkable=True,
                             tip="Start a video again when it ends")
        self.loop_action.setChecked(self.ui.loop_video)
        self.next_face_action = a("&Next face", self.select_next_face, ("N",),
                                  tip="Chart the next face")
        self.auto_face_action = a("&Auto face", lambda: self.select_face(None), ("A",),
                                  tip="Chart the largest face")
        self.settings_action = self.settings_dock.toggleViewAction()
        self.settings_action.setText("&Settings panel")
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.addAction(self.settings_action)
        self.fullscreen_action = a("&Full screen", self.set_fullscreen, ("F11",), checkable=True)
        self.shortcuts_action = a("&Keyboard shortcuts", self.show_shortcuts, ("F1",))
        self.about_action = a("&About Emotion Lens", self.show_about)

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.camera_menu = file_menu.addMenu("&Camera")
        for act in (self.open_action, self.refresh_cameras_action, None, self.annotate_action,
                    self.add_model_action, None, self.snapshot_action, self.record_action, None,
                    self.quit_action):
            file_menu.addSeparator() if act is None else file_menu.addAction(act)
        view = bar.addMenu("&View")
        for act in (self.pause_action, self.mirror_action, self.loop_action, None,
                    self.next_face_action, self.auto_face_action, None, self.settings_action,
                    self.fullscreen_action):
            view.addSeparator() if act is None else view.addAction(act)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

        tools = QToolBar("Main", self)
        tools.setObjectName("main_toolbar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tools.addWidget(QLabel(" Source "))
        tools.addWidget(self.source_combo)
        tools.addAction(self.open_action)
        tools.addSeparator()
        for act in (self.pause_action, self.mirror_action, None, self.snapshot_action,
                    self.record_action, None, self.annotate_action, self.settings_action):
            tools.addSeparator() if act is None else tools.addAction(act)
        self.addToolBar(tools)
        self._rebuild_sources()

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
        self.video.faceClicked.connect(self._on_face_signal)
        self.faces.faceChosen.connect(self._on_face_signal)
        self.source_combo.activated.connect(self._on_source_chosen)
        self.panel.pipelineChanged.connect(self.apply_pipeline_settings)
        self.panel.cameraSizeChanged.connect(self._on_camera_size)
        self.panel.timelineChanged.connect(self._on_timeline)
        self.panel.modelFolderInvalid.connect(self.show_error)
        self.camerasFound.connect(self._on_cameras_found)

    # ---------------------------------------------------------------- sources
    def open_camera(self, index: int) -> None:
        try:
            size = parse_size(self.ui.camera_size)
        except EmotionLensError as exc:
            self.show_error(str(exc))
            size = None
        self.ui.camera_index = index
        self._start(SourceSpec(camera=index, size=size, opener=self.camera_opener),
                    f"Opening camera {index}…")

    def open_path(self, path: str | Path) -> None:
        path = Path(path)
        self.ui.last_dir = str(path.parent)
        self._start(SourceSpec(path=path), f"Opening {path.name}…")

    def open_source_text(self, text: str | None) -> None:
        """What `--source` says: a camera index, or a path; None is the remembered camera."""
        if text is None or text == "":
            self.open_camera(self.ui.camera_index)
        elif text.isdigit():
            self.open_camera(int(text))
        else:
            self.open_path(text)

    def _start(self, spec: SourceSpec, placeholder: str) -> None:
        if self.record_action.isChecked():
            self.record_action.setChecked(False)
        self._current = spec
        self.history.clear()
        self.latest = None
        self.selected_face = None
        self.video.set_selected(None)
        self.video.clear(placeholder)
        self.mirror_action.blockSignals(True)
        self.mirror_action.setChecked(self.ui.mirror_camera if spec.is_camera else self.ui.mirror_file)
        self.mirror_action.blockSignals(False)
        self.video.set_mirror(self.mirror_action.isChecked())
        self.controller.open(spec)
        self._rebuild_sources()
        self._charts_dirty = True

    def _on_source_opened(self, info: SourceInfo) -> None:
        self.statusBar().showMessage(source_summary(info), 5000)
        self.setWindowTitle(f"Emotion Lens: {info.name}")

    def _on_source_failed(self, message: str) -> None:
        self.video.clear(f"{message}\n\n{NO_SOURCE_HINT}")
        self.show_error(message)
        if self.smoke:
            self._finish_smoke()

    def _on_source_ended(self) -> None:
        info = self.controller.source_info
        if info is not None and (info.frame_count or 0) > 1:
            self.statusBar().showMessage(f"end of {info.name} (L loops videos)", 8000)

    def _on_source_drained(self) -> None:
        if self.smoke:
            self._on_result_ready()
            self._finish_smoke()

    def _on_camera_lost(self) -> None:
        self.statusBar().showMessage("camera lost, reconnecting…")
        self.video.set_placeholder("camera lost, reconnecting…")

    def _on_camera_back(self) -> None:
        self.statusBar().showMessage("camera reconnected", 5000)

    def _rebuild_sources(self) -> None:
        combo = self.source_combo
        combo.blockSignals(True)
        combo.clear()
        cams = self.cameras if self.cameras is not None else []
        if self._current is not None and self._current.is_camera and self._current.camera not in cams:
            cams = sorted({*cams, self._current.camera})  # type: ignore[arg-type]
        for index in cams:
            combo.addItem(f"Camera {index}", ("camera", index))
        if self.cameras is not None and not self.cameras:
            combo.addItem("No camera found", ("none", None))
            combo.model().item(combo.count() - 1).setEnabled(False)  # type: ignore[attr-defined]
        if self._current is not None and self._current.path is not None:
            combo.addItem(self._current.path.name, ("path", str(self._current.path)))
        combo.addItem("Video or image file…", ("file", None))
        combo.addItem("Find cameras again", ("refresh", None))
        for i in range(combo.count()):
            kind, value = combo.itemData(i)
            cur = self._current
            if cur is not None and ((kind == "camera" and cur.camera == value)
                                    or (kind == "path" and cur.path is not None
                                        and str(cur.path) == value)):
                combo.setCurrentIndex(i)
        combo.blockSignals(False)
        self.camera_menu.clear()
        for index in cams:
            act = self.camera_menu.addAction(f"Camera {index}")
            act.triggered.connect(lambda _=False, i=index: self.open_camera(i))
        if not cams:
            self.camera_menu.addAction("No camera found").setEnabled(False)
        self.camera_menu.addSeparator()
        self.camera_menu.addAction(self.refresh_cameras_action)

    def _on_source_chosen(self, index: int) -> None:
        kind, value = self.source_combo.itemData(index)
        if kind == "camera":
            self.open_camera(int(value))
        elif kind == "path":
            self.open_path(value)
        elif kind == "file":
            self._rebuild_sources()
            self.choose_file()
        elif kind == "refresh":
            self._rebuild_sources()
            self.find_cameras()

    def find_cameras(self) -> None:
        """Probe the cameras on a background thread; the list fills in when done."""
        self.statusBar().showMessage("looking for cameras…", 3000)
        cur = self._current
        in_use = frozenset({cur.camera} if cur is not None and cur.camera is not None else set())

        def probe() -> None:
            try:
                found = list_cameras(in_use=in_use)
            except Exception:
                log.exception("camera probe")
                found = []
            self._probed = found
            self.camerasFound.emit()

        threading.Thread(target=probe, name="camera-probe", daemon=True).start()

    def _on_cameras_found(self) -> None:
        cameras = self.cameras = list(self._probed)
        self._rebuild_sources()
        text = (f"cameras: {', '.join(map(str, cameras))}" if cameras
                else "no camera found; open a video or image instead")
        self.statusBar().showMessage(text, 5000)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a video or image", self.ui.last_dir,
                                              VIDEO_FILTER)
        if path:
            self.open_path(path)

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
        self.video.set_frame(packet.frame.image, packet.result, self.labels, packet.frame.read_at)
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
                label = f"  {self.labels[i]} {probs[i]:.0%}"
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
        suffix = " (auto)" if auto else ""
        self.bars.set_values(probs, f"Face #{face}{suffix}" + ("" if seen else ": not in view"),
                             stale=not seen)
        times, series = self.history.series(face)
        now = self.history.latest.time_s if self.history.latest else 0.0
        self.timeline.set_series(times, series, now,
                                 f"Face #{face}{suffix}: last {self.history.window_s:.0f} s")

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

    def choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model bundle folder", self.ui.last_dir)
        if folder:
            self.panel.add_model_folder(folder)
            self.settings_dock.show()

    # ---------------------------------------------------------------- actions
    def set_paused(self, paused: bool) -> None:
        self.controller.set_paused(paused)
        self.statusBar().showMessage("paused (Space resumes)" if paused else "resumed", 3000)

    def set_mirror(self, on: bool) -> None:
        if self._current is not None and self._current.is_camera:
            self.ui.mirror_camera = on
        else:
            self.ui.mirror_file = on
        self.video.set_mirror(on)

    def set_loop(self, on: bool) -> None:
        self.ui.loop_video = on
        self.controller.set_loop(on)

    def set_fullscreen(self, on: bool) -> None:
        self.showFullScreen() if on else self.showNormal()

    def save_snapshot(self, path: str | Path | None = None) -> Path | None:
        image = self.video.render_image()
        if image is None:
            self.show_error("nothing to snapshot yet", box=False)
            return None
        if path is None:
            folder = self.ui.output_path()
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.show_error(f"cannot create {folder}: {exc.strerror}")
                return None
            stamp = datetime.now().strftime("%Y%m%d_%H%M%S_%f")[:-3]
            path = folder / f"snapshot_{stamp}.png"
        path = Path(path)
        if not image.save(str(path), "PNG"):
            self.show_error(f"cannot write {path}")
            return None
        self.statusBar().showMessage(f"saved snapshot {path}", 6000)
        return path

    def set_recording(self, on: bool) -> None:
        if on:
            if self.controller.recorder is not None:
                return
            folder = self.ui.output_path()
            try:
                folder.mkdir(parents=True, exist_ok=True)
                csv, video = session_paths(folder, self.ui.record_video)
                self.controller.start_recording(csv, video)
            except (EmotionLensError, OSError) as exc:
                self._uncheck_record(f"cannot record: {one_line(exc)}")
                return
            self.statusBar().showMessage(f"recording to {csv}" + (f" and {video.name}" if video else ""),
                                         6000)
        else:
            if self.controller.recorder is not None:
                self.statusBar().showMessage("finishing the recording…")
            self.controller.stop_recording(wait=False)  # the UI never waits for the encoder
        self.refresh_status()

    def _on_recording_saved(self, files: str) -> None:
        self.statusBar().showMessage(f"saved {files}", 8000)

    def _uncheck_record(self, message: str) -> None:
        """The recording did not start or stopped by itself: show the button off, say why."""
        self.record_action.blockSignals(True)
        self.record_action.setChecked(False)
        self.record_action.blockSignals(False)
        self.show_error(message)

    def choose_annotation(self) -> None:
        src, _ = QFileDialog.getOpenFileName(self, "Annotate which video?", self.ui.last_dir,
                                             VIDEO_FILTER)
        if not src:
            return
        source = Path(src)
        default = default_outputs(source, self.ui.output_path()).video  # the dialog picks files
        assert default is not None
        suffix = default.suffix
        out, _ = QFileDialog.getSaveFileName(self, "Save the annotated video as", str(default),
                                             f"{suffix[1:].upper()} (*{suffix})")
        if out:
            self.start_annotation(source, Path(out), confirm=True)

    def start_annotation(self, source: Path, annotated: Path, confirm: bool = False,
                         ) -> AnnotateDialog | None:
        """Annotate `source` into `annotated` (+ the CSV beside it) with the current settings."""
        outputs = outputs_for(source, annotated)
        try:  # a bad input is one message now, before a model loads or a file is written
            open_source(source).close()
        except EmotionLensError as exc:
            self.show_error(one_line(exc))
            return None
        try:
            if annotated.parent and not annotated.parent.exists():
                annotated.parent.mkdir(parents=True, exist_ok=True)
            need = source.stat().st_size if source.is_file() else 0
            check_outputs(source, outputs, overwrite=True, need_bytes=need)
        except (EmotionLensError, OSError) as exc:
            self.show_error(one_line(exc))
            return None
        if confirm and outputs.csv is not None and outputs.csv.exists():
            answer = QMessageBox.question(self, "Replace?", f"{outputs.csv.name} exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return None
        settings = self.ui.pipeline(self.base)
        dialog = AnnotateDialog(source, outputs, settings, self.ui.model_path(), self)
        dialog.done.connect(self._on_annotation_done)
        dialog.error.connect(lambda msg: self.show_error(f"annotation failed: {msg}"))
        self._dialogs.append(dialog)
        dialog.start()
        return dialog

    def _on_annotation_done(self, report: AnnotateReport) -> None:
        labels = tuple(report.summary.get("labels", self.labels))
        summary = SummaryDialog(report, labels, self)
        self._dialogs.append(summary)
        summary.show()
        self.statusBar().showMessage(
            f"annotation {'cancelled' if report.cancelled else 'done'}: {report.frames} frames", 8000)

    def show_about(self) -> AboutDialog:
        info = self.controller.pipeline_info
        try:
            bundle = load_bundle(info.model_path if info else self.ui.model_path())
        except EmotionLensError:
            bundle = None
        box = AboutDialog(about_html(bundle, info.backend if info else None,
                                     info.detector if info else None), self)
        box.show()
        self._dialogs.append(box)
        return box

    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows = []
        for act in (self.pause_action, self.mirror_action, self.snapshot_action, self.record_action,
                    self.open_action, self.annotate_action, self.refresh_cameras_action,
                    self.next_face_action, self.auto_face_action, self.loop_action,
                    self.settings_action, self.fullscreen_action, self.shortcuts_action,
                    self.quit_action):
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts())
            rows.append((keys, act.text().replace("&", "")))
        return rows

    def show_shortcuts(self) -> QMessageBox:
        cells = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{t}</td></tr>"
                        for k, t in self.shortcut_rows())
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts",
                          f"<table>{cells}<tr><td><b>Click</b></td><td>a face in the video: chart "
                          "it</td></tr></table>", QMessageBox.StandardButton.Close, self)
        box.setModal(False)
        box.show()
        self._dialogs.append(box)
        return box

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
        self.controller.shutdown()
        super().closeEvent(event)
