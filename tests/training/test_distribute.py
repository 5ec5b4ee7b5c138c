"""MirroredStrategy over two logical CPU devices trains a step (the multi-GPU code path)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.training.conftest import ROOT_DIR

SCRIPT = textwrap.dedent("""
    import os
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from training import runtime
    from training.models import build_model, compile_model
    from training.config import TrainConfig
    strategy = runtime.strategy_for("mirrored", devices=["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    cfg = TrainConfig(model="simple_cnn")
    with runtime.scope(strategy):
        model = build_model(cfg, 7)
        compile_model(model, cfg)
    x = np.random.default_rng(0).random((8, 48, 48, 1)).astype("float32")
    y = np.eye(7, dtype="float32")[np.arange(8) % 7]
    h = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])
    print("OK", strategy.num_replicas_in_sync)
""")


def test_mirrored_strategy_on_two_cpu_devices():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          cwd=ROOT_DIR, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "OK 2" in proc.stdout
