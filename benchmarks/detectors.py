"""Which face detector finds every face, and at what cost: recall, false boxes and time per frame
of each detector and of each candidate default, on multi-face scenes built from the shared media
at run time (`benchmarks/scenes.py`: faces 24 to 400 px, grids, crowds, near and far, on plain
and busy backgrounds; nothing is committed).

    uv run python -m benchmarks.detectors [--readme README.md] [--pause PID]

Every detector runs as the pipeline runs it (`app.core.pipeline.find_faces`: the frame reduced by
exact halvings to about 640 pixels unless the detector wants it whole, faces under `min_face_px`
left out) with the default settings (`min_face_score` 0.6). A face counts as found when a box
overlaps its true box by IoU ≥ 0.3 (one box per face); every other box is a false box. Time is
wall time per frame on one thread, the median of 3 runs of each scene, measured after every
detector's detections (with `--pause PID`, that process is stopped with SIGSTOP while timing and
always continued after). Writes benchmarks/results/detectors.json, and the README table between
`<!-- detectors:start -->` and `<!-- detectors:end -->` with `--readme`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.run import RESULTS, shared_dir
from benchmarks.scenes import FACE_SIZES, Scene, match, scenes

START, END = "<!-- detectors:start -->", "<!-- detectors:end -->"
MACHINE = "2-core AMD EPYC VM"


class Cascade:
    """Candidate: BlazeFace short range, then full range as well when short range finds no face
    or only faces under `small` of the frame's longer side (merged)."""

    name = "blazeface"  # short-range boxes first: the short-range crop

    def __init__(self, min_score: float, small: float = 0.2):
        from app.core.blazeface import BlazeFaceDetector

        self.short = BlazeFaceDetector(min_score=min_score, variant="short")
        self.full = BlazeFaceDetector(min_score=min_score, variant="full")
        self.small = small

    def detect(self, frame: np.ndarray) -> list:
        from app.core.blazeface import merge_detections

        found = self.short.detect(frame)
        if not found or min(d.box[2] for d in found) < self.small * max(frame.shape[:2]):
            found = merge_detections(found + self.full.detect(frame))
        return found

    def close(self) -> None:
        self.short.close()
        self.full.close()


class Union(Cascade):
    """Candidate: BlazeFace short and full range on every frame, merged (NMS)."""

    def detect(self, frame: np.ndarray) -> list:
        from app.core.blazeface import merge_detections

        return merge_detections(self.short.detect(frame) + self.full.detect(frame))


@dataclass(frozen=True)
class Entry:
    key: str
    label: str
    kind: str  # "detector" (selectable by name) or "candidate" (measured only)
    make: Callable[[float], Any]


def entries() -> list[Entry]:
    from app.core.detect import create_detector

    def named(name: str) -> Callable[[float], Any]:
        return lambda score: create_detector(name, min_score=score)

    return [
        Entry("blazeface-auto", "short range; + full range when faces are small, missing or far, "
              "and every 30th frame", "detector", named("blazeface-auto")),
        Entry("blazeface-full", "BlazeFace full range, LiteRT", "detector", named("blazeface-full")),
        Entry("blazeface", "BlazeFace short range, LiteRT", "detector", named("blazeface")),
        Entry("cascade", "short range; + full range when faces are under 20 % or missing, frame "
              "by frame", "candidate", lambda score: Cascade(score)),
        Entry("union", "short + full range on every frame, merged", "candidate",
              lambda score: Union(score)),
        Entry("blazeface-tiled", "full range on the frame and on tiles of it, LiteRT", "detector",
              named("blazeface-tiled")),
        Entry("mediapipe-full", "BlazeFace full range, MediaPipe Tasks", "detector",
              named("mediapipe-full")),
        Entry("mediapipe", "BlazeFace short range, MediaPipe Tasks", "detector", named("mediapipe")),
        Entry("opencv", "OpenCV Haar cascade", "detector", named("opencv")),
    ]


def size_bucket(px: float) -> int:
    return min(FACE_SIZES, key=lambda s: abs(np.log(s / px)))


