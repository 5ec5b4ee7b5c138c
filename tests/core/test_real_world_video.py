"""Phone videos and other real-world timing, end to end: every frame kept at its own time, the
audio kept as far as it goes, and no false "truncated" warning on a healthy file.

The media are made here with the bundled FFmpeg (HEVC and H.264); nothing binary is committed.
"""

from __future__ import annotations

import csv
import os
import signal
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core import EmotionLensError
from app.core.sources import VideoFile
from app.core.video_writer import VideoWriter, ffmpeg_lines
from tests.media_files import (
    PHONE_FRAMES,
    audio_seconds,
    ffmpeg,
    h264_clip,
    mp4_with_edit_list,
    mpegts_with_resolution_change,
    phone_clip,
    phone_pts,
    slowed_copy,
    slowed_pts,
    truncated_copy,
    with_audio_cut,
)


def frame_times(video: Path) -> list[float]:
    """The timestamps of every frame that decodes, read by the app's own decoder."""
    source = VideoFile(video)
    try:
        return [frame.time_s for frame in source]
    finally:
        source.close()


@pytest.fixture(scope="module")
def phone_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("phone")
    same = phone_clip(folder / "IMG_0001.MOV")
    return {"audio as long": same,
            "audio shorter": with_audio_cut(same, folder / "IMG_0002.MOV", 4.0)}


def test_a_vfr_phone_clip_decodes_at_its_own_timestamps(phone_clips: dict[str, Path]) -> None:
    times = frame_times(phone_clips["audio as long"])
    assert len(times) == PHONE_FRAMES
    assert max(abs(t - phone_pts(i)) for i, t in enumerate(times)) < 1e-3


def test_time_s_of_a_clip_slowed_after_frame_50_is_its_real_time(tmp_path: Path) -> None:
    """Index / average rate put frame 48 seconds away from where it is shown."""
    slowed = slowed_copy(h264_clip(tmp_path / "even.mp4", frames=80), tmp_path / "slowed.mp4")
    times = frame_times(slowed)
    assert len(times) == 80
    assert times[48] == pytest.approx(1.92, abs=2e-3)
    assert times[79] == pytest.approx(slowed_pts(79), abs=2e-3)
    assert max(abs(t - slowed_pts(i)) for i, t in enumerate(times)) < 2e-3


@pytest.mark.parametrize("audio", ["audio as long", "audio shorter"])
def test_annotating_a_phone_clip_keeps_every_frame_its_timing_and_its_audio(
        phone_clips: dict[str, Path], default_model: Path, tmp_path: Path, audio: str) -> None:
    src = phone_clips[audio]
    out = tmp_path / "annotated.mp4"
    assert main(["annotate", str(src), "-o", str(out), "--csv", str(tmp_path / "a.csv"),
                 "--model", str(default_model)]) == 0
    times = frame_times(out)
    assert len(times) == PHONE_FRAMES  # every decoded frame, whatever the audio's length
    assert max(abs(t - phone_pts(i)) for i, t in enumerate(times)) < 2e-3  # the source's timing
    # the sound is kept as far as it goes (4 s, or the whole clip), in step with the frames
    assert audio_seconds(out, audible=True) == pytest.approx(audio_seconds(src, audible=True),
                                                             abs=0.05)


def test_csv_and_video_of_a_slowed_face_clip_carry_real_times(
        media: Path, default_model: Path, tmp_path: Path) -> None:
    slowed = slowed_copy(media / "street_phone.mp4", tmp_path / "slowed.mp4")
    out, csv_path = tmp_path / "a.mp4", tmp_path / "a.csv"
    assert main(["annotate", str(slowed), "-o", str(out), "--csv", str(csv_path),
                 "--model", str(default_model)]) == 0
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len({r["frame"] for r in rows}) > 100
    for r in rows:
        assert float(r["time_s"]) == pytest.approx(slowed_pts(int(r["frame"])), abs=1.5e-3), r
    assert {float(r["time_s"]) for r in rows if r["frame"] == "48"} == {1.92}
    times = frame_times(out)
    assert len(times) == 115
    assert max(abs(t - slowed_pts(i)) for i, t in enumerate(times)) < 2e-3
    assert audio_seconds(out, audible=True) == pytest.approx(audio_seconds(slowed, audible=True),
                                                             abs=0.05)


