"""`emotion-lens report RESULTS.csv`: one self-contained HTML report of an annotation (plots as
embedded PNG, no external URL: it opens offline in any browser), and its segments as a CSV.

The CSV is what `emotion-lens annotate`, `batch` or the app's Record wrote; the record beside it
(`<csv>.run.json`, app/core/runs.py) gives the source, model, settings and start time, and a CSV
without one still gives a report that says what is unknown. Per face ID: a thumbnail of its most
confident frame (from the source when it is at hand, else from the annotated video), its
probabilities over time (raw and smoothed; calibrated when it has a neutral baseline), the share
of each expression and its segments (runs of one label lasting at least `min_segment_s`). For
the whole file: expressions over time, faces per frame and the frames without a face.

Labels here are those of the smoothed probabilities (what the overlay shows), corrected by the
face's baseline when it has one: from `--baseline START-END` given to the report, else from the
baseline the run recorded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from app.core.atomic import replacing
from app.core.baseline import (
    MIN_FRAMES,
    Baseline,
    FaceCalibrator,
    Reference,
    correct,
    correction,
    reference_from_card,
)
from app.core.outputs import check_paths, lock_outputs
from app.core.runs import load_record
from app.services import report_plots as plots
from app.services.report_frames import thumbnails
from app.services.report_results import (
    SEGMENT_COLUMNS,
    Results,
    Segment,
    ema,
    fmt_s,
    frame_times,
    load_results,
    record_part,
    runs_of,
    segments_csv_text,
    segments_of,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "report.html.j2"
MAX_FACE_SECTIONS = 30  # faces with the most frames get a section each; the rest a table row
NOT_AN_EMOTION = ("A facial expression is not a felt emotion. These labels describe what a face "
                  "shows, as judged by the annotators of the model's training data; they do not "
                  "tell what a person feels, and they are less reliable for faces, lighting and "
                  "cultures that the training data under-represents. Do not use them to make "
                  "decisions about people.")


# ------------------------------------------------------------------ the report's data

@dataclass
class FaceSection:
    face_id: int
    rows: int
    first_s: float
    last_s: float
    dominant: str
    shares: list[dict[str, Any]]  # label, share (smoothed), cal_share (or None), color
    segments: list[Segment]
    timeline: str | None = None  # PNG data URI
    thumbnail: str | None = None  # JPEG data URI
    thumbnail_note: str = ""
    thumbnail_time_s: float | None = None
    thumbnail_conf: float | None = None
    baseline: str = ""  # how it was calibrated, in words ("" = not calibrated)


@dataclass
class Report:
    title: str
    csv: Path
    generated: str
    labels: tuple[str, ...]
    colors: dict[str, str]
    run: list[tuple[str, str]]  # what / value, for the run table
    unknown: list[str]  # what the report cannot say, and why
    images: bool  # a folder of images: frames are images, no segments
    frames: int
    frames_with_faces: int
    rows: int
    duration_s: float
    no_face_ranges: list[str]
    overall_shares: list[dict[str, Any]]
    expressions_plot: str | None
    faces_plot: str | None
    faces: list[FaceSection]
    other_faces: list[FaceSection]
    segments: list[Segment]
    min_segment_s: float
    calibration: str  # one line on the baseline, or ""
    segments_csv: str = ""
    notes: list[str] = field(default_factory=list)
    not_an_emotion: str = NOT_AN_EMOTION


def _reference(record: dict[str, Any] | None, model: Path | None, labels: Sequence[str],
               notes: list[str]) -> Reference:
    """The neutral reference of the run's model (`model`, else the folder the record names)."""
    folder = model or (Path(p) if isinstance(p := record_part(record, "run", "model", "path"), str)
                       else None)
    card: dict[str, Any] = {}
    if folder is not None:
        try:
            loaded = json.loads((folder / "model.json").read_text(encoding="utf-8"))
            card = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            notes.append(f"the model's card {folder / 'model.json'} cannot be read: the baseline "
                         f"uses a generic neutral reference")
    else:
        notes.append("the run's model is unknown (no record): the baseline uses a generic neutral "
                     "reference; pass --model DIR to use that model's")
    return reference_from_card(card, labels)


