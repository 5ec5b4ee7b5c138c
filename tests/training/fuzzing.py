"""Shared checks for the loader fuzz tests: a loader either returns a well-formed dataset or
raises `EmotionLensError` with one short line; any other exception fails the test."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from hypothesis import HealthCheck, settings

from app.core import EmotionLensError
from training.data.base import Dataset

T = TypeVar("T")

# modest and deadline-free: file I/O and OpenCV vary a lot on a busy 2-core machine
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


def fresh_dir(parent: Path) -> Path:
    """A new folder per example (hypothesis reuses the test's tmp_path between examples)."""
    return Path(tempfile.mkdtemp(dir=parent))


def load_or_error(load: Callable[[], T]) -> T | None:
    """`load()`'s result, or None after checking that it failed with one clean line."""
    try:
        return load()
    except EmotionLensError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        assert len(message) < 600, message
        return None


def check_dataset(ds: Dataset, size: int, channels: int, labels: tuple[str, ...],
                  whole: bool = True) -> None:
    """`whole`: `ds` is all a loader returned (its report counts every image), not a split of it."""
    assert isinstance(ds, Dataset)
    assert ds.labels == labels
    assert ds.x.dtype == np.uint8 and ds.x.shape[1:] == (size, size, channels)
    assert len(ds) == len(ds.x) == len(ds.y) > 0
    assert ds.y.dtype == np.int64 and ds.y.min() >= 0 and ds.y.max() < len(labels)
    if whole:
        assert sum(ds.report.counts.values()) == len(ds)
        assert dict(ds.report.counts) == {k: v for k, v in ds.class_counts().items() if v}
    assert all("\n" not in line for line in ds.report.lines())
