"""Broken media made at test time (nothing binary is committed): an MP4 or AVI whose codec no
decoder knows, and a video cut in half like a download that broke off."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

UNKNOWN_FOURCC = b"zzz1"


def ffmpeg() -> str:
    """The FFmpeg that imageio-ffmpeg ships (the app's own encoder); skip when it is missing."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        pytest.skip(f"no FFmpeg from imageio-ffmpeg: {exc}")


def h264_clip(path: Path, frames: int = 6, size: str = "96x64") -> Path:
    """A small, valid H.264 MP4 of FFmpeg's test pattern."""
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc=size={size}:rate=10", "-frames:v", str(frames), "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def unsupported_codec_mp4(folder: Path, name: str = "unknown_codec.mp4") -> Path:
    """A well-formed MP4 whose video sample entry (in `stsd`) names codec 'zzz1' instead of 'avc1':
    the container parses, but no decoder exists for the stream."""
    data = bytearray(h264_clip(folder / "valid_h264.mp4").read_bytes())
    stsd = data.find(b"stsd")
    entry = stsd + 16  # 'stsd', version+flags, entry count, entry size, then the entry's fourcc
    assert stsd > 0 and data[entry:entry + 4] == b"avc1", "unexpected MP4 layout"
    data[entry:entry + 4] = UNKNOWN_FOURCC
    out = folder / name
    out.write_bytes(bytes(data))
    (folder / "valid_h264.mp4").unlink()
    return out


def unsupported_codec_avi(folder: Path, name: str = "unknown_codec.avi") -> Path:
    """An MJPEG AVI written by OpenCV with both of its codec fourccs patched to 'ZZZ1'."""
    import cv2
    import numpy as np

    valid = folder / "valid_mjpg.avi"
    writer = cv2.VideoWriter(str(valid), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    data = valid.read_bytes()
    assert data.count(b"MJPG") == 2, "unexpected AVI layout"
    out = folder / name
    out.write_bytes(data.replace(b"MJPG", UNKNOWN_FOURCC.upper()))
    valid.unlink()
    return out


def truncated_copy(video: Path, folder: Path, name: str = "cut.mp4") -> Path:
    """`video` with its index first (faststart), cut in half: it opens, then stops decoding."""
    whole = folder / "faststart.mp4"
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(video), "-c", "copy",
                    "-movflags", "+faststart", str(whole)], check=True)
    data = whole.read_bytes()
    whole.unlink()
    cut = folder / name
    cut.write_bytes(data[: len(data) // 2])
    return cut
