"""All tunable defaults in one place; a user TOML file (`--config`) overrides any of them."""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from app.core import EmotionLensError

# BlazeFace on LiteRT, short range plus full range when faces are small, missing or far: faces
# at every distance at short-range speed (benchmarks/detectors.py measures why)
DEFAULT_DETECTOR = "blazeface-auto"
DETECTORS = ("blazeface-auto", "blazeface-full", "blazeface", "blazeface-tiled", "mediapipe-full",
             "mediapipe", "opencv")
BACKENDS = ("auto", "int8", "float16", "float32", "keras")


@dataclass(frozen=True)
class PipelineSettings:
    detector: str = DEFAULT_DETECTOR  # one of DETECTORS
    min_face_score: float = 0.6
    # frames are halved (area averaging) for detection while at least twice this size (0: never)
    detect_max_side: int = 640
    # run the detector on every k-th frame only; in between, faces keep their last box and
    # keypoints (1: every frame). Detections are never reused across an empty frame.
    detect_every: int = 1
    # ignore faces smaller than this (pixels) in the full frame; the summary counts them
    min_face_px: int = 20
    max_faces: int = 32
    track_min_iou: float = 0.2
    track_timeout_s: float = 1.0
    smoothing_half_life_s: float = 0.25  # 0: no smoothing
    backend: str = "auto"  # auto | int8 | float16 | float32 | keras
    threads: int = 2

    def with_overrides(self, **kwargs: Any) -> PipelineSettings:
        return replace(self, **{k: v for k, v in kwargs.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_settings(path: str | Path | None) -> PipelineSettings:
    """Defaults, overridden by the `[pipeline]` table of a TOML file when given."""
    settings = PipelineSettings()
    if path is None:
        return settings
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmotionLensError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EmotionLensError(f"config file {path} is not valid TOML ({exc})") from None
    table = data.get("pipeline", {})
    known = {f.name: f.type for f in fields(PipelineSettings)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise EmotionLensError(f"{path}: unknown [pipeline] keys {unknown} (known: {sorted(known)})")
    for key, value in table.items():
        expected = type(getattr(settings, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise EmotionLensError(f"{path}: [pipeline] {key} must be {expected.__name__}")
        settings = replace(settings, **{key: value})
    check_settings(settings, f"{path}: [pipeline] ")
    return settings


# the values each setting may take; load_settings refuses the rest naming the key and its range
RANGES: dict[str, tuple[float, float]] = {
    "min_face_score": (0.0, 1.0),
    "detect_max_side": (0, 16384),
    "detect_every": (1, 100),
    "min_face_px": (0, 4096),
    "max_faces": (1, 1000),
    "track_min_iou": (0.0, 1.0),
    "track_timeout_s": (0.0, 3600.0),
    "smoothing_half_life_s": (0.0, 60.0),
    "threads": (1, 256),
}
CHOICES: dict[str, tuple[str, ...]] = {"detector": DETECTORS, "backend": BACKENDS}


def check_settings(settings: PipelineSettings, where: str = "") -> None:
    """Raise a one-line EmotionLensError for the first value outside its range or choices;
    `where` prefixes the key (e.g. "FILE: [pipeline] ")."""
    for key in (*RANGES, *CHOICES):
        check_value(key, getattr(settings, key), where)


def check_value(key: str, value: Any, where: str = "") -> None:
    """The check of one setting against RANGES / CHOICES (keys without either pass): a one-line
    EmotionLensError, `where` prefixing the key. A `[pipeline]` table and the command line's
    options (`app.core.settings_args`) are checked by this same function."""
    if key in RANGES:
        lo, hi = RANGES[key]
        if not (math.isfinite(value) and lo <= value <= hi):
            raise EmotionLensError(f"{where}{key} must be {lo:g}..{hi:g} (got {value!r})")
    elif key in CHOICES and value not in CHOICES[key]:
        raise EmotionLensError(f"{where}{key} must be one of {', '.join(CHOICES[key])} (got {value!r})")
