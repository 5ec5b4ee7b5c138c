"""Fixtures for the bench tests: a model bundle with an int8 file (models/default when it has
one, else a tiny untrained one built once per session in a subprocess, so that TensorFlow never
loads into the test process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_MODEL, ROOT

TINY_BUNDLE = '''
import sys
from pathlib import Path
import keras, numpy as np, tensorflow as tf
from app.core import EXPRESSIONS
from app.core.bundle import write_model_json
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
inp = keras.Input((48, 48, 1))
x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
x = keras.layers.GlobalAveragePooling2D()(x)
m = keras.Model(inp, keras.layers.Dense(len(EXPRESSIONS), activation="softmax")(x))
conv = tf.lite.TFLiteConverter.from_keras_model(m)
conv.optimizations = [tf.lite.Optimize.DEFAULT]
rng = np.random.default_rng(0)
conv.representative_dataset = lambda: ([rng.random((1, 48, 48, 1), dtype=np.float32)]
                                       for _ in range(16))
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
conv.inference_input_type = tf.int8
conv.inference_output_type = tf.int8
(out / "model_int8.tflite").write_bytes(conv.convert())
write_model_json(out, {"name": "tiny test model (untrained)", "labels": list(EXPRESSIONS),
                       "input": {"size": 48, "channels": 1,
                                 "normalization": {"mean": 0, "std": 255}},
                       "files": {"int8": "model_int8.tflite"}})
'''


@pytest.fixture(scope="session")
def int8_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.core.bundle import load_bundle

    default = DEFAULT_MODEL / "model.json"
    if default.is_file() and "int8" in load_bundle(DEFAULT_MODEL).available_kinds:
        return DEFAULT_MODEL
    out = tmp_path_factory.mktemp("tiny_int8_bundle")
    done = subprocess.run([sys.executable, "-c", TINY_BUNDLE, str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"cannot build a test int8 bundle (TensorFlow converter): {done.stderr[-500:]}")
    return out
