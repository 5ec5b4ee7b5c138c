"""Export an architecture from `training/architectures` with untrained (random) weights to a model
bundle, for timing only: the classifier's cost depends on the architecture, not on the weights.

    uv run python -m benchmarks.untrained vgg_small /tmp/untrained_vgg_small
    uv run python -m benchmarks.untrained --config training/configs/resnet50_ippm.toml /tmp/r50

With `--config` the architecture, input size and architecture options (iPPM levels, filters) are
the training config's, so the timing is that of the model the config trains.

Writes model.keras, model_float32.tflite, model_int8.tflite and model.json (name says "untrained").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from app.core import EXPRESSIONS


def export_untrained(arch_name: str | None, out: Path, *, config: Path | None = None,
                     calib: int = 32, seed: int = 0) -> Path:
    """Build `arch_name` (or what training `config` builds) with random weights; write int8,
    float32 and Keras files and model.json."""
    import keras
    import tensorflow as tf

    from app.core.bundle import write_model_json
    from training import config as config_mod
    from training.models import build_model, resolve_input

    cfg = config_mod.TrainConfig()
    if config is not None:
        cfg = config_mod.apply_file(cfg, config)
    if arch_name:
        cfg = config_mod.apply(cfg, {"model": arch_name}, "command line")
    cfg.weights = "none"  # timing only: no download
    arch_name = cfg.model
    keras.utils.set_random_seed(seed)
    size, channels = resolve_input(cfg)
    model = build_model(cfg, len(EXPRESSIONS))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")

    rng = np.random.default_rng(seed)

    def representative():  # TF's representative-dataset generator
        for _ in range(calib):
            yield [rng.random((1, size, size, channels), dtype=np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    (out / "model_float32.tflite").write_bytes(conv.convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (out / "model_int8.tflite").write_bytes(conv.convert())
    write_model_json(out, {
        "name": f"{arch_name} {size}×{size} (untrained weights, timing only)",
        "labels": list(EXPRESSIONS),
        "input": {"size": size, "channels": channels, "normalization": {"mean": 0, "std": 255},
                  "crop": {"mediapipe": {"scale": 1.17, "offset_y": -0.08},
                           "opencv": {"scale": 1.02}}},
        "files": {"int8": "model_int8.tflite", "float32": "model_float32.tflite",
                  "keras": "model.keras"},
        "provenance": {"untrained": True, "architecture": arch_name,
                       "config": str(config) if config else None},
    })
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("architecture", nargs="?", help="architecture name (default: the config's)")
    p.add_argument("out", type=Path)
    p.add_argument("--config", type=Path, help="training config whose model to build")
    args = p.parse_args(argv)
    if not args.architecture and not args.config:
        p.error("give an architecture or --config")
    print(export_untrained(args.architecture, args.out, config=args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
