"""Emotion Lens vs the `fer` package, side by side on one video, in one run.

    uv run python -m benchmarks.compare_fer VIDEO --fer-python /tmp/fervenv/bin/python \
        [-- --model DIR --detector ...]

Runs `emotion-lens bench VIDEO --json` and `fer` (its defaults: Haar cascade + mini-XCEPTION,
`benchmarks/fer_reference.py` in its own environment, see `setup_fer_venv.sh`) alternately,
`--rounds` times each, so both see the same machine load, and prints one JSON object with both
medians and the ratio of frames/s. Exit status 1 when the ratio is under `--target` (5).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.bench import loadavg, run_fer
from benchmarks.run import RESULTS, ROOT


def run_ours(video: Path, frames: int | None, extra: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "app.cli", "bench", str(video), "--json", *extra]
    if frames:
        cmd += ["--frames", str(frames)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"emotion-lens bench failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", type=Path)
    p.add_argument("--fer-python", default=os.environ.get("FER_PYTHON"), required=False)
    p.add_argument("--frames", type=int, default=None, help="default: the whole video once")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--target", type=float, default=5.0)
    args, bench_args = p.parse_known_args(argv)  # the rest goes to `emotion-lens bench`
    args.bench_args = [a for a in bench_args if a != "--"]
    if not args.fer_python:
        p.error("--fer-python (or FER_PYTHON) must name an interpreter that has `fer`")
    from app.core.sources import open_source

    source = open_source(args.video)
    frames = args.frames or source.frame_count or 100
    source.close()
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(run_ours(args.video, frames, args.bench_args))
        fer = run_fer(args.fer_python, args.video, frames, timeout=900)
        if isinstance(fer, str):
            raise SystemExit(fer)
        theirs.append(fer)
    ours_fps = statistics.median(r["fps"] for r in ours)
    fer_fps = statistics.median(r["fps"] for r in theirs)
    result = {
        "video": str(args.video), "frames": frames, "rounds": args.rounds,
        "emotion_lens": {"fps": ours_fps, "runs_fps": [r["fps"] for r in ours],
                         "p95_ms": statistics.median(r["p95_ms"] for r in ours),
                         "faces_per_frame": ours[0]["faces_per_frame_mean"],
                         "model": ours[0]["model"], "backend": ours[0]["backend"],
                         "detector": ours[0]["detector"]},
        "fer": {"fps": fer_fps, "runs_fps": [r["fps"] for r in theirs],
                "p95_ms": statistics.median(r["p95_ms"] for r in theirs),
                "faces_per_frame": theirs[0]["faces_per_frame_mean"],
                "version": theirs[0]["fer_version"]},
        "ratio": round(ours_fps / fer_fps, 2) if fer_fps else None,
        "target": args.target,
        "loadavg": loadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compare_fer.json").write_text(json.dumps(result, indent=1) + "\n",
                                              encoding="utf-8")
    print(json.dumps(result))
    return 0 if result["ratio"] and result["ratio"] >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
