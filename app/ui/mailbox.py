"""Thread hand-offs without queues: a one-slot frame mailbox (the newest frame wins) and a one-slot
result box (the UI paints the newest result). Plain Python, no Qt."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from app.core.sources import Frame

T = TypeVar("T")


class _End:
    def __repr__(self) -> str:
        return "END"


END = _End()  # `FrameMailbox.take` returns it once the source has no more frames


class FrameMailbox:
    """One slot between the capture thread and the inference worker.

    `put` replaces a frame the worker has not taken yet (counted in `dropped`), so a slow worker
    always gets the newest frame and nothing queues up. `put_wait` waits for the slot to empty
    instead (smoke mode: every frame is processed). Each source gets a new `generation`; frames
    of an older one are ignored.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._ended = False
        self.generation = 0
        self.posted = 0
        self.dropped = 0

    def reset(self) -> int:
        """Forget the pending frame and start a new generation; returns it."""
        with self._cond:
            self.generation += 1
            self._frame = None
            self._ended = False
            self.posted = self.dropped = 0
            self._cond.notify_all()
            return self.generation

    def put(self, frame: Frame, generation: int) -> bool:
        with self._cond:
            if generation != self.generation:
                return False
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.posted += 1
            self._cond.notify_all()
            return True

    def put_wait(self, frame: Frame, generation: int, stop: threading.Event) -> bool:
        """Wait until the worker took the previous frame, then post this one (no frame dropped)."""
        with self._cond:
            while self._frame is not None and generation == self.generation and not stop.is_set():
                self._cond.wait(0.05)
            if stop.is_set():
                return False
        return self.put(frame, generation)

    def end(self, generation: int) -> None:
        with self._cond:
            if generation == self.generation:
                self._ended = True
                self._cond.notify_all()

    def take(self, timeout: float = 0.1) -> Frame | _End | None:
        """The newest frame; END once after the last frame of a finished source; None on timeout."""
        with self._cond:
            if self._frame is None and not self._ended:
                self._cond.wait(timeout)
            if self._frame is not None:
                frame, self._frame = self._frame, None
                self._cond.notify_all()
                return frame
            if self._ended:
                self._ended = False
                return END
            return None


class LatestBox(Generic[T]):
    """One slot for the newest result. `put` says whether the box was empty, i.e. whether the
    reader needs a wake-up; the reader takes the newest value whenever it gets round to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: T | None = None
        self.replaced = 0

    def put(self, value: T) -> bool:
        with self._lock:
            was_empty = self._value is None
            if not was_empty:
                self.replaced += 1
            self._value = value
            return was_empty

    def take(self) -> T | None:
        with self._lock:
            value, self._value = self._value, None
            return value
