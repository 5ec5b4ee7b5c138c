"""Media made at test time (nothing binary is committed): an MP4 or AVI whose codec no decoder
knows, a video cut in half like a download that broke off, and real-world timing: a phone-style
variable-frame-rate HEVC .mov with audio, a clip slowed down midway, odd but healthy containers."""

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


def image_folder(folder: Path, files: dict[str, Path | bytes]) -> Path:
    """A folder of images made from `files`: name -> an image to copy, or the bytes to write (a
    file that is not an image)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.read_bytes())
    return folder


# --- real-world timing: phone-style variable frame rate, audio, odd containers ------------------

PHONE_FRAMES = 169


def phone_pts(n: int) -> float:
    """When frame `n` of `phone_clip` is shown: steps of 4/120 or 5/120 s, as a phone records
    (about 26.5 fps on average, 120 tbr)."""
    return (4 * n + int(n * 0.53)) / 120


def phone_clip(path: Path, audio_s: float | None = None) -> Path:
    """An iPhone-style clip: HEVC 960×540 in .mov, variable frame rate (`phone_pts`), and AAC
    stereo audio as long as the video (or `audio_s` seconds)."""
    end = phone_pts(PHONE_FRAMES)
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc2=size=960x540:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                    "-filter_complex",
                    f"[0:v]trim=end_frame={PHONE_FRAMES},settb=1/600,"
                    "setpts='(4*N+floor(N*0.53))*5'[v];[1:a]pan=stereo|c0=c0|c1=c0[a]",
                    "-map", "[v]", "-map", "[a]", "-fps_mode:v", "passthrough",
                    "-enc_time_base:v", "1/600", "-video_track_timescale", "600",
                    "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
                    "-tag:v", "hvc1", "-c:a", "aac", "-ac", "2", "-t", f"{audio_s or end:.3f}",
                    str(path)], check=True)
    return path


def slowed_pts(n: int, after: int = 50, fps: float = 25.0, factor: float = 3.0) -> float:
    """When frame `n` of `slowed_copy` is shown: `fps` up to frame `after`, `factor` × slower
    from there."""
    return n / fps if n < after else after / fps + (n - after) * factor / fps


def slowed_copy(video: Path, path: Path, after: int = 50, fps: float = 25.0,
                factor: float = 3.0) -> Path:
    """`video` re-timed by `slowed_pts` (its frames kept, H.264), with a 440 Hz tone as audio that
    stops half a second before the video. (No `-shortest`, and no MP4 edit list: FFmpeg 7.0 drops
    the last frame with either here.)"""
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    duration = min(frames, after) / fps + max(0, frames - after) * factor / fps - 0.5
    expr = f"if(lt(N,{after}),N/{fps},{after}/{fps}+(N-{after})*{factor}/{fps})/TB"
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(video),
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}",
                    "-filter_complex", f"[0:v]settb=1/1000,setpts='{expr}'[v]",
                    "-map", "[v]", "-map", "1:a", "-fps_mode:v", "passthrough",
                    "-enc_time_base:v", "1/1000", "-video_track_timescale", "1000",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-use_editlist", "0",
                    str(path)], check=True)
    return path


def mpegts_with_resolution_change(folder: Path, name: str = "switch.ts") -> Path:
    """A healthy MPEG-TS whose stream switches from 160×120 at 50 fps to 320×240 at 25 fps after
    two seconds (two broadcasts spliced): 150 frames, while OpenCV's estimate says 202."""
    parts = []
    for i, (size, rate, frames, offset) in enumerate([("160x120", 50, 100, 0.0),
                                                      ("320x240", 25, 50, 2.1)]):
        part = folder / f"part{i}.ts"
        subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc=size={size}:rate={rate}", "-frames:v", str(frames),
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-output_ts_offset", str(offset),
                        str(part)], check=True)
        parts.append(part)
    out = folder / name
    out.write_bytes(b"".join(p.read_bytes() for p in parts))  # TS packets simply follow on
    for p in parts:
        p.unlink()
    return out


def mp4_with_edit_list(folder: Path, name: str = "trimmed.mp4") -> Path:
    """A healthy MP4 whose header counts 98 frames while 95 decode: cut 0.12 s in with stream
    copy, so an edit list hides the 3 frames before the cut (they are kept for decoding)."""
    whole = folder / "gop.mp4"
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=25", "-frames:v", "98", "-c:v", "libx264", "-g", "50",
                    "-pix_fmt", "yuv420p", str(whole)], check=True)
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-ss", "0.12", "-i", str(whole),
                    "-c", "copy", str(folder / name)], check=True)
    whole.unlink()
    return folder / name


def with_audio_cut(video: Path, path: Path, seconds: float) -> Path:
    """`video` with the same frames (stream copy) and its audio cut after `seconds`."""
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(video), "-map", "0:v",
                    "-map", "0:a", "-c:v", "copy", "-af", f"atrim=end={seconds}", "-c:a", "aac",
                    str(path)], check=True)
    return path


def audio_seconds(path: Path, audible: bool = False) -> float:
    """How long the audio of `path` lasts, decoded (0.0 when it has none); with `audible`, up to
    its last sound (silence after it, such as padding, does not count)."""
    import numpy as np

    done = subprocess.run([ffmpeg(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0?",
                           "-f", "s16le", "-ac", "1", "-ar", "8000", "-"],
                          capture_output=True, check=True)
    samples = np.frombuffer(done.stdout, dtype="<i2")
    if audible:
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 1000)
        return (int(loud[-1]) + 1) / 8000 if loud.size else 0.0
    return samples.size / 8000
