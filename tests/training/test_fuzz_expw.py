"""Fuzzing the ExpW loader: label.lst lines with wrong field counts, non-numbers, NaN/inf, negative,
huge or inverted boxes, unknown labels, missing, corrupt or out-of-tree images. Exactly the usable
faces load (as model-sized crops), everything else is counted; never any exception but one
EmotionLensError line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from app.core import EXPRESSIONS
from tests.training.fuzzing import FUZZ, check_dataset, fresh_dir, load_or_error
from training.data.expw import load_expw

IMAGES = {"a.jpg": (60, 80), "b.png": (1, 1), "c.jpg": (200, 30)}  # name: (height, width)


@dataclass(frozen=True)
class Line:
    text: str
    kept: bool  # a face that must load


def _box_line(name: str, box: tuple[float, float, float, float], code: str = "3",
              conf: str = "50.0") -> str:
    left, top, right, bottom = box
    return f"{name} 0 {top!r} {left!r} {right!r} {bottom!r} {conf} {code}"  # repr: exact floats


@st.composite
def lines(draw: st.DrawFn) -> Line:
    name = draw(st.sampled_from(sorted(IMAGES)))
    h, w = IMAGES[name]
    kind = draw(st.sampled_from(["inside", "inside", "edge", "outside", "huge", "inverted", "nonfinite",
                                 "fields", "number", "label", "missing", "escape", "corrupt"]))
    left = draw(st.floats(0, w - 1, allow_nan=False))
    top = draw(st.floats(0, h - 1, allow_nan=False))
    right = draw(st.floats(left, w, allow_nan=False).filter(lambda v: v > left))
    bottom = draw(st.floats(top, h, allow_nan=False).filter(lambda v: v > top))
    box = (left, top, right, bottom)
    code = str(draw(st.integers(0, 6)))
    if kind == "inside":
        return Line(_box_line(name, box, code), True)
    if kind == "edge":  # part of the face outside the picture (still overlapping it): padded, kept
        f = draw(st.floats(-0.9, 0.9))
        dx = f * right if f < 0 else f * (w - left)
        moved = (left + dx, top - h * 0.2, right + dx, bottom)
        # a sliver box can round to zero width once moved (0.0 and 5e-324, plus 40): empty, skipped
        return Line(_box_line(name, moved), moved[2] > moved[0])
    if kind == "outside":
        off = draw(st.sampled_from([-1e6, -5.0 * max(h, w), 3.0 * max(h, w), 1e9]))
        return Line(_box_line(name, (left + off, top, right + off, bottom)), False)
    if kind == "huge":
        return Line(_box_line(name, (-1e7, -1e7, 1e7, 1e7)), False)
    if kind == "inverted":
        return Line(_box_line(name, (right, top, left, bottom)), False)
    if kind == "nonfinite":
        bad = draw(st.sampled_from(["nan", "inf", "-inf", "1e999"]))
        return Line(f"{name} 0 {bad} 1 5 5 50 3", False)
    if kind == "fields":
        n = draw(st.sampled_from([1, 3, 7, 9]))
        return Line(" ".join(_box_line(name, box).split()[:n] + ["1"] * max(0, n - 8)), False)
    if kind == "number":
        return Line(_box_line(name, box).replace(" 0 ", " 0 x", 1), False)
    if kind == "label":
        return Line(_box_line(name, box, draw(st.sampled_from(["7", "-1", "x", "²", "3.0", "٣"]))), False)
    if kind == "missing":
        return Line(_box_line("nowhere.jpg", box), False)
    if kind == "escape":
        return Line(_box_line(draw(st.sampled_from(["../outside.jpg", "/etc/hostname"])), box), False)
    return Line(_box_line("broken.jpg", box), False)


def write_dataset(root: Path, body: list[str]) -> None:
    rng = np.random.default_rng(0)
    folder = root / "image" / "origin"
    folder.mkdir(parents=True)
    for name, (h, w) in IMAGES.items():
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    cv2.imwrite(str(root / "outside.jpg"), np.zeros((10, 10, 3), np.uint8))  # beside, not inside
    (root / "label.lst").write_text("\n".join(body) + "\n")


@FUZZ
@given(body=st.lists(lines(), max_size=14), size=st.sampled_from([48, 16]), channels=st.sampled_from([1, 3]),
       margin=st.sampled_from([0.0, 0.4]))
@example(body=[Line("a.jpg 0 -12.0 40.0 40.0 1.0 50.0 3", False),  # an "edge" sliver rounded empty
               Line("a.jpg 0 0.0 0.0 1.0 1.0 50.0 0", True)], size=48, channels=1, margin=0.0)
def test_expw_loads_exactly_the_usable_faces(tmp_path: Path, body: list[Line], size: int, channels: int,
                                             margin: float) -> None:
    root = fresh_dir(tmp_path) / "expw"
    write_dataset(root / "data", [line.text for line in body])
    ds = load_or_error(lambda: load_expw(root / "data", size=size, channels=channels, margin=margin))
    kept = sum(line.kept for line in body)
    if ds is None:
        assert kept == 0
        return
    check_dataset(ds, size, channels, EXPRESSIONS)
    assert len(ds) == kept


@FUZZ
@given(content=st.binary(max_size=2000) | st.text(max_size=600).map(str.encode))
def test_expw_random_label_file_never_crashes(tmp_path: Path, content: bytes) -> None:
    root = fresh_dir(tmp_path)
    write_dataset(root, [])
    (root / "label.lst").write_bytes(content)
    ds = load_or_error(lambda: load_expw(root))
    if ds is not None:
        check_dataset(ds, 48, 1, EXPRESSIONS)
