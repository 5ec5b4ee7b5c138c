"""Does detecting every k-th frame (tracking in between) keep accuracy? Compares k > 1 with
k = 1 on the same video: box IoU of the reused boxes against fresh detections, agreement of the
per-frame labels (raw probabilities, no smoothing) and mean |Δp|, and the CPU time saved.

    uv run python -m benchmarks.detect_every [--input VIDEO] [--model DIR] [--k 2 3 4]

Writes benchmarks/results/detect_every.json. Only meaningful with a trained model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.run import RESULTS, shared_dir


def run(video: Path, model: Path | None, k: int, tile: int) -> tuple[list, float, str]:
    from app.bench import cpu_seconds, looped_frames
    from app.core.pipeline import Pipeline
    from app.core.settings import PipelineSettings
    from app.core.sources import open_source

    source = open_source(video)
    n = source.frame_count or 1
    source.close()
    out = []
    with Pipeline(PipelineSettings(detect_every=k, smoothing_half_life_s=0.0), model=model) as p:
        frames = looped_frames(video, tile)
        c0 = cpu_seconds()
        for _ in range(n):
            frame, _ms = next(frames)
            r = p.process(frame)
            out.append([(f.box, f.probs.copy()) for f in r.faces])
        cpu = (cpu_seconds() - c0) / n * 1e3
        frames.close()
        name = p.classifier.bundle.name
    return out, cpu, name


def main(argv: list[str] | None = None) -> int:
    from app.core.track import iou

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=None)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--k", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--tile", type=int, default=1)
    args = ap.parse_args(argv)
    video = args.input or shared_dir() / "media" / "street_phone.mp4"
    base, base_cpu, model_name = run(video, args.model, 1, args.tile)
    rows = []
    for k in args.k:
        got, cpu, _ = run(video, args.model, k, args.tile)
        ious, agree, dp, missing = [], [], [], 0
        for ref, new in zip(base, got, strict=True):
            for box, probs in ref:
                best = max(new, key=lambda f, b=box: iou(b, f[0]), default=None)
                if best is None or iou(box, best[0]) < 0.3:
                    missing += 1
                    continue
                ious.append(iou(box, best[0]))
                agree.append(int(np.argmax(probs) == np.argmax(best[1])))
                dp.append(float(np.abs(probs - best[1]).mean()))
        rows.append({"k": k, "box_iou_mean": round(float(np.mean(ious)), 4),
                     "box_iou_p5": round(float(np.percentile(ious, 5)), 4),
                     "label_agreement": round(float(np.mean(agree)), 4),
                     "mean_abs_dprob": round(float(np.mean(dp)), 5),
                     "faces_missed": missing, "cpu_ms_per_frame": round(cpu, 3),
                     "cpu_ms_per_frame_k1": round(base_cpu, 3)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    result = {"input": str(video), "model": model_name, "tile": args.tile,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detect_every.json").write_text(json.dumps(result, indent=1) + "\n",
                                               encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