def _calibrate(res: Results, smoothed: np.ndarray, baseline: tuple[float, float] | None,
               record: dict[str, Any] | None, model: Path | None, notes: list[str],
               half_life_s: float) -> tuple[np.ndarray | None, np.ndarray | None, dict[int, str], str]:
    """(calibrated raw, calibrated smoothed: NaN rows for faces without a baseline; how each face
    was calibrated; one line on it) from `baseline` measured here, else the run's recorded one,
    else the CSV's cal_ columns."""
    labels = res.labels
    n = len(labels)
    factors: dict[int, np.ndarray] = {}
    how: dict[int, str] = {}
    line = ""
    if baseline is not None:
        start, end = baseline
        ref = _reference(record, model, labels, notes)
        inside = (res.time_s >= start) & (res.time_s <= end)
        few = []
        for fid in np.unique(res.face_id[inside]):
            rows = inside & (res.face_id == fid)
            count = int(rows.sum())
            if count < MIN_FRAMES:
                few.append(f"#{fid} ({count})")
                continue
            factors[int(fid)] = correction(res.raw[rows].mean(axis=0), ref.probs)
            how[int(fid)] = f"baseline {start:g}-{end:g} s ({count} frames), measured by the report"
        line = (f"Baseline {start:g}-{end:g} s (given to the report): {len(factors)} face(s) "
                f"calibrated; reference: {ref.source}.")
        if few:
            line += f" Too few frames in it (< {MIN_FRAMES}) for {', '.join(few)}: not calibrated."
        if not factors:
            notes.append(f"no face was seen in the baseline {start:g}-{end:g} s in at least "
                         f"{MIN_FRAMES} frames: nothing is calibrated")
    else:
        recorded = record_part(record, "run", "baseline")
        if isinstance(recorded, dict) and recorded.get("faces"):
            try:
                cal = FaceCalibrator.from_dict(recorded, labels)
            except ValueError as exc:
                notes.append(f"the baseline in the record is damaged ({exc}); it is left out")
                cal = None
            if cal is not None:
                rng = cal.range_s
                for fid, b in cal.baselines.items():
                    factors[fid] = correction(b.mean, cal.reference.probs, cal.epsilon)
                    how[fid] = f"baseline {_range_words(rng, b)} ({b.frames} frames), from the run"
                line = (f"Baseline {rng[0]:g}-{rng[1]:g} s (set when annotating): " if rng else
                        "Baseline (set when recording): ") + \
                       f"{len(factors)} face(s) calibrated; reference: {cal.reference.source}."
        elif res.calibrated is not None:
            has = ~np.isnan(res.calibrated).any(axis=1)
            if has.any():
                cal_raw = np.where(has[:, None], res.calibrated, np.nan)
                cal_smooth = np.full_like(cal_raw, np.nan)
                for fid in np.unique(res.face_id[has]):
                    rows = np.flatnonzero(has & (res.face_id == fid))
                    cal_smooth[rows] = ema(res.time_s[rows], res.calibrated[rows], half_life_s)
                    how[int(fid)] = "the CSV's cal_ columns (its baseline is not recorded)"
                line = (f"Calibrated values from the CSV's cal_ columns for {len(how)} face(s) "
                        f"(the record of their baseline is missing).")
                return cal_raw, cal_smooth, how, line
    if not factors:
        return None, None, how, line
    cal_raw = np.full((len(res), n), np.nan)
    cal_smooth = np.full((len(res), n), np.nan)
    for fid, f in factors.items():
        rows = res.face_id == fid
        cal_raw[rows] = correct(res.raw[rows], f)
        cal_smooth[rows] = correct(smoothed[rows], f)
    return cal_raw, cal_smooth, how, line


def _range_words(rng: tuple[float, float] | None, b: Baseline) -> str:
    return f"{rng[0]:g}-{rng[1]:g} s" if rng else f"{b.start_s:.1f}-{b.end_s:.1f} s"


