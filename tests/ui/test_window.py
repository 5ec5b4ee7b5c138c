"""The main window with the real pipeline on the real sample video (offscreen Qt)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from app.core.results import CsvWriter
from app.ui.about import DISCLAIMER
from app.ui.settings import UiSettings, load_ui_settings

WAIT_MS = 30_000


def wait_frames(qtbot, window, n: int) -> None:
    start = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown >= start + n, timeout=WAIT_MS)


def test_frames_flow_overlay_charts_and_status(qtbot, make_window, video: Path) -> None:
    window = make_window()
    window.open_path(video)
    wait_frames(qtbot, window, 12)
    packet = window.latest
    assert packet is not None and packet.result.faces, "the sample video has a face"
    assert packet.frame.image.shape[:2] == (336, 596)
    assert window.video.has_frame and window.video.result is packet.result
    # probabilities in the bar chart: the charted face's current smoothed ones
    window.refresh_charts()
    face = window.charted_face()
    assert face is not None
    current, _ = window.history.current(face)
    assert np.allclose(window.bars.values, current) and abs(window.bars.values.sum() - 1) < 0.02
    assert window.timeline.point_count() >= 7 * 5
    assert window.faces.face_ids() == [face]
    # the status bar: fps, per-stage ms, model + backend, privacy line
    window.refresh_status()
    assert "fps" in window.fps_label.text()
    for stage in ("detect", "align", "classify", "track"):
        assert stage in window.timing_label.text()
    info = window.controller.pipeline_info
    assert info is not None and info.backend in window.model_label.text()
    assert "stays on this machine" in window.privacy_label.text()
    # live playback is paced at the video's rate, not faster
    seq0, t0 = packet.seq, time.monotonic()
    wait_frames(qtbot, window, 10)
    rate = (window.latest.seq - seq0) / (time.monotonic() - t0)
    assert rate < 24.7 * 1.3
    # the window paints into a screenshot that is not blank
    shot = window.grab().toImage()
    assert shot.width() > 500 and not shot.isNull()


def test_pause_stops_frames_and_resume_continues(qtbot, make_window, video: Path) -> None:
    window = make_window()
    window.open_path(video)
    wait_frames(qtbot, window, 3)
    window.pause_action.trigger()
    qtbot.wait(300)
    seq = window.latest.seq
    qtbot.wait(400)
    assert window.latest.seq <= seq + 1
    window.pause_action.trigger()
    wait_frames(qtbot, window, 3)
    assert window.latest.seq > seq + 1


def test_clicking_a_face_selects_it_for_the_charts(qtbot, make_window, two_faces: Path) -> None:
    window = make_window()
    window.open_path(two_faces)
    qtbot.waitUntil(lambda: window.latest is not None and len(window.latest.result.faces) >= 2,
                    timeout=WAIT_MS)
    faces = window.latest.result.faces
    auto = window.charted_face()
    other = next(f for f in faces if f.face_id != auto)
    window.video.set_mirror(True)  # clicks must land on the mirrored boxes too
    pos = window.video.widget_pos_of(other.face_id)
    qtbot.mouseClick(window.video, Qt.MouseButton.LeftButton, pos=QPoint(round(pos.x()), round(pos.y())))
    assert window.selected_face == other.face_id
    assert window.video.selected_id == other.face_id
    assert np.allclose(window.bars.values, other.smoothed)
    assert f"Face #{other.face_id}" in window.bars.plotItem.titleLabel.text
    # picking from the list works the same way
    window.faces.choose(auto)
    assert window.selected_face == auto
    assert np.allclose(window.bars.values, next(f for f in faces if f.face_id == auto).smoothed)
    # a click beside every face goes back to following the largest face
    qtbot.mouseClick(window.video, Qt.MouseButton.LeftButton, pos=QPoint(2, 2))
    assert window.selected_face is None
    window.select_next_face()
    assert window.selected_face is not None


def test_mirror_flips_the_boxes_for_display(make_window, two_faces: Path, qtbot) -> None:
    window = make_window()
    window.open_path(two_faces)
    qtbot.waitUntil(lambda: window.latest is not None and bool(window.latest.result.faces),
                    timeout=WAIT_MS)
    fid = window.latest.result.faces[0].face_id
    window.video.set_mirror(False)
    plain = window.video.widget_pos_of(fid)
    window.mirror_action.trigger()
    assert window.video.mirror
    mirrored = window.video.widget_pos_of(fid)
    rect = window.video.image_rect()
    assert abs((plain.x() - rect.left()) - (rect.right() - mirrored.x())) < 1.5
    assert window.video.face_at(QPointF(mirrored)) == fid


def test_settings_persist(qtbot, make_window) -> None:
    window = make_window()
    panel = window.panel
    panel.smoothing_spin.setValue(0.8)
    panel.score_spin.setValue(0.45)
    panel.detector_combo.setCurrentIndex(panel.detector_combo.findData("opencv"))
    panel.camera_size_combo.setCurrentIndex(panel.camera_size_combo.findData("1280x720"))
    panel.timeline_spin.setValue(45)
    window.mirror_action.trigger()  # no source: the file-mirror setting
    window.close()
    stored = load_ui_settings(QSettings(str(make_window.ini), QSettings.Format.IniFormat))
    assert (stored.smoothing, stored.min_face_score, stored.detector) == (0.8, 0.45, "opencv")
    assert stored.camera_size == "1280x720" and stored.timeline_s == 45
    assert stored.mirror_file is True
    again = make_window()
    assert again.panel.smoothing_spin.value() == pytest.approx(0.8)
    assert again.panel.detector_combo.currentData() == "opencv"
    assert again.timeline.window_s == 45
    qtbot.waitUntil(lambda: "opencv" in again.model_label.text(), timeout=WAIT_MS)
    assert again.controller.pipeline_info.detector == "opencv"


def test_settings_change_reloads_the_pipeline(qtbot, make_window, video: Path) -> None:
    window = make_window()
    window.open_path(video)
    wait_frames(qtbot, window, 2)
    window.panel.detector_combo.setCurrentIndex(window.panel.detector_combo.findData("opencv"))
    window.panel.flush()
    qtbot.waitUntil(lambda: "opencv" in window.model_label.text(), timeout=WAIT_MS)
    assert window.controller.pipeline_info.detector == "opencv"
    # smoothing alone is applied in place: no reload, no pause in the picture
    pipeline = window.controller.worker.pipeline
    window.panel.smoothing_spin.setValue(1.5)
    window.panel.flush()
    qtbot.waitUntil(lambda: pipeline.smoother.half_life_s == 1.5, timeout=WAIT_MS)
    assert window.controller.worker.pipeline is pipeline


@pytest.mark.parametrize("kind", ["missing", "not_a_video", "camera", "empty"])
def test_bad_sources_show_an_error(qtbot, make_window, tmp_path: Path, kind: str) -> None:
    window = make_window()
    if kind == "missing":
        window.open_path(tmp_path / "nope.mp4")
    elif kind == "not_a_video":
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"this is not a video" * 100)
        window.open_path(bad)
    elif kind == "empty":
        bad = tmp_path / "empty.jpg"
        bad.write_bytes(b"")
        window.open_path(bad)
    else:
        window.open_camera(57)  # no such camera
    qtbot.waitUntil(lambda: bool(window.errors), timeout=WAIT_MS)
    message = window.errors[-1]
    assert "\n" not in message and len(message) < 300
    box = window._message_box
    assert isinstance(box, QMessageBox) and box.isVisible() and not box.isModal()
    assert message in window.statusBar().currentMessage()
    assert "Pick a camera" in window.video.placeholder  # ... and the picker stays usable
    assert window.source_combo.isEnabled() and window.source_combo.count() >= 2


def test_drop_a_video_onto_the_window(qtbot, make_window, video: Path) -> None:
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(video))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    wait_frames(qtbot, window, 2)
    assert window.controller.source_info.name == video.name
    assert window.source_combo.currentText() == video.name


def test_snapshot_and_recording(qtbot, make_window, video: Path, tmp_path: Path) -> None:
    ui = UiSettings(record_video=True, output_dir=str(tmp_path / "rec"))
    window = make_window(ui)
    window.open_path(video)
    wait_frames(qtbot, window, 2)
    snap = window.save_snapshot()
    assert snap is not None and snap.stat().st_size > 10_000
    window.record_action.trigger()
    recorder = window.controller.recorder
    assert recorder is not None
    qtbot.waitUntil(lambda: recorder.frames >= 15, timeout=WAIT_MS)
    window.refresh_status()
    assert "REC" in window.rec_label.text()
    with qtbot.waitSignal(window.controller.recordingSaved, timeout=WAIT_MS):
        window.record_action.trigger()
    assert window.controller.recorder is None
    assert "saved" in window.statusBar().currentMessage()
    lines = recorder.csv_path.read_text().splitlines()
    labels = window.labels
    # cal_ columns are there (empty) though no face was calibrated: one may be during a recording
    assert lines[0].split(",") == CsvWriter.header(labels, calibrated=True)
    assert all(cell == "" for line in lines[1:] for cell in line.split(",")[-len(labels):])
    assert len(lines) - 1 >= 15
    assert recorder.video_path is not None and recorder.video_path.stat().st_size > 10_000


def test_about_and_shortcuts(make_window) -> None:
    window = make_window()
    box = window.show_about()
    assert DISCLAIMER[:40] in box.text() and "Emotion Lens" in box.text()
    assert "Licence" in box.text() and "licence" in box.text()  # ours, and the data's
    assert box.isVisible() and not box.isModal()
    # the model card is long: the box scrolls instead of outgrowing a 1366×768 screen
    assert box.frameGeometry().height() <= 700
    assert box.browser.verticalScrollBar().maximum() > 0
    keys = dict(window.shortcut_rows())
    for key in ("Space, P", "M", "Ctrl+S", "Ctrl+R", "Ctrl+O", "Ctrl+E"):
        assert key in keys


def test_keyboard_shortcuts_drive_the_common_actions(qtbot, make_window, video: Path) -> None:
    window = make_window()
    window.open_path(video)
    wait_frames(qtbot, window, 2)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.pause_action.isChecked() and window.controller.paused
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.controller.paused
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert window.video.mirror
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert list(window.ui.output_path().glob("snapshot_*.png"))


def test_camera_list_and_source_picker(qtbot, make_window, video: Path) -> None:
    window = make_window()
    with qtbot.waitSignal(window.camerasFound, timeout=WAIT_MS):
        window.find_cameras()  # probes this machine's cameras; none here is a fine answer
    assert window.cameras is not None
    texts = [window.source_combo.itemText(i) for i in range(window.source_combo.count())]
    assert "Video or image file…" in texts
    assert texts[0] == ("No camera found" if not window.cameras else f"Camera {window.cameras[0]}")
    window.open_path(video)
    wait_frames(qtbot, window, 1)
    i = window.source_combo.findText(video.name)
    assert i >= 0 and window.source_combo.currentIndex() == i


def test_add_model_folder(qtbot, make_window, model: Path, tmp_path: Path) -> None:
    window = make_window()
    assert not window.panel.add_model_folder(tmp_path)  # no bundle there
    assert window.errors and "\n" not in window.errors[-1]
    assert window.panel.add_model_folder(model)
    assert Path(window.ui.model).resolve() == model.resolve()
    assert str(model) in window.ui.model_folders


def test_command_line_overrides_are_not_stored_unless_changed(make_window) -> None:
    window = make_window(UiSettings(detector="opencv", smoothing=0.1))
    window.stored_ui = UiSettings(detector="mediapipe", smoothing=0.5)
    window.cli_overrides = {"detector": "opencv", "smoothing": 0.1}  # e.g. --detector opencv
    window.panel.smoothing_spin.setValue(0.9)  # changed in the GUI: that one is kept
    window.close()
    stored = load_ui_settings(QSettings(str(make_window.ini), QSettings.Format.IniFormat))
    assert stored.detector == "mediapipe" and stored.smoothing == 0.9


def _message_room(window) -> int:
    """Pixels the status bar leaves for its message: left of its leftmost visible permanent label."""
    labels = [window.rec_label, window.fps_label, window.timing_label, window.model_label,
              window.privacy_label]
    return min(w.geometry().x() for w in labels if w.isVisible())


def test_status_messages_are_visible_not_just_set(qtbot, make_window, video: Path) -> None:
    window = make_window()  # 1100×700, as the other tests
    window.open_path(video)
    qtbot.waitUntil(lambda: window.model_label.text().startswith("model default · "),
                    timeout=WAIT_MS)
    assert "VGG-small" in window.model_label.toolTip()  # the bundle's full name
    qtbot.waitUntil(lambda: video.name in window.statusBar().currentMessage(), timeout=WAIT_MS)
    qtbot.wait(50)  # the layout settles
    message = window.statusBar().currentMessage()
    assert message == f"{video.name}: 596×336, 24.7 fps"
    assert not window.timing_label.isVisible()
    width = window.statusBar().fontMetrics().horizontalAdvance(message)
    assert _message_room(window) >= width + 8, (message, _message_room(window), width)
    # a message as long as a saved snapshot's path fits as well
    long = f"saved snapshot {Path.home() / 'Emotion Lens' / 'snapshot_2026-11-21_14-55-01.png'}"
    window.statusBar().showMessage(long, 3000)
    qtbot.wait(50)
    assert _message_room(window) >= window.statusBar().fontMetrics().horizontalAdvance(long) + 8
    window.statusBar().clearMessage()  # the stage times come back once the message is gone
    qtbot.waitUntil(window.timing_label.isVisible, timeout=WAIT_MS)


def test_an_opened_image_is_summed_up_by_its_size(qtbot, make_window, two_faces: Path) -> None:
    import cv2

    window = make_window()
    window.open_path(two_faces)
    qtbot.waitUntil(lambda: two_faces.name in window.statusBar().currentMessage(), timeout=WAIT_MS)
    h, w = cv2.imread(str(two_faces)).shape[:2]
    assert window.statusBar().currentMessage() == f"{two_faces.name}: {w}×{h}"


def test_the_settings_panel_fits_a_small_screen(qtbot, make_window) -> None:
    window = make_window()
    window.settings_dock.show()
    qtbot.wait(50)
    # a long bundle name used to size the model list to itself: window at least 1234 px wide
    assert window.minimumSizeHint().width() <= 1024
    combo = window.panel.model_combo
    names = [combo.itemText(i) for i in range(combo.count())]
    assert any("VGG-small" in n for n in names)  # the full names are there...
    widest = max(combo.fontMetrics().horizontalAdvance(n) for n in names)
    assert combo.view().minimumWidth() >= widest  # ...and the open list shows them whole
