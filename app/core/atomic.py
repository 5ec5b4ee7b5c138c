"""Files written whole or not at all: `replacing(path)` opens a `.part` twin of `path`, which
replaces `path` only when the `with` block ends without an error. An error (a full disk, Ctrl-C)
removes the twin and leaves `path` as it was, so a reader never sees half a file and nothing
already written is lost. Used for the CSV, JSON, report, manifest and table outputs and for
training's saved teacher probabilities."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

PART_SUFFIX = ".part"


def part_path(path: Path) -> Path:
    """The twin `replacing` writes first: `name.ext.part` beside `path`."""
    return path.with_name(path.name + PART_SUFFIX)


def fsync_file(path: Path) -> None:
    """Flush a file already written (by another writer, e.g. Keras) to disk."""
    with Path(path).open("rb") as f:
        os.fsync(f.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: str | Path, mode: str = "w", *, durable: bool = False,
              **open_kwargs: Any) -> Iterator[IO[Any]]:
    """A file open for writing (`mode` "w" or "wb"; text defaults to UTF-8) whose content
    replaces `path` when the block ends cleanly; on any error it is removed and the error goes
    on. `durable`: the file is fsynced before the rename and the folder after it, so that the
    new content survives a power cut (checkpoints; plain outputs do without)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    tmp = part_path(path)
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