def _run_table(record: dict[str, Any] | None, res: Results, unknown: list[str],
               ) -> list[tuple[str, str]]:
    run = record_part(record, "run") or {}
    identity = record_part(record, "identity") or {}
    out: list[tuple[str, str]] = []
    source = record_part(run, "source") or {}
    path = source.get("path") or record_part(identity, "input", "path")
    kind = source.get("kind")
    what = {"annotate": "emotion-lens annotate", "record": "the app's Record"}.get(run.get("kind"))
    out.append(("source", f"{path} ({kind})" if path and kind else str(path) if path else "unknown"))
    if not path:
        unknown.append("the source")
    if what:
        out.append(("written by", what))
    started = run.get("started")
    out.append(("started", started if isinstance(started, str) else "unknown"))
    if not isinstance(started, str):
        unknown.append("when the run started")
    if isinstance(run.get("finished"), str):
        out.append(("finished", run["finished"] + (" (cancelled)" if run.get("cancelled") else "")))
    size, fps = source.get("frame_size"), source.get("fps")
    if size or fps:
        out.append(("frames", ", ".join(
            ([f"{size[0]}×{size[1]} px"] if isinstance(size, list) and len(size) == 2 else [])
            + ([f"{fps:.2f} fps"] if isinstance(fps, int | float) else []))))
    model = run.get("model") if isinstance(run.get("model"), dict) else None
    name = (model or {}).get("name") or record_part(identity, "model", "name")
    backend = (model or {}).get("backend") or record_part(identity, "model", "backend")
    if name:
        out.append(("model", f"{name}" + (f" ({backend})" if backend else "")))
        card = (model or {}).get("card") or {}
        acc = card.get("accuracy")
        if isinstance(acc, int | float):
            own = card.get(f"{backend}_accuracy")
            split = card.get("selected_on") or card.get("split") or "validation"
            out.append(("model card accuracy",
                        f"{acc:.1%}" + (f" ({backend} {own:.1%})" if isinstance(own, int | float) else "")
                        + f" on {split}" + (f", macro-F1 {card['macro_f1']:.3f}"
                                             if isinstance(card.get("macro_f1"), int | float) else "")))
        else:
            unknown.append("the model's accuracy (its card is not in the record)")
    else:
        unknown.append("the model")
        out.append(("model", "unknown"))
    if run.get("detector"):
        out.append(("face detector", str(run["detector"])))
    settings = run.get("settings") if isinstance(run.get("settings"), dict) else identity.get("options")
    if isinstance(settings, dict) and settings:
        keep = ("min_face_score", "min_face_px", "smoothing_half_life_s", "detect_every", "max_faces")
        out.append(("settings", ", ".join(f"{k} {settings[k]}" for k in keep if k in settings)))
    else:
        unknown.append("the settings")
    out.append(("labels", ", ".join(res.labels)))
    return out


