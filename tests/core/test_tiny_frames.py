"""Tiny frames (1×1 up to 8×8, one-pixel-wide strips) through every detector, the annotate CLI
(image and video) and back: no faces, no error, well-formed outputs."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from app.core.pipeline import Pipeline
from app.core.settings import PipelineSettings
from app.core.sources import Frame, open_source
from tests.media_files import h264_clip

SHAPES = [(1, 1), (1, 8), (8, 1), (2, 3), (8, 8), (3, 400), (400, 3)]


@pytest.fixture(scope="module", params=["mediapipe", "blazeface", "blazeface-full", "blazeface-tiled",
                                        "opencv"])
def pipeline(request: pytest.FixtureRequest, default_model: Path) -> Iterator[Pipeline]:
    with Pipeline(PipelineSettings(detector=request.param), model=default_model) as p:
        yield p


@pytest.mark.parametrize("shape", SHAPES)
def test_tiny_frames_through_each_detector(pipeline: Pipeline, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for i, image in enumerate((rng.integers(0, 256, (*shape, 3), dtype=np.uint8),
                               np.zeros((*shape, 3), np.uint8), np.full((*shape, 3), 255, np.uint8))):
        result = pipeline.process(Frame(i, i / 25, image))
        assert result.faces == []
        assert all(np.isfinite(v) for v in result.timings_ms.values())


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (1, 5)])
def test_tiny_image_files_annotate(default_model: Path, tmp_path: Path, capsys,
                                   shape: tuple[int, int]) -> None:
    src = tmp_path / "tiny.png"
    cv2.imwrite(str(src), np.full(shape, 128, np.uint8))  # gray, as small as PNG goes
    out, table = tmp_path / "tiny_annotated.png", tmp_path / "tiny.csv"
    code = main(["annotate", str(src), "-o", str(out), "--csv", str(table), "--model", str(default_model)])
    assert code == 0, capsys.readouterr().err
    annotated = cv2.imread(str(out))
    assert annotated is not None and annotated.shape[:2] == shape
    rows = list(csv.reader(table.open()))
    assert rows[0][:3] == ["frame", "time_s", "face_id"] and len(rows) == 1  # header, no faces


def test_tiny_video_annotates(default_model: Path, tmp_path: Path, capsys) -> None:
    """An 8×8 H.264 clip (the smallest common players handle) round-trips through annotate."""
    src = h264_clip(tmp_path / "tiny.mp4", frames=12, size="8x8")
    assert open_source(src).frame_count == 12
    out, table = tmp_path / "tiny_annotated.mp4", tmp_path / "tiny.csv"
    code = main(["annotate", str(src), "-o", str(out), "--csv", str(table), "--model", str(default_model)])
    assert code == 0, capsys.readouterr().err
    assert "12 frames, 0 with faces" in capsys.readouterr().out
    frames = list(open_source(out))
    assert len(frames) == 12 and frames[0].image.shape[:2] == (8, 8)
