"""What a corpus is made of, and where each part's outputs go.

The inputs are files, folders (searched recursively) and globs. Each video file is one item, and
the loose images of one folder form one item (as `emotion-lens annotate FOLDER` reads them); an
image file named on its own is an item of its own. Inside folders, hidden files and folders (names
starting with ".", such as macOS's `._IMG_0001.MOV`) and files that are neither videos nor images
are left out; a file named explicitly is always an item (it fails later if it does not decode).

Outputs go under the output folder at the item's path relative to the inputs' common root (the
common folder of the folders given and of the folders holding the files given):

    interviews/p01.mov          -> DIR/interviews/p01.mov.csv  (+ p01.mov.annotated.mp4)
    photo.jpg (named alone)     -> DIR/photo.jpg.csv           (+ photo.jpg.annotated.png)
    the images of photos/       -> DIR/photos/images.csv
    the images of the root      -> DIR/images.csv

A file's outputs keep its whole name, extension included, so `a.mov` and `a.mp4` never meet; a
folder's CSV is `images.csv`, which no video found in a folder can take (theirs end in
`.<extension>.csv`). Two items whose outputs would still share a name (a file named just `images`
beside loose images, or names that differ only in case on a case-insensitive disk) are refused
at planning, in one line. The output folder itself is never searched for inputs.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from app.core import EmotionLensError
from app.core.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES

FOLDER_CSV = "images.csv"
CSV_SUFFIX = ".csv"
VIDEO_SUFFIX = ".annotated.mp4"
IMAGE_SUFFIX = ".annotated.png"
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Item:
    """One unit of work: a video, an image, or the loose images of a folder (`kind` "video",
    "image" or "images"), with its outputs as absolute paths."""

    source: Path  # absolute
    kind: str
    rel: str  # the input's path relative to the root, POSIX style ("." for the root folder)
    csv: Path
    media: Path | None = None  # the annotated MP4 (videos) or PNG (images), with --video

    @property
    def key(self) -> str:
        """How the manifest names it."""
        return str(self.source)

    def outputs(self) -> list[Path]:
        return [p for p in (self.csv, self.media) if p is not None]


def _expand(inputs: list[str | Path]) -> list[Path]:
    """Each input as existing absolute paths: a glob's matches (sorted), or the path itself."""
    out: list[Path] = []
    for raw in inputs:
        text = str(raw)
        if GLOB_CHARS & set(text) and not Path(text).exists():
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            if not matches:
                raise EmotionLensError(f"no file or folder matches {text}")
            out.extend(Path(m).absolute() for m in matches)
            continue
        path = Path(text).expanduser()
        if not path.exists():
            raise EmotionLensError(f"input not found: {text}")
        out.append(path.absolute())
    return out


def _media_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "image" if suffix in IMAGE_SUFFIXES else None


def _walk(folder: Path, out_dir: Path) -> tuple[list[Path], set[Path]]:
    """The video files under `folder` and the folders holding loose images (hidden names and the
    output folder left out)."""
    videos: list[Path] = []
    image_dirs: set[Path] = set()
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (here / d).resolve() != out_dir)
        for name in sorted(files):
            if name.startswith("."):
                continue
            kind = _media_kind(here / name)
            if kind == "video" and (here / name).is_file():
                videos.append(here / name)
            elif kind == "image" and (here / name).is_file():
                image_dirs.add(here)
    return videos, image_dirs


def common_root(paths: list[Path]) -> Path:
    """The inputs' common root: the common folder of the folders given and of the parents of the
    files given."""
    folders = [p if p.is_dir() else p.parent for p in paths]
    try:
        return Path(os.path.commonpath([str(f) for f in folders]))
    except ValueError:  # Windows: inputs on two drives
        raise EmotionLensError("the inputs have no common folder (different drives); "
                               "run one batch per drive") from None


def plan(inputs: list[str | Path], out_dir: Path, video: bool = False) -> list[Item]:
    """The items of `inputs`, in a stable order, with their outputs under `out_dir` (see the
    module's docstring); one line when an input is missing, nothing is found, or two items'
    outputs would share a name."""
    if not inputs:
        raise EmotionLensError("give at least one input: files, folders or globs")
    out_dir = out_dir.absolute()
    out_real = out_dir.resolve()
    paths = _expand(inputs)
    for path in paths:
        if path.is_dir() and out_real == path.resolve():
            raise EmotionLensError(f"--out {out_dir} is the input folder {path}; choose another")
    root = common_root(paths)
    found: dict[Path, str] = {}  # source -> kind
    for path in paths:
        if path.is_dir():
            videos, image_dirs = _walk(path, out_real)
            found.update({v: "video" for v in videos})
            found.update({d: "images" for d in image_dirs})
        else:
            found.setdefault(path, "image" if _media_kind(path) == "image" else "video")
    # an image named alone whose folder is an item already is covered by that item
    found = {p: k for p, k in found.items() if not (k == "image" and found.get(p.parent) == "images")}
    if not found:
        raise EmotionLensError(f"no videos or images found in {', '.join(map(str, inputs))}")
    items = [_item(source, kind, root, out_dir, video) for source, kind in sorted(found.items())]
    _check_unique(items)
    return items


def _item(source: Path, kind: str, root: Path, out_dir: Path, video: bool) -> Item:
    rel = Path(os.path.relpath(source, root))
    if kind == "images":
        return Item(source, kind, rel.as_posix(), out_dir / rel / FOLDER_CSV)
    base = out_dir / rel
    media = None
    if video:
        media = base.with_name(base.name + (IMAGE_SUFFIX if kind == "image" else VIDEO_SUFFIX))
    return Item(source, kind, rel.as_posix(), base.with_name(base.name + CSV_SUFFIX), media)


def _check_unique(items: list[Item]) -> None:
    seen: dict[str, Item] = {}
    for item in items:
        for path in item.outputs():
            key = str(path).casefold()  # case-insensitive disks (macOS, Windows) count too
            other = seen.setdefault(key, item)
            if other is not item:
                raise EmotionLensError(f"{other.source} and {item.source} would both write {path}; "
                                       f"rename one of them")


__all__ = ["FOLDER_CSV", "Item", "common_root", "plan"]
