"""Soak: loop a video through the pipeline (with overlay drawing) for 10,000 frames, sampling RSS
and the thread count, and report the growth after warm-up.

    uv run python -m benchmarks.soak [--frames 10000] [--model DIR] [--input VIDEO]

Writes benchmarks/results/soak.json (the samples too). Target: RSS growth ≤ 20 MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psutil

from benchmarks.run import RESULTS, shared_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--warmup", type=int, default=500, help="frames before the baseline sample")
    p.add_argument("--every", type=int, default=250, help="sample every N frames")
    p.add_argument("--model", type=Path, default=None, help="default: models/default")
    p.add_argument("--input", type=Path, default=None, help="default: media/street_phone.mp4")
    p.add_argument("--detector", default="mediapipe")
    args = p.parse_args(argv)

    from app.bench import loadavg, looped_frames
    from app.core.pipeline import Pipeline
    from app.core.render import draw_overlay
    from app.core.settings import PipelineSettings

    video = args.input or shared_dir() / "media" / "street_phone.mp4"
    proc = psutil.Process()
    samples: list[dict[str, float]] = []
    faces = 0
    t0 = time.perf_counter()
    with Pipeline(PipelineSettings(detector=args.detector), model=args.model) as pipeline:
        frames = looped_frames(video)
        try:
            for i in range(args.warmup + args.frames):
                frame, _ = next(frames)
                result = pipeline.process(frame)
                draw_overlay(frame.image, result, pipeline.labels)
                faces += len(result.faces)
                done = i + 1 - args.warmup
                if done >= 0 and done % args.every == 0:
                    samples.append({"frame": done, "rss_mb": proc.memory_info().rss / 2**20,
                                    "threads": proc.num_threads(),
                                    "t_s": round(time.perf_counter() - t0, 2)})
        finally:
            frames.close()
    rss = [s["rss_mb"] for s in samples]
    result = {
        "frames": args.frames, "warmup": args.warmup, "input": str(video),
        "model": str(args.model or "models/default"), "faces": faces,
        "rss_mb_start": round(rss[0], 1), "rss_mb_end": round(rss[-1], 1),
        "rss_mb_max": round(max(rss), 1), "rss_growth_mb": round(rss[-1] - rss[0], 1),
        "threads_start": samples[0]["threads"], "threads_end": samples[-1]["threads"],
        "threads_max": max(s["threads"] for s in samples),
        "wall_s": round(time.perf_counter() - t0, 1),
        "loadavg": loadavg(),
        "samples": samples,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    return 0 if result["rss_growth_mb"] <= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