def test_a_stopped_encoder_is_one_clear_error(tmp_path: Path) -> None:
    """FFmpeg gone with nothing on its stderr (killed here): an EmotionLensError naming the
    file, never an exception from reading that stderr."""
    writer = VideoWriter(tmp_path / "v.mp4", 25.0, (64, 48))
    image = np.zeros((48, 64, 3), np.uint8)
    writer.write(image)
    assert writer._proc is not None
    os.kill(writer._proc.pid, signal.SIGKILL)
    writer._proc.wait()
    with pytest.raises(EmotionLensError, match=r"video encoder stopped writing .*v\.mp4"):
        for _ in range(200):  # the pipe notices on one of the next writes
            writer.write(image)
            time.sleep(0.005)
    with pytest.raises(EmotionLensError, match="video encoder"):
        writer.close()
    writer.close()  # a second close is harmless


@pytest.mark.parametrize("make", [mpegts_with_resolution_change, mp4_with_edit_list],
                         ids=["mpegts-resolution-change", "mp4-98-header-95-decode"])
def test_a_healthy_file_below_its_frame_count_estimate_is_not_called_truncated(
        tmp_path: Path, make: Callable[[Path], Path]) -> None:
    source = VideoFile(make(tmp_path))
    frames = list(source)
    assert source.frame_count is not None and len(frames) < source.frame_count  # the estimate
    assert not source.stopped_early


def test_a_cut_file_is_still_called_truncated(tmp_path: Path) -> None:
    source = VideoFile(truncated_copy(h264_clip(tmp_path / "whole.mp4", frames=60), tmp_path))
    assert 0 < len(list(source)) < 60
    assert source.stopped_early


def top_level_boxes(path: Path) -> list[str]:
    """The types of an MP4's top-level boxes, in file order."""
    boxes, data, at = [], path.read_bytes(), 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8:at + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        at += size
    return boxes


def test_audio_longer_than_the_video_ends_with_its_last_frame(default_model: Path,
                                                              tmp_path: Path) -> None:
    """A 5 s clip with 8 s of sound: the annotated MP4 has every frame, and sound up to the end of
    the last one (as after Ctrl-C, or a range), in one plain MP4 (no fragments left)."""
    clip = h264_clip(tmp_path / "v.mp4", frames=50, size="160x120")
    src = tmp_path / "long_sound.mp4"
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(clip), "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000:duration=8", "-map", "0:v", "-map", "1:a",
                    "-c:v", "copy", "-c:a", "aac", str(src)], check=True)
    assert audio_seconds(src) > 7.9
    out = tmp_path / "annotated.mp4"
    assert main(["annotate", str(src), "-o", str(out), "--model", str(default_model),
                 "--detector", "opencv"]) == 0
    assert len(frame_times(out)) == 50
    assert audio_seconds(out) == pytest.approx(5.0, abs=0.05)
    boxes = top_level_boxes(out)
    assert "moov" in boxes and "moof" not in boxes, boxes
    assert not list(tmp_path.glob(".*.plain.mp4"))  # the second pass's file took its place


def test_the_fragmented_video_stays_when_the_final_copy_fails(tmp_path: Path, caplog) -> None:
    """The second pass cannot write its copy (here a folder holds the name it writes to, as a
    full disk would stop it): the fragmented MP4 stays, plays to its last frame, close() does
    not fail, and a warning says what happened."""
    path = tmp_path / "v.mp4"
    writer = VideoWriter(path, 10.0, (64, 48))
    for i in range(30):
        writer.write(np.full((48, 64, 3), i * 8, np.uint8), i / 10)
    (tmp_path / f".v.mp4.{os.getpid()}.plain.mp4").mkdir()
    writer.close()
    assert "moof" in top_level_boxes(path)
    assert len(frame_times(path)) == 30
    assert "kept" in caplog.text and "fragmented MP4" in caplog.text
    assert "Is a directory" in caplog.text and "@ 0x" not in caplog.text  # FFmpeg's reason, bare


def test_ffmpeg_lines_drop_the_component_prefix() -> None:
    """FFmpeg's messages reach the user without the "[component @ 0x…]" that starts them."""
    text = (b"[out#0/mp4 @ 0x55d0c3a0e4c0] Error opening output /x/v.mp4: Is a directory\n\n"
            b"  Error opening output files: Is a directory  \n")
    assert ffmpeg_lines(text) == ["Error opening output /x/v.mp4: Is a directory",
                                  "Error opening output files: Is a directory"]
