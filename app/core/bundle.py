"""Model bundles: a folder with `model.json` and the model file(s) it names.

`model.json` is validated before anything is loaded, so a wrong or hostile file fails with a one-line
message instead of a traceback deep inside a runtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core import EmotionLensError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MODEL_FILE_KINDS = ("int8", "float16", "float32", "keras")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_MODEL_DIR = MODELS_DIR / "default"
# detectors that give the same boxes as another share its crop calibration
CROP_ALIASES = {"blazeface": "mediapipe", "blazeface-full": "mediapipe-full",
                "blazeface-tiled": "mediapipe-full", "blazeface-auto": "mediapipe"}
# BlazeFace full range boxes a face about 4 % wider and 4.4 % of a box higher than short range
# (medians over 1182 FER2013 val faces, as found and mirrored): a full-range detector without a
# calibration of its own uses the short-range one converted by these (width ratio short / full,
# short box centre minus full box centre in full-box widths and heights)
FULL_RANGE_FRAMING = {"mediapipe-full": ("mediapipe", 0.959, 0.0, 0.044)}
MAX_MODEL_JSON_BYTES = 1 << 20  # a card is a few KB; a bigger file is not one
# the ranges model.json values must fall in: wider than any real model's, narrow enough that a
# value outside them can only be a mistake (std 1e-300 turns every pixel into infinity)
MEAN_RANGE = (-255.0, 255.0)
STD_RANGE = (0.5, 1000.0)
SCALE_RANGE = (0.2, 5.0)
OFFSET_RANGE = (-1.0, 1.0)
_SHA256 = re.compile(r"[0-9a-f]{64}")


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
    """The crop calibrated for `detector` (or for the detector it shares boxes with; for a
    full-range one, else the short-range calibration converted to full-range boxes), else the
    `default` one, else a neutral crop."""
    name = detector if detector in crops else CROP_ALIASES.get(detector, detector)
    if name in crops:
        return crops[name]
    if name in FULL_RANGE_FRAMING and FULL_RANGE_FRAMING[name][0] in crops:
        short_name, ratio, dx, dy = FULL_RANGE_FRAMING[name]
        short = crops[short_name]
        return CropSpec(scale=short.scale * ratio, offset_x=dx + ratio * short.offset_x,
                        offset_y=dy + ratio * short.offset_y, rotate=short.rotate)
    return crops.get("default") or CropSpec()


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
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> hex digest, when recorded

    def file(self, kind: str) -> Path | None:
        name = self.files.get(kind)
        return self.path / name if name else None

    def verify(self, kind: str) -> Path:
        """The `kind` model file, after checking it against the sha256 model.json records for it
        (a bit flipped on disk or in a download); raises "invalid model bundle ..." otherwise."""
        path = self.file(kind)
        if path is None or not path.is_file():
            raise _fail(self.path, f"no {kind} model file")
        expected = self.sha256.get(path.name)
        if expected is not None and file_sha256(path) != expected:
            raise _fail(self.path, f"cannot load {path.name}: it does not match the sha256 in "
                                   f"model.json (the file is damaged or was replaced)")
        return path

    @property
    def available_kinds(self) -> list[str]:
        return [k for k in MODEL_FILE_KINDS if k in self.files and (self.path / self.files[k]).is_file()]


def _fail(path: Path, why: str) -> EmotionLensError:
    return EmotionLensError(f"invalid model bundle {path}: {why}")


def _require(cond: bool, path: Path, why: str) -> None:
    if not cond:
        raise _fail(path, why)


def _is_number(value: Any, lo: float, hi: float) -> bool:
    """A JSON number (not a bool, not NaN or infinite) within lo..hi."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and lo <= value <= hi)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(data: Any, path: Path) -> None:
    """Check a parsed model.json against the schema; raise EmotionLensError naming the problem."""
    _require(isinstance(data, dict), path, "model.json must hold a JSON object")
    _require(_is_int(data.get("schema_version")) and data["schema_version"] == SCHEMA_VERSION, path,
             f"schema_version must be {SCHEMA_VERSION}")
    _require(isinstance(data.get("name", ""), str), path, "'name' must be a string")
    labels = data.get("labels")
    _require(isinstance(labels, list) and len(labels) >= 2
             and all(isinstance(x, str) and x for x in labels), path,
             "'labels' must be a list of at least two names")
    _require(len(set(labels)) == len(labels), path, "'labels' has duplicates")
    inp = data.get("input")
    _require(isinstance(inp, dict), path, "'input' must be an object")
    size = inp.get("size")
    _require(_is_int(size) and 8 <= size <= 1024, path, "'input.size' must be an int 8..1024")
    channels = inp.get("channels")
    _require(_is_int(channels) and channels in (1, 3), path, "'input.channels' must be 1 or 3")
    norm = inp.get("normalization", {})
    _require(isinstance(norm, dict), path, "'input.normalization' must be an object")
    for key, (lo, hi), default in (("mean", MEAN_RANGE, 0.0), ("std", STD_RANGE, 255.0)):
        _require(_is_number(norm.get(key, default), lo, hi), path,
                 f"normalization.{key} must be a number {lo:g}..{hi:g} (pixels are 0..255)")
    crops = inp.get("crop", {})
    _require(isinstance(crops, dict), path, "'input.crop' must be an object of detector -> crop")
    for det, spec in crops.items():
        _require(isinstance(spec, dict), path, f"crop for {det!r} must be an object")
        for key, (lo, hi), default in (("scale", SCALE_RANGE, 1.0), ("offset_x", OFFSET_RANGE, 0.0),
                                       ("offset_y", OFFSET_RANGE, 0.0)):
            _require(_is_number(spec.get(key, default), lo, hi), path,
                     f"crop.{det}.{key} must be a number {lo:g}..{hi:g}")
        _require(isinstance(spec.get("rotate", True), bool), path,
                 f"crop.{det}.rotate must be true or false")
    files = data.get("files")
    _require(isinstance(files, dict) and files, path, "'files' must name at least one model file")
    for kind, name in files.items():
        _require(kind in MODEL_FILE_KINDS, path, f"unknown file kind {kind!r} (known: {MODEL_FILE_KINDS})")
        _require(isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
                 and not any(c in name for c in "/\\\0"), path,
                 f"file name for {kind!r} must be a plain file name inside the bundle")
    for key in ("provenance", "metrics"):
        _require(isinstance(data.get(key, {}), dict), path, f"'{key}' must be an object")
    sums = data.get("sha256", {})
    _require(isinstance(sums, dict) and all(k in files.values() for k in sums), path,
             "'sha256' must map the model files it names to their digests")
    for name, digest in sums.items():
        _require(isinstance(digest, str) and _SHA256.fullmatch(digest) is not None, path,
                 f"sha256 of {name!r} must be 64 lowercase hex digits")
    neutral = data.get("neutral_mean")  # the model's mean on neutral faces (app/core/baseline.py)
    if neutral is not None:
        probs = neutral.get("probs") if isinstance(neutral, dict) else None
        _require(isinstance(probs, list) and len(probs) == len(labels)
                 and all(_is_number(v, 0.0, 1.0) for v in probs) and abs(sum(probs) - 1.0) <= 0.02,
                 path, "'neutral_mean.probs' must be one probability per label, summing to 1")
        _require(_is_int(neutral.get("n", 1)) and neutral.get("n", 1) >= 1, path,
                 "'neutral_mean.n' must be a positive int (the neutral faces it was measured on)")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
        if meta_path.stat().st_size > MAX_MODEL_JSON_BYTES:
            raise _fail(bundle_dir, f"model.json is over {MAX_MODEL_JSON_BYTES >> 20} MB; "
                                    f"a model card is a few KB")
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(bundle_dir, f"model.json is not valid JSON ({exc})") from None
    except RecursionError:
        raise _fail(bundle_dir, "model.json is not valid JSON (nested too deeply)") from None
    except OSError as exc:
        raise _fail(bundle_dir, f"cannot read model.json ({exc.strerror or exc})") from None
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
        sha256=dict(data.get("sha256", {})),
    )
    if not bundle.available_kinds:
        raise _fail(bundle_dir, f"none of the model files it names exist: {sorted(data['files'].values())}")
    return bundle


