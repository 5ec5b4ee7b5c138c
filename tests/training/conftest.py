"""Fixtures for the training tests: tiny generated datasets in every supported real format.

Images are synthetic but class-dependent (a bright blob whose position depends on the class, plus
noise), so a model can learn them in a few steps; nothing here trains for real.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

# decoded-dataset cache of the tests: never the user's cache
os.environ.setdefault("EMOTION_LENS_CACHE", tempfile.mkdtemp(prefix="el-test-cache-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT_DIR = Path(__file__).resolve().parents[2]
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def synth_face(cls: int, rng: np.random.Generator, size: int = 48, channels: int = 1) -> np.ndarray:
    img = rng.normal(90, 20, (size, size)).clip(0, 255)
    cy = size * (0.2 + 0.6 * (cls % 4) / 3)
    cx = size * (0.25 + 0.5 * (cls // 4))
    yy, xx = np.mgrid[:size, :size]
    img += 150 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 8) ** 2))
    img = img.clip(0, 255).astype(np.uint8)
    if channels == 3:
        img = np.stack([img, (img * 0.9).astype(np.uint8), img], axis=-1)
    return img


def write_image(path: Path, img: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), img)


def make_folder_dataset(root: Path, per_class: int, *, names: tuple[str, ...] = CLASSES,
                        splits: tuple[str, ...] = ("train", "val"), size: int = 48,
                        channels: int = 1, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split in splits:
        base = root / split if split else root
        for i, name in enumerate(names):
            cls = CLASSES.index(name) if name in CLASSES else i % 7
            for j in range(per_class):
                write_image(base / name / f"{split or 'img'}_{j:04d}.jpg",
                            synth_face(cls, rng, size, channels))
    return root


@pytest.fixture(scope="session")
def keras_mod():
    """Import Keras (and TensorFlow) once per session."""
    import keras

    return keras


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FER2013-as-images layout: train/val/test with 7 class folders of 48×48 gray JPEGs."""
    return make_folder_dataset(tmp_path_factory.mktemp("fer_folders"), 12,
                               splits=("train", "val", "test"))


@pytest.fixture(scope="session")
def fer_val_dir() -> Path:
    from training.paths import fer2013_dir

    path = fer2013_dir() / "val"
    if not path.is_dir():
        pytest.skip(f"FER2013 images not found at {path} (set EMOTION_LENS_SHARED)")
    return path
