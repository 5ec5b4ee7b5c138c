"""What the app remembers between runs, stored with QSettings (tests pass their own ini file)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from app.core import EmotionLensError
from app.core.settings import BACKENDS, DEFAULT_DETECTOR, DETECTORS, PipelineSettings

ORGANIZATION = "EmotionLens"
APPLICATION = "emotion-lens"
CAMERA_SIZES = ("640x480", "1280x720", "1920x1080")


def default_output_dir() -> str:
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return str(Path(docs or Path.home()) / "Emotion Lens")


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'1280x720' → (1280, 720); '' or None → None (the camera's default)."""
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise EmotionLensError(f"camera size must look like 1280x720, got {text!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise EmotionLensError(f"camera size out of range: {text!r}")
    return w, h


@dataclass
class UiSettings:
    model: str = ""  # a bundle folder; "" is models/default
    model_folders: list[str] = field(default_factory=list)  # bundles the user added
    backend: str = "auto"
    detector: str = DEFAULT_DETECTOR
    smoothing: float = 0.25  # half-life in seconds
    min_face_score: float = 0.6
    camera_index: int = 0
    camera_size: str = ""  # "" = the camera's default
    mirror_camera: bool = True  # like a mirror, as webcam apps do
    mirror_file: bool = False
    timeline_s: float = 30.0
    output_dir: str = ""
    record_video: bool = False
    loop_video: bool = False
    last_dir: str = ""
    # 2: the default detector became blazeface-full; settings stored before kept the old default
    # ("mediapipe", written whether chosen or not), which load_ui_settings moves to the new one
    settings_version: int = 2

    def pipeline(self, base: PipelineSettings | None = None) -> PipelineSettings:
        return (base or PipelineSettings()).with_overrides(
            backend=self.backend, detector=self.detector, smoothing_half_life_s=self.smoothing,
            min_face_score=self.min_face_score)

    def model_path(self) -> Path | None:
        return Path(self.model) if self.model else None

    def output_path(self) -> Path:
        return Path(self.output_dir or default_output_dir())


def _convert(value: Any, like: Any) -> Any:
    if isinstance(like, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, list):
        if value is None or value == "":
            return []
        return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    return str(value)


def load_ui_settings(qs: QSettings) -> UiSettings:
    """Stored values over the defaults; a value that does not parse keeps its default."""
    settings = UiSettings()
    if qs.contains("detector") and not qs.contains("settings_version"):
        settings.settings_version = 1
    for f in fields(UiSettings):
        if not qs.contains(f.name):
            continue
        try:
            value = _convert(qs.value(f.name), getattr(settings, f.name))
        except (TypeError, ValueError):
            continue  # keep the default
        setattr(settings, f.name, value)
    if settings.detector not in DETECTORS or (settings.settings_version < 2
                                              and settings.detector == "mediapipe"):
        settings.detector = DEFAULT_DETECTOR
    settings.settings_version = UiSettings.settings_version
    if settings.backend not in BACKENDS:
        settings.backend = "auto"
    return settings


def save_ui_settings(qs: QSettings, settings: UiSettings) -> None:
    for f in fields(UiSettings):
        value = getattr(settings, f.name)
        qs.setValue(f.name, list(value) if isinstance(value, list) else value)
    qs.sync()


def save_window_state(qs: QSettings, geometry: QByteArray, state: QByteArray) -> None:
    qs.setValue("window/geometry", geometry)
    qs.setValue("window/state", state)
