"""The report's input (`app/services/report.py`): a results CSV read into arrays, each face's
smoothing, segments (runs of one label) and the time of every frame, faces or not."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError

BASE_COLUMNS = ("frame", "time_s", "face_id", "x", "y", "w", "h")
SEGMENT_COLUMNS = ("start_s", "end_s", "face_id", "label", "mean_prob")


@dataclass
class Segment:
    start_s: float
    end_s: float
    face_id: int
    label: str
    mean_prob: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class Results:
    """A results CSV as arrays (rows sorted by frame, then face ID)."""

    path: Path
    labels: tuple[str, ...]
    frame: np.ndarray
    time_s: np.ndarray
    face_id: np.ndarray
    box: np.ndarray  # (rows, 4) x, y, w, h
    raw: np.ndarray  # (rows, labels)
    smoothed: np.ndarray | None  # smooth_<label> columns, when the CSV has them
    calibrated: np.ndarray | None  # cal_<label> columns (NaN for faces without a baseline)
    file: list[str] | None  # the `file` column of an image folder's CSV

    def __len__(self) -> int:
        return len(self.frame)


def _one_line(path: Path, why: str) -> EmotionLensError:
    return EmotionLensError(f"cannot make a report of {path}: {why}")


def load_results(path: Path, labels: Sequence[str] | None = None) -> Results:
    """Read a results CSV; a missing, empty or damaged file is one line naming what is wrong.
    `labels`: the model's (from the run's record), else the columns between `h` and `label`."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise EmotionLensError(f"results CSV not found: {path}" if not path.exists()
                               else f"not a results CSV file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _one_line(path, exc.strerror or str(exc)) from None
    if b"\n" in data and not data.endswith(b"\n"):  # a run killed mid-row: its half row is dropped
        data = data[: data.rindex(b"\n") + 1]
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise _one_line(path, "the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise _one_line(path, f"not a results CSV ({first})") from None
    columns = [str(c) for c in df.columns]
    missing = [c for c in (*BASE_COLUMNS, "label") if c not in columns]
    if missing:
        raise _one_line(path, f"not a results CSV of emotion-lens (no column {', '.join(missing)})")
    if labels is None or not all(name in columns for name in labels):
        labels = columns[columns.index("h") + 1 : columns.index("label")]
    labels = tuple(labels)
    if len(labels) < 2:
        raise _one_line(path, "it has no probability columns between h and label")

    def numbers(names: Sequence[str], allow_empty: bool = False) -> np.ndarray:
        """The columns `names` as floats; empty cells are NaN where `allow_empty`."""
        text = df[list(names)]
        out = np.array(text.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64))
        empty = text.to_numpy() == "" if allow_empty else np.zeros(out.shape, dtype=bool)
        bad = ~np.isfinite(out) & ~empty
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            value = df[names[col]].iloc[row]
            raise _one_line(path, f"line {row + 2}: {names[col]} is {value!r}, not a number")
        out[empty] = np.nan
        return out

    base = numbers(BASE_COLUMNS)
    raw = numbers(labels)
    if len(raw) and (raw.min() < -1e-6 or raw.max() > 1 + 1e-6):
        row = int(np.argwhere((raw < -1e-6) | (raw > 1 + 1e-6))[0][0])
        raise _one_line(path, f"line {row + 2}: a probability outside 0..1")
    smooth_cols = [f"smooth_{n}" for n in labels]
    cal_cols = [f"cal_{n}" for n in labels]
    smoothed = numbers(smooth_cols) if all(c in columns for c in smooth_cols) else None
    calibrated = numbers(cal_cols, allow_empty=True) if all(c in columns for c in cal_cols) else None
    if len(base) and not np.all(base[:, [0, 2]] == np.round(base[:, [0, 2]])):
        raise _one_line(path, "frame and face_id must be whole numbers")
    order = np.lexsort((base[:, 2], base[:, 0]))
    files = df["file"].tolist() if "file" in columns else None
    return Results(
        path=path, labels=labels, frame=base[order, 0].astype(np.int64), time_s=base[order, 1],
        face_id=base[order, 2].astype(np.int64), box=base[order, 3:7], raw=raw[order],
        smoothed=smoothed[order] if smoothed is not None else None,
        calibrated=calibrated[order] if calibrated is not None else None,
        file=[files[i] for i in order] if files is not None else None)