def write_model_json(bundle_dir: Path, data: dict[str, Any]) -> Path:
    """Validate and write model.json (used by training and export), with the sha256 of each model
    file it names that is already in `bundle_dir`, so that a damaged file is refused at load."""
    data = {"schema_version": SCHEMA_VERSION, **data}
    files = data.get("files")
    if isinstance(files, dict):
        sums = {name: file_sha256(bundle_dir / name) for name in files.values()
                if isinstance(name, str) and (bundle_dir / name).is_file()}
        data = {**data, "sha256": sums} if sums else data
    validate(data, bundle_dir)
    out = bundle_dir / "model.json"
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out


def find_bundles(extra: list[str], include_models_dir: bool = True,
                 ) -> list[tuple[Path, ModelBundle | None, str]]:
    """(folder, bundle or None, error) for each bundle in `models/` and each folder the user
    added (a bundle itself, or a folder of bundles)."""
    def has_card(p: Path) -> bool:
        try:
            return (p / "model.json").is_file()
        except OSError:  # an unreadable folder (permissions): listed, with its error, by load_bundle
            return p.is_dir()

    def bundles_in(folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir() if has_card(p))
        except OSError:
            return [folder]

    candidates: list[Path] = []
    if include_models_dir and MODELS_DIR.is_dir():
        candidates += bundles_in(MODELS_DIR)
    for folder in map(Path, extra):
        if has_card(folder) or not folder.is_dir():
            candidates.append(folder)
        else:
            candidates += bundles_in(folder)
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
        except Exception as exc:  # one bad folder never stops the listing (nor the app)
            log.exception("unexpected error reading the bundle %s", path)
            out.append((path, None, f"invalid model bundle {path}: {type(exc).__name__}: {exc}"))
    return out
