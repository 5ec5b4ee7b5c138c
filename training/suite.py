"""`python -m training.run --suite seeds`: train every architecture with the same budget and write
`suite.md` (model, params, input, val accuracy, macro-F1, int8 accuracy, ms per face)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training.cli import log
from training.config import TrainConfig
from training.train import train


def ms_per_face(tflite: Path, runs: int = 30) -> float:
    """Median single-face latency of a .tflite file on this machine (LiteRT, 2 threads)."""
    from training.litert import TFLiteModel

    m = TFLiteModel(tflite)
    shape = m.input_shape
    x = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    m.predict(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        m.predict(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def run_suite(cfg: TrainConfig, *, epochs: int, models: list[str] | None = None) -> Path:
    from training.architectures import registry

    names = models or registry.names()
    for n in names:
        registry.get(n)
    base = Path(cfg.out)
    base.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for name in names:
        arch = registry.get(name)
        sub = dataclasses.replace(cfg, model=name, out=str(base / name), epochs=epochs,
                                  input_size=0, channels=0, tensorboard=False)
        log(f"suite: {name}")
        row: dict[str, Any] = {"model": name, "input": f"{arch.input_size}×{arch.input_size}×"
                                                         f"{arch.channels}"}
        try:
            out = train(sub)
            meta = json.loads((out / "model.json").read_text())
            m = meta["metrics"]
            row.update(params=meta["provenance"]["parameters"], accuracy=m["accuracy"],
                       macro_f1=m["macro_f1"], int8=m.get("int8_accuracy"),
                       ms=ms_per_face(out / meta["files"]["int8"]) if "int8" in meta["files"]
                       else None)
        except EmotionLensError as exc:
            row["error"] = str(exc)
        rows.append(row)
        write_table(base / "suite.md", rows, cfg, epochs)
    return base / "suite.md"


def write_table(path: Path, rows: list[dict[str, Any]], cfg: TrainConfig, epochs: int) -> None:
    def f(v: Any, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    lines = [f"# Suite: {epochs} epoch(s) each on {cfg.data} (seed {cfg.seed}"
             + (f", max {cfg.max_samples} training images" if cfg.max_samples else "") + ")", "",
             "| model | params | input | val accuracy | macro-F1 | int8 accuracy | ms per face |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | – | {r['input']} | failed: {r['error']} | | | |")
            continue
        lines.append(f"| {r['model']} | {r['params']:,} | {r['input']} | {f(r['accuracy'], '.4f')} "
                     f"| {f(r['macro_f1'], '.4f')} | {f(r['int8'], '.4f')} | {f(r['ms'], '.2f')} |")
    path.write_text("\n".join(lines) + "\n")
