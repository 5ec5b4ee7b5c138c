"""Live processing: newest frame wins, and camera faults (unplugged, stalled) are survived."""

from __future__ import annotations

from pathlib import Path

from app.core.settings import PipelineSettings
from app.ui.controller import LiveController
from app.ui.settings import UiSettings
from tests.ui.conftest import VideoCamera

WAIT_MS = 30_000


def test_slow_inference_drops_frames_instead_of_queueing(qtbot, model: Path, video: Path) -> None:
    """Unpaced decoding outruns the pipeline: every posted frame is processed or dropped, the
    processed ones stay in order, and nothing waits in a queue."""
    controller = LiveController(PipelineSettings(), model)
    try:
        qtbot.waitUntil(lambda: controller.pipeline_info is not None, timeout=WAIT_MS)
        seen: list[int] = []
        controller.resultReady.connect(
            lambda: (p := controller.take_latest()) is not None and seen.append(p.frame.index))
        ended: list[bool] = []
        controller.sourceDrained.connect(lambda: ended.append(True))
        controller.open_path(video)
        controller.capture.pace = False  # as fast as it decodes
        qtbot.waitUntil(lambda: bool(ended), timeout=WAIT_MS)
        qtbot.wait(50)
        box = controller.mailbox
        processed = controller.worker._seq
        assert box.posted == 115
        assert processed + box.dropped == box.posted
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
        assert processed <= 115
    finally:
        controller.shutdown()


def _camera_window(make_window, video: Path, **device_kw: object):
    window = make_window(UiSettings(mirror_camera=True))
    window.controller.stall_timeout_s = 0.6
    window.controller.reconnect_interval_s = 0.15
    device = VideoCamera(video, **device_kw)  # type: ignore[arg-type]
    window.camera_opener = device.opener
    window.open_camera(0)
    return window, device


def test_unplugged_camera_reconnects_and_keeps_the_recording(qtbot, make_window,
                                                             video: Path) -> None:
    window, device = _camera_window(make_window, video, opens_failing=2)
    qtbot.waitUntil(lambda: window.frames_shown >= 5, timeout=WAIT_MS)
    assert window.video.mirror  # cameras start mirrored
    window.record_action.trigger()
    recorder = window.controller.recorder
    assert recorder is not None
    with qtbot.waitSignal(window.controller.cameraLost, timeout=WAIT_MS):
        device.fail_after = device.reads + 5  # unplug it
    assert "camera lost, reconnecting" in window.statusBar().currentMessage()
    assert window.controller.recorder is recorder  # the recording is kept
    qtbot.waitUntil(lambda: not window.controller.camera_lost, timeout=WAIT_MS)
    assert device.opens >= 4  # the first open, two refused reopen attempts, one that worked
    before = recorder.frames
    qtbot.waitUntil(lambda: recorder.frames >= before + 5, timeout=WAIT_MS)
    with qtbot.waitSignal(window.controller.recordingSaved, timeout=WAIT_MS):
        window.record_action.trigger()
    rows = recorder.csv_path.read_text().splitlines()[1:]
    assert len(rows) >= before + 5
    times = [float(r.split(",")[1]) for r in rows]
    assert times == sorted(times)


def test_stalled_camera_is_reopened(qtbot, make_window, video: Path) -> None:
    window, device = _camera_window(make_window, video)
    try:
        qtbot.waitUntil(lambda: window.frames_shown >= 5, timeout=WAIT_MS)
        with qtbot.waitSignal(window.controller.cameraLost, timeout=WAIT_MS):
            device.stall_after = device.reads + 3  # the driver hangs in a read
        assert "camera lost, reconnecting" in window.statusBar().currentMessage()
        last = window.latest.frame.index
        qtbot.waitUntil(lambda: not window.controller.camera_lost, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: window.latest.frame.index > last + 3, timeout=WAIT_MS)
        assert window.latest.result.time_s > 0
    finally:
        device.release_stall.set()


def test_the_window_looks_for_far_faces_beside_the_frame(qtbot, make_window, video: Path) -> None:
    """The window's default detector runs its periodic far-face look in the background
    (latency); annotation's pipeline keeps the exact schedule."""
    from app.core.pipeline import Pipeline

    window = make_window()
    window.open_path(video)
    qtbot.waitUntil(lambda: window.latest is not None and window.latest.seq >= 35, timeout=WAIT_MS)
    detector = window.controller.worker.pipeline.detector
    assert detector.name == "blazeface-auto" and detector.background
    assert detector.background_looks >= 1
    with Pipeline(model=window.controller.worker.pipeline.classifier.bundle) as files:
        assert not files.detector.background
