"""Annotated video output: H.264/yuv420p MP4 that common players open, keeping the source's audio.

Frames go to the FFmpeg that `imageio-ffmpeg` ships (it has libx264 and AAC) each with its own
timestamp, as a Matroska stream of raw BGR frames on FFmpeg's stdin: a variable-frame-rate source
(phones record VFR) keeps its timing, and so its sync with the audio. No B-frames: the video
starts at 0, in step with the audio.

Two passes. While frames come, the video is written as a fragmented MP4 (a fragment a second), so a
run stopped by a full disk or a kill leaves a file that plays up to its last fragment (without
sound). `close()` then copies that video, unchanged, into a plain MP4 (one index, what every player
and editor expects) together with the source's audio from the first frame's time to the last
frame's end, encoded as AAC: every frame written is in the file whatever the audio's length, and
the sound is kept as far as it goes. The second pass copies the video and encodes only the audio
(a few seconds for an hour of sound). Should it fail (a disk too full for a second copy), the
fragmented file stays, whole and playable, and a warning says so.

FFmpeg runs in a process group of its own, so Ctrl-C in a terminal reaches Python only, which then
closes the file properly. A thread writes to the pipe (a signal never cuts a frame in half) and
another drains FFmpeg's stderr (it can never fill up and stall FFmpeg).

When FFmpeg is missing, OpenCV's MPEG-4 Part 2 writer is the fallback (constant rate, no audio).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import queue
import re
import signal
import struct
import subprocess
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.core import EmotionLensError

log = logging.getLogger(__name__)

_TICKS_PER_S = 1_000_000  # frame timestamps in microseconds (Matroska TimestampScale 1000 ns)
_MIN_STEP = 100  # ticks: timestamps strictly increase, a repeated or backward one is nudged
_QUEUE_FRAMES = 4  # frames waiting for the pipe, at most
_FFMPEG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-fA-F]+\]\s*")  # "[out#0/mp4 @ 0x55d0…] "


def ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def _ebml_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:  # all ones is reserved for "unknown size"
            return (n | (1 << (7 * length))).to_bytes(length, "big")
    raise ValueError(f"element too large: {n} bytes")


def _element(element_id: bytes, payload: bytes) -> bytes:
    return element_id + _ebml_size(len(payload)) + payload


def _uint(element_id: bytes, value: int) -> bytes:
    return _element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def matroska_header(width: int, height: int) -> bytes:
    """EBML header, a Segment of unknown size and one track of raw BGR24 frames of this size."""
    ebml = _element(b"\x1a\x45\xdf\xa3", b"".join([
        _uint(b"\x42\x86", 1), _uint(b"\x42\xf7", 1), _uint(b"\x42\xf2", 4), _uint(b"\x42\xf3", 8),
        _element(b"\x42\x82", b"matroska"), _uint(b"\x42\x87", 4), _uint(b"\x42\x85", 2)]))
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff"
    info = _element(b"\x15\x49\xa9\x66", _uint(b"\x2a\xd7\xb1", 1_000_000_000 // _TICKS_PER_S)
                    + _element(b"\x4d\x80", b"emotion-lens") + _element(b"\x57\x41", b"emotion-lens"))
    video = _element(b"\xe0", _uint(b"\xb0", width) + _uint(b"\xba", height)
                     + _element(b"\x2e\xb5\x24", b"BGR\x18"))  # ColourSpace: the raw fourcc
    track = _element(b"\xae", _uint(b"\xd7", 1) + _uint(b"\x73\xc5", 1) + _uint(b"\x83", 1)
                     + _uint(b"\x9c", 0) + _element(b"\x86", b"V_UNCOMPRESSED") + video)
    return ebml + segment + info + _element(b"\x16\x54\xae\x6b", track)


def matroska_frame_header(timestamp: int, nbytes: int) -> bytes:
    """A Cluster at `timestamp` ticks holding one SimpleBlock (a key frame of track 1) whose
    `nbytes` of frame data follow this header."""
    block = b"\x81" + struct.pack(">hB", 0, 0x80)
    stamp = _uint(b"\xe7", timestamp)
    simple = b"\xa3" + _ebml_size(len(block) + nbytes) + block
    return b"\x1f\x43\xb6\x75" + _ebml_size(len(stamp) + len(simple) + nbytes) + stamp + simple


def ffmpeg_lines(text: bytes | str) -> list[str]:
    """FFmpeg's stderr as lines without their "[component @ 0x…]" prefixes, blank lines dropped."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return [line for raw in text.splitlines() if (line := _FFMPEG_PREFIX.sub("", raw.strip()))]


