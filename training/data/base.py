"""The in-memory dataset every loader returns, label-name mapping, and the load report."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core import EXPRESSIONS, EmotionLensError

# Folder / label names used by public datasets, mapped onto the app's names.
LABEL_ALIASES: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "mad": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "calm": "neutral",
    "contempt": "contempt",
}


def canonical_label(name: str) -> str:
    """Map a dataset's class name (any case, digits prefixes like '0_anger' allowed) to ours."""
    key = name.strip().lower()
    if "_" in key and key.split("_", 1)[0].isdigit():
        key = key.split("_", 1)[1]
    return LABEL_ALIASES.get(key, key)


@dataclass
class LoadReport:
    """What a loader saw: images per class, corrupt files, unknown labels (never a crash)."""

    source: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    corrupt: list[str] = field(default_factory=list)
    unknown_labels: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        total = sum(self.counts.values())
        out = [f"{self.source}: {total} images " + ", ".join(f"{k}={v}" for k, v in self.counts.items())]
        if self.corrupt:
            shown = ", ".join(self.corrupt[:5]) + (" ..." if len(self.corrupt) > 5 else "")
            out.append(f"  {len(self.corrupt)} corrupt/unreadable images skipped: {shown}")
        if self.unknown_labels:
            out.append("  unknown labels skipped: "
                       + ", ".join(f"{k!r}×{v}" for k, v in self.unknown_labels.items()))
        for why, n in self.skipped.items():
            out.append(f"  skipped {n}: {why}")
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "counts": dict(self.counts),
            "corrupt": len(self.corrupt),
            "corrupt_examples": self.corrupt[:20],
            "unknown_labels": dict(self.unknown_labels),
            "skipped": dict(self.skipped),
        }


@dataclass
class Dataset:
    """Images as uint8 `(N, H, W, C)`, integer labels indexing `labels`."""

    x: np.ndarray
    y: np.ndarray
    labels: tuple[str, ...] = EXPRESSIONS
    report: LoadReport = field(default_factory=LoadReport)

    def __post_init__(self) -> None:
        if self.x.ndim == 3:
            self.x = self.x[..., None]
        if len(self.x) != len(self.y):
            raise EmotionLensError(f"dataset has {len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(self.labels)) if len(self.y) else np.zeros(0)
        return {name: int(counts[i]) if i < len(counts) else 0 for i, name in enumerate(self.labels)}

    def subset(self, idx: np.ndarray) -> Dataset:
        return Dataset(self.x[idx], self.y[idx], self.labels, self.report)


def to_size(img: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Resize (area/linear) and convert gray<->RGB; returns uint8 (size, size, channels)."""
    import cv2

    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2 and channels == 3:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and channels == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.shape[0] != size or img.shape[1] != size:
        interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
    if img.ndim == 2:
        img = img[..., None]
    return img.astype(np.uint8, copy=False)


def cache_key(*parts: object) -> str:
    return hashlib.sha1(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def save_cache(path: Path, ds: Dataset) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x=ds.x, y=ds.y, labels=np.array(ds.labels),
                        report=json.dumps(ds.report.to_dict()))
    tmp.replace(path)


def load_cache(path: Path) -> Dataset | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            rep = json.loads(str(z["report"]))
            report = LoadReport(source=rep["source"], counts=Counter(rep["counts"]),
                                corrupt=list(rep.get("corrupt_examples", [])),
                                unknown_labels=Counter(rep.get("unknown_labels", {})),
                                skipped=Counter(rep.get("skipped", {})))
            return Dataset(z["x"], z["y"].astype(np.int64), tuple(str(s) for s in z["labels"]), report)
    except (OSError, ValueError, KeyError):
        return None
