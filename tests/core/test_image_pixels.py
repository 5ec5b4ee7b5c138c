"""Images are capped in pixels from their header, before decoding: a 16000×16000 PNG of a few
hundred KB would otherwise take gigabytes of memory."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.core import EmotionLensError
from app.core.sources import read_image

ROOT = Path(__file__).resolve().parents[2]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int) -> bytes:
    """The signature and IHDR of an 8-bit gray PNG (what a header check reads)."""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


def write_big_png(path: Path, side: int) -> Path:
    """A valid side×side black gray PNG, streamed through zlib (never `side²` bytes in memory)."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    parts = [comp.compress(row) for _ in range(side)]
    idat = b"".join(parts) + comp.flush()
    path.write_bytes(png_header(side, side) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_big_png(tmp_path_factory.mktemp("huge") / "huge.png", 16000)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tiff", ".pgm", ".ppm"])
@pytest.mark.parametrize("shape", [(37, 53), (1, 2000), (480, 640)])
def test_header_size_matches_the_decoded_size(ext: str, shape: tuple[int, int]) -> None:
    from app.core.image_size import image_size

    image = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
    if ext == ".pgm":
        image = image[..., 0]
    ok, encoded = cv2.imencode(ext, image)
    assert ok
    assert image_size(encoded) == (shape[1], shape[0])
    assert image_size(encoded.tobytes()) == (shape[1], shape[0])


def test_the_cap_is_on_pixels(tmp_path: Path) -> None:
    from app.core.image_size import MAX_IMAGE_PIXELS, check_image_pixels

    assert MAX_IMAGE_PIXELS == 12000 * 10000
    check_image_pixels(tmp_path / "a.png", png_header(12000, 10000))  # a 120 MP photo is fine
    with pytest.raises(EmotionLensError, match=r"12000×10001 \(120 megapixels\)"):
        check_image_pixels(tmp_path / "a.png", png_header(12000, 10001))


def test_huge_png_is_refused_before_decoding(huge_png: Path) -> None:
    assert huge_png.stat().st_size < 1_000_000
    with pytest.raises(EmotionLensError) as info:
        read_image(huge_png)
    message = str(info.value)
    assert message.startswith(f"image {huge_png} is 16000×16000 (256 megapixels)")
    assert "over 120 megapixels" in message and "\n" not in message


MEASURE = """
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(out.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)  # MB
sys.exit(out.returncode)
"""


def test_annotate_refuses_a_huge_png_in_one_line_without_the_memory(huge_png: Path,
                                                                    tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "app.cli", "annotate",
                          str(huge_png), "--csv", str(tmp_path / "x.csv")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs")})
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert out.stderr.startswith(f"error: image {huge_png} is 16000×16000")
    peak_mb = int(out.stdout.strip())
    assert peak_mb < 600, f"the refused image still took {peak_mb} MB"
    assert not (tmp_path / "x.csv").exists()
