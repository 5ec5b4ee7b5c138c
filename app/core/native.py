"""Silence the INFO lines native libraries (LiteRT, MediaPipe) print straight to stderr."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_stderr_lock = threading.Lock()
_python_stderr_own_fd = False


def give_python_stderr_its_own_fd() -> None:
    """Let Python's `sys.stderr` write to a copy of file descriptor 2, so that
    `quiet_native_stderr()` (which points descriptor 2 at /dev/null while a worker thread loads a
    model) never swallows a message Python prints meanwhile, e.g. the one-line `error: ...` of the
    main thread. Call it early, before logging handlers take `sys.stderr`; idempotent."""
    global _python_stderr_own_fd
    with _stderr_lock:
        if _python_stderr_own_fd:
            return
        _python_stderr_own_fd = True
        stream = sys.stderr
        try:
            if stream is None or stream.fileno() != 2:
                return  # no real stderr, or already elsewhere (a test's capture)
            stream.flush()
            fd = os.dup(2)
        except (AttributeError, OSError, ValueError):
            return
        sys.stderr = os.fdopen(fd, "w", buffering=1, encoding=stream.encoding, errors=stream.errors)


_quiet_lock = threading.Lock()
_quiet_depth = 0  # blocks inside quiet_native_stderr(), in every thread
_saved_stderr_fd: int | None = None  # the real descriptor 2 while _quiet_depth > 0


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block: what native code prints there is
    dropped, in every thread. Python's own `sys.stderr` is moved to a copy of the descriptor first
    (`give_python_stderr_its_own_fd`), so Python messages and exceptions still get out.

    Blocks may overlap across threads (a detector's worker and a decoder, say): descriptor 2 is
    silenced by the first to enter and restored by the last to leave, whatever their order.

    Off when EMOTION_LENS_NATIVE_LOGS=1, for debugging the native side.
    """
    if os.environ.get("EMOTION_LENS_NATIVE_LOGS") == "1":
        yield
        return
    give_python_stderr_its_own_fd()
    if not _silence():
        yield  # no real stderr (e.g. a windowed app)
        return
    try:
        yield
    finally:
        _unsilence()


def _silence() -> bool:
    global _quiet_depth, _saved_stderr_fd
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
            except (AttributeError, OSError, ValueError):
                return False
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 2)
            finally:
                os.close(devnull)
            _saved_stderr_fd = saved
        _quiet_depth += 1
        return True


def _unsilence() -> None:
    global _quiet_depth, _saved_stderr_fd
    with _quiet_lock:
        _quiet_depth -= 1
        if _quiet_depth == 0 and _saved_stderr_fd is not None:
            os.dup2(_saved_stderr_fd, 2)
            os.close(_saved_stderr_fd)
            _saved_stderr_fd = None
