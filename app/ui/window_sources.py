"""The main window's source picker: cameras (probed on a background thread), video and image
files, the source list in the toolbar and the Camera menu, and what the controller reports
about the open source.

`WindowSources` is mixed into `app.ui.main_window.MainWindow`, whose widgets, settings and
controller it uses."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from app.core import EmotionLensError
from app.core.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from app.ui.cameras import list_cameras
from app.ui.capture import SourceInfo, SourceSpec
from app.ui.settings import parse_size

log = logging.getLogger(__name__)

VIDEO_FILTER = ("Videos and images (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))
                + ");;All files (*)")
NO_SOURCE_HINT = ("Pick a camera in the source list, open a video or image (Ctrl+O), "
                  "or drop a video onto this window.")


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


class WindowSources:
    """Opening sources in `MainWindow` (a mixin: its state lives on the window)."""

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
