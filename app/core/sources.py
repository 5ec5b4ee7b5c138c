"""Frame sources behind one interface: iterate `Frame(index, time_s, image)` with BGR uint8 images.

`Camera` (a device index), `VideoFile`, `ImageFile` and `ImageFolder`; `open_source` picks one
from what the user typed and fails with a one-line `EmotionLensError` on bad input.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from app.core import EmotionLensError
from app.core.align import to_bgr_uint8
from app.core.image_size import check_image_pixels
from app.core.native import quiet_native_stderr
from app.core.probe import describe_undecodable, iso_cut_short

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                            ".gif"})


@dataclass(slots=True)
class Frame:
    index: int
    time_s: float
    image: np.ndarray  # BGR uint8, H×W×3
    read_at: float = 0.0  # time.perf_counter() when it was handed on (the GUI's latency meter)
    file: Path | None = None  # the image file it came from (folders)


class FrameSource(Protocol):
    name: str
    fps: float | None  # nominal rate, None when unknown (images)
    frame_count: int | None  # None when unknown (cameras)

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def read_image(path: str | Path) -> np.ndarray:
    """Any image file OpenCV decodes (gray, RGBA, 16-bit ...) as BGR uint8; one-line errors."""
    path = Path(path)
    _check_file(path)
    data = np.fromfile(str(path), dtype=np.uint8)
    check_image_pixels(path, data)  # a small file can hold gigabytes of pixels: header first
    # colour (alpha dropped, EXIF orientation applied), 16-bit kept for a proper down-conversion
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise EmotionLensError(f"cannot decode image {path} (corrupt or not an image)")
    try:
        return to_bgr_uint8(image)
    except ValueError as exc:
        raise EmotionLensError(f"{path}: {exc}") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise EmotionLensError(f"file not found: {path}")
    if path.is_dir():
        raise EmotionLensError(f"expected a file, got a folder: {path}")
    if path.stat().st_size == 0:
        raise EmotionLensError(f"file is empty: {path}")


class ImageFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = self.path.name
        self.image = read_image(self.path)
        self.fps = None
        self.frame_count = 1
        self.size = (self.image.shape[1], self.image.shape[0])

    def __iter__(self) -> Iterator[Frame]:
        yield Frame(0, 0.0, self.image)

    def close(self) -> None:
        pass


class ImageFolder:
    """The images of a folder in name order; unreadable files are skipped and listed in `skipped`.
    Frames are numbered (and timed, one second each) over the images that decode."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise EmotionLensError(f"folder not found: {self.path}")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise EmotionLensError(f"no images in {self.path}")
        self.name = self.path.name
        self.fps = None
        self.frame_count = len(self.files)
        self.skipped: list[Path] = []

    def __iter__(self) -> Iterator[Frame]:
        self.skipped = []
        index = 0
        for path in self.files:
            try:
                image = read_image(path)
            except EmotionLensError:
                self.skipped.append(path)
                continue
            yield Frame(index, float(index), image, file=path)
            index += 1

    def close(self) -> None:
        pass


