"""Where an annotation writes: checks before any work, and locks against a second run.

An output is compared with the input by file identity (device and inode, symbolic links followed),
so a hard or symbolic link to the input is refused as surely as the input's own name. Locks are a
`<output>.lock` file beside each output, held with an OS file lock for the whole run: the kernel
releases it when the process ends, however it ends, so a lock file left by a killed run is stale
and simply taken over. The file names the holder's pid for the message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from app.core import EmotionLensError
from app.core.sources import IMAGE_SUFFIXES

LOCK_SUFFIX = ".lock"


def input_files(source: Path) -> list[Path]:
    """The files an annotation of `source` reads: the file itself, or a folder's images."""
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return [source]


def _stat(path: Path) -> os.stat_result | None:
    """`os.stat` (links followed), None when nothing is there; other errors as one line."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a name over 255 bytes, a file where a folder should be ...
        raise EmotionLensError(f"cannot use output {path}: {exc.strerror or exc}") from None


def check_paths(source: Path, outputs: Sequence[Path], overwrite: bool, need_bytes: int = 0,
                replaceable: Collection[Path] = ()) -> None:
    """Fail in one line when an output is a folder, is one of the input's files (by identity), is
    another output, exists (unless `overwrite`, or it is in `replaceable`: the files of a run
    being resumed), or lands in a missing, unwritable or full folder."""
    inputs: dict[tuple[int, int], Path] = {}
    for path in input_files(source):
        st = os.stat(path)
        inputs[(st.st_dev, st.st_ino)] = path
    may_replace = {p.resolve() for p in replaceable}
    seen: set[object] = set()
    for path in outputs:
        st = _stat(path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise EmotionLensError(f"output {path} is a folder; give a file name")
        key: object = (st.st_dev, st.st_ino) if st is not None else path.resolve()
        if key in inputs:
            same = "" if inputs[key].resolve() == path.resolve() else f" {inputs[key]} (a link to it)"
            raise EmotionLensError(f"output {path} is the input file{same}; choose another name")
        if key in seen:
            raise EmotionLensError(f"two outputs share the name {path}")
        seen.add(key)
        exists = st is not None or path.is_symlink()  # a dangling link would be written through
        if exists and not overwrite and path.resolve() not in may_replace:
            raise EmotionLensError(f"{path} exists; pass --overwrite to replace it")
        parent = path.resolve().parent
        if not parent.is_dir():
            raise EmotionLensError(f"output folder does not exist: {parent}")
        if not os.access(parent, os.W_OK):
            raise EmotionLensError(f"output folder is not writable: {parent}")
        if need_bytes and shutil.disk_usage(parent).free < need_bytes:
            raise EmotionLensError(f"not enough free disk space in {parent} "
                                   f"(need about {need_bytes // 2**20} MB)")


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class OutputLock:
    """An exclusive claim on one output, for one run (see the module's docstring)."""

    def __init__(self, output: Path):
        self.output = output
        self.path = lock_path(output.resolve())  # one lock whichever name (or link) is used
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise EmotionLensError(
                    f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
            if not _try_lock(fd):
                holder = self._holder(fd)
                os.close(fd)
                raise EmotionLensError(
                    f"{output} is being written by another run{holder}; wait for it to finish "
                    f"or choose another name")
            try:  # the holder before us may have removed the file between our open and lock
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(os.fstat(fd), current):
                break
            os.close(fd)
        self._fd = fd
        with contextlib.suppress(OSError):  # the pid is for messages only
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            pid = os.read(fd, 32).decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""

    def release(self) -> None:
        if self._fd < 0:
            return
        if sys.platform == "win32":  # an open file cannot be removed there
            os.close(self._fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        else:  # removed while still held: a run that opened it meanwhile sees it went and retries
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self._fd)
        self._fd = -1


@contextlib.contextmanager
def lock_outputs(outputs: Iterable[Path]) -> Iterator[list[OutputLock]]:
    """Hold an `OutputLock` on each output for the block; the loser of a race fails in one line."""
    held: list[OutputLock] = []
    done: set[Path] = set()
    try:
        for path in outputs:
            if path.resolve() not in done:
                done.add(path.resolve())
                held.append(OutputLock(path))
        yield held
    finally:
        for lock in reversed(held):
            lock.release()


__all__ = ["LOCK_SUFFIX", "OutputLock", "check_paths", "input_files", "lock_outputs", "lock_path"]
