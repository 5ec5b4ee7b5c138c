"""Launch → first overlaid frame, in fresh interpreters, for the int8 path; and whether TensorFlow
got imported on the way (it must not: it costs seconds of start-up).

    uv run python -m benchmarks.startup [--runs 3] [--model DIR] [--input VIDEO]

The clock starts just before the child process is spawned and stops when the child reports that
the first frame's overlay is drawn (the child prints the moment it finishes). Writes
benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.run import RESULTS, ROOT, shared_dir

CHILD = '''
import json, sys
from app.core.pipeline import Pipeline
from app.core.render import draw_overlay
from app.core.sources import open_source
source = open_source(sys.argv[1])
model = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
with Pipeline(model=model) as pipeline:
    frame = next(iter(source))
    result = pipeline.process(frame)
    draw_overlay(frame.image, result, pipeline.labels)
    print("FIRST_FRAME", flush=True)
    info = {"backend": pipeline.classifier.backend, "faces": len(result.faces),
            "tensorflow_imported": "tensorflow" in sys.modules,
            "keras_imported": "keras" in sys.modules}
source.close()
print(json.dumps(info), flush=True)
'''


def measure_once(video: Path, model: Path | None) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(video), str(model or "")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = None
    for line in proc.stdout:
        if line.startswith("FIRST_FRAME"):
            first = time.perf_counter() - t0
            break
    out, err = proc.communicate(timeout=120)
    if proc.returncode != 0 or first is None:
        raise SystemExit(f"child failed: {err.strip().splitlines()[-1:] or '?'}")
    return {"first_frame_s": first, **json.loads(out.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--model", type=Path, default=None, help="default: models/default")
    p.add_argument("--input", type=Path, default=None, help="default: media/street_phone.mp4")
    args = p.parse_args(argv)
    video = args.input or shared_dir() / "media" / "street_phone.mp4"
    runs = [measure_once(video, args.model) for _ in range(args.runs)]
    times = [r["first_frame_s"] for r in runs]
    import os

    result = {
        "runs": len(runs),
        "first_frame_s": {"median": round(statistics.median(times), 3),
                          "min": round(min(times), 3), "max": round(max(times), 3)},
        "backend": runs[0]["backend"],
        "tensorflow_imported": any(r["tensorflow_imported"] for r in runs),
        "keras_imported": any(r["keras_imported"] for r in runs),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
