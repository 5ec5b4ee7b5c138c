"""Every bad input in the real window (offscreen Qt, real pipeline): one clear line in the status
bar and a non-modal message box, no crash, nothing written, and the window keeps working."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLabel, QMessageBox

from app.ui.annotate_dialog import SummaryDialog
from tests.media_files import truncated_copy, unsupported_codec_mp4

WAIT_MS = 30_000

# name -> (how to make it in a folder, a fragment the message must hold)
BAD_FILES: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "missing": (lambda d, _v: d / "gone.mp4", "file not found"),
    "empty_video": (lambda d, _v: _write(d / "empty.mp4", b""), "file is empty"),
    "text_as_mp4": (lambda d, _v: _write(d / "notes.mp4", b"shopping list\n" * 50), "cannot decode video"),
    "unknown_codec": (lambda d, _v: unsupported_codec_mp4(d), "codec 'zzz1' is not supported"),
    "zero_byte_image": (lambda d, _v: _write(d / "photo.png", b""), "file is empty"),
    "corrupt_image": (lambda d, _v: _write(d / "photo.jpg", b"\xff\xd8\xff\xe0 cut"), "cannot decode image"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def wait_frames(qtbot, window, n: int) -> None:
    start = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown >= start + n, timeout=WAIT_MS)


def expect_one_message(qtbot, window, before: int, fragment: str) -> str:
    """Exactly one new message, on one line, naming the problem, shown in the status bar and in
    a non-modal box (so nothing blocks and the test needs no one to click it)."""
    qtbot.waitUntil(lambda: len(window.errors) > before, timeout=WAIT_MS)
    qtbot.wait(200)  # ... and no second one right behind it
    assert len(window.errors) == before + 1, window.errors[before:]
    message = window.errors[-1]
    assert fragment in message and "\n" not in message and len(message) < 300, message
    assert "Traceback" not in message
    assert message in window.statusBar().currentMessage()
    box = window._message_box
    assert isinstance(box, QMessageBox) and box.isVisible() and not box.isModal()
    assert box.text() == message
    return message


def still_works(qtbot, window, video: Path) -> None:
    """The window plays a good video after the bad input, with faces found."""
    window.open_path(video)
    qtbot.waitUntil(lambda: window.latest is not None and bool(window.latest.result.faces),
                    timeout=WAIT_MS)
    assert window.controller.source_info is not None
    assert window.controller.source_info.name == video.name


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_opening_a_bad_file(qtbot, make_window, tmp_path: Path, video: Path, kind: str) -> None:
    make, fragment = BAD_FILES[kind]
    bad = make(tmp_path, video)
    window = make_window()
    window.open_path(bad)
    expect_one_message(qtbot, window, 0, fragment)
    assert "Pick a camera" in window.video.placeholder  # the picture area says what to do
    assert window.source_combo.isEnabled()
    still_works(qtbot, window, video)


def test_truncated_video_plays_what_decodes_and_says_so(qtbot, make_window, tmp_path: Path,
                                                         video: Path) -> None:
    cut = truncated_copy(video, tmp_path)
    window = make_window()
    window.loop_action.setChecked(True)  # looping must not repeat the message
    window.open_path(cut)
    message = expect_one_message(qtbot, window, 0, "is truncated or damaged")
    match = re.search(r"after (\d+) of its 115 frames", message)
    assert message.startswith("cut.mp4 ") and match, message
    decoded = int(match.group(1))
    assert 0 < decoded < 115 and window.frames_shown > 0  # the frames before the cut were shown
    qtbot.waitUntil(lambda: window.latest is not None and window.latest.frame.index > 2 * decoded + 2,
                    timeout=WAIT_MS)  # well into the second pass, past its end
    assert sum("truncated" in e for e in window.errors) == 1
    window.loop_action.setChecked(False)
    still_works(qtbot, window, video)


def test_annotating_bad_files_writes_nothing(qtbot, make_window, tmp_path: Path, video: Path) -> None:
    window = make_window()
    out = tmp_path / "out"
    for i, (kind, (make, fragment)) in enumerate(sorted(BAD_FILES.items())):
        folder = tmp_path / kind
        folder.mkdir()
        bad = make(folder, video)
        assert window.start_annotation(bad, out / f"{kind}_annotated.mp4") is None
        expect_one_message(qtbot, window, i, fragment)
    assert not out.exists()  # not even the output folder
    # the dialog still works afterwards: a good video starts, and Cancel keeps what was written
    dialog = window.start_annotation(video, out / "good_annotated.mp4")
    assert dialog is not None
    dialog.job.progress.connect(lambda done, _total: done >= 3 and dialog.cancel())
    with qtbot.waitSignal(dialog.done, timeout=60_000) as done:
        pass
    assert done.args[0].cancelled and (out / "good_emotions.csv").is_file()


def test_annotating_a_truncated_video_says_where_it_stopped(qtbot, make_window, tmp_path: Path,
                                                            video: Path) -> None:
    window = make_window()
    dialog = window.start_annotation(truncated_copy(video, tmp_path), tmp_path / "cut_annotated.mp4")
    assert dialog is not None
    with qtbot.waitSignal(dialog.done, timeout=60_000) as done:
        pass
    report = done.args[0]
    assert report.stopped_early and 0 < report.frames < 115
    summary = next(d for d in window._dialogs if isinstance(d, SummaryDialog))
    assert summary.isVisible()
    assert any("stopped decoding early" in label.text() for label in summary.findChildren(QLabel))
    assert (tmp_path / "cut_emotions.csv").is_file()


def _bundle(folder: Path, model: Path, kind: str) -> Path:
    folder.mkdir()
    meta = (model / "model.json").read_text()
    if kind == "corrupt_json":
        (folder / "model.json").write_text(meta[: len(meta) // 2])
    elif kind == "missing_file":
        (folder / "model.json").write_text(meta)  # names model files that are not there
    else:  # garbage_model: valid card, model files full of junk
        (folder / "model.json").write_text(meta)
        for name in json.loads(meta)["files"].values():
            (folder / name).write_bytes(b"not a model" * 20)
    return folder


@pytest.mark.parametrize("kind,fragment", [("corrupt_json", "model.json is not valid JSON"),
                                           ("missing_file", "none of the model files it names exist")])
def test_bad_model_folder_is_refused(qtbot, make_window, model: Path, tmp_path: Path, video: Path,
                                     kind: str, fragment: str) -> None:
    window = make_window()
    bad = _bundle(tmp_path / kind, model, kind)
    assert not window.panel.add_model_folder(bad)
    expect_one_message(qtbot, window, 0, fragment)
    # dropping the folder onto the window says the same, once
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bad))])
    window.dropEvent(QDropEvent(QPointF(40, 40), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    expect_one_message(qtbot, window, 1, fragment)
    assert Path(window.ui.model).resolve() == model.resolve()  # the good model stays in use
    still_works(qtbot, window, video)


def test_a_model_file_that_does_not_load(qtbot, make_window, model: Path, tmp_path: Path,
                                         video: Path) -> None:
    """A bundle whose card is valid but whose model file is junk: chosen, it fails to load with one
    line, the picture keeps playing without faces, and picking a good model brings them back."""
    window = make_window()
    qtbot.waitUntil(lambda: window.controller.pipeline_info is not None, timeout=WAIT_MS)
    bad = _bundle(tmp_path / "garbage", model, "garbage_model")
    assert window.panel.add_model_folder(bad)
    window.panel.flush()
    expect_one_message(qtbot, window, 0, "cannot load")
    assert window.model_label.text() == "no model" and window.settings_dock.isVisible()
    window.open_path(video)
    wait_frames(qtbot, window, 3)  # no model: the video still plays, without faces
    assert window.latest is not None and window.latest.result.faces == []
    good = tmp_path / "good"
    shutil.copytree(model, good)
    assert window.panel.add_model_folder(good)
    window.panel.flush()
    qtbot.waitUntil(lambda: window.latest is not None and bool(window.latest.result.faces),
                    timeout=WAIT_MS)
    assert window.model_label.text() != "no model"


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (2, 300)])
def test_tiny_image_shows_without_error(qtbot, make_window, tmp_path: Path, video: Path,
                                        shape: tuple[int, int]) -> None:
    import cv2
    import numpy as np

    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((*shape, 3), 200, np.uint8))
    window = make_window()
    window.open_path(tiny)
    qtbot.waitUntil(lambda: window.latest is not None, timeout=WAIT_MS)
    assert window.latest.result.faces == [] and window.latest.frame.image.shape[:2] == shape
    assert window.video.has_frame and window.errors == []
    window.refresh_charts()  # "No face" charts, no exception
    still_works(qtbot, window, video)
