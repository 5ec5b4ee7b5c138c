"""`[pipeline]` values in a --config TOML are range-checked in one place: a value outside its range is
one line naming the file, the key and the range, before any model or detector is loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import EmotionLensError
from app.core.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]

BAD = [
    ("min_face_score = nan", "min_face_score must be 0..1"),
    ("min_face_score = 1.5", "min_face_score must be 0..1"),
    ("max_faces = 0", "max_faces must be 1..1000"),
    ("threads = -1", "threads must be 1..256"),
    ("detect_every = 0", "detect_every must be 1..100"),
    ("track_min_iou = inf", "track_min_iou must be 0..1"),
    ("smoothing_half_life_s = -1", "smoothing_half_life_s must be 0..60"),
    ("min_face_px = -5", "min_face_px must be 0..4096"),
    ("max_faces = true", "max_faces must be int"),
    ('backend = "gpu"', "backend must be one of"),
    ('detector = "haar"', "detector must be one of"),
]


def write(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f"[pipeline]\n{line}\n")
    return path


@pytest.mark.parametrize("line,message", BAD)
def test_out_of_range_value_names_key_and_range(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, line)
    with pytest.raises(EmotionLensError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: [pipeline] {message}")
    assert "\n" not in str(info.value)


def test_defaults_and_edges_are_accepted(tmp_path: Path) -> None:
    from app.core.settings import RANGES, PipelineSettings, check_settings

    check_settings(PipelineSettings())
    edges = "\n".join(f"{key} = {lo!r}" if isinstance(lo, float) else f"{key} = {lo}"
                      for key, (lo, _hi) in RANGES.items())
    settings = load_settings(write(tmp_path, edges))
    assert settings.max_faces == 1 and settings.threads == 1 and settings.min_face_score == 0.0


@pytest.mark.parametrize("line,message", [BAD[0], BAD[2], BAD[3]])
def test_annotate_refuses_a_bad_config_in_one_line(media: Path, tmp_path: Path, line: str,
                                                   message: str) -> None:
    config = write(tmp_path, line)
    out = subprocess.run([sys.executable, "-m", "app.cli", "annotate", str(media / "two_faces.jpg"),
                          "--csv", str(tmp_path / "x.csv"), "--config", str(config)],
                         capture_output=True, text=True, cwd=ROOT, timeout=240,
                         env={**os.environ, "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs")})
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"error: {config}: [pipeline] {message}"), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


# one source of truth: an option and a [pipeline] value outside the same range are refused alike
SAME = [
    (("--smoothing", "100"), "smoothing_half_life_s = 100.0",
     "smoothing_half_life_s must be 0..60 (got 100.0)"),
    (("--smoothing", "-1"), "smoothing_half_life_s = -1.0",
     "smoothing_half_life_s must be 0..60 (got -1.0)"),
    (("--min-face-score", "1.5"), "min_face_score = 1.5", "min_face_score must be 0..1 (got 1.5)"),
    (("--min-face-score", "nan"), "min_face_score = nan", "min_face_score must be 0..1 (got nan)"),
]


@pytest.mark.parametrize("option,line,message", SAME)
@pytest.mark.parametrize("command", ["annotate", "bench"])
def test_the_command_line_and_a_config_refuse_the_same_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        option: tuple[str, str], line: str, message: str, command: str) -> None:
    from app.cli import main

    monkeypatch.setenv("EMOTION_LENS_LOG_DIR", str(tmp_path / "logs"))
    config = write(tmp_path, line)
    with pytest.raises(EmotionLensError) as info:
        load_settings(config)
    assert str(info.value) == f"{config}: [pipeline] {message}"

    # refused before the input is even looked at (it does not exist), in one line
    assert main([command, str(tmp_path / "none.mp4"), *option]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {option[0]}: {message}\n"


def test_the_options_set_what_they_name(tmp_path: Path) -> None:
    from app.cli import build_parser
    from app.core.settings_args import settings_from_args

    config = write(tmp_path, "smoothing_half_life_s = 2.0\nmin_face_score = 0.3")
    args = build_parser().parse_args(["annotate", "x.mp4", "--config", str(config),
                                      "--smoothing", "60", "--detector", "opencv"])
    settings = settings_from_args(args)
    assert (settings.smoothing_half_life_s, settings.min_face_score, settings.detector) == \
        (60.0, 0.3, "opencv")
