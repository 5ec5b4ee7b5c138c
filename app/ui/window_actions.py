"""The main window's actions (each with its shortcut and tip), its menus and toolbar, and what
the actions do: pause, mirror, loop, full screen, snapshot, recording, annotating a file,
adding a model folder, the About box and the shortcut list. (Calibrating a face and reports:
`app/ui/window_calibration.py`, `app/ui/window_reports.py`.)

`WindowActions` is mixed into `app.ui.main_window.MainWindow`, whose widgets, settings and
controller it uses."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QToolBar

from app.core import EmotionLensError
from app.core.annotate import AnnotateReport, check_outputs, default_outputs
from app.core.bundle import load_bundle
from app.core.sources import open_source
from app.ui.about import AboutDialog, about_html
from app.ui.annotate_dialog import AnnotateDialog, SummaryDialog, outputs_for
from app.ui.events import one_line
from app.ui.recorder import session_paths
from app.ui.video_view import CALIBRATE_TEXT
from app.ui.window_sources import VIDEO_FILTER

log = logging.getLogger(__name__)


class WindowActions:
    """Actions, menus and toolbar of `MainWindow` (a mixin: no state of its own)."""

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
        self.report_action = a("Re&port of a results CSV…", self.choose_report_csv,
                               tip="Build the HTML report of a recording's or an annotation's CSV "
                                   "and open it")
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
        self.calibrate_action = a(CALIBRATE_TEXT.replace("Calibrate", "&Calibrate", 1),
                                  self.calibrate_face, ("C",),
                                  tip="Take the charted face's next seconds as its neutral baseline")
        self.calibrate_action.setIconText("Calibrate")
        self.clear_calibration_action = a("C&lear calibration", self.clear_calibration,
                                          ("Shift+C",),
                                          tip="The charted face shows raw values again")
        self.clear_all_calibrations_action = a("Clear all calibrations", self.clear_all_calibrations,
                                               tip="Every face shows raw values again")
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
                    self.add_model_action, None, self.snapshot_action, self.record_action,
                    self.report_action, None, self.quit_action):
            file_menu.addSeparator() if act is None else file_menu.addAction(act)
        view = bar.addMenu("&View")
        for act in (self.pause_action, self.mirror_action, self.loop_action, None,
                    self.next_face_action, self.auto_face_action, None, self.settings_action,
                    self.fullscreen_action):
            view.addSeparator() if act is None else view.addAction(act)
        face_menu = bar.addMenu("F&ace")
        for act in (self.calibrate_action, self.clear_calibration_action,
                    self.clear_all_calibrations_action):
            face_menu.addAction(act)
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
                    self.record_action, None, self.calibrate_action, None, self.annotate_action,
                    self.settings_action):
            tools.addSeparator() if act is None else tools.addAction(act)
        self.addToolBar(tools)
        self._rebuild_sources()

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
            self.report_button.hide()  # offered again for this recording when it stops
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
        self.offer_report(self.controller.saved_csv)

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
        summary.reportRequested.connect(lambda csv: self.open_report(Path(csv)))
        self._dialogs.append(summary)
        self.offer_report(report.outputs.csv)
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
                    self.next_face_action, self.auto_face_action, self.calibrate_action,
                    self.clear_calibration_action, self.loop_action, self.settings_action,
                    self.fullscreen_action, self.shortcuts_action, self.quit_action):
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts())
            rows.append((keys, act.text().replace("&", "")))
        return rows

    def show_shortcuts(self) -> QMessageBox:
        cells = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{t}</td></tr>"
                        for k, t in self.shortcut_rows())
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts",
                          f"<table>{cells}<tr><td><b>Click</b></td><td>a face in the video: chart "
                          "it</td></tr><tr><td><b>Right click</b></td><td>a face in the video: "
                          "calibrate it, clear its calibration</td></tr></table>",
                          QMessageBox.StandardButton.Close, self)
        box.setModal(False)
        box.show()
        self._dialogs.append(box)
        return box

    def choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model bundle folder", self.ui.last_dir)
        if folder:
            self.panel.add_model_folder(folder)
            self.settings_dock.show()
