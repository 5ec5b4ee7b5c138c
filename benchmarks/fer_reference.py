"""Time the `fer` package (Haar cascade + mini-XCEPTION, its defaults) on a video, frame by frame.

Runs in a separate, throwaway environment that has `fer` installed (it needs TensorFlow and
versions this project does not pin; see `benchmarks/setup_fer_venv.sh`), never in the project's
own: it imports nothing from the project, and it is run as a script, never imported (it is not
part of the app or its bundle). `emotion-lens bench --compare-fer PYTHON` (from a source checkout)
and `python -m benchmarks.compare_fer` run it. Decoding is timed as part of each frame, as in
`emotion-lens bench`. Prints one JSON object.

    /tmp/fervenv/bin/python benchmarks/fer_reference.py VIDEO --frames 345
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input")
    p.add_argument("--frames", type=int, default=None, help="frames to time (loops the video)")
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    t_launch = time.perf_counter()
    import cv2
    import numpy as np
    from fer import __version__ as fer_version
    from fer.fer import FER

    detector = FER()  # the package defaults: Haar cascade, quantized mini-XCEPTION (TFLite)
    load_s = time.perf_counter() - t_launch

    cap = cv2.VideoCapture(args.input)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    frames = args.frames or count or 1

    def read() -> np.ndarray:
        nonlocal cap
        ok, image = cap.read()
        if not ok:
            cap.release()
            cap = cv2.VideoCapture(args.input)
            ok, image = cap.read()
            if not ok:
                raise SystemExit(f"cannot decode {args.input}")
        return image

    for _ in range(args.warmup):
        detector.detect_emotions(read())
    frame_ms: list[float] = []
    faces = 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for _ in range(frames):
        t = time.perf_counter()
        image = read()
        faces += len(detector.detect_emotions(image))
        frame_ms.append((time.perf_counter() - t) * 1e3)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cap.release()
    a = np.asarray(frame_ms)
    print(json.dumps({
        "fps": round(frames / wall, 2),
        "p50_ms": round(float(np.percentile(a, 50)), 4),
        "p95_ms": round(float(np.percentile(a, 95)), 4),
        "mean_ms": round(float(a.mean()), 4),
        "faces_per_s": round(faces / wall, 2),
        "faces_per_frame_mean": round(faces / frames, 3),
        "peak_rss_mb": round(r1.ru_maxrss / 1024, 1),
        "cpu_ms_per_frame": round(((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime))
                                  / frames * 1e3, 4),
        "frames": frames,
        "load_s": round(load_s, 3),
        "fer_version": fer_version,
        "tf": getattr(sys.modules.get("tensorflow"), "__version__", "?"),
        "python": sys.version.split()[0],
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
