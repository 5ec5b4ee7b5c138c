"""Emotion share over time from an annotation CSV (plain Python, no Qt)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class ShareOverTime:
    labels: tuple[str, ...]
    starts: np.ndarray  # bin start times (s)
    ends: np.ndarray
    shares: np.ndarray  # bins × labels, each row sums to 1 (0 where a bin has no face)
    faces: np.ndarray  # face rows per bin
    overall: np.ndarray  # labels


def share_over_time(csv_path: Path, labels: tuple[str, ...], bins: int = 30) -> ShareOverTime:
    """Bin the rows of an `emotion-lens annotate` CSV by time and count each bin's labels."""
    times: list[float] = []
    codes: list[int] = []
    index = {name: i for i, name in enumerate(labels)}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = row.get("label")
            if label not in index:
                continue
            try:
                times.append(float(row["time_s"]))
            except (KeyError, TypeError, ValueError):
                continue
            codes.append(index[label])
    n = len(labels)
    if not times:
        empty = np.zeros((0, n))
        return ShareOverTime(labels, np.zeros(0), np.zeros(0), empty, np.zeros(0), np.zeros(n))
    t = np.asarray(times)
    c = np.asarray(codes)
    t0, t1 = float(t.min()), float(t.max())
    bins = max(1, min(bins, len(np.unique(t))))
    edges = np.linspace(t0, t1 if t1 > t0 else t0 + 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins - 1)
    counts = np.zeros((bins, n))
    np.add.at(counts, (which, c), 1)
    faces = counts.sum(axis=1)
    shares = np.divide(counts, faces[:, None], out=np.zeros_like(counts), where=faces[:, None] > 0)
    overall = np.bincount(c, minlength=n) / len(c)
    return ShareOverTime(labels, edges[:-1], edges[1:], shares, faces, overall)
