"""Where shared data and caches live."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared data folder: `$EMOTION_LENS_SHARED`, default `<project root>/../shared`."""
    env = os.environ.get("EMOTION_LENS_SHARED")
    return Path(env) if env else PROJECT_ROOT.parent / "shared"


def fer2013_dir() -> Path:
    return shared_dir() / "datasets" / "fer2013"


def cache_dir() -> Path:
    """Cache for decoded datasets (never inside the repository)."""
    env = os.environ.get("EMOTION_LENS_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "emotion-lens"
    base.mkdir(parents=True, exist_ok=True)
    return base
