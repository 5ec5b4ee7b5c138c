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


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("lambda")
    model_file, marker = folder / "model.keras", folder / "ran.txt"
    subprocess.run([sys.executable, "-c", MAKE, str(model_file), str(marker)], check=True,
                   capture_output=True, timeout=300)
    assert model_file.is_file() and not marker.exists()
    write_model_json(folder, {"name": "lambda", "labels": list(EXPRESSIONS),
                              "input": {"size": 48, "channels": 1,
                                        "normalization": {"mean": 0, "std": 255}},
                              "files": {"keras": "model.keras"}})
    return model_file, marker


def _app(model_file: Path) -> None:
    Classifier(model_file.parent, backend="keras")


def _evaluate(model_file: Path) -> None:
    from app.core.bundle import load_bundle
    from training.evaluate import load_any_model

    load_any_model(load_bundle(model_file.parent), "keras")


def _init_from(model_file: Path) -> None:
    from training.architectures import cnn
    from training.architectures.channel_selection import init_from_file

    init_from_file(cnn.vgg_small((48, 48, 1), 7, filters=(8, 16, 32, 64)), model_file)


def _weights(model_file: Path) -> None:
    from training.architectures import cnn
    from training.architectures.applications import load_weights_file

    load_weights_file(cnn.vgg_small((48, 48, 1), 7, filters=(8, 16, 32, 64)), str(model_file))


@pytest.mark.parametrize("load", [_app, _evaluate, _init_from, _weights],
                         ids=["app", "evaluate", "init_from", "weights"])
def test_lambda_layer_is_refused_without_running_it(lambda_model: tuple[Path, Path], load) -> None:
    model_file, marker = lambda_model
    with pytest.raises(EmotionLensError, match=r"cannot load .*model\.keras: ") as info:
        load(model_file)
    assert "\n" not in str(info.value)
    assert not marker.exists()
