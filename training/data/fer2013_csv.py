"""FER2013 as the original CSV: `emotion,pixels,Usage` (48×48 gray pixels, space separated).

Usage Training -> train, PublicTest -> val, PrivateTest -> test. Malformed rows (wrong pixel count,
non-numeric or out-of-range pixels, bytes that are not UTF-8, a field over the csv module's size
limit) are counted as corrupt and unknown emotion codes as unknown labels; neither stops loading.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EXPRESSIONS, EmotionLensError
from training.data.base import Dataset, LoadReport, to_size

FER_CODES = EXPRESSIONS  # 0 angry .. 6 neutral, the same order as the app
USAGE_TO_SPLIT = {"training": "train", "publictest": "val", "privatetest": "test"}


def _csv_path(path: Path) -> Path:
    if path.is_file():
        return path
    for name in ("fer2013.csv", "icml_face_data.csv"):
        if (path / name).is_file():
            return path / name
    csvs = sorted(path.glob("*.csv"))
    if not csvs:
        raise EmotionLensError(f"no FER2013 CSV in {path}")
    return csvs[0]


def _rows(reader: csv.DictReader[str], reports: dict[str, LoadReport],
          ) -> Iterator[tuple[int, dict[str | Any, str | Any]]]:
    """(line number, row) of each data row; a line the csv module rejects (e.g. a field over its
    size limit) is counted as corrupt and reading goes on with the next line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            rep = reports.setdefault("train", LoadReport())
            rep.corrupt.append(f"line {reader.line_num}")
            continue
        yield reader.line_num, row


def load_fer2013_csv(path: str | Path, *, labels: tuple[str, ...] = EXPRESSIONS, size: int = 48,
                     channels: int = 1) -> dict[str, Dataset]:
    """{'train', 'val', 'test'} datasets from the CSV (splits missing from the file are absent)."""
    csv_path = _csv_path(Path(path))
    xs: dict[str, list[np.ndarray]] = {}
    ys: dict[str, list[int]] = {}
    reports: dict[str, LoadReport] = {}
    try:
        fh = csv_path.open(newline="", encoding="utf-8", errors="replace")  # bad bytes: U+FFFD
    except OSError as exc:
        raise EmotionLensError(f"cannot read {csv_path}: {exc.strerror}") from None
    with fh:
        reader = csv.DictReader(fh, skipinitialspace=True)
        try:
            header = list(reader.fieldnames or [])
        except csv.Error:
            header = ["<unreadable header>"]
        fields = {(f or "").strip().lower(): f for f in header}
        if "emotion" not in fields or "pixels" not in fields:
            shown = " ".join(", ".join(header).split())  # one line, whatever the header holds
            shown = shown if len(shown) <= 120 else shown[:117] + "..."
            raise EmotionLensError(f"{csv_path} is not a FER2013 CSV (needs emotion,pixels[,Usage] "
                                   f"columns; has {shown or 'no header'})")
        usage_col = fields.get("usage")
        for line_no, row in _rows(reader, reports):
            usage = (row.get(usage_col) or "Training").strip() if usage_col else "Training"
            split = USAGE_TO_SPLIT.get(usage.lower())
            rep = reports.setdefault(split or "train", LoadReport(source=f"{csv_path}"))
            if split is None:
                rep.skipped[f"unknown Usage {usage!r}"] += 1
                continue
            code = (row.get(fields["emotion"]) or "").strip()
            if not (code.isascii() and code.isdigit()) or int(code) >= len(FER_CODES):  # not '²'
                rep.unknown_labels[code] += 1
                continue
            name = FER_CODES[int(code)]
            if name not in labels:
                rep.skipped[f"class {name!r} excluded"] += 1
                continue
            try:
                px = np.array((row.get(fields["pixels"]) or "").split(), dtype=np.int64)
            except (ValueError, OverflowError):  # 'x', '1.5', or beyond int64
                rep.corrupt.append(f"line {line_no}")
                continue
            if px.size != 48 * 48 or px.min(initial=0) < 0 or px.max(initial=0) > 255:
                rep.corrupt.append(f"line {line_no}")
                continue
            img = px.astype(np.uint8).reshape(48, 48)
            xs.setdefault(split, []).append(to_size(img, size, channels))
            ys.setdefault(split, []).append(labels.index(name))
            rep.counts[name] += 1
    out: dict[str, Dataset] = {}
    for split in ("train", "val", "test"):
        if xs.get(split):
            rep = reports[split]
            rep.source = f"{csv_path} [{split}]"
            rep.counts = Counter({k: rep.counts[k] for k in labels if rep.counts[k]})
            out[split] = Dataset(np.stack(xs[split]), np.asarray(ys[split], dtype=np.int64), labels,
                                 rep)
    if "train" not in out:
        raise EmotionLensError(f"no usable Training rows in {csv_path}")
    return out
