"""Calibrating a face live ("this face is neutral now", 3 s) in the window, on the real pipeline
and the real sample video: the overlay and the charts switch to calibrated values, Record writes
cal_ columns and the baseline, Clear restores raw; a face that leaves the picture fails in one
line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from app.ui.settings import UiSettings
from app.ui.video_view import CALIBRATE_TEXT

WAIT_MS = 30_000


def _ready(qtbot, window) -> None:
    """The model loaded first, so the 4.6 s video has a face from its start."""
    qtbot.waitUntil(lambda: window.controller.pipeline_info is not None, timeout=WAIT_MS)


def _shown_face(window, face_id: int):
    return next((f for f in window.video.result.faces if f.face_id == face_id), None) \
        if window.video.result is not None else None


def test_calibrate_a_face_then_clear_it(qtbot, make_window, video: Path, tmp_path: Path) -> None:
    window = make_window(UiSettings(output_dir=str(tmp_path / "rec")))
    _ready(qtbot, window)
    window.open_path(video)
    qtbot.waitUntil(lambda: window.latest is not None and bool(window.latest.result.faces),
                    timeout=WAIT_MS)
    fid = window.latest.result.faces[0].face_id
    # right click on the face's box: its menu offers to calibrate it (nothing to clear yet)
    view = window.video
    pos = view.widget_pos_of(fid).toPoint()
    QApplication.sendEvent(view, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                   view.mapToGlobal(pos)))
    menu = view.context_menu
    assert menu is not None and menu.isVisible()
    actions = {a.text(): a for a in menu.actions()}
    assert actions[CALIBRATE_TEXT].isEnabled() and not actions["Clear calibration"].isEnabled()
    texts: list[str] = []

    def seen(_seq: int) -> None:
        face = _shown_face(window, fid)
        if face is not None:
            texts.append(view.face_text(face)[0])

    window.frameShown.connect(seen)
    window.record_action.trigger()  # recording before any face is calibrated: cal_ columns all the same
    with qtbot.waitSignal(window.controller.calibrationDone, timeout=WAIT_MS) as done:
        actions[CALIBRATE_TEXT].trigger()
        menu.close()
    assert done.args[0] == fid and f"face #{fid} calibrated" in done.args[1]
    assert done.args[1] in window.statusBar().currentMessage()
    # while it collected, the overlay said how far it was
    progress = [int(t.split("calibrating ")[1].split("%")[0]) for t in texts if "calibrating" in t]
    assert progress and min(progress) < 50 < max(progress) and progress == sorted(progress), texts

    # the overlay and the charts show the calibrated values: not the raw ones, summing to 1
    qtbot.waitUntil(lambda: (f := _shown_face(window, fid)) is not None
                    and f.calibrated_smoothed is not None, timeout=WAIT_MS)
    face = _shown_face(window, fid)
    text, shown = view.face_text(face)
    assert shown is face.calibrated_smoothed and text.endswith("· cal")
    assert abs(float(shown.sum()) - 1) < 1e-4 and np.abs(shown - face.smoothed).max() > 0.02
    window.refresh_charts()
    assert window.charted_face() == fid
    assert np.allclose(window.bars.values, shown) and "calibrated" in window.bars._title
    i = int(np.argmax(shown))
    assert np.isclose(window.timeline.curves[window.labels[i]].yData[-1], shown[i])
    assert {a.text(): a for a in view.face_menu(fid).actions()}["Clear calibration"].isEnabled()

    # Record: raw columns as ever, plus cal_ columns filled from the baseline on; the record
    # keeps the baseline (what `emotion-lens report` reads)
    recorder = window.controller.recorder
    assert recorder is not None and recorder.calibrator is not None
    with qtbot.waitSignal(window.controller.recordingSaved, timeout=WAIT_MS):
        window.record_action.trigger()
    with recorder.csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    labels = window.labels
    cal_rows = [r for r in rows if r["cal_" + labels[0]]]
    assert cal_rows and len(cal_rows) < len(rows)  # empty before the baseline was done
    for row in cal_rows:
        cal = np.array([float(row["cal_" + k]) for k in labels])
        raw = np.array([float(row[k]) for k in labels])
        assert abs(cal.sum() - 1) < 1e-3 and np.abs(cal - raw).max() > 0.01
    record = json.loads(recorder.csv_path.with_name(recorder.csv_path.name + ".run.json").read_text())
    assert str(fid) in record["run"]["baseline"]["faces"]

    # Clear (Shift+C's action, on the paused picture): raw values again, at once
    window.pause_action.trigger()
    window.clear_calibration_action.trigger()
    qtbot.waitUntil(lambda: (f := _shown_face(window, fid)) is not None
                    and f.calibrated_smoothed is None, timeout=WAIT_MS)
    face = _shown_face(window, fid)
    text, shown = view.face_text(face)
    assert shown is face.smoothed and "cal" not in text
    window.refresh_charts()
    assert np.allclose(window.bars.values, face.smoothed) and "calibrated" not in window.bars._title


def _face_then_gone(video: Path, out: Path, face_frames: int = 20, empty_frames: int = 60) -> Path:
    """The sample video's first `face_frames` frames (its face), then dark frames: no face."""
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = [cap.read()[1] for _ in range(face_frames)]
    cap.release()
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for image in frames + [np.full_like(frames[0], 12)] * empty_frames:
        writer.write(image)
    writer.release()
    return out


def test_a_face_lost_while_calibrating_fails_in_one_line(qtbot, make_window, video: Path,
                                                         tmp_path: Path) -> None:
    clip = _face_then_gone(video, tmp_path / "face_then_gone.avi")
    window = make_window()
    _ready(qtbot, window)
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.latest is not None and bool(window.latest.result.faces),
                    timeout=WAIT_MS)
    fid = window.latest.result.faces[0].face_id
    with qtbot.waitSignal(window.controller.calibrationFailed, timeout=WAIT_MS) as failed:
        assert window.calibrate_face()  # C: the charted face, the only one
    assert failed.args[0] == fid
    message = failed.args[1]
    assert "left the picture" in message and "\n" not in message
    assert window.statusBar().currentMessage() == message and window.errors[-1] == message
    # the face stays raw, and asking once the video has ended says why it cannot be done
    assert window.controller.worker.calibration.calibrator.state(fid) != "calibrated"
    qtbot.waitUntil(lambda: window.controller.worker._source_done, timeout=WAIT_MS)
    with qtbot.waitSignal(window.controller.calibrationFailed, timeout=WAIT_MS) as failed:
        window.controller.calibrate(fid)
    assert "the source has ended" in failed.args[1]
