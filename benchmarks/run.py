"""The benchmark matrix behind the README's performance table.

    uv run python -m benchmarks.run [--all] [--fer-python /tmp/fervenv/bin/python] [--readme README.md]

Each row runs `emotion-lens bench` (through `app.bench.bench`) in a fresh interpreter, so peak RSS
and start-up are per configuration. Every row uses the app's default detector
(`app.core.settings.DEFAULT_DETECTOR`, `blazeface-auto`: BlazeFace short range on LiteRT plus a
full-range pass when faces are small or missing) unless its label names another. Rows:

- models (int8, one face): default (with detection ahead, decoding ahead only, one thread),
  ResNet50-iPPM, best (`--best`, else the most accurate trained bundle in models/, e.g. the
  ensemble in models/best; skipped when that is the default);
- detectors against the default (default model, int8): `blazeface` (short range only, LiteRT),
  `mediapipe` (MediaPipe Tasks, the former default: the same faces as `blazeface`), `opencv`;
- backends: LiteRT int8 vs float vs Keras (default model);
- faces: one vs four (the portrait tiled 2×2), four with decoding ahead only (the desktop app's
  way) also with MediaPipe Tasks for comparison;
- the `fer` package on the same video, when `--fer-python` names an interpreter that has it
  (see `setup_fer_venv.sh`).

A missing bundle is skipped with a note, except that the default and ResNet50-iPPM rows fall back
to the architecture with untrained weights (`benchmarks.untrained`): the classifier's cost
depends on the architecture, not on the weights, and the table says so. Writes
`benchmarks/results/matrix.json` and the markdown section (`--section`), and replaces the block
between `<!-- bench:start -->` and `<!-- bench:end -->` in `--readme` when given.
`--render-only` writes them again from the saved results, each row filled from the saved row of
the same configuration (model, detector, backend, input, tiling, ahead), whatever its label was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.bench import run_fer
from app.core.settings import DEFAULT_DETECTOR

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RESNET_CONFIG = ROOT / "training" / "configs" / "resnet50_ippm.toml"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emotion-lens-bench"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
FER_TARGET = 10  # the target: ≥ 10× the frames/s of the `fer` package, same video and run
# the saved results (--render-only) hold no row of this configuration
NOT_MEASURED = "not measured yet (no saved result for this configuration): rerun the matrix"


def shared_dir() -> Path:
    env = os.environ.get("EMOTION_LENS_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


@dataclass
class Row:
    group: str
    label: str
    input: Path
    model: Path | None = None
    detector: str = DEFAULT_DETECTOR
    backend: str = "int8"
    tile: int = 1
    ahead: str = "detect"  # app.bench.AHEAD_MODES: what runs ahead of the measuring thread
    role: str = "default"  # which bundle: "default", "resnet" or "best" (build_rows resolves it)
    model_name: str = ""  # the bundle's name from its model.json, shown also when skipped
    note: str = ""
    result: dict[str, Any] | None = None
    skipped: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _bundle_info(path: Path) -> tuple[str, list[str]]:
    """The bundle's name (model.json) and the model file kinds it has."""
    from app.core.bundle import load_bundle

    bundle = load_bundle(path)
    return bundle.name, bundle.available_kinds


