"""Training time without the pauses: the seconds a process has been running, leaving out the
time it was stopped (`kill -STOP` while a benchmark runs, then `kill -CONT`).

Wall-clock time counts a pause as training time: a card's `train_minutes` would grow with every
benchmark run beside it, and a `--time-budget-min` run's cosine would be pushed on by time it
did not train. A stopped process runs no thread, so a thread that ticks twice a second sees a
pause as one long gap between its ticks: gaps longer than `stall_s` are left out.
"""

from __future__ import annotations

import threading
import time
import weakref


class ActiveClock:
    """`now()`: seconds since `start()`, less every gap between ticks longer than `stall_s`."""

    def __init__(self, tick_s: float = 0.5, stall_s: float = 3.0):
        if not 0 < tick_s < stall_s:
            raise ValueError("ActiveClock needs 0 < tick_s < stall_s")
        self.tick_s, self.stall_s = tick_s, stall_s
        self._lock = threading.Lock()
        self._t0 = self._last = time.monotonic()
        self._paused = 0.0  # seconds left out so far
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ActiveClock:
        with self._lock:
            self._t0 = self._last = time.monotonic()
            self._paused = 0.0
        if self._thread is None:  # it holds the clock weakly: a clock no longer used ends it
            self._thread = threading.Thread(target=_tick, args=(weakref.ref(self), self._stop,
                                                                 self.tick_s),
                                            daemon=True, name="active-clock")
            self._thread.start()
        return self

    def _gap(self, t: float) -> float:
        """The pause in progress (or just ended) at `t`: the part of the gap since the last tick
        beyond one tick, when the gap is a stall."""
        gap = t - self._last
        return gap - self.tick_s if gap > self.stall_s else 0.0

    def _advance(self) -> None:
        t = time.monotonic()
        with self._lock:
            self._paused += self._gap(t)
            self._last = t

    @property
    def paused_s(self) -> float:
        """Seconds left out as pauses so far."""
        t = time.monotonic()
        with self._lock:
            return self._paused + self._gap(t)

    def now(self) -> float:
        """Active seconds since `start()`."""
        t = time.monotonic()
        with self._lock:
            return t - self._t0 - self._paused - self._gap(t)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None


def _tick(ref: weakref.ref[ActiveClock], stop: threading.Event, tick_s: float) -> None:
    while not stop.wait(tick_s):
        clock = ref()
        if clock is None:
            return
        clock._advance()
        del clock
