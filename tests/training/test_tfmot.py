"""QAT and pruning through the tf_keras twin, in their own subprocess (slow: imports tf_keras,
fine-tunes, converts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core import EmotionLensError
from training import run as run_mod

pytestmark = pytest.mark.slow


def test_qat_and_prune_on_tiny_run(tiny_folders: Path, tmp_path: Path, keras_mod):
    out = tmp_path / "qat"
    rc = run_mod.main(["--model", "simple_cnn", "--data", str(tiny_folders), "--out", str(out),
                       "--epochs", "1", "--batch-size", "16", "--qat", "--prune", "--qat-epochs",
                       "1", "--calib-samples", "20", "--no-tensorboard"])
    assert rc == 0
    assert (out / "model_qat_int8.tflite").is_file()
    assert (out / "model_pruned_int8.tflite").is_file()
    metrics = json.loads((out / "model.json").read_text())["metrics"]
    assert {"qat_int8_accuracy", "pruned_int8_accuracy", "pruned_sparsity"} <= set(metrics)
    assert metrics["pruned_sparsity"] > 0.3


def test_qat_refuses_mobilenet_v3(tmp_path: Path):
    from training import tfmot_tune
    from training.config import TrainConfig

    with pytest.raises(EmotionLensError, match="hard-swish"):
        tfmot_tune.run_in_subprocess(tmp_path, TrainConfig(model="mobilenet_v3_small", qat=True),
                                      None)


def test_qat_pretrained_backbone_twin(tiny_folders: Path, tmp_path: Path, keras_mod):
    """MobileNetV2 (nested backbone in Keras 3) -> inlined tf_keras twin -> quantize_model."""
    out = tmp_path / "qat_mnv2"
    rc = run_mod.main(["--model", "mobilenet_v2", "--input-size", "32", "--data", str(tiny_folders),
                       "--out", str(out), "--epochs", "1", "--batch-size", "16", "--qat",
                       "--qat-epochs", "1", "--calib-samples", "10", "--no-tensorboard", "--no-fp16"])
    assert rc == 0
    assert (out / "model_qat_int8.tflite").is_file()
    assert "qat_int8_accuracy" in json.loads((out / "model.json").read_text())["metrics"]
