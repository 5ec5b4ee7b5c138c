"""`emotion-lens bench --compare-fer PYTHON`: the `fer` package timed on the same input, in its
own interpreter. Here a stand-in `fer` (same API, no TensorFlow) plays the package."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FAKE_FER = '''
__version__ = "0.0-fake"
'''
FAKE_FER_FER = '''
class FER:
    def detect_emotions(self, img):
        return [{"box": [0, 0, 10, 10], "emotions": {"happy": 1.0}}]
'''


def _fake_fer_python(tmp_path: Path) -> Path:
    pkg = tmp_path / "site" / "fer"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_FER)
    (pkg / "fer.py").write_text(FAKE_FER_FER)
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{tmp_path / "site"}" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMOTION_LENS_LOG_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "app.cli", "bench", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def test_compare_fer_reports_both_and_the_ratio(media: Path, int8_bundle: Path,
                                                tmp_path: Path) -> None:
    python = _fake_fer_python(tmp_path)
    done = _bench(tmp_path, str(media / "street_phone.mp4"), "--json", "--frames", "10",
                  "--model", str(int8_bundle), "--compare-fer", str(python))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    fer = report["fer"]
    assert fer["fer_version"] == "0.0-fake" and fer["frames"] == 10
    assert fer["fps"] > 0 and fer["faces_per_frame_mean"] == 1.0
    assert report["vs_fer"] == round(report["fps"] / fer["fps"], 2)


def test_compare_fer_without_fer_says_why_and_still_reports(media: Path, int8_bundle: Path,
                                                             tmp_path: Path) -> None:
    done = _bench(tmp_path, str(media / "single_face.jpg"), "--json", "--frames", "2",
                  "--model", str(int8_bundle), "--compare-fer", sys.executable)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert isinstance(report["fer"], str) and "fer" in report["fer"]
    assert report["vs_fer"] is None and report["fps"] > 0
