"""Seeding, devices, mixed precision and multi-device strategies, backend-agnostic where possible.

- `seed_everything`: Python, NumPy, TensorFlow and Keras from the config's seed (and TensorFlow op
  determinism on request).
- TensorFlow backend: `tf.distribute.MirroredStrategy` over the local GPUs (or given devices);
  `--distribute multiworker` uses `MultiWorkerMirroredStrategy`, which reads the cluster from the
  `TF_CONFIG` environment variable (JSON: {"cluster": {"worker": ["host1:port", ...]},
  "task": {"type": "worker", "index": i}}); start the same command on every worker.
- JAX backend: `keras.distribution.DataParallel` over all local accelerators.
- Mixed precision (`mixed_float16`) is switched on automatically when a GPU is present; export
  always rebuilds the model in float32.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core import EmotionLensError


def gpu_count() -> int:
    import keras

    backend = keras.backend.backend()
    if sys.platform.startswith("linux") and not any(Path("/dev").glob("nvidia*")) \
            and not Path("/dev/kfd").exists():
        return 0  # no GPU device nodes: skip the CUDA probe (and its cuInit error line)
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return len(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return sum(1 for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm"))
        if backend == "torch":
            import torch

            return int(torch.cuda.device_count())
    except Exception:  # pragma: no cover - broken driver setups count as no GPU
        return 0
    return 0


def setup_mixed_precision(mode: str) -> bool:
    """Set the global dtype policy; returns True when mixed precision is on (float16 with "on",
    or "auto" on a GPU; bfloat16 with "bfloat16": the variables stay float32 either way)."""
    import keras

    if mode == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        return True
    on = mode == "on" or (mode == "auto" and gpu_count() > 0)
    keras.mixed_precision.set_global_policy("mixed_float16" if on else "float32")
    return on


def strategy_for(mode: str, devices: list[str] | None = None) -> Any | None:
    """A tf.distribute strategy (TF backend), or None for the default single-device path."""
    import keras

    backend = keras.backend.backend()
    if mode == "none":
        return None
    if backend != "tensorflow":
        if mode in ("mirrored", "multiworker"):
            raise EmotionLensError(f"--distribute {mode} needs KERAS_BACKEND=tensorflow "
                                   f"(this is {backend}; JAX uses all local devices automatically)")
        if backend == "jax" and gpu_count() > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel())
        return None
    import tensorflow as tf

    if mode == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if mode == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if gpu_count() > 1:  # auto
        return tf.distribute.MirroredStrategy()
    return None


@contextlib.contextmanager
def scope(strategy: Any | None) -> Iterator[None]:
    if strategy is None:
        yield
    else:
        with strategy.scope():
            yield


def seed_everything(cfg: Any, seed: int | None = None) -> None:
    """Seed Python, NumPy, TensorFlow and Keras from `seed`, by default `cfg.seed` (a
    `TrainConfig`); `cfg.deterministic` also turns on TensorFlow op determinism (process-wide)
    for bit-identical reruns."""
    import keras

    keras.utils.set_random_seed(cfg.seed if seed is None else seed)
    if cfg.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
