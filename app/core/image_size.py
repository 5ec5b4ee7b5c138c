"""An image's pixel size from its header, before anything is decoded, and the cap on it.

A 750 KB PNG can hold 16000×16000 pixels, which decode to gigabytes: `check_image_pixels` refuses
an image over `MAX_IMAGE_PIXELS` from its header (PNG, JPEG, BMP, WebP, TIFF, PGM/PPM/PBM) in one
line. A header this does not read (BigTIFF, PAM, a JPEG that gives its height after the scan) is
left to the decoder and OpenCV's own limit of 2^30 pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core import EmotionLensError

MAX_IMAGE_PIXELS = 120_000_000  # 120 megapixels: a full-size photo of any camera; ~360 MB as BGR

Buffer = bytes | bytearray | memoryview

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers


def _be(data: Buffer, at: int, n: int) -> int:
    return int.from_bytes(data[at:at + n], "big")


def _le(data: Buffer, at: int, n: int) -> int:
    return int.from_bytes(data[at:at + n], "little")


def _png(data: Buffer) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return _be(data, 16, 4), _be(data, 20, 4)
    return None


def _jpeg(data: Buffer) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        length = _be(data, i + 2, 2)
        if marker in _JPEG_SOF and i + 9 <= n:
            height, width = _be(data, i + 5, 2), _be(data, i + 7, 2)
            return (width, height) if height else None  # 0: the height comes later (DNL)
        i += 2 + length
    return None


def _bmp(data: Buffer) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    if _le(data, 14, 4) == 12:  # OS/2 BITMAPCOREHEADER
        return _le(data, 18, 2), _le(data, 20, 2)
    height = int.from_bytes(data[22:26], "little", signed=True)
    return int.from_bytes(data[18:22], "little", signed=True), abs(height)


def _webp(data: Buffer) -> tuple[int, int] | None:
    chunk = bytes(data[12:16])
    if chunk == b"VP8X" and len(data) >= 30:
        return _le(data, 24, 3) + 1, _le(data, 27, 3) + 1
    if chunk == b"VP8L" and len(data) >= 25:
        bits = _le(data, 21, 4)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        return _le(data, 26, 2) & 0x3FFF, _le(data, 28, 2) & 0x3FFF
    return None


def _tiff(data: Buffer) -> tuple[int, int] | None:
    order = "little" if bytes(data[:2]) == b"II" else "big"

    def num(at: int, n: int) -> int:
        return int.from_bytes(data[at:at + n], order)  # type: ignore[arg-type]

    if num(2, 2) != 42:  # 43 is BigTIFF: left to OpenCV's limit
        return None
    ifd = num(4, 4)
    if ifd + 2 > len(data):
        return None
    size: dict[int, int] = {}
    for k in range(min(num(ifd, 2), 1000)):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(data):
            break
        tag, kind = num(entry, 2), num(entry + 2, 2)
        if tag in (256, 257):
            size[tag] = num(entry + 8, 2) if kind == 3 else num(entry + 8, 4)
    return (size[256], size[257]) if len(size) == 2 else None


def _pnm(data: Buffer) -> tuple[int, int] | None:
    head = bytes(data[2:1024])
    tokens: list[int] = []
    for line in head.split(b"\n"):
        for word in line.split(b"#", 1)[0].split():
            if not word.isdigit():
                return None
            tokens.append(int(word))
            if len(tokens) == 2:
                return tokens[0], tokens[1]
    return None


def image_size(encoded: Any) -> tuple[int, int] | None:
    """(width, height) from the header of an encoded image (bytes, or a uint8 NumPy array as
    np.fromfile gives), or None when the format or the header is not one this reads."""
    data = memoryview(encoded).cast("B")
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if head.startswith(b"BM"):
        return _bmp(data)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp(data)
    if head[:2] in (b"II", b"MM"):
        return _tiff(data)
    if len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
        return _pnm(data)
    return None


def check_image_pixels(path: Path, encoded: Any) -> None:
    """Refuse, in one line, an image whose header says it has more than MAX_IMAGE_PIXELS pixels."""
    size = image_size(encoded)
    if size is None:
        return
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise EmotionLensError(
            f"image {path} is {width}×{height} ({width * height / 1e6:.0f} megapixels); images over "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are refused (they need gigabytes of memory): "
            f"scale it down first")
