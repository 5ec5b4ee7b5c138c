"""GUI path: the real main window plays a 30 FPS video of 4 faces (the sample video tiled 2×2)
in real time, as from a camera, and measures the frames painted per second and the added latency
from frame read (capture thread) to overlay painted (video widget).

    python -m benchmarks.gui_latency [--seconds 20] [--detector mediapipe blazeface] [--control]
                                     [--json OUT]

Runs on the offscreen Qt platform unless QT_QPA_PLATFORM says otherwise (e.g. xcb under Xvfb).

`--control` measures each detector a second time with one spinning process per logical CPU at
the SCHED_IDLE priority: it runs only when nothing else wants that CPU and yields to the app's
threads at once, so it takes no time from them, but the vCPUs never go idle. On a VM whose idle
vCPUs are slow to come back to full speed, the difference between the two figures is that
wake-up. It is a control, never what the app does (it burns every core).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from app.bench import loadavg, machine_info
from app.core import EmotionLensError
from app.core.sources import IMAGE_SUFFIXES, VideoFile, read_image
from app.ui.latency import summarize
from benchmarks.run import ROOT, shared_dir


def tiled_video(source: Path, out: Path, fps: float = 30.0, tile: int = 2, frames: int = 150) -> Path:
    """`source` (a video, or an image made into a `frames`-long clip that drifts a few pixels per
    frame so every frame differs) tiled tile×tile, at `fps`."""
    if source.suffix.lower() in IMAGE_SUFFIXES:
        still = read_image(source)
        drift = np.round(4 * np.sin(np.arange(frames) / 7.0)).astype(int)
        images: Iterator[np.ndarray] = (np.roll(still, (int(d), int(-d)), axis=(0, 1)) for d in drift)
    else:
        images = _video_images(source)
    writer = None
    for image in images:
        image = np.tile(image, (tile, tile, 1))
        if writer is None:
            h, w = image.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
        writer.write(image)
    if writer is None:
        raise EmotionLensError(f"{source}: no frames")
    writer.release()
    return out


def _video_images(path: Path) -> Iterator[np.ndarray]:
    video = VideoFile(path)
    try:
        for frame in video:
            yield frame.image
    finally:
        video.close()


SPINNER = ("import os\n"
           "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
           "while True:\n    pass\n")


@contextlib.contextmanager
def idle_spinners(count: int | None = None) -> Iterator[int]:
    """`count` (default: one per logical CPU) processes spinning at SCHED_IDLE while the block
    runs: they keep every vCPU out of idle and yield to any other thread at once."""
    n = count or os.cpu_count() or 1
    procs = [subprocess.Popen([sys.executable, "-c", SPINNER]) for _ in range(n)]
    try:
        time.sleep(0.5)  # running, and SCHED_IDLE set
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise EmotionLensError("the control's SCHED_IDLE spinner did not start "
                                   f"(exit {dead[0].returncode})")
        yield n
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(video: Path, model: Path, seconds: float, detector: str, warmup_s: float = 3.0,
            threads: int | None = None) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.core.settings import PipelineSettings
    from app.ui.main_window import MainWindow
    from app.ui.settings import UiSettings

    _app = QApplication.instance() or QApplication(sys.argv[:1])  # kept alive for the run
    with tempfile.TemporaryDirectory() as tmp:
        qs = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        ui = UiSettings(model=str(model), loop_video=True, output_dir=tmp, detector=detector)
        base = PipelineSettings(detector=detector)
        if threads:
            base = base.with_overrides(threads=threads)
        window = MainWindow(ui, qs, base, persist=False)
        window.resize(1280, 800)
        window.show()
        window.open_path(video)

        def spin(until: float) -> None:
            """Run Qt's event loop until `until`, as the app does (app.exec()): events and paints are
            handled as they come. (Polling processEvents() with 1 ms sleeps added about 1.2 ms
            between a frame's result and its paint.)"""
            loop = QEventLoop()
            QTimer.singleShot(max(0, round((until - time.perf_counter()) * 1000)), loop.quit)
            loop.exec()

        spin(time.perf_counter() + warmup_s)  # model load, first frames
        if window.controller.pipeline_info is None:
            raise EmotionLensError("the model did not load: " + (window.errors[-1] if window.errors else "?"))
        window.video.latencies_ms.clear()
        window.video.timeline.clear()
        painted0, t0 = window.video.frames_painted, time.perf_counter()
        cpu0 = time.process_time()
        spin(t0 + seconds)
        elapsed = time.perf_counter() - t0
        painted = window.video.frames_painted - painted0
        latencies = list(window.video.latencies_ms)
        stages = summarize(window.video.timeline)
        cpu = time.process_time() - cpu0
        faces = len(window.latest.result.faces) if window.latest else 0
        dropped = window.latest.dropped if window.latest else 0
        info = window.controller.pipeline_info
        window.close()
    return {
        "platform": os.environ.get("QT_QPA_PLATFORM", ""),
        "video": video.name,
        "model": info.model if info else "",
        "backend": info.backend if info else "",
        "detector": detector,
        "classifier_threads": base.threads,
        "faces_last_frame": faces,
        "seconds": round(elapsed, 2),
        "frames_with_latency": len(latencies),
        "painted_fps": round(painted / elapsed, 2),
        "latency_p50_ms": round(_percentile(latencies, 50), 2),
        "latency_p95_ms": round(_percentile(latencies, 95), 2),
        "latency_max_ms": round(max(latencies), 2) if latencies else None,
        "cpu_percent": round(100 * cpu / elapsed, 1),
        "dropped_frames": dropped,
        # read → painted stage by stage (app/ui/latency.py): median, p95, and the mean over the
        # slowest 5 % of frames, what the p95 is made of
        "stages_ms": stages,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = shared_dir()
    p.add_argument("--input", type=Path, default=shared / "media" / "single_face.jpg",
                   help="video or image to tile 2×2 into a 30 FPS clip (default: the sample portrait; "
                        "street_phone.mp4's faces are too small for the short-range detector once tiled)")
    p.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--detector", nargs="+", default=["mediapipe", "blazeface"],
                   help="one run per detector (default: mediapipe blazeface)")
    p.add_argument("--threads", type=int, default=None, help="classifier threads (default: the app's)")
    p.add_argument("--control", action="store_true",
                   help="measure each detector again with the vCPUs kept awake by SCHED_IDLE "
                        "spinners (a control for a VM's slow wake-up of idle cores)")
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = p.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tiled = tiled_video(args.input, Path(tmp) / "tiled_2x2_30fps.mp4")
            runs = []
            for d in args.detector:
                runs.append(measure(tiled, args.model, args.seconds, d, threads=args.threads))
                if args.control:
                    with idle_spinners() as n:
                        run = measure(tiled, args.model, args.seconds, d, threads=args.threads)
                    runs.append({**run, "control": f"{n} SCHED_IDLE spinners"})
    except EmotionLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = {"runs": runs, "machine": machine_info(), "loadavg": loadavg(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
