"""benchmarks/gui_latency.py drives the real window (offscreen Qt) on a tiled real clip; this
checks what it measures, never how fast (speed targets live in the benchmark)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import pytest

from benchmarks.gui_latency import measure, tiled_video


def test_tiled_clip_from_a_photo_has_four_faces_and_moves(media, tmp_path: Path):
    clip = tiled_video(media / "single_face.jpg", tmp_path / "clip.mp4", fps=30, frames=20)
    cap = cv2.VideoCapture(str(clip))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30, abs=0.01)
    ok, first = cap.read()
    frames = [first]
    while ok:
        ok, f = cap.read()
        if ok:
            frames.append(f)
    cap.release()
    assert len(frames) == 20
    src = cv2.imread(str(media / "single_face.jpg"))
    assert first.shape[:2] == (2 * src.shape[0], 2 * src.shape[1])
    assert any(cv2.absdiff(frames[0], f).mean() > 1 for f in frames[1:])  # it drifts


def test_measures_latency_of_painted_frames(media, int8_bundle, tmp_path: Path, qapp):
    clip = tiled_video(media / "single_face.jpg", tmp_path / "clip.mp4", fps=30, frames=30)
    result = measure(clip, int8_bundle, seconds=2.0, detector="blazeface", warmup_s=2.0)
    assert result["faces_last_frame"] == 4
    assert result["frames_with_latency"] > 5
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"] <= result["latency_max_ms"]
    assert result["latency_max_ms"] < 5000  # read → painted of a live frame, not since start-up
    assert result["painted_fps"] > 1