def evaluate(detector: Any, scene_list: list[Scene], settings: Any) -> dict[str, Any]:
    """Recall and false boxes over `scene_list`, overall and by face size, layout, background."""
    from app.core.pipeline import find_faces
    from app.core.track import iou

    found_total = faces_total = false_total = small_total = 0
    by: dict[str, dict[str, list[int]]] = {"size": {}, "share": {}, "layout": {}, "background": {}}
    false_scenes = []
    for scene in scene_list:
        _reset(detector)  # each scene is a new source (blazeface-auto: its first frame)
        dets, small = find_faces(detector, scene.image, settings)
        boxes = [d.box for d in dets]
        hit, false = match(scene.faces, boxes, partial=scene.partial)
        found_total += hit
        faces_total += len(scene.faces)
        false_total += false
        small_total += small
        if false:
            false_scenes.append(scene.name)
        for face in scene.faces:
            ok = int(any(iou(face, b) >= 0.3 for b in boxes))
            # share: face width / the frame's longer side, in steps of 2.5 % ("0.100": 8.75-11.25 %)
            share = f"{round(face[2] / max(scene.size) / 0.025) * 0.025:.3f}"
            for group, key in (("size", str(size_bucket(face[2]))), ("share", share),
                               ("layout", scene.layout), ("background", scene.background)):
                cell = by[group].setdefault(key, [0, 0])
                cell[0] += ok
                cell[1] += 1
    return {
        "recall": round(found_total / max(faces_total, 1), 4),
        "found": found_total, "faces": faces_total, "false_boxes": false_total,
        "small_faces_left_out": small_total, "false_box_scenes": false_scenes,
        **{f"recall_by_{group}": {k: round(v[0] / v[1], 4) for k, v in sorted(
            cells.items(), key=lambda kv: (len(kv[0]), kv[0]))} for group, cells in by.items()},
        **{f"faces_by_{group}": {k: v[1] for k, v in cells.items()} for group, cells in by.items()},
    }


def _reset(detector: Any) -> None:
    reset = getattr(detector, "reset", None)
    if reset is not None:
        reset()


def _webcam(scene: Scene) -> bool:
    return scene.size == (640, 480) and len(scene.faces) == 1 and scene.faces[0][2] >= 128


def _group(scene: Scene) -> bool:
    return scene.size == (1000, 667) and scene.layout == "grid" and 64 <= scene.faces[0][2] <= 128


def time_per_frame(detector: Any, scene_list: list[Scene], settings: Any,
                   repeats: int = 3, clip: int = 30) -> dict[str, Any]:
    """Milliseconds per frame. Still: each scene as a new source (median of `repeats` runs),
    mean over all scenes. Video: the webcam-like scenes (640×480, one face of 128 px or more)
    and the group photos (1000×667 grids of 64-128 px faces) each played as a `clip`-frame
    video, mean per frame (a detector with a schedule runs it)."""
    from app.core.pipeline import find_faces

    for scene in scene_list[:3]:  # warm-up
        find_faces(detector, scene.image, settings)
    per_scene = []
    for scene in scene_list:
        runs = []
        for _ in range(repeats):
            _reset(detector)
            t0 = time.perf_counter()
            find_faces(detector, scene.image, settings)
            runs.append((time.perf_counter() - t0) * 1e3)
        per_scene.append((scene, statistics.median(runs)))

    def video(chosen: list[Scene]) -> float:
        times = []
        for scene in chosen:
            _reset(detector)
            t0 = time.perf_counter()
            for _ in range(clip):
                find_faces(detector, scene.image, settings)
            times.append((time.perf_counter() - t0) * 1e3 / clip)
        return round(statistics.fmean(times), 3) if times else float("nan")

    by_size: dict[str, list[float]] = {}
    for s, ms in per_scene:
        by_size.setdefault(f"{s.size[0]}x{s.size[1]}", []).append(ms)
    return {"ms_mean": round(statistics.fmean(ms for _, ms in per_scene), 3),
            "ms_p95": round(float(np.percentile([ms for _, ms in per_scene], 95)), 3),
            "ms_by_frame_size": {k: round(statistics.fmean(v), 3) for k, v in by_size.items()},
            "ms_video_webcam": video([s for s in scene_list if _webcam(s)]),
            "ms_video_group": video([s for s in scene_list if _group(s)]),
            "video_scenes": {"webcam": sum(map(_webcam, scene_list)),
                             "group": sum(map(_group, scene_list)), "frames": clip}}


@contextlib.contextmanager
def paused(pid: int | None) -> Iterator[None]:
    """SIGSTOP `pid` for the block (other load would be timed too), SIGCONT after, always."""
    if pid is None:
        yield
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"name": MACHINE, "cpu": cpu, "logical_cpus": os.cpu_count(),
            "python": platform.python_version(), "system": f"{platform.system()} {platform.release()}"}