def ema(times: np.ndarray, values: np.ndarray, half_life_s: float) -> np.ndarray:
    """The app's time-aware exponential moving average (app.core.track.Smoother) over rows."""
    out = np.array(values, dtype=np.float64, copy=True)
    if half_life_s <= 0 or len(out) < 2:
        return out
    for i in range(1, len(out)):
        dt_s = max(float(times[i] - times[i - 1]), 0.0)
        keep = 0.5 ** (dt_s / half_life_s) if dt_s > 0 else 0.5
        out[i] = keep * out[i - 1] + (1.0 - keep) * out[i]
    return out


def segments_of(t: np.ndarray, shown: np.ndarray, probs: np.ndarray, face_id: int,
                labels: Sequence[str], min_s: float, max_gap_s: float,
                frame_s: float) -> list[Segment]:
    """Runs of one label (`shown`, an index per row, rows in time order) lasting at least
    `min_s`: a run ends where the label changes or the face goes unseen for more than
    `max_gap_s`; it lasts from its first row to one frame (`frame_s`) after its last.
    `mean_prob` is the mean of the label's probability (`probs`) over the run."""
    out: list[Segment] = []
    if not len(t):
        return out
    breaks = np.flatnonzero((shown[1:] != shown[:-1]) | (np.diff(t) > max_gap_s)) + 1
    for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(t)], strict=True):
        start, end = float(t[a]), float(t[b - 1]) + frame_s
        if end - start + 1e-9 >= min_s:
            k = int(shown[a])
            out.append(Segment(round(start, 3), round(end, 3), face_id, labels[k],
                               round(float(probs[a:b, k].mean()), 4)))
    return out


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in `mask`."""
    if not mask.any():
        return []
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def fmt_s(seconds: float) -> str:
    """12.3 s, 2:05.4, 1:02:05."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{int(m)}:{s:04.1f}"
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{int(s):02d}"


def frame_times(frame: np.ndarray, time_s: np.ndarray, n_frames: int, fps: float | None,
                images: bool) -> np.ndarray:
    """The time of every frame 0..n_frames-1, from the rows' `frame` numbers and `time_s`: its
    own where it has rows, else interpolated between its neighbours (extrapolated at the nominal
    rate past them)."""
    if not n_frames:
        return np.zeros(0)
    if images:
        return np.arange(n_frames, dtype=float)
    frames, first = np.unique(frame, return_index=True)
    times = time_s[first]
    step = 1.0 / fps if fps else (float(np.median(np.diff(times) / np.diff(frames)))
                                  if len(frames) > 1 else 1.0 / 30.0)
    if not len(frames):
        return np.arange(n_frames) * step
    out = np.interp(np.arange(n_frames), frames, times)
    before, after = np.arange(n_frames) < frames[0], np.arange(n_frames) > frames[-1]
    out[before] = times[0] - (frames[0] - np.arange(n_frames)[before]) * step
    out[after] = times[-1] + (np.arange(n_frames)[after] - frames[-1]) * step
    return np.maximum(out, 0.0)


def segments_csv_text(segments: Sequence[Segment]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(SEGMENT_COLUMNS)
    for s in segments:
        writer.writerow([f"{s.start_s:.3f}", f"{s.end_s:.3f}", s.face_id, s.label, f"{s.mean_prob:.4f}"])
    return buf.getvalue()


def record_part(record: dict[str, Any] | None, *keys: str) -> Any:
    value: Any = record
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value



__all__ = ["BASE_COLUMNS", "SEGMENT_COLUMNS", "Results", "Segment", "ema", "fmt_s", "frame_times",
           "load_results", "record_part", "runs_of", "segments_csv_text", "segments_of"]
