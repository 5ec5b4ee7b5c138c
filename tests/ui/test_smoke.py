"""Smoke mode as a user runs it: a subprocess of the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs")}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def test_smoke_mode_renders_video_overlay_and_charts(tmp_path: Path, model: Path,
                                                     video: Path) -> None:
    shot = tmp_path / "shot.png"
    proc = _run(tmp_path, "--source", str(video), "--screenshot", str(shot),
                "--quit-after-frames", "30", "--model", str(model))
    assert proc.returncode == 0, proc.stderr
    assert "30 frames processed" in proc.stdout
    assert shot.stat().st_size > 50_000
    image = QImage(str(shot)).convertToFormat(QImage.Format.Format_RGB888)
    assert image.width() >= 1000 and image.height() >= 600
    ptr = image.constBits()
    pixels = np.frombuffer(ptr, np.uint8, image.sizeInBytes()).reshape(
        image.height(), image.bytesPerLine())[:, : image.width() * 3].reshape(
        image.height(), image.width(), 3)
    assert pixels.std() > 20  # not a blank window
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 500  # a real picture in it
    assert not (tmp_path / "cfg").exists() or not any((tmp_path / "cfg").rglob("*.conf"))


def test_smoke_mode_fails_with_one_line_for_a_bad_source(tmp_path: Path, model: Path) -> None:
    proc = _run(tmp_path, "--source", str(tmp_path / "missing.mp4"), "--screenshot",
                str(tmp_path / "x.png"), "--quit-after-frames", "5", "--model", str(model))
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not found" in errors[0]
    assert not (tmp_path / "x.png").exists()
