"""Faces found but smaller than `min_face_px` are left out, and counted: in each frame's result,
the annotate summary (console and JSON) and the status bar (tests/ui), so that "0 faces" never
hides faces that were there but too small."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.core.pipeline import Pipeline
from app.core.results import FrameResult, SummaryBuilder
from app.core.settings import DEFAULT_DETECTOR, PipelineSettings
from app.core.sources import Frame


def _small_face_image(media: Path, folder: Path) -> Path:
    """The sample portrait reduced so that its face is about 45 px wide, on a grey canvas."""
    face = cv2.imread(str(media / "single_face.jpg"))
    small = cv2.resize(face, (96, 96), interpolation=cv2.INTER_AREA)
    canvas = np.full((240, 320, 3), 128, np.uint8)
    canvas[70:166, 110:206] = small
    path = folder / "small_face.png"
    cv2.imwrite(str(path), canvas)
    return path


def test_pipeline_counts_the_faces_it_leaves_out(media, default_model, tmp_path):
    image = cv2.imread(str(_small_face_image(media, tmp_path)))
    with Pipeline(PipelineSettings(), default_model) as pipe:
        kept = pipe.process(Frame(0, 0.0, image))
    assert len(kept.faces) == 1 and kept.small_faces == 0
    width = kept.faces[0].box[2]
    assert 30 < width < 64
    with Pipeline(PipelineSettings(min_face_px=64), default_model) as pipe:
        result = pipe.process(Frame(0, 0.0, image))
        assert result.faces == [] and result.small_faces == 1
        assert pipe.small_faces == 1
        pipe.reset()
        assert pipe.small_faces == 0


def test_summary_counts_left_out_faces_and_frames_with_only_those():
    summary = SummaryBuilder(("happy", "sad"))
    summary.add(FrameResult(0, 0.0, [], small_faces=2))
    summary.add(FrameResult(1, 0.1, [], small_faces=0))
    summary.add(FrameResult(2, 0.2, [], small_faces=1))
    out = summary.to_dict(min_face_px=20)
    assert out["small_faces_skipped"] == 3 and out["frames_with_only_small_faces"] == 2
    assert out["frames_with_faces"] == 0 and out["min_face_px"] == 20


def test_annotate_says_how_many_faces_were_too_small(media, default_model, tmp_path, capsys):
    from app.cli import main

    image = _small_face_image(media, tmp_path)
    config = tmp_path / "big_faces_only.toml"
    config.write_text("[pipeline]\nmin_face_px = 64\n", encoding="utf-8")
    out_json = tmp_path / "out.json"
    rc = main(["annotate", str(image), "--csv", str(tmp_path / "out.csv"), "--json", str(out_json),
               "--config", str(config), "--model", str(default_model)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "1 frames, 0 with faces" in printed
    assert ("1 face smaller than min_face_px = 64 px left out, 1 frame had no other face"
            in printed)
    summary = json.loads(out_json.read_text(encoding="utf-8"))["summary"]
    assert summary["small_faces_skipped"] == 1 and summary["frames_with_only_small_faces"] == 1
    assert summary["min_face_px"] == 64 and summary["detector"] == DEFAULT_DETECTOR


@pytest.mark.parametrize("min_face_px", [20])
def test_annotate_says_nothing_when_no_face_was_left_out(media, default_model, tmp_path, capsys,
                                                         min_face_px):
    from app.cli import main

    image = _small_face_image(media, tmp_path)
    out_json = tmp_path / "out.json"
    assert main(["annotate", str(image), "--csv", str(tmp_path / "out.csv"), "--json", str(out_json),
                 "--model", str(default_model)]) == 0
    printed = capsys.readouterr().out
    assert "1 with faces" in printed and "min_face_px" not in printed
    summary = json.loads(out_json.read_text(encoding="utf-8"))["summary"]
    assert summary["small_faces_skipped"] == 0 and summary["min_face_px"] == min_face_px
