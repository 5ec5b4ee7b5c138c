"""`emotion-lens`: the desktop app (no command), `annotate`, `batch`, `report` and `bench`.

Everything runs on this machine: no frame, face or result leaves it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from app import __version__
from app.core import EmotionLensError
from app.core.settings import BACKENDS, DETECTORS
from app.core.settings_args import check_options
from app.core.settings_args import settings_from_args as make_settings  # the commands' name

log = logging.getLogger("emotion-lens")


def _add_pipeline_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", type=Path, default=None,
                   help="model bundle folder (default: models/default)")
    p.add_argument("--detector", choices=list(DETECTORS), default=None,
                   help="face detector (default: blazeface-auto, BlazeFace on LiteRT, short range "
                        "plus full range when faces are small, missing or far: faces near and far "
                        "at short-range speed; blazeface-full: full range on every frame; "
                        "blazeface: short range, faces near the camera only; blazeface-tiled: full "
                        "range on tiles too, for small faces in large frames, slower; mediapipe, "
                        "mediapipe-full: the same models through MediaPipe Tasks; opencv: Haar "
                        "cascades)")
    p.add_argument("--backend", choices=list(BACKENDS), default=None,
                   help="classifier backend (default: auto = int8 LiteRT when the bundle has it)")
    p.add_argument("--min-face-score", type=float, default=None, metavar="X",
                   help="minimum face detection confidence 0..1 (default 0.6)")
    p.add_argument("--smoothing", type=float, default=None, metavar="SECONDS",
                   help="half-life of the per-face probability smoothing (0: off; default 0.25)")
    p.add_argument("--config", type=Path, default=None, metavar="TOML",
                   help="settings file with a [pipeline] table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emotion-lens",
        description="Real-time facial expression recognition. Runs entirely on this machine. "
                    "Without a command it opens the desktop app. A facial expression is not a "
                    "felt emotion: the labels describe faces, not feelings.")
    parser.add_argument("--version", action="version", version=f"emotion-lens {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # desktop app options (used when no command is given)
    parser.add_argument("--source", default=None,
                        help="camera index, video, image or folder to open (default: camera 0)")
    parser.add_argument("--screenshot", type=Path, default=None, metavar="PNG",
                        help="smoke mode: save a screenshot of the window to PNG")
    parser.add_argument("--quit-after-frames", type=int, default=None, metavar="N",
                        help="smoke mode: quit after N processed frames")
    parser.add_argument("--camera-size", default=None, metavar="WxH",
                        help="ask the camera for this resolution, e.g. 1280x720")
    _add_pipeline_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ann = sub.add_parser("annotate", help="annotate a video, image or image folder offline",
                         description="Annotate every frame: box, face ID, label, confidence. "
                                     "Writes the annotated video (H.264 MP4 with the source's "
                                     "audio) or PNG, a CSV with one row per face per frame, and "
                                     "optionally JSON. With no output options, writes "
                                     "<name>_annotated.mp4/.png and <name>_emotions.csv here.")
    ann.add_argument("input", type=Path, help="video, image or folder of images")
    ann.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                     help="annotated video (.mp4) or image (.png)")
    ann.add_argument("--csv", type=Path, default=None, metavar="OUT.csv")
    ann.add_argument("--json", type=Path, default=None, metavar="OUT.json",
                     help="rows plus a summary (frames with and without faces, label shares)")
    ann.add_argument("--overwrite", action="store_true", help="replace existing output files")
    ann.add_argument("--resume", action="store_true",
                     help="continue an interrupted run from its CSV (same input, options and "
                          "model as that run, which is checked): rows on disk are kept, none is "
                          "written twice; with no CSV there, a fresh run")
    ann.add_argument("--baseline", default=None, metavar="START-END",
                     help="seconds of the input (e.g. 0-3) in which every face is neutral: each "
                          "face seen then is calibrated on them (its probabilities corrected by "
                          "its own neutral baseline), in extra cal_<label> columns of CSV and JSON "
                          "and on the video; the raw columns stay as they are")
    _add_pipeline_options(ann)

    batch = sub.add_parser("batch", help="annotate a corpus of videos and images, on every core or "
                                         "a Ray cluster",
                           description="Annotate every video (one item each) and the loose images "
                                       "of every folder (one item per folder) into DIR: a CSV per "
                                       "item at its path relative to the inputs' common folder "
                                       "(p01.mov -> DIR/p01.mov.csv, a folder's images -> "
                                       "DIR/<folder>/images.csv), DIR/manifest.csv (a row per "
                                       "item: done, failed or skipped) and DIR/summary.csv (per "
                                       "item and face ID). Running it again skips what is done "
                                       "and resumes partial files. Exit code 1 when an item "
                                       "failed.")
    batch.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="video or image files, folders (searched recursively) or globs")
    batch.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    batch.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes on this machine (default: one per core; 0: in this "
                            "process)")
    batch.add_argument("--ray", nargs="?", const=True, default=False, metavar="ADDRESS",
                       help="run on a Ray cluster: the one started here with `ray start --head` "
                            "(or a new local one), `auto`, or its address (needs the "
                            "emotion-lens[cluster] extra; put --ray after the inputs)")
    batch.add_argument("--video", action="store_true",
                       help="also write the annotated MP4 (PNG for an image) beside each CSV")
    batch.add_argument("--overwrite", action="store_true",
                       help="annotate every item again, replacing its outputs")
    batch.add_argument("--baseline", default=None, metavar="START-END|RANGES.csv",
                       help="seconds in which every face is neutral, for every item (e.g. 0-3), "
                            "or a CSV of per-file ranges (columns file, start, end; file is a "
                            "name or a path relative to the CSV): as annotate --baseline")
    _add_pipeline_options(batch)

    bench = sub.add_parser("bench", help="measure the pipeline's speed on a video or image")
    bench.add_argument("input", type=Path)
    bench.add_argument("--frames", type=int, default=None, metavar="N",
                       help="frames to measure (loops the input; default: all of it once)")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--ahead", choices=("none", "decode", "detect"), default="detect",
                       help="what runs ahead of the measuring thread, each on its own thread: "
                            "decoding and detection (default, as annotate runs), decoding only "
                            "(as the desktop app's capture thread), or nothing")
    bench.add_argument("--compare-fer", metavar="PYTHON", default=None,
                       help="also time the `fer` package (Haar + mini-XCEPTION) on the same "
                            "input, with this interpreter, which must have it installed "
                            "(benchmarks/setup_fer_venv.sh); reports the ratio")
    _add_pipeline_options(bench)

    rep = sub.add_parser("report", help="an HTML report of an annotation's CSV",
                         description="One self-contained HTML file (opens offline in any browser) "
                                     "from the CSV of annotate, batch or the app's Record: per "
                                     "face a thumbnail, its probabilities over time, the share of "
                                     "each expression and its segments; for the whole file the "
                                     "expressions over time and the frames with no face. The "
                                     "segments also go to <report>_segments.csv (start_s, end_s, "
                                     "face_id, label, mean_prob) for ELAN or BORIS.")
    rep.add_argument("results", type=Path, metavar="RESULTS.csv")
    rep.add_argument("-o", "--output", type=Path, default=None, metavar="REPORT.html",
                     help="default: <csv name>_report.html beside the CSV")
    rep.add_argument("--segments", type=Path, default=None, metavar="OUT.csv",
                     help="default: <report name>_segments.csv beside the report")
    rep.add_argument("--min-segment", type=float, default=1.0, metavar="SECONDS",
                     help="shortest run of one expression listed as a segment (default 1)")
    rep.add_argument("--baseline", default=None, metavar="START-END",
                     help="seconds in which every face is neutral: each face seen then is "
                          "calibrated on them (default: the baseline the run recorded, if any)")
    rep.add_argument("--source", type=Path, default=None, metavar="VIDEO",
                     help="the run's source video, image or folder, for the thumbnails, when it "
                          "moved (default: the one the run recorded, else the annotated video)")
    rep.add_argument("--model", type=Path, default=None, metavar="DIR",
                     help="the model bundle whose neutral reference --baseline uses (default: "
                          "the run's)")
    rep.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return parser


def run_annotate(args: argparse.Namespace) -> int:
    from app.core.annotate import (
        AnnotateOutputs,
        annotate,
        check_outputs,
        default_outputs,
        need_bytes,
    )
    from app.core.baseline import describe, parse_range
    from app.core.pipeline import Pipeline
    from app.core.sources import IMAGE_SUFFIXES, open_source

    src: Path = args.input
    baseline = parse_range(args.baseline) if args.baseline else None
    probe = open_source(src)  # validates the input before anything is loaded or written
    total = probe.frame_count
    probe.close()
    if args.output is not None:
        is_image = src.suffix.lower() in IMAGE_SUFFIXES
        want = ".png" if is_image else ".mp4"
        if src.is_dir():
            raise EmotionLensError("-o is for videos and images; a folder gives --csv/--json only")
        if args.output.suffix.lower() not in ((".png", ".jpg", ".jpeg") if is_image else (".mp4",)):
            raise EmotionLensError(f"-o must end in {want} for this input")
    if args.output is None and args.csv is None and args.json is None:
        outputs = default_outputs(src)
    else:
        outputs = AnnotateOutputs(video=args.output, csv=args.csv, json=args.json)
    if args.resume and outputs.csv is None:
        raise EmotionLensError("--resume continues from the CSV: give --csv (the one of the run)")
    check_outputs(src, outputs, args.overwrite, need_bytes=need_bytes(src, outputs, total),
                  resume=args.resume)

    from tqdm import tqdm

    settings = make_settings(args)
    with Pipeline(settings, model=args.model) as pipeline, \
            tqdm(total=total, unit="frame", disable=None, leave=False, file=sys.stderr) as bar:
        log.info("annotate %s with %s, %s", src, pipeline.classifier.description,
                 pipeline.detector.name)
        report = annotate(src, outputs, pipeline, progress=lambda done, _t: bar.update(1),
                          resume=args.resume, overwrite=args.overwrite, baseline=baseline)
    faces = report.summary["face_rows"]
    print(f"{report.frames} frames, {report.frames_with_faces} with faces, {faces} face rows "
          f"({pipeline.classifier.description}, {pipeline.detector.name})")
    if report.summary.get("small_faces_skipped"):
        print(small_faces_note(report.summary))
    if report.baseline is not None:
        line, warnings = describe(report.baseline)
        print(line)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    for path in outputs.paths():
        print(f"wrote {path}")
    if report.skipped:
        names = [p.name for p in report.skipped]
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        print(f"warning: skipped {len(names)} file(s) that are not readable images: "
              f"{', '.join(names[:20])}{more}", file=sys.stderr)
    if report.stopped_early:
        print(f"warning: {src} stopped decoding after frame {report.frames - 1} of "
              f"{report.expected_frames} (truncated or damaged); the frames that decoded are "
              f"annotated", file=sys.stderr)
    return 0


def small_faces_note(summary: dict[str, Any]) -> str:
    """One line on the faces found but left out as smaller than `min_face_px`."""
    n, only = summary["small_faces_skipped"], summary.get("frames_with_only_small_faces", 0)
    where = f", {only} frame{'s' * (only != 1)} had no other face" if only else ""
    return (f"{n} face{'s' * (n != 1)} smaller than min_face_px = {summary.get('min_face_px')} px "
            f"left out{where} (set min_face_px in a --config [pipeline] table to keep them)")


# What `report` and `batch` import beyond the pipeline (inside functions, as they need them)
SERVICE_LIBRARIES = ("pandas", "matplotlib", "jinja2", "PIL")


def missing_library(command: str, exc: ModuleNotFoundError) -> EmotionLensError:
    """One line for a library of SERVICE_LIBRARIES that `command` needs and cannot import (a desktop
    bundle built without it, or an install without it); any other missing module is re-raised."""
    top = (exc.name or "").split(".")[0]
    if top not in SERVICE_LIBRARIES:
        raise exc
    if getattr(sys, "frozen", False):
        return EmotionLensError(f"{command} needs {top}, which this desktop bundle leaves out: use the full "
                                f"bundle (packaging/build.sh --full) or the Python install")
    return EmotionLensError(f"{command} needs {top}, which is not installed: pip install {top}")


def run_batch(args: argparse.Namespace) -> int:
    from app.services.corpus import run_batch as batch

    if isinstance(args.ray, str) and Path(args.ray).exists():
        raise EmotionLensError(f"--ray {args.ray}: that is a file or folder, not a Ray address; "
                               f"put --ray after the inputs, or write --ray=auto")
    if args.ray is not False and getattr(sys, "frozen", False):
        raise EmotionLensError('--ray needs Ray, which the desktop bundle never includes: run batch --ray '
                               'from the Python install with the cluster extra (pip install '
                               '"emotion-lens[cluster]")')
    baseline = None
    if args.baseline:
        from app.core.baseline import parse_range, read_ranges

        baseline = read_ranges(Path(args.baseline)) if args.baseline.lower().endswith(".csv") \
            else parse_range(args.baseline)
    try:
        result = batch(args.inputs, args.out, make_settings(args), model=args.model, workers=args.workers,
                       ray=args.ray, video=args.video, overwrite=args.overwrite, baseline=baseline,
                       echo=lambda line: print(line, file=sys.stderr))
    except ModuleNotFoundError as exc:
        raise missing_library("batch", exc) from None
    for line in result.lines():
        print(line)
    return 1 if result.failed else 0


def run_report(args: argparse.Namespace) -> int:
    from app.core.baseline import parse_range
    from app.services.report import write_report

    baseline = parse_range(args.baseline) if args.baseline else None
    try:
        written = write_report(args.results, args.output, segments_csv=args.segments,
                               overwrite=args.overwrite, min_segment_s=args.min_segment,
                               baseline=baseline, source=args.source, model=args.model)
    except ModuleNotFoundError as exc:
        raise missing_library("report", exc) from None
    r = written.report
    print(f"{r.frames} {'images' if r.images else 'frames'}, {r.frames_with_faces} with faces, "
          f"{len(r.faces) + len(r.other_faces)} face IDs, {len(r.segments)} segments")
    for note in r.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {written.html}")
    print(f"wrote {written.segments_csv}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    try:
        from app.bench import run as bench_run
    except ImportError:
        raise EmotionLensError("bench is not available in this build") from None
    return bench_run(args)


def run_gui(args: argparse.Namespace) -> int:
    try:
        from app.ui.main import run as gui_run
    except ImportError as exc:
        raise EmotionLensError(f"the desktop app cannot start: {exc}") from None
    return gui_run(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from app.core.logs import FILE_ONLY, setup_logging

    log_path = setup_logging(args.verbose)
    log.info("emotion-lens %s: %s (log: %s)", __version__, " ".join(sys.argv[1:]), log_path)
    try:
        check_options(args)  # the ranges of app.core.settings, as a --config file's
        if args.command == "annotate":
            return run_annotate(args)
        if args.command == "batch":
            return run_batch(args)
        if args.command == "bench":
            return run_bench(args)
        if args.command == "report":
            return run_report(args)
        return run_gui(args)
    except EmotionLensError as exc:
        log.info("error: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions, a vanished device: say which file
        log.error("I/O error", exc_info=True, extra=FILE_ONLY)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; what was written before is kept", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; outputs written so far are kept", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line for the user, the traceback in the log
        log.error("unexpected error", exc_info=True, extra=FILE_ONLY)
        print(f"error: unexpected {type(exc).__name__}: {exc} (details in {log_path})",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