def _own_group() -> dict[str, Any]:
    """Popen arguments that give FFmpeg a process group (Windows) or session (POSIX) of its own:
    a terminal's Ctrl-C reaches Python only, which then finishes the file."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP
                | getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    return {"start_new_session": True}


def _reason(lines: list[str], code: int | None) -> str:
    """Why FFmpeg failed, in a few words: its last line, else how it ended."""
    if lines:
        return lines[-1]
    if code is not None and code < 0:
        return f"killed by signal {_signal_name(-code)}"
    return f"exit code {code}" if code is not None else "no reason given"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class VideoWriter:
    """Write frames with `write(image, time_s)`; `close()` finishes the file. Without `time_s`
    frames are spaced 1/`fps` apart. An image handed to `write` must not be changed afterwards
    (it is written from another thread)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], audio_from: Path | None = None,
                 audio_start_s: float = 0.0):
        self.path = Path(path)
        self.size = size
        self.fps = fps if fps and fps > 0 else 30.0
        self.frames = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._cv: cv2.VideoWriter | None = None
        self._last_stamp: int | None = None
        self._step = round(_TICKS_PER_S / self.fps)  # the last frame's duration, in ticks
        self._audio_from, self._audio_start_s = audio_from, audio_start_s
        self._stderr_lines: collections.deque[str] = collections.deque(maxlen=50)
        self._pipe_error: OSError | None = None
        self._queue: queue.Queue[tuple[bytes, np.ndarray] | None] = queue.Queue(_QUEUE_FRAMES)
        exe = self._exe = ffmpeg_exe()
        w, h = size
        if exe:
            cmd = [exe, "-hide_banner", "-nostats", "-loglevel", "error", "-y",
                   "-f", "matroska", "-i", "pipe:0",
                   "-fps_mode:v", "passthrough", "-enc_time_base:v", "demux",
                    "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "20", "-pix_fmt", "yuv420p", "-bf", "0",
                    "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                    "-frag_duration", "1000000",
                    "-use_editlist", "1", str(self.path)]
            # its own process group: a terminal's Ctrl-C must not stop it before the file is whole
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, **_own_group())
            self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True,
                                                   name="video-encoder-stderr")
            self._stderr_thread.start()
            self._feeder = threading.Thread(target=self._feed, args=(matroska_header(w, h),),
                                            daemon=True, name="video-encoder-feed")
            self._feeder.start()
            self.codec = "h264"
        else:
            log.warning("FFmpeg not found: writing MPEG-4 Part 2 video without audio")
            self._cv = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
            if not self._cv.isOpened():
                raise EmotionLensError(f"cannot write video {self.path}")
            self.codec = "mp4v"

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        with contextlib.suppress(OSError, ValueError):
            for raw in self._proc.stderr:
                self._stderr_lines.extend(ffmpeg_lines(raw))

    def _feed(self, header: bytes) -> None:
        """The pipe's only writer: the header, then each queued frame whole; after a failed
        write it keeps taking frames off the queue (so `write` never blocks) and drops them."""
        assert self._proc is not None and self._proc.stdin is not None
        stdin = self._proc.stdin
        item: tuple[bytes, np.ndarray] | None = (header, np.empty(0, np.uint8))
        while item is not None:
            if self._pipe_error is None:
                try:
                    stdin.write(item[0])
                    if item[1].size:
                        stdin.write(memoryview(item[1]).cast("B"))
                except OSError as exc:  # EPIPE: FFmpeg stopped; the reason is on its stderr
                    self._pipe_error = exc
            item = self._queue.get()
        with contextlib.suppress(OSError):
            stdin.close()

    def _failure(self, what: str, code: int | None) -> Exception:
        """The error for a stopped FFmpeg: OSError for a full disk (the CLI's one line for it),
        else EmotionLensError with FFmpeg's last line (or its exit code). Never raises itself."""
        lines = list(self._stderr_lines)
        for text, number in (("No space left on device", errno.ENOSPC),
                             ("File too large", errno.EFBIG)):
            if any(text in line for line in lines):
                return OSError(number, os.strerror(number), str(self.path))
        if code is not None and code < 0 and code == -getattr(signal, "SIGXFSZ", 0):
            return OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(self.path))  # ulimit -f
        return EmotionLensError(f"video encoder {what} {self.path}: {_reason(lines, code)}")

    def _stopped(self) -> Exception | None:
        """The error to raise when FFmpeg has stopped taking frames (None while it runs)."""
        if self._proc is None:
            return None
        code = self._proc.poll()
        if self._pipe_error is None and code is None:
            return None
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(timeout=5)
        self._stderr_thread.join(timeout=5)
        return self._failure("stopped writing", code)

    def write(self, image: np.ndarray, time_s: float | None = None) -> None:
        if image.shape[1::-1] != tuple(self.size):
            image = cv2.resize(image, self.size)
        if self._proc is not None:
            if (failure := self._stopped()) is not None:
                raise failure
            t = self.frames / self.fps if time_s is None else time_s
            stamp = max(0, round(t * _TICKS_PER_S))
            if self._last_stamp is not None:
                stamp = max(stamp, self._last_stamp + _MIN_STEP)
                self._step = stamp - self._last_stamp
            self._last_stamp = stamp
            image = np.ascontiguousarray(image)
            self._queue.put((matroska_frame_header(stamp, image.nbytes), image))
        elif self._cv is not None:
            self._cv.write(image)
        self.frames += 1

    def close(self) -> None:
        """Finish the file: FFmpeg encodes what it has and writes the index. Raises (OSError for a
        full disk, else EmotionLensError) when FFmpeg failed; safe to call twice."""
        if self._proc is not None:
            proc = self._proc
            self._queue.put(None)  # the feeder closes stdin after the frames before it
            self._feeder.join()
            code = proc.wait()
            self._stderr_thread.join(timeout=5)
            self._proc = None
            if code != 0 or self._pipe_error is not None:
                raise self._failure("failed writing", code)
            self._defragment()
        if self._cv is not None:
            self._cv.release()
            self._cv = None

    def _defragment(self) -> None:
        """Replace the finished fragmented MP4 by a plain one: the same video stream (copied, not
        re-encoded) and the source's audio up to the end of the last frame. On failure the
        fragmented file stays, and a warning says why."""
        assert self._exe is not None
        if self._last_stamp is None:
            return  # no frame: FFmpeg wrote no file to turn
        target = self.path.resolve()  # a symbolic link keeps pointing at the result
        tmp = target.with_name(f".{target.name}.{os.getpid()}.plain.mp4")
        cmd = [self._exe, "-hide_banner", "-nostats", "-loglevel", "error", "-y", "-i", str(target)]
        if self._audio_from is not None:
            end = (self._last_stamp + self._step) / _TICKS_PER_S
            cmd += ["-ss", f"{self._audio_start_s:.6f}", "-t", f"{end:.6f}",
                    "-i", str(self._audio_from), "-map", "0:v:0", "-map", "1:a:0?",
                    "-c:a", "aac", "-b:a", "128k"]
        else:
            cmd += ["-map", "0:v:0"]
        cmd += ["-c:v", "copy", "-use_editlist", "1", "-f", "mp4", str(tmp)]
        reason = None
        try:
            # a group of its own, as the encoder: Ctrl-C in a terminal reaches Python only
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, **_own_group())
            if done.returncode == 0:
                os.replace(tmp, target)
                return
            reason = _reason(ffmpeg_lines(done.stderr), done.returncode)
        except OSError as exc:
            reason = exc.strerror or str(exc)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        sound = " without its sound" if self._audio_from is not None else ""
        log.warning("kept %s as a fragmented MP4%s (it plays in common players; the final copy "
                    "failed: %s)", self.path, sound, reason)
