"""Why a video does not open: read the codec its container names, without decoding anything.

OpenCV only says "could not open". To tell the user *which* codec is missing, the sample entry
(`stsd`) of the first video track is read from MP4/MOV/M4V files, the stream header (`strh`/`strf`)
from AVI files, and for other containers FFmpeg's own stream line (`ffmpeg -i`, the FFmpeg that
imageio-ffmpeg ships) is parsed when that FFmpeg is there.
"""

from __future__ import annotations

import re
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

# Codecs the FFmpeg inside OpenCV decodes: a file naming one of these that still does not open is
# damaged rather than unsupported.
DECODABLE = frozenset({
    "avc1", "avc3", "h264", "x264", "hvc1", "hev1", "hevc", "h265", "mp4v", "mpeg4", "xvid", "divx",
    "dx50", "fmp4", "mjpg", "mjpeg", "jpeg", "mjpa", "mjpb", "vp08", "vp8", "vp09", "vp9", "av01",
    "av1", "h263", "s263", "mpeg1video", "mpeg2video", "mp2v", "theora", "png", "gif", "rawvideo",
})
_ISO_TOP = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
_MAX_MOOV = 64 * 1024 * 1024  # a larger index is not read (the generic message stays)


def describe_undecodable(path: Path) -> str | None:
    """A short reason why `path` does not decode, for "cannot decode video PATH: <reason>"; None
    when the container says nothing useful (not a video at all, or unreadable)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
        if len(head) >= 8 and head[4:8] in _ISO_TOP:
            return _reason(*_iso_video_codec(path))
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            return _reason(_avi_video_codec(path), True)
    except OSError:
        return None
    return _reason(_ffmpeg_video_codec(path), True)


def _reason(codec: str | None, has_index: bool) -> str | None:
    if not has_index:
        return ("the MP4 index (moov box) is missing, so the file is incomplete "
                "(an interrupted download or copy?)")
    if codec is None:
        return None
    if codec.lower() in DECODABLE:
        return f"its {codec!r} video stream does not open (the file looks damaged)"
    return f"codec {codec!r} is not supported"


def _fourcc(raw: bytes) -> str | None:
    text = raw.decode("latin-1").strip("\0 ")
    if not text:
        return None
    return text if text.isprintable() else "0x" + raw.hex()


def _box_header(buf: bytes, pos: int, available: int) -> tuple[bytes, int, int] | None:
    """(type, header length, size) of the ISO-BMFF box whose header starts at `buf[pos:]`, with
    `available` bytes from there to the end of its parent; None when cut off or malformed."""
    size, kind = struct.unpack_from(">I4s", buf, pos)
    header = 8
    if size == 1:
        if available < 16 or len(buf) < pos + 16:
            return None
        size, header = struct.unpack_from(">Q", buf, pos + 8)[0], 16
    elif size == 0:
        size = available
    if size < header or size > available:
        return None
    return kind, header, size


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the ISO-BMFF boxes in `data[start:end]`."""
    pos = start
    while pos + 8 <= end:
        box = _box_header(data, pos, end - pos)
        if box is None:
            return
        kind, header, size = box
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def _read_moov(path: Path) -> bytes | None:
    """The payload of the top-level `moov` box, walking the top level with seeks only."""
    size_total = path.stat().st_size
    with path.open("rb") as fh:
        pos = 0
        while pos + 8 <= size_total:
            fh.seek(pos)
            header = fh.read(16)
            box = _box_header(header, 0, size_total - pos) if len(header) >= 8 else None
            if box is None:
                return None
            kind, skip, size = box
            if kind == b"moov":
                if size - skip > _MAX_MOOV:
                    return None
                fh.seek(pos + skip)
                return fh.read(size - skip)
            pos += size
    return None


def iso_cut_short(path: Path) -> bool:
    """Whether an MP4/MOV/M4V file ends inside one of its top-level boxes (a download or copy
    that broke off: the boxes promise more bytes than the file has). False for other
    containers, for a well-formed file, and when the file cannot be read."""
    try:
        total = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(12)
            if len(head) < 8 or head[4:8] not in _ISO_TOP:
                return False
            pos = 0
            while pos + 8 <= total:
                fh.seek(pos)
                size, _kind = struct.unpack(">I4s", fh.read(8))
                if size == 1:
                    wide = fh.read(8)
                    if len(wide) < 8:
                        return True
                    size = struct.unpack(">Q", wide)[0]
                elif size == 0:  # runs to the end of the file
                    return False
                if size < 8:
                    return False  # malformed: no verdict
                if pos + size > total:
                    return True
                pos += size
    except OSError:
        return False
    return False


def _iso_video_codec(path: Path) -> tuple[str | None, bool]:
    """(fourcc of the first video track's sample entry or None, whether a moov box was found)."""
    moov = _read_moov(path)
    if moov is None:
        return None, False
    for kind, start, end in _boxes(moov, 0, len(moov)):
        if kind != b"trak":
            continue
        mdia = _child(moov, start, end, b"mdia")
        if mdia is None:
            continue
        hdlr = _child(moov, *mdia, b"hdlr")
        if hdlr is None or moov[hdlr[0] + 8:hdlr[0] + 12] != b"vide":
            continue
        minf = _child(moov, *mdia, b"minf")
        stbl = _child(moov, *minf, b"stbl") if minf else None
        stsd = _child(moov, *stbl, b"stsd") if stbl else None
        if stsd is None or stsd[1] - stsd[0] < 16:
            return None, True
        return _fourcc(moov[stsd[0] + 12:stsd[0] + 16]), True
    return None, True


def _avi_video_codec(path: Path) -> str | None:
    """The compression fourcc of the first video stream (`strf` biCompression, else `strh`)."""
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)  # the hdrl list comes first
    pos = head.find(b"strh")
    while pos >= 0 and head[pos + 8:pos + 12] != b"vids":  # strh <size> <type> <handler>
        pos = head.find(b"strh", pos + 4)
    if pos < 0:
        return None
    strf = head.find(b"strf", pos)
    if strf >= 0 and strf + 28 <= len(head):
        codec = _fourcc(head[strf + 24:strf + 28])  # BITMAPINFOHEADER.biCompression
        if codec:
            return codec
    return _fourcc(head[pos + 12:pos + 16])  # AVISTREAMHEADER.fccHandler


_STREAM = re.compile(r"Stream #\S+: Video: (\w+)(.*)")
_TAG = re.compile(r"\((\w{4}) / 0x[0-9A-Fa-f]+\)")


def _ffmpeg_video_codec(path: Path) -> str | None:
    """FFmpeg's name for the first video stream (its fourcc tag when FFmpeg has no decoder)."""
    from app.core.video_writer import ffmpeg_exe

    exe = ffmpeg_exe()
    if exe is None:
        return None
    try:
        # FFmpeg reads only the headers here (about 0.1 s for a bad file); the GUI waits for it
        # on its UI thread before annotating, so a stuck FFmpeg is given up on after 5 s
        done = subprocess.run([exe, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                              text=True, errors="replace", timeout=5,
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except (OSError, subprocess.SubprocessError):
        return None
    match = _STREAM.search(done.stderr)
    if match is None:
        return None
    name, rest = match.groups()
    if name != "none":
        return name
    tag = _TAG.search(rest)
    return tag.group(1) if tag else "unknown"
