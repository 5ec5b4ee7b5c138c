"""Folder-per-class datasets: `<root>/<class>/*.jpg` (FER2013 images, AffectNet subset, RAF-DB...).

Class folder names are mapped to the app's names (`anger` -> `angry`, `happiness` -> `happy`, ...).
A class not in `labels` is counted as unknown (or mapped through `extra_map`, e.g. contempt -> None to
drop or -> 'disgust'), corrupt images are counted, never a crash.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from app.core import EXPRESSIONS, EmotionLensError
from training.data.base import (
    Dataset,
    LoadReport,
    cache_key,
    canonical_label,
    load_cache,
    save_cache,
    to_size,
)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
SPLIT_NAMES = {
    "train": ("train", "training", "Training"),
    "val": ("val", "valid", "validation", "PublicTest", "publictest"),
    "test": ("test", "PrivateTest", "privatetest"),
}


def find_split_dir(root: Path, split: str) -> Path | None:
    """`root/<split>` under any of its usual names; None when the dataset has no such folder."""
    for name in SPLIT_NAMES.get(split, (split,)):
        if (root / name).is_dir():
            return root / name
    return None


def is_class_folder_root(path: Path) -> bool:
    """True if `path` holds class folders directly (e.g. `angry/`, `happy/`)."""
    if not path.is_dir():
        return False
    return any(d.is_dir() and canonical_label(d.name) in (*EXPRESSIONS, "contempt")
               for d in path.iterdir())


def load_folders(
    root: str | Path,
    *,
    labels: tuple[str, ...] = EXPRESSIONS,
    size: int = 48,
    channels: int = 1,
    extra_map: dict[str, str | None] | None = None,
    max_per_class: int | None = None,
    use_cache: bool = True,
) -> Dataset:
    """Load `<root>/<class>/<image>` into memory, resized to `size` with `channels` channels."""
    import cv2

    root = Path(root)
    if not root.is_dir():
        raise EmotionLensError(f"dataset folder not found: {root}")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
    if not class_dirs:
        raise EmotionLensError(f"no class folders in {root} (expected {root}/<class>/*.jpg)")
    extra_map = dict(extra_map or {})
    files: list[tuple[Path, str]] = []
    for d in class_dirs:
        for entry in sorted(os.scandir(d), key=lambda e: e.name):
            if entry.is_file() and Path(entry.name).suffix.lower() in IMAGE_EXTS:
                files.append((Path(entry.path), d.name))
    stamp = [(str(p), p.stat().st_mtime_ns) for p, _ in files[:: max(1, len(files) // 50)]]
    key = cache_key("folders", root.resolve(), len(files), stamp, labels, size, channels,
                    sorted(extra_map.items(), key=str), max_per_class)
    cache = None
    if use_cache:
        from training.paths import cache_dir

        cache = cache_dir() / f"folders-{root.name}-{key}.npz"
        hit = load_cache(cache)
        if hit is not None:
            return hit

    report = LoadReport(source=str(root))
    xs: list[np.ndarray] = []
    ys: list[int] = []
    per_class: Counter[str] = Counter()
    for path, folder in files:
        name = canonical_label(folder)
        if name in extra_map:
            mapped = extra_map[name]
            if mapped is None:
                report.skipped[f"class {folder!r} excluded"] += 1
                continue
            name = mapped
        if name not in labels:
            report.unknown_labels[folder] += 1
            continue
        if max_per_class is not None and per_class[name] >= max_per_class:
            continue
        flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
        img = cv2.imread(str(path), flag)
        if img is None or img.size == 0:
            report.corrupt.append(str(path.relative_to(root)))
            continue
        if channels == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        xs.append(to_size(img, size, channels))
        ys.append(labels.index(name))
        per_class[name] += 1
    report.counts = Counter({k: per_class[k] for k in labels if per_class[k]})
    if not xs:
        raise EmotionLensError(f"no readable images of known classes in {root}")
    ds = Dataset(np.stack(xs), np.asarray(ys, dtype=np.int64), labels, report)
    if cache is not None:
        save_cache(cache, ds)
    return ds
