"""Model bundles: a folder with `model.json` and the model file(s) it names.

`model.json` is validated before anything is loaded, so a wrong or hostile file fails with a one-line
message instead of a traceback deep inside a runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core import EmotionLensError

SCHEMA_VERSION = 1
MODEL_FILE_KINDS = ("int8", "float16", "float32", "keras")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_MODEL_DIR = MODELS_DIR / "default"
# detectors that give the same boxes as another share its crop calibration
CROP_ALIASES = {"blazeface": "mediapipe"}


@dataclass(frozen=True)
class CropSpec:
    """How a detection becomes the square crop the model saw in training.

    The crop is a square of side `scale * box_width`, centred on the box centre moved by
    (`offset_x`, `offset_y`) box widths/heights, rotated so the eyes are level when `rotate` is set.
    """

    scale: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0
    rotate: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CropSpec:
        return cls(
            scale=float(data.get("scale", 1.0)),
            offset_x=float(data.get("offset_x", 0.0)),
            offset_y=float(data.get("offset_y", 0.0)),
            rotate=bool(data.get("rotate", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "offset_x": self.offset_x,
            "offset_y": self.offset_y,
            "rotate": self.rotate,
        }


@dataclass(frozen=True)
class InputSpec:
    """What the model takes: a `size`×`size` crop, 1 (gray) or 3 (RGB) channels, float input
    computed as `(pixel - mean) / std` from 0..255 pixels, and a crop per detector name."""

    size: int
    channels: int
    mean: float = 0.0
    std: float = 255.0
    crops: dict[str, CropSpec] = field(default_factory=dict)

    def crop_for(self, detector: str) -> CropSpec:
        return crop_for(self.crops, detector)


def crop_for(crops: Mapping[str, CropSpec], detector: str) -> CropSpec:
    """The crop calibrated for `detector` (or for the detector it shares boxes with), else the
    `default` one, else a neutral crop."""
    return (crops.get(detector) or crops.get(CROP_ALIASES.get(detector, "")) or crops.get("default")
            or CropSpec())


@dataclass(frozen=True)
class ModelBundle:
    path: Path
    name: str
    labels: tuple[str, ...]
    input: InputSpec
    files: dict[str, str]
    provenance: dict[str, Any]
    metrics: dict[str, Any]
    raw: dict[str, Any]

    def file(self, kind: str) -> Path | None:
        name = self.files.get(kind)
        return self.path / name if name else None

    @property
    def available_kinds(self) -> list[str]:
        return [k for k in MODEL_FILE_KINDS if k in self.files and (self.path / self.files[k]).is_file()]


def _fail(path: Path, why: str) -> EmotionLensError:
    return EmotionLensError(f"invalid model bundle {path}: {why}")


def _require(cond: bool, path: Path, why: str) -> None:
    if not cond:
        raise _fail(path, why)


def validate(data: Any, path: Path) -> None:
    """Check a parsed model.json against the schema; raise EmotionLensError naming the problem."""
    _require(isinstance(data, dict), path, "model.json must hold a JSON object")
    _require(data.get("schema_version") == SCHEMA_VERSION, path,
             f"schema_version must be {SCHEMA_VERSION}")
    labels = data.get("labels")
    _require(isinstance(labels, list) and len(labels) >= 2
             and all(isinstance(x, str) and x for x in labels), path,
             "'labels' must be a list of at least two names")
    _require(len(set(labels)) == len(labels), path, "'labels' has duplicates")
    inp = data.get("input")
    _require(isinstance(inp, dict), path, "'input' must be an object")
    size = inp.get("size")
    _require(isinstance(size, int) and 8 <= size <= 1024, path, "'input.size' must be an int 8..1024")
    _require(inp.get("channels") in (1, 3), path, "'input.channels' must be 1 or 3")
    norm = inp.get("normalization", {})
    _require(isinstance(norm, dict), path, "'input.normalization' must be an object")
    for key in ("mean", "std"):
        _require(isinstance(norm.get(key, 1.0), int | float), path, f"normalization.{key} must be a number")
    _require(float(norm.get("std", 1.0)) != 0.0, path, "normalization.std must not be 0")
    crops = inp.get("crop", {})
    _require(isinstance(crops, dict), path, "'input.crop' must be an object of detector -> crop")
    for det, spec in crops.items():
        _require(isinstance(spec, dict), path, f"crop for {det!r} must be an object")
        scale = spec.get("scale", 1.0)
        _require(isinstance(scale, int | float) and 0.2 <= scale <= 5, path,
                 f"crop.{det}.scale must be 0.2..5")
    files = data.get("files")
    _require(isinstance(files, dict) and files, path, "'files' must name at least one model file")
    for kind, name in files.items():
        _require(kind in MODEL_FILE_KINDS, path, f"unknown file kind {kind!r} (known: {MODEL_FILE_KINDS})")
        _require(isinstance(name, str) and "/" not in name and "\\" not in name and name not in (".", ".."),
                 path, f"file name for {kind!r} must be a plain file name inside the bundle")


def load_bundle(path: str | Path | None = None) -> ModelBundle:
    """Read and validate the bundle at `path` (default: models/default)."""
    bundle_dir = Path(path) if path is not None else DEFAULT_MODEL_DIR
    if not bundle_dir.exists():
        raise EmotionLensError(f"model bundle not found: {bundle_dir}")
    if not bundle_dir.is_dir():
        raise EmotionLensError(f"model bundle must be a folder with model.json: {bundle_dir}")
    meta_path = bundle_dir / "model.json"
    if not meta_path.is_file():
        raise _fail(bundle_dir, "no model.json")
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(bundle_dir, f"model.json is not valid JSON ({exc})") from None
    validate(data, bundle_dir)
    inp = data["input"]
    norm = inp.get("normalization", {})
    spec = InputSpec(
        size=inp["size"],
        channels=inp["channels"],
        mean=float(norm.get("mean", 0.0)),
        std=float(norm.get("std", 255.0)),
        crops={k: CropSpec.from_dict(v) for k, v in inp.get("crop", {}).items()},
    )
    bundle = ModelBundle(
        path=bundle_dir,
        name=str(data.get("name", bundle_dir.name)),
        labels=tuple(data["labels"]),
        input=spec,
        files=dict(data["files"]),
        provenance=dict(data.get("provenance", {})),
        metrics=dict(data.get("metrics", {})),
        raw=data,
    )
    if not bundle.available_kinds:
        raise _fail(bundle_dir, f"none of the model files it names exist: {sorted(data['files'].values())}")
    return bundle


def write_model_json(bundle_dir: Path, data: dict[str, Any]) -> Path:
    """Validate and write model.json (used by training and export)."""
    data = {"schema_version": SCHEMA_VERSION, **data}
    validate(data, bundle_dir)
    out = bundle_dir / "model.json"
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out


def find_bundles(extra: list[str], include_models_dir: bool = True,
                 ) -> list[tuple[Path, ModelBundle | None, str]]:
    """(folder, bundle or None, error) for each bundle in `models/` and each folder the user
    added (a bundle itself, or a folder of bundles)."""
    candidates: list[Path] = []
    if include_models_dir and MODELS_DIR.is_dir():
        candidates += sorted(p for p in MODELS_DIR.iterdir() if (p / "model.json").is_file())
    for folder in map(Path, extra):
        if (folder / "model.json").is_file() or not folder.is_dir():
            candidates.append(folder)
        else:
            candidates += sorted(p for p in folder.iterdir() if (p / "model.json").is_file())
    out: list[tuple[Path, ModelBundle | None, str]] = []
    seen: set[Path] = set()
    for path in candidates:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            out.append((path, load_bundle(path), ""))
        except EmotionLensError as exc:
            out.append((path, None, str(exc)))
    return out
