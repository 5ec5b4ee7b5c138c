"""The frame at the size the video panel paints it, made ahead on the capture thread.

Resizing a frame for the screen (about 1.3 ms for a 762×768 frame here) sat on the UI thread
between a frame's result and its paint: on the frame-read → painted path. The capture thread
has nothing to do while the inference thread works on the frame it just posted, so it makes the
display copy then (`prepare`), in parallel; the panel takes it when the result arrives (`take`)
and scales the frame itself only when no copy of the right size is ready (the window was
resized, a still picture, a copy not yet done). Either way the picture is the same:
`display_frame` makes both.

The copy is BGRA (QImage's RGB32): the widget's backing store is 32-bit, so it is drawn without
a per-pixel conversion (a BGR888 QImage was converted on every paint).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

DisplayKey = tuple[int, int, bool]  # painted width and height in device pixels, mirrored


def is_bgr(image: np.ndarray) -> bool:
    """A BGR uint8 H×W×3 image, the only kind the panel paints."""
    return image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def display_frame(image: np.ndarray, key: DisplayKey) -> np.ndarray:
    """`image` (BGR uint8) resized to `key`'s size (area averaging when it shrinks by more than
    half, else bilinear), mirrored if asked: a C-contiguous BGRA array."""
    w, h, mirror = key
    ih, iw = image.shape[:2]
    scaled = image
    if (w, h) != (iw, ih):
        shrink = w < iw / 2
        scaled = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if mirror:
        scaled = cv2.flip(scaled, 1)
    return np.ascontiguousarray(cv2.cvtColor(scaled, cv2.COLOR_BGR2BGRA))


class DisplayScaler:
    """One slot shared by the panel (UI thread: `want`, `take`) and the capture thread
    (`prepare`): the newest frame's display copy at the size the panel last asked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: DisplayKey | None = None
        self._ready: tuple[np.ndarray, DisplayKey, np.ndarray] | None = None
        self.prepared = 0  # copies made ahead (for tests and benchmarks)
        self.taken = 0  # of them, used by a paint

    def want(self, key: DisplayKey) -> None:
        """The panel's current painted size: the next frames are prepared at it."""
        with self._lock:
            self._key = key

    def prepare(self, image: np.ndarray) -> None:
        """Make `image`'s display copy at the wanted size (nothing while no size is known)."""
        with self._lock:
            key = self._key
        if key is None or not is_bgr(image):
            return  # the panel refuses other images itself, with its own message
        copy = display_frame(image, key)  # outside the lock: the UI never waits on a resize
        with self._lock:
            self._ready = (image, key, copy)
            self.prepared += 1

    def take(self, image: np.ndarray, key: DisplayKey) -> np.ndarray | None:
        """The display copy of this very array at `key`, if one was prepared; else None."""
        with self._lock:
            ready = self._ready
            if ready is None or ready[0] is not image or ready[1] != key:
                return None
            self._ready = None
            self.taken += 1
            return ready[2]

    @property
    def holds_copy(self) -> bool:
        """A copy is waiting to be taken (it keeps its frame alive)."""
        with self._lock:
            return self._ready is not None

    def clear(self) -> None:
        """Forget the copy made last (its source closed)."""
        with self._lock:
            self._ready = None
