"""Shared fixtures: the shared media/datasets folder (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "default"


def shared_dir() -> Path:
    env = os.environ.get("EMOTION_LENS_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


@pytest.fixture(scope="session")
def media() -> Path:
    path = shared_dir() / "media"
    if not (path / "street_phone.mp4").is_file():
        pytest.skip(f"shared media not found at {path} (set EMOTION_LENS_SHARED)")
    return path


@pytest.fixture(scope="session")
def fer_val() -> Path:
    path = shared_dir() / "datasets" / "fer2013" / "val"
    if not path.is_dir():
        pytest.skip(f"FER2013 val split not found at {path} (set EMOTION_LENS_SHARED)")
    return path


@pytest.fixture(scope="session")
def default_model() -> Path:
    if not (DEFAULT_MODEL / "model.json").is_file():
        pytest.skip("models/default has not been trained yet")
    return DEFAULT_MODEL