def build_report(csv_path: Path, *, min_segment_s: float = 1.0,
                 baseline: tuple[float, float] | None = None, source: Path | None = None,
                 model: Path | None = None, plots_on: bool = True) -> Report:
    """Everything the report shows (see the module docstring); `source` overrides the source
    the record names (for thumbnails), `model` the model whose neutral reference a `baseline`
    uses."""
    if not min_segment_s >= 0:
        raise EmotionLensError(f"--min-segment must be 0 or more seconds (got {min_segment_s})")
    csv_path = Path(csv_path)
    record, why = load_record(csv_path)
    notes: list[str] = []
    unknown: list[str] = []
    if record is None:
        unknown.append(why)
    rec_labels = record_part(record, "run", "labels")
    res = load_results(csv_path, rec_labels if isinstance(rec_labels, list) else None)
    labels = res.labels
    images = res.file is not None
    settings = record_part(record, "run", "settings") or record_part(record, "identity", "options") or {}
    half_life = float(settings.get("smoothing_half_life_s", 0.25)) if isinstance(settings, dict) else 0.25
    max_gap = float(settings.get("track_timeout_s", 1.0)) if isinstance(settings, dict) else 1.0
    if res.smoothed is None:
        notes.append("the CSV has no smooth_ columns: smoothed values are computed here "
                     f"(half-life {half_life:g} s)")
    smoothed = res.smoothed if res.smoothed is not None else np.zeros_like(res.raw)
    if res.smoothed is None:
        for fid in np.unique(res.face_id):
            rows = np.flatnonzero(res.face_id == fid)
            smoothed[rows] = ema(res.time_s[rows], res.raw[rows], half_life)
    if images and baseline is not None:
        notes.append("a baseline range counts images as seconds (one per image), as annotate does")
    _, cal_smooth, how, calibration = _calibrate(res, smoothed, baseline, record, model, notes,
                                                 half_life)
    has_cal = ~np.isnan(cal_smooth).any(axis=1) if cal_smooth is not None else np.zeros(len(res), bool)
    shown = smoothed.copy()
    if cal_smooth is not None:
        shown[has_cal] = cal_smooth[has_cal]
    shown_idx = shown.argmax(axis=1) if len(res) else np.zeros(0, np.int64)

    # the frames: those without a row had no face. The app's Record numbers frames from when its
    # source opened and drops some when the model is slower than the source: its span is from
    # the first frame recorded to the last
    fps = record_part(record, "run", "source", "fps")
    live = record_part(record, "run", "kind") == "record"
    total = record_part(record, "run", "frames")
    first, last = (record_part(record, "run", key) for key in ("first_frame", "last_frame"))
    offset = first if live and isinstance(first, int) and (not len(res) or first <= res.frame.min()) else 0
    frame_no = res.frame - offset  # from the run's first frame
    n_frames = int(frame_no.max()) + 1 if len(res) else 0
    if live and isinstance(last, int) and last - offset + 1 >= n_frames:
        n_frames = last - offset + 1
        if isinstance(total, int) and total < n_frames:
            notes.append(f"the app processed {total} of the {n_frames} frames from the first to the "
                         f"last recorded (it drops frames when the model is slower than the source): "
                         f"frames it dropped count as frames with no face")
    elif not live and isinstance(total, int) and total >= n_frames:
        n_frames = total
    elif not len(res):
        unknown.append("how many frames the source had (no face in the CSV, and no record)")
    if not isinstance(total, int):
        unknown.append("frames without a face after the last face row (no record of the frame count)")
    index_time = frame_times(frame_no, res.time_s, n_frames,
                             fps if isinstance(fps, int | float) else None, images)
    counts = np.bincount(frame_no, minlength=n_frames)[:n_frames] if n_frames else np.zeros(0, int)
    axis_t = np.arange(n_frames, dtype=float) if images else index_time
    xlabel = "image" if images else "time (s)"
    frame_s = (1.0 / fps if isinstance(fps, int | float) and fps > 0
               else float(np.median(np.diff(index_time))) if n_frames > 1 else 1.0)
    duration = float(index_time[-1] + frame_s) if n_frames else 0.0
    no_face = counts == 0
    gap_runs = runs_of(no_face)
    gaps = [(float(axis_t[a]), float(axis_t[b] + (1.0 if images else frame_s))) for a, b in gap_runs]
    no_face_ranges = [(f"images {a + 1}–{b + 1}" if images else
                       f"{fmt_s(index_time[a])} – {fmt_s(index_time[b] + frame_s)}")
                      for a, b in gap_runs[:40]]
    if len(gap_runs) > 40:
        no_face_ranges.append(f"… and {len(gap_runs) - 40} more")

    colors = {name: plots.plot_color(name) for name in labels}
    overall = np.bincount(shown_idx, minlength=len(labels)) / max(len(res), 1)
    overall_shares = [{"label": name, "share": float(overall[k]), "color": colors[name]}
                      for k, name in enumerate(labels)]

    expressions_plot = faces_plot = None
    if plots_on and n_frames:
        faces_plot = plots.faces_per_frame(axis_t, counts, gaps[:300], xlabel)
        if len(res):
            # bins of whole frames (by frame number, so that none falls between two frames)
            bins = max(1, min(120, n_frames))
            first = -(-np.arange(bins + 1) * n_frames // bins)  # the first frame of each bin
            edges = np.r_[axis_t[first[:-1]], axis_t[-1] + (1.0 if images else frame_s)]
            which = np.minimum(frame_no * bins // n_frames, bins - 1)
            table = np.zeros((bins, len(labels)))
            np.add.at(table, (which, shown_idx), 1.0)
            totals = table.sum(axis=1, keepdims=True)
            expressions_plot = plots.expressions_over_time(
                edges, np.divide(table, totals, out=np.zeros_like(table), where=totals > 0), labels,
                xlabel)

    # per face
    sections: list[FaceSection] = []
    all_segments: list[Segment] = []
    ids = np.unique(res.face_id)
    for fid in ids:
        rows = np.flatnonzero(res.face_id == fid)
        t = res.time_s[rows]
        idx = shown_idx[rows]
        probs = shown[rows]
        share = np.bincount(idx, minlength=len(labels)) / len(rows)
        segs = ([] if images else
                segments_of(t, idx, probs, int(fid), labels, min_segment_s, max_gap, frame_s))
        all_segments.extend(segs)
        cal_rows = has_cal[rows]
        base_share = (np.bincount(smoothed[rows].argmax(axis=1), minlength=len(labels)) / len(rows)
                      if cal_rows.any() else None)
        sections.append(FaceSection(
            face_id=int(fid), rows=len(rows), first_s=float(t[0]), last_s=float(t[-1]),
            dominant=labels[int(share.argmax())],
            shares=[{"label": name, "share": float(share[k]), "color": colors[name],
                     "uncal": float(base_share[k]) if base_share is not None else None}
                    for k, name in enumerate(labels)],
            segments=segs, baseline=how.get(int(fid), "")))
    order = sorted(range(len(sections)), key=lambda i: -sections[i].rows)
    detailed = sorted((sections[i] for i in order[:MAX_FACE_SECTIONS]), key=lambda s: s.face_id)
    others = sorted((sections[i] for i in order[MAX_FACE_SECTIONS:]), key=lambda s: s.face_id)
    for sec in detailed:
        rows = np.flatnonzero(res.face_id == sec.face_id)
        if plots_on:
            axis = frame_no[rows].astype(float) if images else res.time_s[rows]
            cal = cal_smooth[rows] if cal_smooth is not None and has_cal[rows].all() else None
            sec.timeline = plots.face_timeline(axis, res.raw[rows], smoothed[rows], labels, cal,
                                               shown_idx[rows], xlabel)
    conf = res.raw.max(axis=1)
    best = {}
    for sec in detailed:  # each face's most confident row
        rows = np.flatnonzero(res.face_id == sec.face_id)
        best[sec.face_id] = row = int(rows[int(np.argmax(conf[rows]))])
        sec.thumbnail_time_s, sec.thumbnail_conf = float(res.time_s[row]), float(conf[row])
    thumbs, thumb_note = thumbnails(best, res, record, source)
    for sec in detailed:
        sec.thumbnail, sec.thumbnail_note = thumbs[sec.face_id]
    if thumb_note:
        notes.append(thumb_note)
    all_segments.sort(key=lambda s: (s.start_s, s.face_id))
    if images:
        notes.append("an image folder: each image is a frame of its own, so there are no segments "
                     "in time")
    return Report(
        title=f"Emotion Lens report: {csv_path.name}", csv=csv_path,
        generated=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        labels=labels, colors=colors, run=_run_table(record, res, unknown), unknown=unknown,
        images=images, frames=n_frames, frames_with_faces=int((counts > 0).sum()), rows=len(res),
        duration_s=duration, no_face_ranges=no_face_ranges, overall_shares=overall_shares,
        expressions_plot=expressions_plot, faces_plot=faces_plot, faces=detailed,
        other_faces=others, segments=all_segments, min_segment_s=min_segment_s,
        calibration=calibration, notes=notes)


# ------------------------------------------------------------------ output

def render_html(report: Report) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["seconds"] = fmt_s
    env.filters["pct"] = lambda v: f"{100 * v:.0f} %" if v is not None else ""
    return env.get_template(TEMPLATE).render(r=report)


def default_paths(csv_path: Path, html: Path | None = None) -> tuple[Path, Path]:
    """The report (`<csv stem>_report.html` beside the CSV unless given) and its segments CSV
    (`<report stem>_segments.csv` beside the report)."""
    csv_path = Path(csv_path)
    html = Path(html) if html is not None else csv_path.with_name(f"{csv_path.stem}_report.html")
    return html, html.with_name(f"{html.stem}_segments.csv")


def _write_text(path: Path, text: str) -> None:
    """Whole or not at all (`app.core.atomic.replacing`)."""
    with replacing(path, newline="") as f:
        f.write(text)


@dataclass
class Written:
    html: Path
    segments_csv: Path
    report: Report


def write_report(csv_path: Path, html: Path | None = None, *, segments_csv: Path | None = None,
                 overwrite: bool = False, **options: Any) -> Written:
    """Build the report of `csv_path` (`build_report` options) and write it and its segments
    CSV (`default_paths`); existing files are replaced only with `overwrite`, and neither may
    be the CSV itself."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        load_results(csv_path)  # the one-line error for a missing or odd path
    html_path, seg_default = default_paths(csv_path, html)
    seg_path = Path(segments_csv) if segments_csv is not None else seg_default
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise EmotionLensError(f"the report must end in .html (got {html_path.name})")
    outputs = [html_path, seg_path]
    check_paths(csv_path, outputs, overwrite)
    report = build_report(csv_path, **options)
    report.segments_csv = seg_path.name
    with lock_outputs(outputs):
        check_paths(csv_path, outputs, overwrite)
        _write_text(seg_path, segments_csv_text(report.segments))
        _write_text(html_path, render_html(report))
    return Written(html_path, seg_path, report)


__all__ = ["SEGMENT_COLUMNS", "FaceSection", "Report", "Results", "Segment", "Written", "build_report",
           "default_paths", "load_results", "render_html", "runs_of", "segments_of", "write_report"]
