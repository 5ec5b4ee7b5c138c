"""Fuzzing the FER2013 CSV loader: malformed rows are counted, never a crash, and exactly the valid
rows of each split are loaded; a file that is no FER2013 CSV at all is one error line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from app.core import EXPRESSIONS
from tests.training.fuzzing import FUZZ, check_dataset, fresh_dir, load_or_error
from training.data.fer2013_csv import load_fer2013_csv

_RNG = np.random.default_rng(7)
PIXELS = [" ".join(map(str, _RNG.integers(0, 256, 2304))) for _ in range(3)]
SPLITS = {"training": "train", "publictest": "val", "privatetest": "test"}


@dataclass(frozen=True, repr=False)
class Row:
    emotion: str
    pixels: str
    usage: str
    fields: int = 3  # how many of the header's columns the line has (more: extra trailing ones)

    def __repr__(self) -> str:  # failure reports stay readable
        tokens = self.pixels.split()
        odd = [t for t in tokens if not t.isdigit() or int(t) > 255]
        return (f"Row({self.emotion!r}, <{len(tokens)} pixels, odd: {odd[:3]}>, {self.usage!r}, "
                f"fields={self.fields})")


def expected_split(header: tuple[str, ...], cells: list[str]) -> str | None:
    """Where a line must land (None: counted as skipped, unknown or corrupt). Cells beyond the
    header are ignored; missing ones are empty; a missing Usage means Training."""
    names = [h.strip().lower() for h in header]
    values = dict(zip(names, cells, strict=False))
    usage = (values.get("usage") or "Training").strip() if "usage" in names else "Training"
    split = SPLITS.get(usage.lower())
    code = (values.get("emotion") or "").strip()
    if split is None or not (code.isascii() and code.isdigit()) or int(code) >= 7:
        return None
    tokens = (values.get("pixels") or "").split()
    try:
        px = [int(t) for t in tokens]
    except ValueError:
        return None
    return split if len(px) == 2304 and all(0 <= p <= 255 for p in px) else None


def _damage(pixels: str, how: str, data: st.DataObject) -> str:
    tokens = pixels.split()
    i = data.draw(st.integers(0, len(tokens) - 1))
    if how == "count":
        n = data.draw(st.sampled_from([0, 1, 2303, 2305, 4608]))
        return " ".join((tokens * 2)[:n])
    bad = data.draw(st.sampled_from(["x", "1.5", "0x10", "256", "-1", "99999999999999999999", "nan",
                                     "²", "1e3"]))
    return " ".join([*tokens[:i], bad, *tokens[i + 1:]])


@st.composite
def rows(draw: st.DrawFn) -> Row:
    kind = draw(st.sampled_from(["valid", "valid", "valid", "pixels", "count", "label", "usage",
                                 "short", "long"]))
    emotion = str(draw(st.integers(0, 6)))
    pixels = draw(st.sampled_from(PIXELS))
    usage = draw(st.sampled_from(["Training", "PublicTest", "PrivateTest", " training ", "PUBLICTEST"]))
    data = draw(st.data())
    if kind in ("pixels", "count"):
        pixels = _damage(pixels, kind, data)
    elif kind == "label":
        emotion = draw(st.sampled_from(["7", "-1", "x", "", "²", "3.0", "١٢", "٣", " 99 "]))
    elif kind == "usage":
        usage = draw(st.sampled_from(["", "Validation", "test", "Foo"]))
    fields = {"short": draw(st.integers(0, 2)), "long": draw(st.integers(4, 6))}.get(kind, 3)
    return Row(emotion, pixels, usage, fields)


HEADERS = st.sampled_from([("emotion", "pixels", "Usage"), ("Usage", "emotion", "pixels"),
                           ("emotion", " Pixels ", "usage "), ("emotion", "pixels")])


def render(header: tuple[str, ...], row: Row) -> list[str]:
    by_name = {"emotion": row.emotion, "pixels": row.pixels, "usage": row.usage}
    cells = [by_name[h.strip().lower()] for h in header]
    if len(header) == 2:
        cells.append(row.usage)  # a Usage value the header does not name: ignored
    return cells[: row.fields] if row.fields < 3 else cells + ["extra"] * (row.fields - 3)


@FUZZ
@given(header=HEADERS, body=st.lists(rows(), max_size=12), size=st.sampled_from([48, 32]),
       channels=st.sampled_from([1, 3]), blank=st.booleans())
def test_fer_csv_loads_exactly_the_valid_rows(tmp_path: Path, header: tuple[str, ...], body: list[Row],
                                              size: int, channels: int, blank: bool) -> None:
    cells = [render(header, r) for r in body]
    lines = [",".join(header)] + [",".join(c) for c in cells]
    if blank:
        lines.insert(len(lines) // 2 + 1, "")
    path = fresh_dir(tmp_path) / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    want: dict[str, int] = {}
    for c in cells:
        split = expected_split(header, c)
        if split is not None:
            want[split] = want.get(split, 0) + 1
    parts = load_or_error(lambda: load_fer2013_csv(path, size=size, channels=channels))
    if parts is None:
        assert "train" not in want
        return
    assert {k: len(v) for k, v in parts.items()} == want
    for ds in parts.values():
        check_dataset(ds, size, channels, EXPRESSIONS)


@FUZZ
@given(content=st.binary(max_size=3000) | st.text(max_size=400).map(str.encode),
       header=st.sampled_from([b"", b"emotion,pixels,Usage\n", b"emotion,pixels\n"]))
def test_fer_csv_random_bytes_never_crash(tmp_path: Path, content: bytes, header: bytes) -> None:
    path = fresh_dir(tmp_path) / "fer2013.csv"
    path.write_bytes(header + content)
    parts = load_or_error(lambda: load_fer2013_csv(path))
    for ds in (parts or {}).values():
        check_dataset(ds, 48, 1, EXPRESSIONS)


def test_fer_csv_huge_field_and_bad_encoding_are_handled(tmp_path: Path) -> None:
    good = f"3,{PIXELS[0]},Training"
    path = tmp_path / "huge.csv"
    path.write_text("emotion,pixels,Usage\n" + good + "\n" + "3," + "1 " * 200_000 + ",Training\n")
    parts = load_or_error(lambda: load_fer2013_csv(path))
    assert parts is not None and len(parts["train"]) == 1 and parts["train"].report.corrupt
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(b"emotion,pixels,Usage\n" + good.encode() + b"\n\xe9\xff," + b"1 " * 5 + b"\n")
    parts = load_or_error(lambda: load_fer2013_csv(latin))
    assert parts is not None and len(parts["train"]) == 1
