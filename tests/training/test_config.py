"""Config precedence (defaults < TOML < CLI), validation, and the shipped config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import EmotionLensError
from training import config as config_mod
from training.run import build_parser, config_from_args

CONFIG_DIR = Path(__file__).resolve().parents[2] / "training" / "configs"


def test_precedence(tmp_path: Path):
    toml = tmp_path / "c.toml"
    toml.write_text('model = "simple_cnn"\nepochs = 7\nlr = 0.01\n[augment]\nrotation = 3.0\n')
    args = build_parser().parse_args(["--config", str(toml), "--epochs", "9", "--exclude",
                                      "disgust", "--no-tensorboard"])
    cfg = config_from_args(args)
    assert cfg.model == "simple_cnn" and cfg.epochs == 9 and cfg.lr == 0.01
    assert cfg.augment.rotation == 3.0 and cfg.augment.flip is True
    assert cfg.exclude == ["disgust"] and cfg.tensorboard is False
    default = config_from_args(build_parser().parse_args([]))
    assert (default.optimizer, default.lr, default.batch_size, default.epochs,
            default.early_stopping, default.schedule) == ("adam", 0.001, 64, 50, 5, "plateau")


@pytest.mark.parametrize("values,needle", [
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"optimizer": "lion"}, "optimizer must be one of"),
    ({"colour": 1}, "unknown option"),
    ({"epochs": "ten"}, "must be an integer"),
    ({"augment": {"wobble": 1}}, "unknown augment"),
    ({"model": "alexnet"}, "unknown model"),
])
def test_bad_values(values: dict, needle: str):
    with pytest.raises(EmotionLensError, match=needle):
        config_mod.apply(config_mod.TrainConfig(), values, "test")


def test_bad_toml(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(EmotionLensError, match="not valid TOML"):
        config_mod.load_toml(bad)


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_configs_are_valid(path: Path):
    cfg = config_mod.apply(config_mod.TrainConfig(), config_mod.load_toml(path), str(path))
    assert cfg.model
