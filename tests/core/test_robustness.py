"""Odd frames through the whole pipeline: many faces, 8K, tiny, gray/RGBA/16-bit files, edges."""

import cv2
import numpy as np
import pytest

from app.cli import main
from app.core.pipeline import Pipeline
from app.core.settings import PipelineSettings
from app.core.sources import Frame


@pytest.fixture(scope="module")
def face(media):
    return cv2.imread(str(media / "single_face.jpg"))


def run(pipeline, image, index=0):
    return pipeline.process(Frame(index, index / 30, image))


@pytest.mark.parametrize("detector", ["blazeface-full", "blazeface-tiled", "mediapipe-full", "opencv"])
def test_twelve_faces_get_twelve_ids(face, default_model, detector):
    grid = np.vstack([np.hstack([face] * 4)] * 3)
    with Pipeline(PipelineSettings(detector=detector), model=default_model) as p:
        result = run(p, grid)
        again = run(p, grid, 1)
    assert len(result.faces) == 12
    assert len({f.face_id for f in result.faces}) == 12
    assert {f.face_id for f in again.faces} == {f.face_id for f in result.faces}


def test_8k_frame(face, default_model):
    """An 8K frame (a face filling a quarter of its height) is detected at reduced resolution and
    its box comes back in full-frame pixels."""
    big = np.full((4320, 7680, 3), 90, np.uint8)
    big[1000:2900, 3000:4885] = cv2.resize(face, (1885, 1900))
    with Pipeline(model=default_model) as p:
        result = run(p, big)
    assert len(result.faces) == 1
    x, y, w, h = result.faces[0].box
    assert 3000 < x + w / 2 < 4885 and 1000 < y + h / 2 < 2900
    assert w > 500


def test_tiny_and_blank_frames(default_model):
    with Pipeline(model=default_model) as p:
        assert run(p, np.zeros((2, 2, 3), np.uint8)).faces == []
        assert run(p, np.full((16, 16, 3), 255, np.uint8), 1).faces == []


def test_face_cut_by_the_frame_edge(face, default_model):
    with Pipeline(model=default_model) as p:
        full = run(p, face)
        x, _, w, _ = full.faces[0].box
        cut = np.ascontiguousarray(face[:, int(x + 0.35 * w):])
        result = run(p, cut, 1)
    for f in result.faces:
        assert np.isfinite(f.probs).all() and abs(f.probs.sum() - 1) < 0.02


@pytest.mark.parametrize("kind", ["gray", "rgba", "16bit"])
def test_odd_image_files_annotate(face, default_model, tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "gray":
        cv2.imwrite(str(path), cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
    elif kind == "rgba":
        cv2.imwrite(str(path), cv2.cvtColor(face, cv2.COLOR_BGR2BGRA))
    else:
        cv2.imwrite(str(path), face.astype(np.uint16) * 257)
    out = tmp_path / "o.csv"
    assert main(["annotate", str(path), "--csv", str(out), "--model", str(default_model)]) == 0
    assert len(out.read_text().strip().splitlines()) == 2  # header + the one face


def test_unreadable_image_is_one_line(tmp_path, capsys):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    assert main(["annotate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot decode image") and len(err.splitlines()) == 1
