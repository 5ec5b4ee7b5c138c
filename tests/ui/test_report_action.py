""""Open report" in the window: after Record stops and after an annotation, the HTML report of the
CSV is built on a pool thread (the GUI keeps running), written beside the CSV without replacing
an earlier one, and opened (here through the window's `open_url` hook: there is no browser); a
bad CSV is one line in a message box. The real pipeline, the real sample video, the real report."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl

from app.ui.report_runner import free_report_path
from app.ui.settings import UiSettings

WAIT_MS = 60_000


def _opened(window) -> list[QUrl]:
    urls: list[QUrl] = []
    window.open_url = lambda url: urls.append(url) or True  # what QDesktopServices.openUrl gets
    return urls


def test_record_then_open_report_writes_the_html(qtbot, make_window, video: Path,
                                                 tmp_path: Path) -> None:
    window = make_window(UiSettings(output_dir=str(tmp_path / "rec")))
    qtbot.waitUntil(lambda: window.controller.pipeline_info is not None, timeout=WAIT_MS)
    window.open_path(video)
    assert not window.report_button.isVisible()
    window.record_action.trigger()
    recorder = window.controller.recorder
    assert recorder is not None
    qtbot.waitUntil(lambda: recorder.frames >= 20, timeout=WAIT_MS)
    with qtbot.waitSignal(window.controller.recordingSaved, timeout=WAIT_MS):
        window.record_action.trigger()
    # the recording is finished: the status bar offers its report
    assert window.report_button.isVisible() and window.report_csv == recorder.csv_path
    urls = _opened(window)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    t0 = time.monotonic()
    with qtbot.waitSignal(window.reportReady, timeout=WAIT_MS) as ready:
        qtbot.mouseClick(window.report_button, Qt.MouseButton.LeftButton)
        assert window.report_busy.isVisible() and not window.report_button.isEnabled()
    build_s = time.monotonic() - t0
    timer.stop()
    html = recorder.csv_path.with_name(f"{recorder.csv_path.stem}_report.html")
    assert ready.args[0] == str(html) and urls == [QUrl.fromLocalFile(str(html))]
    text = html.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html") and "Face #1" in text
    assert "data:image/png;base64," in text  # its plots, embedded
    assert html.with_name(f"{html.stem}_segments.csv").is_file()
    # the UI thread kept running while the report was built (no gap of half the build time)
    gaps = [b - a for a, b in zip([t0, *ticks], ticks, strict=False)]
    assert len(ticks) >= 3 and max(gaps) < max(0.5, build_s / 2), (build_s, max(gaps))
    assert not window.report_busy.isVisible() and window.report_button.isEnabled()
    assert "opened in the browser" in window.statusBar().currentMessage()
    # again: the report built already opens, and a new one would not replace it
    window.open_report()
    assert urls[-1] == QUrl.fromLocalFile(str(html)) and len(urls) == 2
    assert free_report_path(recorder.csv_path) == html.with_name(f"{recorder.csv_path.stem}_report_2.html")


def test_a_bad_csv_is_one_line_in_a_message_box(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    bad = tmp_path / "notes.csv"
    bad.write_text("name,age\nann,3\n", encoding="utf-8")
    urls = _opened(window)
    with qtbot.waitSignal(window.reports.failed, timeout=WAIT_MS):
        assert window.open_report(bad) == tmp_path / "notes_report.html"
    message = window.errors[-1]
    assert message.startswith("no report of notes.csv: ") and "\n" not in message
    assert window._message_box is not None and window._message_box.isVisible()
    assert window._message_box.text() == message
    assert urls == [] and not (tmp_path / "notes_report.html").exists()


def test_annotation_summary_opens_the_report(qtbot, make_window, video: Path, tmp_path: Path) -> None:
    from app.ui.annotate_dialog import SummaryDialog

    window = make_window()
    dialog = window.start_annotation(video, tmp_path / "street_annotated.mp4")
    assert dialog is not None
    with qtbot.waitSignal(dialog.done, timeout=WAIT_MS):
        pass
    summary = next(d for d in window._dialogs if isinstance(d, SummaryDialog))
    assert summary.report_button is not None and summary.report_button.isVisible()
    assert window.report_button.isVisible()  # the status bar offers it too
    urls = _opened(window)
    with qtbot.waitSignal(window.reportReady, timeout=WAIT_MS) as ready:
        qtbot.mouseClick(summary.report_button, Qt.MouseButton.LeftButton)
    html = tmp_path / "street_emotions_report.html"
    assert ready.args[0] == str(html) and urls == [QUrl.fromLocalFile(str(html))]
    assert "Face #1" in html.read_text(encoding="utf-8")
