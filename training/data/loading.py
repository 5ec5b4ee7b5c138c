"""Pick the loader for a dataset path and return (train, val, test) splits."""

from __future__ import annotations

from pathlib import Path

from app.core import EXPRESSIONS, EmotionLensError
from training.data.base import Dataset
from training.data.splits import Splits, make_splits


def detect_format(path: Path) -> str:
    if path.is_file() and path.suffix.lower() == ".csv":
        return "fer2013_csv"
    if path.is_dir():
        if (path / "label.lst").is_file() or (path / "label" / "label.lst").is_file():
            return "expw"
        csvs = list(path.glob("*.csv"))
        if csvs and not any(d.is_dir() for d in path.iterdir()):
            return "fer2013_csv"
        return "folders"
    raise EmotionLensError(f"dataset not found: {path}")


def labels_for(exclude: list[str], contempt: str) -> tuple[str, ...]:
    labels = [c for c in EXPRESSIONS if c not in exclude]
    unknown = [c for c in exclude if c not in EXPRESSIONS and c != "contempt"]
    if unknown:
        raise EmotionLensError(f"cannot exclude unknown class(es): {', '.join(unknown)} "
                               f"(classes: {', '.join(EXPRESSIONS)})")
    if contempt == "keep" and "contempt" not in exclude:
        labels.append("contempt")
    return tuple(labels)


def load_splits(data: str | Path, *, fmt: str = "auto", size: int = 48, channels: int = 1,
                exclude: list[str] | None = None, contempt: str = "drop", split: str = "dataset",
                seed: int = 1234, min_confidence: float = 0.0) -> Splits:
    """Load a dataset in any supported format and split it."""
    path = Path(data)
    if not str(data):
        raise EmotionLensError("no dataset given (use --data PATH)")
    if not path.exists():
        raise EmotionLensError(f"dataset not found: {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    exclude = list(exclude or [])
    labels = labels_for(exclude, contempt)
    extra: dict[str, str | None] = {c: None for c in exclude}
    if contempt == "drop":
        extra.setdefault("contempt", None)
    elif contempt == "disgust":
        extra["contempt"] = "disgust"
    notes: list[str] = []
    parts: dict[str, Dataset] = {}
    if fmt == "folders":
        from training.data.folders import find_split_dir, is_class_folder_root, load_folders

        found = {s: find_split_dir(path, s) for s in ("train", "val", "test")}
        if found["train"] is not None:
            for s, d in found.items():
                if d is not None:
                    parts[s] = load_folders(d, labels=labels, size=size, channels=channels,
                                            extra_map=extra)
        elif is_class_folder_root(path):
            parts["all"] = load_folders(path, labels=labels, size=size, channels=channels,
                                        extra_map=extra)
        else:
            raise EmotionLensError(f"{path} has neither train/ nor class folders")
    elif fmt == "fer2013_csv":
        from training.data.fer2013_csv import load_fer2013_csv

        parts = load_fer2013_csv(path, labels=labels, size=size, channels=channels)
    elif fmt == "expw":
        from training.data.expw import load_expw

        parts["all"] = load_expw(path, labels=labels, size=size, channels=channels,
                                 min_confidence=min_confidence, extra_map=extra)
    else:
        raise EmotionLensError(f"unknown dataset format {fmt!r}")
    for p in parts.values():
        notes.extend(p.report.lines())
    return make_splits(parts, split=split, seed=seed, source=f"{fmt}:{path}", notes=notes)