class VideoFile:
    """A video decoded by OpenCV (FFmpeg). Each frame's `time_s` is its own timestamp (from the
    start of the stream), so a variable-frame-rate video (phones record VFR) gets real times;
    where a container gives none, or one that does not move forward, the nominal rate fills in.

    `stopped_early` tells whether decoding ended well before the end the container announces (a
    truncated or damaged file): an MP4/MOV cut short, or a last frame more than half a second
    (or 2 %) before the container's duration. Fewer frames than the container's frame-count
    estimate alone is no sign: edit lists, variable rates and MPEG-TS make that estimate high."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        _check_file(self.path)
        self.name = self.path.name
        with quiet_native_stderr():  # FFmpeg's own complaints; we report our own one line
            self._cap = cv2.VideoCapture(str(self.path))
            ok = self._cap.isOpened()
            first = None
            if ok:
                ok, first = self._cap.read()
        if not ok or first is None:
            opened = self._cap.isOpened()
            self._cap.release()
            # OpenCV says only "no"; the container names the codec it could not open
            reason = None if opened else describe_undecodable(self.path)
            if reason:
                raise EmotionLensError(f"cannot decode video {self.path}: {reason}")
            raise EmotionLensError(
                f"cannot decode video {self.path} (not a video, damaged, or an unsupported codec)")
        self._first: np.ndarray | None = first
        self._first_t = self._position_s()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        self.size = (first.shape[1], first.shape[0])
        self.frames_read = 0
        self.start_frame = 0
        self.last_time_s: float | None = None  # of the last frame handed out
        self._cut: bool | None = None

    def _position_s(self) -> float | None:
        """The timestamp of the frame just read, in seconds from the stream's start (None when
        the container has none)."""
        msec = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        return msec / 1000.0 if math.isfinite(msec) and msec >= 0 else None

    def seek(self, frame_index: int) -> None:
        """Start at `frame_index` (used by --resume); decodes forward for exactness."""
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._first = None
        for _ in range(frame_index):
            if not self._cap.grab():
                break
        self.start_frame = frame_index
        self.last_time_s = None

    @property
    def expected_end_s(self) -> float | None:
        """Where the container says the video ends: its frame-count estimate at its rate (which
        OpenCV derives from the container's duration)."""
        return self.frame_count / self.fps if self.frame_count and self.fps else None

    @property
    def stopped_early(self) -> bool:
        if self.frame_count is None or self.start_frame + self.frames_read >= self.frame_count:
            return False
        if self._cut is None:
            self._cut = iso_cut_short(self.path)
        if self._cut:
            return True
        end, last = self.expected_end_s, self.last_time_s
        if end is None or last is None:
            return False
        dt = 1.0 / self.fps if self.fps else 1.0 / 30.0
        return end - (last + dt) > max(0.5, 0.02 * end)

    def _frame_time(self, t: float | None, index: int, dt: float) -> float:
        last = self.last_time_s
        if t is None or (t <= 0.0 < index and last is None) or (last is not None and t <= last):
            t = index * dt if last is None else last + dt
        self.last_time_s = t
        return t

    def __iter__(self) -> Iterator[Frame]:
        index = self.start_frame
        dt = 1.0 / self.fps if self.fps else 1.0 / 30.0
        while True:
            if self._first is not None:
                image, self._first = self._first, None
                t = self._first_t
            else:
                ok, image = self._cap.read()
                if not ok or image is None:
                    return
                t = self._position_s()
            self.frames_read += 1
            yield Frame(index, self._frame_time(t, index, dt), to_bgr_uint8(image))
            index += 1

    def close(self) -> None:
        self._cap.release()


CaptureOpener = Callable[[], "cv2.VideoCapture"]


class Camera:
    """A live camera. Frames carry wall-clock time since the camera opened. `width`/`height` ask
    the driver for a resolution (it may pick the nearest it supports); `opener` lets tests put a
    video file (or a stalling or failing stand-in) behind the same code path."""

    def __init__(self, index: int = 0, width: int | None = None, height: int | None = None,
                 fps: float | None = None, opener: CaptureOpener | None = None):
        self.index = index
        self.name = f"camera {index}"
        self._opener = opener or (lambda: cv2.VideoCapture(index))
        self._cap = self._opener()
        if not self._cap.isOpened():
            self._cap.release()
            raise EmotionLensError(f"camera {index} is not available (missing or busy)")
        if width and height:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        got = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(got) if got and 0 < got < 1000 else None
        self.frame_count = None
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._t0 = time.monotonic()
        self._index = 0

    def read(self) -> Frame | None:
        """The next frame, or None when the camera delivered nothing (unplugged or failing)."""
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        frame = Frame(self._index, time.monotonic() - self._t0, to_bgr_uint8(image))
        self._index += 1
        return frame

    def reopen(self) -> bool:
        """Try to open the device again (after an unplug); True when it delivers frames again."""
        self._cap.release()
        self._cap = self._opener()
        return bool(self._cap.isOpened())

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        self._cap.release()


def open_source(spec: str | int | Path, width: int | None = None,
                height: int | None = None) -> FrameSource:
    """A camera for an integer (or a string of digits), a folder of images, an image or a video."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return Camera(int(spec), width=width, height=height)
    path = Path(spec)
    if path.is_dir():
        return ImageFolder(path)
    _check_file(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFile(path)
    return VideoFile(path)
