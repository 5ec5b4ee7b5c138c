"""Annotating a video from the GUI: progress with ETA, cancel keeps what was written, summary."""

from __future__ import annotations

from pathlib import Path

import cv2

from app.ui.annotate_dialog import AnnotateDialog, SummaryDialog, format_eta

WAIT_MS = 60_000


def _frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_annotate_video_writes_mp4_csv_and_shows_the_summary(qtbot, make_window, video: Path,
                                                             tmp_path: Path) -> None:
    window = make_window()
    out = tmp_path / "street_annotated.mp4"
    dialog = window.start_annotation(video, out)
    assert isinstance(dialog, AnnotateDialog) and dialog.isVisible()
    statuses: list[str] = []
    dialog.job.progress.connect(lambda *_: statuses.append(dialog.status.text()))
    with qtbot.waitSignal(dialog.done, timeout=WAIT_MS) as done:
        pass
    report = done.args[0]
    assert not report.cancelled and report.frames == 115 and report.frames_with_faces > 100
    assert any("left" in s and "of 115" in s for s in statuses)  # frame x of 115 · fps · ETA
    csv = tmp_path / "street_emotions.csv"
    assert report.outputs.csv == csv and len(csv.read_text().splitlines()) == 1 + report.summary["face_rows"]
    assert _frames(out) == 115
    summary = next(d for d in window._dialogs if isinstance(d, SummaryDialog))
    assert summary.isVisible() and summary.data is not None
    assert abs(summary.data.shares.sum(axis=1).max() - 1) < 1e-6
    from PySide6.QtWidgets import QLabel

    head = next(lb.text() for lb in summary.findChildren(QLabel) if "Overall:" in lb.text())
    overall = head.split("Overall: ")[1].split("<")[0].split(", ")
    assert 1 <= len(overall) <= 4 and not any(part.endswith(" 0%") for part in overall), overall


def test_cancel_keeps_what_was_written(qtbot, make_window, video: Path, tmp_path: Path) -> None:
    window = make_window()
    out = tmp_path / "cut_annotated.mp4"
    dialog = window.start_annotation(video, out)
    assert dialog is not None
    dialog.job.progress.connect(lambda done, _total: done >= 10 and dialog.cancel())
    with qtbot.waitSignal(dialog.done, timeout=WAIT_MS) as done:
        pass
    report = done.args[0]
    assert report.cancelled and 10 <= report.frames < 115
    rows = (tmp_path / "cut_emotions.csv").read_text().splitlines()
    assert len(rows) > 1
    assert _frames(out) == report.frames  # a playable MP4 of the frames done
    summary = next(d for d in window._dialogs if isinstance(d, SummaryDialog))
    assert summary.isVisible()


def test_annotate_refuses_to_overwrite_its_input(make_window, video: Path) -> None:
    window = make_window()
    assert window.start_annotation(video, video) is None
    assert "input" in window.errors[-1]


def test_format_eta() -> None:
    assert format_eta(75) == "about 1:15 left"
    assert format_eta(3725) == "about 1:02:05 left"
    assert format_eta(None) == "estimating…"


def test_annotate_dialog_proposes_the_cli_names_in_the_output_folder(make_window, video: Path,
                                                                       two_faces: Path, monkeypatch,
                                                                       tmp_path: Path) -> None:
    """Qt's file dialogs are modal (no user here): the two static calls are replaced and the save
    dialog's proposed name is checked; answering "cancel" starts nothing."""
    from PySide6.QtWidgets import QFileDialog

    window = make_window()
    proposed: list[str] = []
    for source, name in [(video, "street_phone_annotated.mp4"), (two_faces, "two_faces_annotated.png")]:
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, s=source, **k: (str(s), ""))
        monkeypatch.setattr(QFileDialog, "getSaveFileName",
                            lambda _parent, _title, default, *a, **k: (proposed.append(default), ("", ""))[1])
        window.choose_annotation()
        assert Path(proposed[-1]) == window.ui.output_path() / name
    assert not window._dialogs


def test_share_chart_fills_every_label_with_its_colour(qtbot) -> None:
    import numpy as np
    from PySide6.QtCore import QPointF

    from app.core import EXPRESSIONS
    from app.ui.annotate_dialog import ShareChart
    from app.ui.summary import ShareOverTime
    from app.ui.video_view import qcolor

    shares = np.zeros((2, 7))
    shares[:, EXPRESSIONS.index("angry")] = 0.5  # the bottom band
    shares[:, EXPRESSIONS.index("happy")] = 0.5
    data = ShareOverTime(EXPRESSIONS, np.array([0.0, 1.0]), np.array([1.0, 2.0]), shares,
                         np.array([10, 10]), shares.mean(axis=0))
    chart = ShareChart(data)
    qtbot.addWidget(chart)
    chart.resize(500, 320)
    chart.show()
    qtbot.waitExposed(chart)
    image = chart.grab().toImage()
    vb = chart.getPlotItem().vb
    ratio = image.devicePixelRatio()
    for name, y in (("angry", 0.25), ("happy", 0.75)):
        point = chart.mapFromScene(vb.mapViewToScene(QPointF(1.0, y)))
        got = image.pixelColor(int(point.x() * ratio), int(point.y() * ratio))
        want = qcolor(name)
        assert max(abs(got.red() - want.red()), abs(got.green() - want.green()),
                   abs(got.blue() - want.blue())) <= 8, (name, got.name(), want.name())
