"""Offline annotation of a video, image or image folder: annotated media, CSV and JSON.

Plain Python so the CLI and the GUI's annotation dialog share it: progress goes to a callback and a
cancel callback stops it, keeping everything written so far.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from app import __version__
from app.core import EmotionLensError
from app.core.pipeline import FramesAhead, Pipeline
from app.core.render import draw_overlay
from app.core.results import CsvWriter, FrameResult, SummaryBuilder, resume_point, write_json
from app.core.sources import IMAGE_SUFFIXES, Frame, ImageFile, VideoFile, open_source
from app.core.video_writer import VideoWriter

ProgressFn = Callable[[int, int | None], None]  # frames done, total (None if unknown)


@dataclass
class AnnotateOutputs:
    video: Path | None = None  # annotated MP4 (videos) or PNG (images)
    csv: Path | None = None
    json: Path | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.video, self.csv, self.json) if p is not None]


@dataclass
class AnnotateReport:
    frames: int
    frames_with_faces: int
    stopped_early: bool = False
    expected_frames: int | None = None
    cancelled: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: AnnotateOutputs = field(default_factory=AnnotateOutputs)


def default_outputs(source: Path, out_dir: Path = Path()) -> AnnotateOutputs:
    """Annotated media and CSV in `out_dir`, named after the input."""
    stem = source.stem if source.is_file() else source.name
    media_suffix = ".png" if source.suffix.lower() in IMAGE_SUFFIXES else ".mp4"
    if source.is_dir():
        return AnnotateOutputs(csv=out_dir / f"{stem}_emotions.csv")
    return AnnotateOutputs(video=out_dir / f"{stem}_annotated{media_suffix}",
                           csv=out_dir / f"{stem}_emotions.csv")


def check_outputs(source: Path, outputs: AnnotateOutputs, overwrite: bool,
                  need_bytes: int = 0) -> None:
    """Fail before any work when an output would overwrite the input or an existing file (without
    `overwrite`, which `--resume` implies), or lands in a missing, unwritable or full folder."""
    src = source.resolve()
    seen: set[Path] = set()
    for path in outputs.paths():
        resolved = path.resolve()
        if resolved == src:
            raise EmotionLensError(f"output {path} is the input file; choose another name")
        if resolved in seen:
            raise EmotionLensError(f"two outputs share the name {path}")
        seen.add(resolved)
        if resolved.exists() and not overwrite:
            raise EmotionLensError(f"{path} exists; pass --overwrite to replace it")
        parent = resolved.parent
        if not parent.is_dir():
            raise EmotionLensError(f"output folder does not exist: {parent}")
        if not os.access(parent, os.W_OK):
            raise EmotionLensError(f"output folder is not writable: {parent}")
        if need_bytes and shutil.disk_usage(parent).free < need_bytes:
            raise EmotionLensError(f"not enough free disk space in {parent} "
                                   f"(need about {need_bytes // 2**20} MB)")


def _row(frame: FrameResult, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for face in frame.faces:
        x, y, w, h = face.box
        rows.append({"frame": frame.index, "time_s": round(frame.time_s, 3), "face_id": face.face_id,
                     "x": round(x), "y": round(y), "w": round(w), "h": round(h),
                     **{name: round(float(p), 5) for name, p in zip(labels, face.probs, strict=True)},
                     "label": face.label(labels)})
    return rows


def annotate(source_path: Path, outputs: AnnotateOutputs, pipeline: Pipeline,
             progress: ProgressFn | None = None, cancelled: Callable[[], bool] | None = None,
             resume: bool = False) -> AnnotateReport:
    """Run `pipeline` over every frame of `source_path` and write the requested outputs.

    With `resume`, an existing CSV from an interrupted run is kept: frames it holds are replayed
    from it (not recomputed, no row written twice), tracking continues from its last frame, and
    the video and JSON are rebuilt whole."""
    source = open_source(source_path)
    labels = pipeline.labels
    summary = SummaryBuilder(labels)
    pipeline.reset()
    start, replay = 0, {}
    if resume and outputs.csv and outputs.csv.is_file():
        try:
            point = resume_point(outputs.csv, labels)
        except ValueError as exc:
            source.close()
            raise EmotionLensError(f"cannot resume: {exc}") from None
        start, replay = point.start_frame, point.frames
        with open(outputs.csv, "r+b") as f:
            f.truncate(point.keep_bytes)
        if replay:
            last = replay[max(replay)]
            pipeline.seed(last, next_id=1 + max(f.face_id for r in replay.values() for f in r.faces))
    csv_writer = CsvWriter(outputs.csv, labels, append=resume) if outputs.csv else None
    json_rows: list[dict[str, Any]] = []
    video: VideoWriter | None = None
    report = AnnotateReport(frames=0, frames_with_faces=0, outputs=outputs)
    frames: FramesAhead | None = None
    try:
        is_video = isinstance(source, VideoFile)
        if is_video and outputs.video:
            video = VideoWriter(outputs.video, source.fps or 30.0, source.size, audio_from=source_path)
        total = source.frame_count
        if start and is_video and video is None:
            for index in range(start):  # no video to rebuild: account for the done frames, skip them
                done = replay.get(index) or FrameResult(index, 0.0, [])
                summary.add(done)
                if outputs.json:
                    json_rows.extend(_row(done, labels))
            source.seek(start)
        # decoding and detection run ahead on their own threads; frames already done are replayed
        frames = pipeline.ahead(source, skip=lambda f: f.index < start)
        for item in frames:
            if cancelled is not None and cancelled():
                report.cancelled = True
                break
            if isinstance(item, Frame):
                frame = item
                result = replay.get(frame.index) or FrameResult(frame.index, frame.time_s, [])
            else:
                frame = item.frame
                result = pipeline.process(item)
                if csv_writer:
                    csv_writer.write(result)
            summary.add(result)
            if outputs.json:
                json_rows.extend(_row(result, labels))
            if video is not None:
                video.write(draw_overlay(frame.image, result, labels, smoothed=True))
            elif outputs.video and isinstance(source, ImageFile):
                annotated = draw_overlay(frame.image.copy(), result, labels, smoothed=False)
                if not cv2.imwrite(str(outputs.video), annotated):
                    raise EmotionLensError(f"cannot write image {outputs.video}")
            if progress:
                progress(summary.frames, total)
        if is_video:
            report.stopped_early = source.stopped_early and not report.cancelled
            report.expected_frames = source.frame_count
    finally:
        if frames is not None:
            frames.close()  # the reading threads stop before the source closes under them
        source.close()
        if csv_writer:
            csv_writer.close()
        if video is not None:
            video.close()
        report.frames = summary.frames
        report.frames_with_faces = summary.frames_with_faces
        report.summary = summary.to_dict(
            source=str(source_path), model=pipeline.classifier.bundle.name,
            backend=pipeline.classifier.backend, detector=pipeline.detector.name,
            emotion_lens_version=__version__, cancelled=report.cancelled,
            stopped_early=report.stopped_early, expected_frames=report.expected_frames,
            skipped_files=[str(p) for p in getattr(source, "skipped", [])],
        )
        if outputs.json:
            write_json(outputs.json, {"summary": report.summary, "rows": json_rows})
    return report


__all__ = ["AnnotateOutputs", "AnnotateReport", "annotate", "check_outputs",
           "default_outputs"]