def run(media: Path, keys: list[str] | None = None, pause: int | None = None,
        repeats: int = 3, sweep: bool = True, every_nth_scene: int = 1,
        clip: int = 30) -> dict[str, Any]:
    from app.core.settings import PipelineSettings

    settings = PipelineSettings()
    scene_list = list(scenes(media))[::every_nth_scene]
    chosen = [e for e in entries() if keys is None or e.key in keys]
    rows = []
    for entry in chosen:
        det = entry.make(settings.min_face_score)
        try:
            quality = evaluate(det, scene_list, settings)
            with paused(pause):
                speed = time_per_frame(det, scene_list, settings, repeats, clip)
        finally:
            det.close()
        rows.append({"key": entry.key, "label": entry.label, "kind": entry.kind, **quality, **speed})
        print(json.dumps({k: rows[-1][k] for k in ("key", "recall", "false_boxes", "ms_mean",
                                                    "ms_video_webcam", "ms_video_group")}),
              file=sys.stderr)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
        "other_load_paused": pause is not None,
        "settings": {"min_face_score": settings.min_face_score, "min_face_px": settings.min_face_px,
                     "detect_max_side": settings.detect_max_side},
        "default": settings.detector,
        "scenes": len(scene_list), "faces": sum(len(s.faces) for s in scene_list),
        "frame_sizes": sorted({f"{s.size[0]}x{s.size[1]}" for s in scene_list}),
        "rows": rows,
    }
    if sweep:  # the default detector's score threshold: recall against false boxes
        from app.core.detect import create_detector

        result["score_sweep"] = []
        for score in (0.4, 0.5, 0.6, 0.7):
            with create_detector(settings.detector, min_score=score) as det:
                q = evaluate(det, scene_list, settings.with_overrides(min_face_score=score))
            result["score_sweep"].append({"min_face_score": score, "recall": q["recall"],
                                          "false_boxes": q["false_boxes"]})
    return result


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def render(result: dict[str, Any]) -> str:
    sizes = [str(s) for s in FACE_SIZES]
    head = ("| detector | | recall | " + " | ".join(f"{s} px" for s in sizes)
            + " | false boxes | ms/frame, still | ms/frame, webcam video | ms/frame, group video |")
    m = result["machine"]
    load = ("the background training run stopped (--pause) while timing" if result.get("other_load_paused")
            else "other load running")
    lines = [
        f"Measured {result['date']} on a **{m['name']}** ({m['cpu']}, {m['logical_cpus']} logical "
        f"CPUs), one thread, {load}: "
        f"{result['scenes']} scenes with "
        f"{result['faces']} faces ({', '.join(result['frame_sizes'])}) built from the sample "
        "photos by `python -m benchmarks.detectors` (results in "
        "`benchmarks/results/detectors.json`). Default settings: minimum face score "
        f"{result['settings']['min_face_score']}, faces under {result['settings']['min_face_px']} "
        "px left out. Recall by face width in frame pixels. Time is detection as the pipeline "
        "runs it (frame reduction included): *still*, each scene as a new source (an image, a "
        "video's first frame), mean over all scenes; *video*, a scene played as a 30-frame video: "
        "the 640×480 ones with one face of 128 px or more (a webcam) and the 1000×667 group "
        "photos.",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for row in result["rows"]:
        name = f"**{row['key']}** (default)" if row["key"] == result["default"] else (
            f"`{row['key']}`" if row["kind"] == "detector" else f"candidate: {row['key']}")
        cells = [row["recall_by_size"].get(s) for s in sizes]
        lines.append(f"| {name} | {row['label']} | {_pct(row['recall'])} | "
                     + " | ".join("" if c is None else _pct(c) for c in cells)
                     + f" | {row['false_boxes']} | {row['ms_mean']:.1f} | "
                       f"{row['ms_video_webcam']:.1f} | {row['ms_video_group']:.1f} |")
    shares = ["0.025", "0.050", "0.075", "0.100", "0.125", "0.150"]
    if all("recall_by_share" in row for row in result["rows"]):
        head2 = ("| recall by face width / frame's longer side | "
                 + " | ".join(f"{100 * float(x):.1f} %" for x in shares) + " |")
        lines += ["", head2, "|" + "---|" * (len(shares) + 1)]
        for row in result["rows"]:
            lines.append(f"| `{row['key']}` | " + " | ".join(
                _pct(row["recall_by_share"][x]) if x in row["recall_by_share"] else ""
                for x in shares) + " |")
    if result.get("score_sweep"):
        lines += ["", f"`{result['default']}` by minimum face score (`--min-face-score`): "
                  + "; ".join(f"{s['min_face_score']}: recall {_pct(s['recall'])}, "
                              f"{s['false_boxes']} false box{'es' * (s['false_boxes'] != 1)}"
                              for s in result["score_sweep"]) + "."]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    if START not in text or END not in text:
        raise ValueError(f"{START} … {END} not found")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{block}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=None, help="the shared media folder")
    ap.add_argument("--only", nargs="+", default=None, metavar="KEY", help="these rows only")
    ap.add_argument("--pause", type=int, default=None, metavar="PID",
                    help="SIGSTOP this process while timing (SIGCONT after, always)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--readme", type=Path, default=None, help="replace the table in this README")
    ap.add_argument("--from-json", action="store_true",
                    help="render the README table from the results JSON without measuring")
    args = ap.parse_args(argv)
    out = RESULTS / "detectors.json"
    if args.from_json:
        result = json.loads(out.read_text(encoding="utf-8"))
    else:
        result = run(args.media or shared_dir() / "media", args.only, args.pause, args.repeats)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    table = render(result)
    if args.readme:
        args.readme.write_text(replace_block(args.readme.read_text(encoding="utf-8"), table),
                               encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
