"""Annotated video output: H.264/yuv420p MP4 that common players open, keeping the source's audio.

Frames are piped to the FFmpeg that `imageio-ffmpeg` ships (it has libx264 and AAC); when it is
missing, OpenCV's MPEG-4 Part 2 writer is the fallback (no audio).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from pathlib import Path

import cv2
import numpy as np

from app.core import EmotionLensError

log = logging.getLogger(__name__)


def ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


class VideoWriter:
    def __init__(self, path: Path, fps: float, size: tuple[int, int], audio_from: Path | None = None,
                 audio_start_s: float = 0.0):
        self.path = Path(path)
        self.size = size
        self.frames = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._cv: cv2.VideoWriter | None = None
        exe = ffmpeg_exe()
        w, h = size
        if exe:
            cmd = [exe, "-hide_banner", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", f"{fps:.6f}",
                   "-i", "pipe:0"]
            if audio_from is not None:
                cmd += ["-ss", f"{audio_start_s:.3f}", "-i", str(audio_from),
                        "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac", "-b:a", "128k", "-shortest"]
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "20", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(self.path)]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            self.codec = "h264"
        else:
            log.warning("FFmpeg not found: writing MPEG-4 Part 2 video without audio")
            self._cv = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            if not self._cv.isOpened():
                raise EmotionLensError(f"cannot write video {self.path}")
            self.codec = "mp4v"

    def write(self, image: np.ndarray) -> None:
        if image.shape[1::-1] != tuple(self.size):
            image = cv2.resize(image, self.size)
        if self._proc is not None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(np.ascontiguousarray(image).tobytes())
            except BrokenPipeError:
                raise EmotionLensError(f"video encoder stopped: {self._stderr()}") from None
        elif self._cv is not None:
            self._cv.write(image)
        self.frames += 1

    def _stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        return self._proc.stderr.read().decode(errors="replace").strip().splitlines()[-1:][0] \
            if self._proc.poll() is not None else ""

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
            code = self._proc.wait()
            err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
            self._proc = None
            if code != 0:
                raise EmotionLensError(f"video encoder failed writing {self.path}: "
                                       f"{err.splitlines()[-1] if err else code}")
        if self._cv is not None:
            self._cv.release()
            self._cv = None
