"""`emotion-lens bench`: report shape and sane values (no timing thresholds: CI machines vary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.bench import bench
from app.core import EmotionLensError
from app.core.settings import PipelineSettings
from tests.conftest import ROOT

REQUIRED = ("fps", "p50_ms", "p95_ms", "faces_per_s", "peak_rss_mb", "stages")
STAGES = ("decode", "detect", "align", "classify", "track", "overlay")


def _cli(log_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMOTION_LENS_LOG_DIR": str(log_dir)}  # keep the user's log clean
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_bench_json_has_the_required_keys_and_sane_values(media: Path, int8_bundle: Path,
                                                          tmp_path: Path) -> None:
    done = _cli(tmp_path, "bench", str(media / "street_phone.mp4"), "--json", "--frames", "30",
                "--model", str(int8_bundle))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # one object, nothing else on stdout
    for key in REQUIRED:
        assert key in report, key
    assert report["frames"] == 30
    assert report["fps"] > 0 and report["faces_per_s"] > 0
    assert 0 < report["p50_ms"] <= report["p95_ms"]
    assert report["p95_ms"] < 1000 / 1  # a frame never takes a second here
    assert 50 < report["peak_rss_mb"] < 8000
    assert 0.8 <= report["faces_per_frame_mean"] <= 1.2  # one face in this video
    assert report["faces_per_s"] == pytest.approx(report["fps"] * report["faces_per_frame_mean"],
                                                  rel=0.01)
    assert report["backend"] == "int8"
    assert report["tensorflow_imported"] is False
    assert report["frame_size"] == [596, 336]
    for name in STAGES:
        s = report["stages"][name]
        assert 0 <= s["p50"] <= s["p95"] <= s["max"], (name, s)
        assert s["mean"] >= 0
    # a frame's own stages (from its detection on; decoding ran ahead) account for its latency,
    # never for more; the measuring thread aligns, classifies, tracks and draws every frame itself,
    # which bounds the frames/s
    own = sum(report["stages"][n]["mean"] for n in STAGES if n != "decode")
    assert own <= report["mean_ms"] * 1.01 + 0.05
    serial = sum(report["stages"][n]["mean"] for n in ("align", "classify", "track", "overlay"))
    assert report["fps"] <= 1000 / serial * 1.01
    assert report["machine"]["logical_cpus"] >= 1


def test_bench_prints_a_readable_report(media: Path, int8_bundle: Path, tmp_path: Path) -> None:
    done = _cli(tmp_path, "bench", str(media / "single_face.jpg"), "--frames", "3",
                "--model", str(int8_bundle))
    assert done.returncode == 0, done.stderr
    assert "frames/s" in done.stdout and "classify" in done.stdout


def test_bench_rejects_zero_frames_with_one_line(media: Path, tmp_path: Path) -> None:
    done = _cli(tmp_path, "bench", str(media / "single_face.jpg"), "--frames", "0")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error:") and "--frames" in done.stderr


@pytest.mark.parametrize("ahead", ["none", "decode", "detect"])
def test_tiled_input_gives_four_faces_per_frame(media: Path, int8_bundle: Path,
                                                ahead: str) -> None:
    # BlazeFace short range finds the portrait's face in each tile of a 2×2 grid
    report = bench(media / "single_face.jpg", PipelineSettings(), model=int8_bundle, frames=8,
                   tile=2, warmup=1, ahead=ahead)
    assert report["ahead"] == ahead
    assert report["frame_size"] == [2 * report["input_size"][0], 2 * report["input_size"][1]]
    assert 3.5 <= report["faces_per_frame_mean"] <= 4.0
    assert report["faces"] == round(report["faces_per_frame_mean"] * 8)


def test_bench_loops_a_short_video(media: Path, int8_bundle: Path) -> None:
    report = bench(media / "street_phone.mp4", PipelineSettings(), model=int8_bundle,
                   frames=130, warmup=0)  # the video has 115 frames
    assert report["frames"] == 130
    assert report["faces"] >= 110


def test_every_ahead_mode_measures_the_same_frames(media: Path, int8_bundle: Path) -> None:
    reports = {ahead: bench(media / "street_phone.mp4", PipelineSettings(), model=int8_bundle,
                            frames=40, warmup=2, ahead=ahead) for ahead in ("none", "decode", "detect")}
    assert {r["frames"] for r in reports.values()} == {40}
    assert len({r["faces"] for r in reports.values()}) == 1
    for report in reports.values():
        stages = report["stages"]
        assert set(stages) >= {"decode", "detect", "align", "classify", "track", "overlay"}
        # a frame's latency covers its own stages, whichever threads ran them
        own = sum(stages[s]["p50"] for s in ("detect", "align", "classify", "track", "overlay"))
        assert report["p50_ms"] >= 0.8 * own


def test_bench_rejects_an_unknown_ahead_mode(media: Path) -> None:
    with pytest.raises(EmotionLensError, match="ahead"):
        bench(media / "single_face.jpg", PipelineSettings(), ahead="everything")
