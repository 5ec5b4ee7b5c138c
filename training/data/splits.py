"""Dataset-defined splits, or stratified 70/15/15 and 70/10/20 with a seed; stratified capping."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from app.core import EmotionLensError
from training.data.base import Dataset


@dataclass
class Splits:
    """A dataset's train, val and (optional) test parts, where they came from, and notes for the
    run's log."""

    train: Dataset
    val: Dataset
    test: Dataset | None
    source: str
    notes: list[str]


RATIOS = {"70/15/15": (0.70, 0.15, 0.15), "70/10/20": (0.70, 0.10, 0.20)}


def stratified_split(y: np.ndarray, ratios: tuple[float, float, float],
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train/val/test with each class split by `ratios` (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[], [], []]
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n = len(idx)
        n_val = round(n * ratios[1])
        n_test = round(n * ratios[2])
        n_train = n - n_val - n_test
        out[0].extend(idx[:n_train])
        out[1].extend(idx[n_train:n_train + n_val])
        out[2].extend(idx[n_train + n_val:])
    return tuple(np.sort(np.asarray(o, dtype=np.int64)) for o in out)  # type: ignore[return-value]


def stratified_cap(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of at most `n` samples keeping class proportions (every class keeps >= 1)."""
    if n <= 0 or n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    classes, counts = np.unique(y, return_counts=True)
    for c, cnt in zip(classes, counts, strict=True):
        k = max(1, round(cnt * n / len(y)))
        idx = np.flatnonzero(y == c)
        keep.extend(rng.choice(idx, size=min(k, cnt), replace=False))
    return np.sort(np.asarray(keep, dtype=np.int64))


def check_classes(train: Dataset, val: Dataset) -> list[str]:
    """Refuse splits a model cannot be trained or judged on, in one line: train with fewer than
    two classes, an empty val, a val that shares no class with train (its accuracy would be 0 or
    meaningless). Returns warnings for the weaker cases: a val of one class (its accuracy is that
    class's recall), classes only one side has."""
    def present(ds: Dataset) -> list[str]:
        return [ds.labels[i] for i in np.unique(ds.y)] if len(ds) else []

    in_train, in_val = present(train), present(val)
    if len(in_train) < 2:
        raise EmotionLensError(f"train has images of {len(in_train)} class(es) only "
                               f"({', '.join(in_train) or 'none'}): a classifier needs at least two")
    if not in_val:
        raise EmotionLensError("the val split has no images: nothing to select or judge the model on")
    if not set(in_val) & set(in_train):
        raise EmotionLensError(f"val shares no class with train (train: {', '.join(in_train)}; val: "
                               f"{', '.join(in_val)}): its accuracy would mean nothing; give a val "
                               f"split of the same classes")
    warnings = []
    if len(in_val) == 1:
        warnings.append(f"val has images of one class only ({in_val[0]}): val accuracy is that "
                        f"class's recall, not the model's accuracy")
    elif missing := [c for c in in_train if c not in in_val]:
        warnings.append(f"val has no images of {', '.join(missing)}: their recall is not measured")
    if unseen := [c for c in in_val if c not in in_train]:
        warnings.append(f"train has no images of {', '.join(unseen)}: the model cannot predict "
                        f"them, and their val images all count as errors")
    return warnings


def warn_about_classes(train: Dataset, val: Dataset, notes: list[str]) -> None:
    """`check_classes` for a training run: its warnings as `warning: ...` lines on stderr, and in
    `notes` (the run's log)."""
    for warning in check_classes(train, val):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
        notes.append(f"warning: {warning}")


def make_splits(parts: dict[str, Dataset], *, split: str, seed: int, source: str,
                notes: list[str]) -> Splits:
    if split == "dataset":
        if "train" in parts:
            train = parts["train"]
            if "val" in parts:
                return Splits(train, parts["val"], parts.get("test"), source, notes)
            if "test" in parts:
                notes.append("no val split in the dataset: 15 % of train held out for validation")
                tr, va, _ = stratified_split(train.y, (0.85, 0.15, 0.0), seed)
                return Splits(train.subset(tr), train.subset(va), parts["test"], source, notes)
            notes.append("only a train split: 15 % held out for validation")
            tr, va, _ = stratified_split(train.y, (0.85, 0.15, 0.0), seed)
            return Splits(train.subset(tr), train.subset(va), None, source, notes)
        split = "70/15/15"
        notes.append("dataset defines no splits: stratified 70/15/15")
    if split not in RATIOS:
        raise EmotionLensError(f"unknown split {split!r} (dataset, {', '.join(RATIOS)})")
    all_parts = list(parts.values())
    if len(all_parts) == 1:
        full = all_parts[0]
    else:
        full = Dataset(np.concatenate([p.x for p in all_parts]),
                       np.concatenate([p.y for p in all_parts]), all_parts[0].labels,
                       all_parts[0].report)
    tr, va, te = stratified_split(full.y, RATIOS[split], seed)
    return Splits(full.subset(tr), full.subset(va), full.subset(te), source, notes)
