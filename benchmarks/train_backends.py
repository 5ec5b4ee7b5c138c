"""Training images/s of the real-time recipe on each Keras 3 backend and input size, on this CPU.

    uv run python -m benchmarks.train_backends [--pythons jax=/tmp/jaxvenv/bin/python ...]
        [--sizes 40,44,48] [--steps 30]

Each row runs in a fresh interpreter: `KERAS_BACKEND` set before Keras loads, VGG-small 24/48/96/192
(the default's widths), batch 64, AdamW, the recipe's augmentation (training/configs/realtime.toml)
in the input pipeline that backend trains with (tf.data on TensorFlow, NumPy batches elsewhere),
random images. It times `fit` over `--steps` batches after 5 warm-up batches. Other backends run in
their own environments (`--pythons NAME=PYTHON`); the project's environment runs TensorFlow.
Writes benchmarks/results/train_backends.json. Pause a training run beside it (kill -STOP).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def child(size: int, steps: int) -> dict[str, float | str]:
    """One measurement in this interpreter (KERAS_BACKEND already set)."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import keras

    from training import config as config_mod
    from training.architectures import registry
    from training.data.augment import build_augmenter
    from training.data.batches import make_batches

    cfg = config_mod.apply_file(config_mod.TrainConfig(), ROOT / "training/configs/realtime.toml")
    model = registry.get("vgg_small").build((size, size, 1), 7, filters=tuple(cfg.filters))
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.01),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    n = 64 * (steps + 5)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8)
    y = rng.integers(0, 7, n)
    batches = make_batches(x, y, 7, batch_size=64, shuffle=True, seed=0,
                           augmenter=build_augmenter(cfg.augment, 0))
    warm = make_batches(x[:320], y[:320], 7, batch_size=64, shuffle=False, seed=0,
                        augmenter=build_augmenter(cfg.augment, 0))
    model.fit(warm, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(batches, epochs=1, verbose=0)
    dt = time.perf_counter() - t0
    return {"backend": keras.backend.backend(), "keras": keras.__version__, "size": size,
            "images_per_s": round(n / dt, 1), "seconds_per_fer_epoch": round(28709 / (n / dt), 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pythons", nargs="*", default=[],
                   help="BACKEND=PYTHON for backends in other environments (jax, torch)")
    p.add_argument("--sizes", default="48", help="input sizes for TensorFlow, e.g. 40,44,48")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--child", nargs=2, type=int, metavar=("SIZE", "STEPS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(*args.child)), flush=True)
        return 0
    runs = [("tensorflow", sys.executable, int(s)) for s in args.sizes.split(",")]
    for spec in args.pythons:
        backend, _, python = spec.partition("=")
        runs.append((backend, python, 48))
    rows = []
    for backend, python, size in runs:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        proc = subprocess.run([python, "-m", "benchmarks.train_backends", "--child", str(size),
                               str(args.steps)], cwd=ROOT, env=env, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            print(f"{backend} {size}: failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        row = json.loads(line[0][7:])
        rows.append(row)
        print(f"{row['backend']:<11} {size:>3} px  {row['images_per_s']:>7} images/s  "
              f"{row['seconds_per_fer_epoch']:>6} s per FER2013 epoch", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_backends.json").write_text(json.dumps(
        {"machine": f"{os.cpu_count()} CPUs", "steps": args.steps, "batch_size": 64, "rows": rows},
        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
