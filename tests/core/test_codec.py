"""A video whose codec cannot be decoded: one line naming the codec, no traceback, no outputs."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import EmotionLensError
from app.core.probe import _ffmpeg_video_codec, _reason, describe_undecodable
from app.core.sources import VideoFile, open_source
from tests.conftest import ROOT
from tests.media_files import h264_clip, unsupported_codec_avi, unsupported_codec_mp4


def test_unknown_codec_in_mp4_names_the_fourcc(tmp_path: Path) -> None:
    bad = unsupported_codec_mp4(tmp_path)
    with pytest.raises(EmotionLensError) as info:
        open_source(bad)
    message = str(info.value)
    assert message == f"cannot decode video {bad}: codec 'zzz1' is not supported"


def test_unknown_codec_in_avi_names_the_fourcc(tmp_path: Path) -> None:
    with pytest.raises(EmotionLensError, match="codec 'ZZZ1' is not supported"):
        open_source(unsupported_codec_avi(tmp_path))


def test_the_same_clip_with_its_real_codec_decodes(tmp_path: Path) -> None:
    src = open_source(h264_clip(tmp_path / "ok.mp4"))
    assert isinstance(src, VideoFile) and src.frame_count == 6
    assert len(list(src)) == 6


def test_mp4_cut_before_its_index_says_incomplete(tmp_path: Path) -> None:
    whole = h264_clip(tmp_path / "whole.mp4", frames=40)  # FFmpeg writes the index (moov) last
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(EmotionLensError, match=r"index \(moov box\) is missing"):
        open_source(cut)


def test_ffmpeg_names_the_codec_of_any_container(tmp_path: Path) -> None:
    assert _ffmpeg_video_codec(unsupported_codec_mp4(tmp_path)) == "zzz1"
    assert _ffmpeg_video_codec(h264_clip(tmp_path / "ok.mp4")) == "h264"
    text = tmp_path / "notes.mkv"
    text.write_text("not a video at all\n")
    assert _ffmpeg_video_codec(text) is None
    assert describe_undecodable(text) is None  # the generic message stays


def test_a_known_codec_that_does_not_open_is_called_damaged() -> None:
    assert "damaged" in (_reason("avc1", True) or "")
    assert _reason(None, True) is None


KINDS = st.sampled_from([b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"hdlr", b"mdat",
                         b"free"])


def _box(kind: bytes, payload: bytes, lie: int) -> bytes:
    """An ISO-BMFF box; `lie` != 0 makes its size field wrong (too short, too long, 64-bit, 0)."""
    size = len(payload) + 8
    if lie == 1:
        return struct.pack(">I4sQ", 1, kind, size + 8) + payload
    fake = {0: size, 2: 0, 3: 3, 4: size + 1000, 5: 2**32 - 1}[lie]
    return struct.pack(">I4s", fake, kind) + payload


LIES = st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5])
PAYLOADS = st.binary(max_size=40) | st.sampled_from([bytes(8) + b"vide", bytes(12) + b"zzz1"])
LEAF = st.builds(_box, KINDS, PAYLOADS, LIES)
TREE = st.recursive(LEAF, lambda kids: st.builds(lambda k, c, lie: _box(k, b"".join(c), lie), KINDS,
                                                 st.lists(kids, max_size=3), LIES), max_leaves=10)
AVI = st.builds(lambda body: b"RIFF\x00\x00\x00\x00AVI " + body,
                st.lists(st.sampled_from([b"strh", b"8\x00\x00\x00", b"vids", b"strf", b"\x00" * 20]),
                         max_size=12).map(b"".join) | st.binary(max_size=300))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.builds(lambda top: _box(b"ftyp", b"isom", 0) + b"".join(top), st.lists(TREE, max_size=3))
       | AVI)
def test_probe_never_fails_on_malformed_containers(tmp_path: Path, data: bytes) -> None:
    """Nested boxes with lying sizes, cut AVI headers: a reason or None, never an exception."""
    path = tmp_path / "garbage.mp4"
    path.write_bytes(data)
    reason = describe_undecodable(path)
    assert reason is None or (isinstance(reason, str) and "\n" not in reason)


@pytest.mark.parametrize("explicit", [False, True])
def test_annotate_cli_unknown_codec(tmp_path: Path, explicit: bool) -> None:
    work = tmp_path / "work"
    work.mkdir()
    bad = unsupported_codec_mp4(work, "clip.mp4")
    args = [sys.executable, "-m", "app.cli", "annotate", str(bad)]
    if explicit:
        args += ["-o", str(work / "a.mp4"), "--csv", str(work / "a.csv"), "--json", str(work / "a.json")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs")}
    done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    assert err == [f"error: cannot decode video {bad}: codec 'zzz1' is not supported"]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sorted(p.name for p in work.iterdir()) == ["clip.mp4"]  # no partial output anywhere
