"""Read ahead on a thread: decoding (or detecting faces in) the next frames overlaps the work on
this one (OpenCV's FFmpeg, MediaPipe and LiteRT release the GIL while they work). Used by
`annotate` and `bench` (see `Pipeline.ahead`); the desktop app has its own capture thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class ReadAhead(Generic[T]):
    """Iterates `items` on a daemon thread, at most `depth` items ahead. An exception raised by
    `items` reaches the consumer at the point where it happened; `close()` (or leaving the `with`
    block) stops the thread and waits for it, so the underlying source can be closed safely
    afterwards. `waited_s` is the time the consumer spent waiting for the latest item. A consumer
    waiting for an item returns (StopIteration) once `stop()` is called, so read-aheads can be
    chained: one thread iterating over another's output."""

    def __init__(self, items: Iterable[T], depth: int = 2, name: str = "read-ahead"):
        if depth < 1:
            raise ValueError("depth must be 1 or more")
        self._items = items
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self.waited_s = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer
            self._put(exc)
            return
        self._put(_END)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        t0 = time.perf_counter()
        while True:
            try:
                item = self._queue.get(timeout=0.05)
                break
            except queue.Empty:
                if self._stop.is_set():
                    self._done = True
                    raise StopIteration from None
        self.waited_s = time.perf_counter() - t0
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item  # type: ignore[return-value]

    def stop(self) -> None:
        """Ask the thread to stop, without waiting for it."""
        self._stop.set()  # a put waiting on a full queue sees it within 50 ms

    def close(self) -> None:
        """Stop reading and wait for the thread (it finishes the item it is reading)."""
        self.stop()
        self._thread.join()
        self._done = True

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
