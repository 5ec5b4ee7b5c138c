"""Model loading never runs code from the file: a `.keras` with a Lambda layer (a pickled
Python function) is refused by Keras' safe mode, and the function never runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.core import EXPRESSIONS, EmotionLensError
from app.core.bundle import write_model_json
from app.core.classify import Classifier

MAKE = r'''
import sys
from pathlib import Path
import keras
marker = Path(sys.argv[2])
def payload(x):
    marker.write_text("code from the model file ran")
    return x * 2.0
inp = keras.Input((48, 48, 1))
x = keras.layers.Lambda(payload)(inp)
x = keras.layers.GlobalAveragePooling2D()(x)
out = keras.layers.Dense(7, activation="softmax")(x)
keras.Model(inp, out).save(sys.argv[1])
marker.unlink(missing_ok=True)  # building the model called it once: start clean
'''


def test_lambda_layer_is_refused_without_running_it(tmp_path: Path):
    model_file, marker = tmp_path / "model.keras", tmp_path / "ran.txt"
    subprocess.run([sys.executable, "-c", MAKE, str(model_file), str(marker)], check=True,
                   capture_output=True, timeout=300)
    assert model_file.is_file() and not marker.exists()
    write_model_json(tmp_path, {"name": "lambda", "labels": list(EXPRESSIONS),
                                "input": {"size": 48, "channels": 1,
                                          "normalization": {"mean": 0, "std": 255}},
                                "files": {"keras": "model.keras"}})
    with pytest.raises(EmotionLensError, match=r"cannot load model\.keras") as info:
        Classifier(tmp_path, backend="keras")
    assert "\n" not in str(info.value)
    assert not marker.exists()