def resolve_bundle(path: Path | None, arch: str | None,
                   config: Path | None = None) -> tuple[Path | None, str]:
    """A trained bundle when there is one; else `arch` (as training `config` builds it) with
    untrained weights (exported once and cached); else None. Returns (path, note)."""
    if path is not None and (path / "model.json").is_file():
        return path, ""
    if arch is None:
        return None, f"no bundle at {_shown(path)}"
    key = arch
    if config is not None:
        key += "-" + hashlib.sha256(config.read_bytes()).hexdigest()[:12]
    out = CACHE / "untrained" / key
    if not (out / "model.json").is_file():
        print(f"exporting {arch} with untrained weights to {out} (timing stand-in) ...",
              file=sys.stderr)
        cmd = [sys.executable, "-m", "benchmarks.untrained", arch, str(out)]
        done = subprocess.run(cmd + (["--config", str(config)] if config else []),
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["?"]
            return None, f"no trained bundle, and exporting {arch} failed: {tail[0][:160]}"
    return out, "untrained weights: timing only"


def _shown(path: Path) -> str:
    """`path` relative to the project when inside it (the README names no local folders)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def describe_bundle(bundle: Any) -> str:
    """What the best row's bundle is, beyond the name in model.json: an ensemble
    (`training.ensemble`, provenance.architecture "ensemble") runs each member on every face, and
    each twice with flip test-time augmentation; "" for a single model."""
    prov = bundle.provenance
    if prov.get("architecture") != "ensemble":
        return ""
    members = prov.get("members") or []
    flip = bool((prov.get("test_time") or {}).get("flip"))
    passes = len(members) * (2 if flip else 1)
    what = f"ensemble of {len(members)} bundles" if len(members) != 1 else "one bundle"
    return (what + (", flip test-time augmentation" if flip else "")
            + f": {passes} member pass{'es' if passes != 1 else ''} per face")


def best_bundle(path: Path | None, default: Path | None,
                bundles: list[tuple[Path, Any, str]] | None = None) -> tuple[Path | None, str]:
    """The "best" row's bundle: `path` when it is one, else the trained bundle with the highest
    val accuracy among `bundles` (`app.core.bundle.find_bundles`' list; default: those in models/,
    an ensemble such as models/best included). When that is the default model, the row is skipped
    and says so."""
    from app.core.bundle import find_bundles, load_bundle

    if path is not None and (path / "model.json").is_file():
        return path, describe_bundle(load_bundle(path))
    scored = [(float(bundle.metrics["accuracy"]), str(folder), folder, bundle)
              for folder, bundle, _ in (find_bundles([]) if bundles is None else bundles)
              if bundle is not None and isinstance(bundle.metrics.get("accuracy"), int | float)]
    if not scored:
        return None, "no trained bundle in models/"
    accuracy, _, folder, bundle = max(scored, key=lambda s: s[:2])
    if default is not None and folder.resolve() == default.resolve():
        return None, (f"the most accurate trained bundle in models/ is the default "
                      f"({_shown(folder)}, val accuracy {accuracy:.1%}): see its rows")
    int8 = bundle.metrics.get("int8_accuracy")
    scores = f"val accuracy {accuracy:.1%}" + (f", int8 {int8:.1%}"
                                               if isinstance(int8, int | float) else "")
    what = describe_bundle(bundle)
    return folder, (f"most accurate trained bundle in models/ ({_shown(folder)}, {scores})"
                    + (f"; {what}" if what else ""))


def _busy_cpu_s() -> float:
    """CPU seconds all processes of the machine have used (idle and I/O wait excluded)."""
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq"))


def _children_cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_one(row: Row, frames: int, timeout: float) -> None:
    spec = {"input": str(row.input), "model": str(row.model) if row.model else None,
            "detector": row.detector, "backend": row.backend, "tile": row.tile, "frames": frames,
            "ahead": row.ahead}
    t0 = time.perf_counter()
    busy0, ours0 = _busy_cpu_s(), _children_cpu_s()
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--one", json.dumps(spec)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    row.extra["process_s"] = round(wall, 2)
    # what the rest of the machine used meanwhile, in CPUs (the load average counts this row too)
    others = (_busy_cpu_s() - busy0) - (_children_cpu_s() - ours0)
    row.extra["other_cpus"] = round(max(0.0, others) / wall, 2) if wall > 0 else 0.0
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()] or ["?"]
        row.skipped = f"failed: {lines[-1][:200]}"
        return
    row.result = json.loads(done.stdout.strip().splitlines()[-1])


def one(spec_json: str) -> int:
    """Child process: one bench run, one JSON line on stdout."""
    from app.bench import bench
    from app.core.settings import PipelineSettings

    spec = json.loads(spec_json)
    settings = PipelineSettings(detector=spec["detector"], backend=spec["backend"])
    report = bench(spec["input"], settings, model=spec["model"], frames=spec["frames"],
                   tile=spec["tile"], ahead=spec["ahead"])
    print(json.dumps(report))
    return 0


def machine_description() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "python": platform.python_version(),
                            "os": f"{platform.system()} {platform.release()}"}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L3 cache",
                               "Hypervisor vendor", "CPU family", "Model"):
                info[key.strip()] = value.strip()
            if key.strip() == "Flags":
                flags = set(value.split())
                info["simd"] = ", ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni",
                                                     "avx_vnni") if f in flags)
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info


def plan_rows(video: Path, image: Path) -> list[Row]:
    """The matrix's rows, as configurations: which bundle (`role`), detector, backend, input,
    tiling and what runs ahead; no bundle resolved, nothing run."""
    def row(group: str, label: str, inp: Path = video, role: str = "default", **kw: Any) -> Row:
        return Row(group, label, inp, role=role, **kw)

    return [
        row("model", "default"),
        row("model", "default, decoding ahead only (as the desktop app)", ahead="decode"),
        row("model", "default, everything on one thread", ahead="none"),
        row("model", "ResNet50-iPPM", role="resnet"),
        row("model", "best", role="best"),
        row("detector", "BlazeFace short range only, LiteRT (`blazeface`)", detector="blazeface"),
        row("detector", "MediaPipe Tasks (`mediapipe`, the former default: same faces as "
            "`blazeface`)", detector="mediapipe"),
        row("detector", "OpenCV Haar (`opencv`)", detector="opencv"),
        *(row("backend", backend, backend=backend) for backend in ("float16", "float32", "keras")),
        row("backend", "ResNet50-iPPM float32", role="resnet", backend="float32"),
        row("faces", "1 face (portrait)", image),
        row("faces", "4 faces (portrait 2×2)", image, tile=2),
        row("faces", "4 faces, decoding ahead only (as the desktop app)", image, tile=2,
            ahead="decode"),
        row("faces", "4 faces, everything on one thread", image, tile=2, ahead="none"),
        row("faces", "4 faces, MediaPipe Tasks (`mediapipe`), decoding ahead only", image, tile=2,
            detector="mediapipe", ahead="decode"),
    ]


def row_key(role: str, detector: str, backend: str, input_name: str, tile: int,
            ahead: str) -> tuple[str, str, str, str, int, str]:
    """What a row measures; --render-only fills each row from the saved row with the same key."""
    return role, detector, backend, input_name, tile, ahead


def build_rows(args: argparse.Namespace) -> list[Row]:
    media = shared_dir() / "media"
    video = args.video or media / "street_phone.mp4"
    image = args.image or media / "single_face.jpg"
    default, note = resolve_bundle(args.default, "vgg_small")
    resnet, resnet_note = resolve_bundle(args.resnet, "resnet50_ippm", RESNET_CONFIG)
    best, best_note = best_bundle(args.best, default)
    bundles = {"default": (default, note), "resnet": (resnet, resnet_note),
               "best": (best, best_note)}
    rows = plan_rows(video, image)
    for row in rows:
        row.model, bundle_note = bundles[row.role]
        if row.model is None:
            row.skipped = bundle_note or "no bundle"
        else:
            row.model_name, kinds = _bundle_info(row.model)
            if row.backend != "auto" and row.backend not in kinds:
                row.skipped = f"bundle has no {row.backend} file"
        row.note = "; ".join(n for n in (row.note, bundle_note) if n)
    return rows


def fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def render_section(rows: list[Row], fer: dict[str, Any] | str | None, machine: dict[str, Any],
                   meta: dict[str, Any]) -> str:
    lines = [START, "## Performance", ""]
    cpu = machine.get("Model name", "?")
    lines.append(f"Measured {meta['date']} on **{cpu}, {machine.get('nproc')} logical CPUs**"
                 f" (family {machine.get('CPU family', '?')} model {machine.get('Model', '?')}, "
                 f"SIMD: {machine.get('simd', '?')}; "
                 f"{machine.get('Hypervisor vendor', 'bare metal')} VM, "
                 f"{machine.get('memory_gb', '?')} GB RAM, {machine.get('os')}, Python "
                 f"{machine.get('python')}), headless, {meta['frames']} frames per row after 5 "
                 f"warm-up frames. Load average (1 min) during the run: {meta['load']} (it counts the "
                 f"benchmark itself, which keeps both CPUs busy).")
    lines += ["", "Frames/s are end to end: decode → detect → align → classify → track → "
              "overlay drawing. As `annotate` runs (column *ahead*: detect), frames are decoded "
              "on one thread and their faces detected on another while the measuring thread "
              "does the rest for the frames before them; *decode*: only decoding runs ahead, "
              "as in the desktop app (its capture thread); *none*: one thread. Latency p50/p95 "
              "runs from a frame's detection starting to its overlay drawn, time queued between "
              "the stages included. CPU ms/frame counts every thread.", "",
              f"Every row uses the app's default detector, `{DEFAULT_DETECTOR}` (BlazeFace short "
              f"range on LiteRT, plus BlazeFace full range when short range finds no face or only "
              f"small ones, on each source's first frame, every 30th frame, and while full range "
              f"finds faces that short range misses: see \"Face detection\"), unless its label "
              f"names another; the *detector* rows compare it with short range alone, MediaPipe "
              f"Tasks (the former default) and OpenCV.", ""]
    others = meta.get("other_cpus_max")
    if others is not None:
        lines += [f"Other processes' CPU use while a row ran (all CPU time of the machine minus "
                  f"the row's own): at most {others:.2f} CPUs, mean {meta['other_cpus_mean']:.2f}.",
                  ""]
        if others > 0.25:
            lines += [f"**The machine was shared with other jobs during this run** (up to "
                      f"{others:.1f} of {machine.get('nproc')} CPUs busy with other work): the "
                      f"frames/s are lower bounds of what an idle machine gives.", ""]
    lines.append("| row | model | backend | detector | ahead | input | faces/frame | frames/s | "
                 "faces/s | p50 ms | p95 ms | CPU ms/frame | peak RSS MB | note |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    default = _row(rows, "model", "default")
    default_fps = default["fps"] if default else None
    for row in rows:
        r = row.result
        name = f"{row.group}: {row.label}"
        inp = row.input.name + (f" tiled {row.tile}×{row.tile}" if row.tile > 1 else "")
        if r is None:
            why = row.skipped if row.skipped == NOT_MEASURED else f"skipped: {row.skipped}"
            lines.append(f"| {name} | {row.model_name} | {row.backend} | {row.detector} | "
                         f"{row.ahead} | {inp} | | | | | | | | {why} |")
            continue
        note = row.note
        if row.role == "best" and default is not None:
            per_face = classify_ms_per_face(r)
            ref = classify_ms_per_face(default)
            if per_face is not None and ref:
                note = "; ".join(n for n in (note, f"classify {per_face:.2f} ms per face, "
                                             f"{per_face / ref:.1f}× the default model's") if n)
        lines.append(
            f"| {name} | {r['model']} | {r['backend']} | {r['detector']} | {r['ahead']} | {inp} "
            f"({r['frame_size'][0]}×{r['frame_size'][1]}) | {r['faces_per_frame_mean']:.2f} | "
            f"**{r['fps']:.0f}** | {r['faces_per_s']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p95_ms']:.2f} | {r['cpu_ms_per_frame']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{note} |")
    if isinstance(fer, dict):
        lines.append(
            f"| reference: `fer` {fer['fer_version']} (Haar + mini-XCEPTION, its defaults) | "
            f"mini-XCEPTION | TFLite (TF {fer.get('tf', '')}) | Haar | none | "
            f"{Path(meta['video']).name} | {fer['faces_per_frame_mean']:.2f} | "
            f"**{fer['fps']:.0f}** | {fer['faces_per_s']:.0f} | {fer['p50_ms']:.2f} | "
            f"{fer['p95_ms']:.2f} | {fer['cpu_ms_per_frame']:.2f} | {fer['peak_rss_mb']:.0f} | "
            f"separate venv; no overlay drawing |")
    lines.append("")
    if isinstance(fer, dict) and default_fps:
        lines.append(f"Default pipeline vs the `fer` package on the same video in the same run: "
                     f"**{default_fps / fer['fps']:.1f}×** the frames/s.")
        lines.append("")
    elif isinstance(fer, str):
        lines += [f"`fer` reference: {fer}", ""]
    default_row = next((r for r in rows if r.group == "model" and r.label == "default"
                        and r.result), None)
    if default_row is not None and default_row.result is not None:
        lines += ["Per-stage time of the default row (ms). Its stages overlap: detect runs on its "
                  "own thread, and decode is the time the measuring thread waited for its next "
                  "frame, detected:", "",
                  "| stage | mean | p50 | p95 |", "|---|---|---|---|"]
        for stage, s in default_row.result["stages"].items():
            lines.append(f"| {stage} | {s['mean']:.3f} | {s['p50']:.3f} | {s['p95']:.3f} |")
        lines.append("")
    for extra in meta.get("extras", []):
        lines += [extra, ""]
    lines += targets(rows, fer)
    notes = ROOT / "benchmarks" / "notes.md"
    if notes.is_file():
        lines += [notes.read_text(encoding="utf-8").strip(), ""]
    lines += ["Rerun everything (about 10 minutes on this machine; the `fer` rows need their own "
              "environment, made once with `bash benchmarks/setup_fer_venv.sh`):", "", "```",
              "uv run python -m benchmarks.run --all --fer-python /tmp/fervenv/bin/python "
              "--readme README.md", "```", "",
              "One configuration: `uv run emotion-lens bench VIDEO [--model DIR] [--detector ...] "
              "[--backend ...] [--frames N] [--json]`.", END]
    return "\n".join(lines) + "\n"


def _row(rows: list[Row], group: str, label: str) -> dict[str, Any] | None:
    return next((r.result for r in rows if r.group == group and r.label == label), None)


def classify_ms_per_face(result: dict[str, Any]) -> float | None:
    """The classify stage's mean time per face of a bench result (None without faces)."""
    faces = result.get("faces_per_frame_mean") or 0
    stage = result.get("stages", {}).get("classify")
    return stage["mean"] / faces if stage and faces > 0 else None


def targets(rows: list[Row], fer: dict[str, Any] | str | None) -> list[str]:
    """The issue's targets against this run's figures (a ✓ only where measured and met)."""
    def mark(ok: bool | None) -> str:
        return "–" if ok is None else ("✓" if ok else "✗")

    default = _row(rows, "model", "default")
    resnet = _row(rows, "model", "ResNet50-iPPM")
    four = _row(rows, "faces", "4 faces, decoding ahead only (as the desktop app)")
    out = ["| target | measured | |", "|---|---|---|"]
    fps = default["fps"] if default else None
    out.append(f"| default model and detector (`{DEFAULT_DETECTOR}`), one face, street_phone.mp4: "
               f"≥ 200 frames/s | {fmt(fps, 0)} | {mark(None if fps is None else fps >= 200)} |")
    rfps = resnet["fps"] if resnet else None
    out.append(f"| ResNet50-iPPM int8: ≥ 120 frames/s | {fmt(rfps, 0)} | "
               f"{mark(None if rfps is None else rfps >= 120)} |")
    text = "– | –"
    if four:
        ok = four["fps"] >= 30 and four["p95_ms"] <= 15
        text = f"{four['fps']:.0f} frames/s, p95 {four['p95_ms']:.1f} ms | {mark(ok)}"
    out.append(f"| 4 faces, decoding ahead only: ≥ 30 frames/s, p95 ≤ 15 ms (headless stand-in "
               f"for the GUI path) | {text} |")
    if (s := side_result("startup")) is not None:
        t = s["first_frame_s"]["median"]
        out.append(f"| first overlaid frame ≤ 3 s, int8 path without TensorFlow | {t:.2f} s, "
                   f"TensorFlow {'imported' if s['tensorflow_imported'] else 'not imported'} | "
                   f"{mark(t <= 3 and not s['tensorflow_imported'])} |")
    if (gui := side_result("gui_latency")) is not None:
        for g in gui_runs(gui)[0]:  # the controls are not the app: shown in the extras
            ok = g["painted_fps"] >= 29 and g["latency_p95_ms"] <= 15
            out.append(f"| GUI, 4 faces at 30 FPS ({g['detector']}): sustains 30 FPS, read → painted "
                       f"p95 ≤ 15 ms | {g['painted_fps']:.1f} FPS painted, p50 {g['latency_p50_ms']:.1f} "
                       f"ms, p95 {g['latency_p95_ms']:.1f} ms | {mark(ok)} |")
    if (s := side_result("soak")) is not None:
        out.append(f"| RSS growth ≤ 20 MB over {s['frames']:,} frames | "
                   f"{s['rss_growth_mb']:+.1f} MB | {mark(s['rss_growth_mb'] <= 20)} |")
    ratio = fps / fer["fps"] if isinstance(fer, dict) and fps and fer.get("fps") else None
    out.append(f"| ≥ {FER_TARGET}× the frames/s of `fer` (same video, same run) | "
               f"{'–' if ratio is None else f'{ratio:.1f}×'} | "
               f"{mark(None if ratio is None else ratio >= FER_TARGET)} |")
    return ["Targets:", "", *out, ""]


def side_result(name: str) -> dict[str, Any] | None:
    """benchmarks/results/NAME.json, written by a side benchmark; None when it was not run."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def gui_runs(side: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """gui_latency's runs split into the app's own and the `--control` ones (vCPUs kept awake)."""
    runs = side["runs"]
    return ([g for g in runs if not g.get("control")], [g for g in runs if g.get("control")])


def gui_stage_table(run: dict[str, Any], control: dict[str, Any] | None) -> str:
    """Where the GUI run's read → painted time goes (app/ui/latency.py), stage by stage: median,
    p95 and the mean over the slowest 5 % of frames, with the control's tail beside it. "" for
    a result written before the stages were measured."""
    stages = run.get("stages_ms")
    if not stages:
        return ""
    cstages = (control or {}).get("stages_ms") or {}
    head = ["stage", "p50", "p95", "slowest 5 %: mean"]
    if cstages:
        head.append("slowest 5 %, vCPUs awake")
    lines = [f"Where the GUI path's time goes ({run['detector']}, ms; app/ui/latency.py: the "
             f"stages of one frame add up to its total, so the column of the slowest frames "
             f"shows what the p95 is made of):", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for stage, v in stages.items():
        cells = [stage, f"{v['p50']:.2f}", f"{v['p95']:.2f}", f"{v['tail_mean']:.2f}"]
        if cstages:
            cells.append(f"{cstages[stage]['tail_mean']:.2f}" if stage in cstages else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def extras_from_files() -> list[str]:
    """Start-up and soak lines from their own result files, when those benchmarks were run."""
    out = []
    if (s := side_result("startup")) is not None:
        out.append(f"Start-up (`python -m benchmarks.startup`): launch → first overlaid frame "
                   f"{s['first_frame_s']['median']:.2f} s median of {s['runs']} fresh "
                   f"interpreters (int8 path, TensorFlow imported: "
                   f"{'yes' if s['tensorflow_imported'] else 'no'}).")
    if (s := side_result("soak")) is not None:
        out.append(f"Soak (`python -m benchmarks.soak`): {s['frames']} frames (video looped), RSS "
                   f"{s['rss_mb_start']:.0f} → {s['rss_mb_end']:.0f} MB (growth "
                   f"{s['rss_growth_mb']:+.1f} MB after warm-up, max {s['rss_mb_max']:.0f}), "
                   f"threads {s['threads_start']} → {s['threads_end']}.")
    if (side := side_result("gui_latency")) is not None:
        runs, controls = gui_runs(side)
        parts = [f"{g['detector']}: {g['painted_fps']:.1f} FPS painted, read → painted p50 "
                 f"{g['latency_p50_ms']:.1f} ms, p95 {g['latency_p95_ms']:.1f} ms, "
                 f"{g['dropped_frames']} frames dropped, process CPU {g['cpu_percent']:.0f} %"
                 for g in runs]
        when = ""  # a GUI run made on another day or machine than the table says so
        if side.get("date") and side.get("machine"):
            when = f", measured {side['date']} on {side['machine']['cpu']}"
        out.append(f"GUI path (`python -m benchmarks.gui_latency`: the real window, Qt "
                   f"{runs[0]['platform']}, plays the sample portrait tiled 2×2 — 4 faces — at 30 FPS "
                   f"in real time for {runs[0]['seconds']:.0f} s{when}): " + "; ".join(parts) + ".")
        if controls:
            cparts = [f"{g['detector']}: p50 {g['latency_p50_ms']:.1f} ms, p95 "
                      f"{g['latency_p95_ms']:.1f} ms, {g['painted_fps']:.1f} FPS painted"
                      for g in controls]
            out.append(f"The same with the vCPUs kept awake (`--control`: {controls[0]['control']}, "
                       f"which run only when nothing else wants a CPU; a control, not what the app "
                       f"does): " + "; ".join(cparts) + ".")
        if (table := gui_stage_table(runs[0], controls[0] if controls else None)):
            out.append(table)
    if (s := side_result("detect_every")) is not None:
        parts = [f"k={r['k']}: box IoU {r['box_iou_mean']:.3f} (p5 {r['box_iou_p5']:.3f}), labels "
                 f"agree {r['label_agreement']:.1%}, CPU {r['cpu_ms_per_frame_k1']:.2f} → "
                 f"{r['cpu_ms_per_frame']:.2f} ms/frame" for r in s["rows"]]
        out.append(f"Detect every k-th frame (`detect_every`, off by default; "
                   f"`python -m benchmarks.detect_every`, model {s['model']}, vs k=1 on "
                   f"{Path(s['input']).name}): " + "; ".join(parts) + ".")
    if (s := side_result("compare_fer")) is not None:
        out.append(f"`python -m benchmarks.compare_fer {Path(s['video']).name}` ({s['rounds']} "
                   f"alternating rounds, medians): Emotion Lens "
                   f"({s['emotion_lens'].get('detector', '?')}) {s['emotion_lens']['fps']:.0f} "
                   f"frames/s vs `fer` {s['fer']['version']} {s['fer']['fps']:.1f} frames/s: "
                   f"**{s['ratio']:.1f}×**.")
    return out


def run_side_benchmarks(args: argparse.Namespace) -> None:
    """startup, soak, detect_every (trained default model only) and compare_fer (with
    --fer-python), each in its own interpreter; they write their results/*.json."""
    default, note = resolve_bundle(args.default, "vgg_small")
    model = ["--model", str(default)] if default else []
    video = str(args.video or shared_dir() / "media" / "street_phone.mp4")
    jobs = [["benchmarks.startup", "--runs", "3", *model],
            ["benchmarks.soak", *model, "--detector", DEFAULT_DETECTOR],
            # the app's default detector, and MediaPipe Tasks (the former default) to compare
            ["benchmarks.gui_latency", *model, "--detector", DEFAULT_DETECTOR, "mediapipe",
             "--control", "--json", str(RESULTS / "gui_latency.json")]]
    if default is not None and not note:
        jobs.append(["benchmarks.detect_every", *model])
    if args.fer_python:
        jobs.append(["benchmarks.compare_fer", video, "--fer-python", args.fer_python,
                     "--target", str(FER_TARGET), "--", *model])
    for job in jobs:
        print(f"run   {' '.join(job)}", file=sys.stderr)
        done = subprocess.run([sys.executable, "-m", *job], cwd=ROOT, capture_output=True,
                              text=True, timeout=1800)
        tail = (done.stdout.strip().splitlines() or ["?"])[-1]
        print(f"      rc={done.returncode} {tail[:300]}", file=sys.stderr)


def replace_block(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def _legacy_role(label: str) -> str:
    """The bundle of a row saved before rows recorded it (matrix.json of 2026-11-21)."""
    return "best" if label == "best" else "resnet" if "ResNet50" in label else "default"


def saved_rows(saved: dict[str, Any], video: Path, image: Path) -> list[Row]:
    """Today's rows (`plan_rows`), each with the result, note and skip reason of the saved row
    that measured the same configuration; rows the saved run had no such row for are marked
    NOT_MEASURED. Saved rows of configurations no longer in the matrix are left out."""
    by_key: dict[tuple[str, str, str, str, int, str], dict[str, Any]] = {}
    for r in saved["rows"]:
        role = r.get("role") or _legacy_role(r["label"])
        key = row_key(role, r["detector"], r["backend"], Path(r["input"]).name, r["tile"],
                      r["ahead"])
        by_key.setdefault(key, r)
    rows = plan_rows(video, image)
    for row in rows:
        r = by_key.get(row_key(row.role, row.detector, row.backend, row.input.name, row.tile,
                               row.ahead))
        if r is None:
            row.skipped = NOT_MEASURED
            continue
        row.input = Path(r["input"])
        row.note, row.result, row.skipped = r["note"], r["result"], r["skipped"]
        row.model_name = r.get("model_name", "")
    return rows


def render_saved(args: argparse.Namespace) -> int:
    saved = json.loads((RESULTS / "matrix.json").read_text(encoding="utf-8"))
    media = shared_dir() / "media"
    video = Path(saved["meta"].get("video") or args.video or media / "street_phone.mp4")
    rows = saved_rows(saved, video, args.image or media / "single_face.jpg")
    meta = {**saved["meta"], "extras": extras_from_files()}
    section = render_section(rows, saved["fer"], saved["machine"], meta)
    args.section.write_text(section, encoding="utf-8")
    if args.readme:
        replace_block(args.readme, section)
    print(section)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--video", type=Path, default=None, help="default: media/street_phone.mp4")
    p.add_argument("--image", type=Path, default=None, help="default: media/single_face.jpg")
    p.add_argument("--frames", type=int, default=345, help="frames per row (default 345)")
    p.add_argument("--default", type=Path, default=ROOT / "models" / "default")
    p.add_argument("--resnet", type=Path, default=ROOT / "models" / "resnet50_ippm",
                   help="ResNet50-iPPM bundle")
    p.add_argument("--best", type=Path, default=None,
                   help="the best row's bundle (default: the most accurate trained bundle in models/)")
    p.add_argument("--fer-python", default=os.environ.get("FER_PYTHON"),
                   help="an interpreter with the `fer` package (benchmarks/setup_fer_venv.sh)")
    p.add_argument("--all", action="store_true",
                   help="first run startup, soak (10,000 frames), detect_every and compare_fer")
    p.add_argument("--render-only", action="store_true",
                   help="only write the section again from benchmarks/results/*.json")
    p.add_argument("--only", default=None, help="comma-separated groups: model,detector,...")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--section", type=Path, default=ROOT / "benchmarks" / "README_SECTION.md")
    p.add_argument("--readme", type=Path, default=None, help="also update this README's block")
    args = p.parse_args(argv)
    if args.one:
        return one(args.one)

    if args.render_only:
        return render_saved(args)
    if args.all:
        run_side_benchmarks(args)
    rows = build_rows(args)
    if args.only:
        keep = set(args.only.split(","))
        rows = [r for r in rows if r.group in keep]
    loads: list[float] = []
    for row in rows:
        if row.skipped:
            print(f"skip  {row.group}: {row.label}: {row.skipped}", file=sys.stderr)
            continue
        loads.append(os.getloadavg()[0])
        run_one(row, args.frames, args.timeout)
        r = row.result
        print(f"{'ok' if r else 'FAIL':<5} {row.group}: {row.label}: "
              + (f"{r['fps']:.1f} frames/s, {r['faces_per_frame_mean']:.2f} faces/frame, p95 "
                 f"{r['p95_ms']:.2f} ms, load {r['loadavg']}" if r else row.skipped),
              file=sys.stderr)
    video = args.video or shared_dir() / "media" / "street_phone.mp4"
    fer: dict[str, Any] | str | None = None
    if args.fer_python:
        loads.append(os.getloadavg()[0])
        fer = run_fer(args.fer_python, video, args.frames, args.timeout)
        print(f"fer   {fer if isinstance(fer, str) else str(fer['fps']) + ' frames/s'}",
              file=sys.stderr)
    loads.append(os.getloadavg()[0])
    machine = machine_description()
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "frames": args.frames,
            "load": f"{min(loads):.2f}–{max(loads):.2f}" if loads else "?", "video": str(video),
            "extras": extras_from_files()}
    others = [r.extra["other_cpus"] for r in rows if "other_cpus" in r.extra]
    if others:
        meta["other_cpus_max"] = max(others)
        meta["other_cpus_mean"] = round(sum(others) / len(others), 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "matrix.json").write_text(json.dumps({
        "meta": meta, "machine": machine, "fer": fer,
        "rows": [{"group": r.group, "label": r.label, "role": r.role,
                  "model": str(r.model) if r.model else None, "model_name": r.model_name,
                  "input": str(r.input), "tile": r.tile, "ahead": r.ahead,
                  "detector": r.detector, "backend": r.backend, "note": r.note,
                  "skipped": r.skipped, "result": r.result} for r in rows]},
        indent=1) + "\n", encoding="utf-8")
    section = render_section(rows, fer, machine, meta)
    args.section.write_text(section, encoding="utf-8")
    if args.readme:
        replace_block(args.readme, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
