"""Annotation CSVs as pandas DataFrames, and the summary table of such a frame: per item (the
`source` column, when there is one) and per face ID, the frames it was seen in, each label's
share and the mean probabilities."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from app.core import EmotionLensError
from app.core.atomic import replacing

INTS = ("frame", "face_id", "x", "y", "w", "h")
STRINGS = ("label", "file", "source")


def label_columns(frame: pd.DataFrame) -> list[str]:
    """The model's labels: the probability columns between `h` and `label`, in the CSV's order."""
    cols = list(frame.columns)
    if "h" not in cols or "label" not in cols or cols.index("label") < cols.index("h"):
        raise EmotionLensError("not an annotation table: it needs the columns of `emotion-lens "
                               "annotate`'s CSV (frame, time_s, face_id, x, y, w, h, <labels>, label)")
    return cols[cols.index("h") + 1 : cols.index("label")]


def read_annotations(csv: str | Path, source: str | None = None) -> pd.DataFrame:
    """An annotation CSV (from `annotate`, `batch` or the app's recorder) with its columns' types,
    also when it has no rows; with `source`, a first `source` column holding it."""
    header = pd.read_csv(csv, nrows=0).columns
    types = {c: "int64" for c in INTS if c in header}
    types.update({c: "str" for c in STRINGS if c in header})
    types.update({c: "float64" for c in header if c not in types})
    frame = pd.read_csv(csv, dtype=types)  # empty cells (cal_<label> of a face without baseline): NaN
    if source is not None:
        frame.insert(0, "source", pd.Series([source] * len(frame), dtype="str"))
    return frame


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per item (`source`, when the frame has it) and face ID: `frames` (the frames it
    was seen in: one row per face per frame), first and last frame and time, `dominant` (its
    most frequent label), `share_<label>` (the share of its frames with that label) and
    `mean_<label>` (its mean raw probability)."""
    labels = label_columns(frame)
    keys = [k for k in ("source",) if k in frame.columns] + ["face_id"]
    columns = [*keys, "frames", "first_frame", "last_frame", "first_s", "last_s", "dominant",
               *(f"share_{n}" for n in labels), *(f"mean_{n}" for n in labels)]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype(
            {k: "str" if k == "source" else "int64" for k in [*keys, "frames"]})
    groups = frame.groupby(keys, sort=True)
    out = groups.agg(frames=("frame", "size"), first_frame=("frame", "min"),
                     last_frame=("frame", "max"), first_s=("time_s", "min"), last_s=("time_s", "max"))
    shares = (pd.crosstab([frame[k] for k in keys], frame["label"], normalize="index")
              .reindex(columns=labels, fill_value=0.0).reindex(out.index))
    out["dominant"] = shares.idxmax(axis=1)
    for name in labels:
        out[f"share_{name}"] = shares[name].round(5)
    means = groups[labels].mean().round(5)
    for name in labels:
        out[f"mean_{name}"] = means[name]
    return out.reset_index()[columns]


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as CSV at `path`, whole or not at all (`app.core.atomic.replacing`)."""
    with replacing(path, newline="") as f:
        frame.to_csv(f, index=False)


__all__ = ["label_columns", "read_annotations", "summarize", "write_table"]
