"""The Python API: results as pandas DataFrames in one call, as users of py-feat and deepface
expect. Imported as `emotion_lens` (app/api/emotion_lens), a name no user's `app.py` can shadow:

    import emotion_lens as el

    df = el.analyze("clip.mp4")                    # one video, image or folder of images
    corpus = el.analyze_corpus(["interviews/"], out="annotations/")  # `emotion-lens batch`
    table = el.summarize(corpus)                   # per source and face ID: frames, label shares

A frame has the columns of `emotion-lens annotate`'s CSV (frame, time_s, face_id, x, y, w, h, the
model's labels, label, smooth_<label>, and `file` for folders) after a first `source` column.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from app.core import EmotionLensError
from app.core.annotate import AnnotateOutputs, annotate
from app.core.pipeline import Pipeline
from app.core.settings import PipelineSettings, check_settings
from app.services.corpus import MANIFEST, read_manifest, run_batch
from app.services.corpus_tables import read_annotations, summarize
from app.services.corpus_task import DONE, SKIPPED


def _settings(settings: PipelineSettings | None, options: dict[str, Any]) -> PipelineSettings:
    known = {f.name for f in fields(PipelineSettings)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise EmotionLensError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    out = (settings or PipelineSettings()).with_overrides(**options)
    check_settings(out)
    return out


def analyze(path: str | Path, *, model: str | Path | None = None,
            settings: PipelineSettings | None = None, **options: Any) -> pd.DataFrame:
    """Annotate one video, image or folder of images and return its rows: one per face per
    frame, the CSV's columns after a `source` column (`path` as given). `options` override
    `settings` (PipelineSettings fields: detector="blazeface-full", min_face_score=0.5, ...);
    `model` is a bundle folder (default models/default)."""
    chosen = _settings(settings, options)
    with tempfile.TemporaryDirectory(prefix="emotion-lens-") as tmp:
        csv = Path(tmp) / "annotations.csv"
        with Pipeline(chosen, model=model) as pipeline:
            annotate(Path(path), AnnotateOutputs(csv=csv), pipeline)
        return read_annotations(csv, source=str(path))


def read_batch(out: str | Path) -> pd.DataFrame:
    """The rows of every item a batch finished in the folder `out`, its `source` column the
    item's input as in manifest.csv; `frame.attrs["manifest"]` holds that manifest's rows (a list
    of dicts: `pd.DataFrame(frame.attrs["manifest"])`)."""
    folder = Path(out)
    rows = read_manifest(folder / MANIFEST)
    if not rows and not (folder / MANIFEST).is_file():
        raise EmotionLensError(f"no {MANIFEST} in {folder}: not the output folder of a batch")
    parts = [read_annotations(folder / row["csv"], source=key) for key, row in sorted(rows.items())
             if row.get("status") in (DONE, SKIPPED) and row.get("csv") and (folder / row["csv"]).is_file()]
    nonempty = [p for p in parts if not p.empty]
    frame = (pd.concat(nonempty, ignore_index=True) if nonempty
             else parts[0] if parts else pd.DataFrame(columns=["source"]))
    frame.attrs["manifest"] = [rows[key] for key in sorted(rows)]  # plain data: attrs are compared
    return frame


def analyze_corpus(inputs: str | Path | Iterable[str | Path], out: str | Path | None = None, *,
                   workers: int | None = None, ray: bool | str = False, video: bool = False,
                   overwrite: bool = False, model: str | Path | None = None,
                   settings: PipelineSettings | None = None, progress: bool | None = None,
                   on_frames: Callable[[int], None] | None = None,
                   stop: threading.Event | None = None, **options: Any) -> pd.DataFrame:
    """`emotion-lens batch` from Python: annotate every item of `inputs` (files, folders, globs)
    into the folder `out` (None: a temporary one, removed after; an existing batch folder
    resumes) on `workers` processes or on Ray (`ray`: True, "auto" or an address), and return
    all rows (`read_batch`). Failed items are named in a warning and in
    `frame.attrs["manifest"]`. `progress`: the tqdm bar (None: when stderr is a terminal);
    `on_frames` gets the frames done as they come, and `stop`, once set, ends the run after the
    items in flight (their partial outputs are resumed next time)."""
    if isinstance(inputs, str | Path):
        inputs = [inputs]
    if video and out is None:
        raise EmotionLensError("video=True needs out= (a folder to keep the videos in)")
    chosen = _settings(settings, options)
    with (tempfile.TemporaryDirectory(prefix="emotion-lens-batch-") if out is None
          else contextlib.nullcontext(str(out))) as folder:
        result = run_batch(list(inputs), folder, chosen, model=model, workers=workers, ray=ray,
                           video=video, overwrite=overwrite, bar=progress, on_frames=on_frames,
                           stop=stop)
        frame = read_batch(folder)
    failures = result.failures()
    if failures:
        more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
        warnings.warn(f"{len(failures)} item(s) failed: "
                      + "; ".join(f"{k}: {m}" for k, m in failures[:3]) + more, stacklevel=2)
    return frame


__all__ = ["analyze", "analyze_corpus", "read_annotations", "read_batch", "summarize"]
