"""Which cameras this machine has: probe a few device indices quickly; none is a fine answer."""

from __future__ import annotations

import glob
import re
import sys

import cv2

from app.core.native import quiet_native_stderr


def candidate_indices(max_index: int = 8) -> list[int]:
    """On Linux the /dev/video* nodes (no node, no camera: nothing to probe); elsewhere 0..N."""
    if sys.platform.startswith("linux"):
        found = sorted({int(m.group(1)) for p in glob.glob("/dev/video*")
                        if (m := re.fullmatch(r"/dev/video(\d+)", p))})
        return [i for i in found if i < max_index * 4]
    return list(range(max_index))


def probe_camera(index: int) -> bool:
    with quiet_native_stderr():
        cap = cv2.VideoCapture(index)
        try:
            return bool(cap.isOpened())
        finally:
            cap.release()


def list_cameras(max_index: int = 8, in_use: frozenset[int] = frozenset()) -> list[int]:
    """Indices that open. Stops after two misses in a row where indices are guessed. Cameras in
    `in_use` (open in this app) count as present without a probe, which could take the device
    from under the capture thread."""
    cameras: list[int] = []
    guessing = not sys.platform.startswith("linux")
    misses = 0
    for index in candidate_indices(max_index):
        if index in in_use or probe_camera(index):
            cameras.append(index)
            misses = 0
        else:
            misses += 1
            if guessing and misses >= 2:
                break
    return cameras
