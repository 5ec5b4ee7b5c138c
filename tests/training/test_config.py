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


def test_ippm_levels_are_config_fields(tmp_path: Path):
    toml = tmp_path / "c.toml"
    toml.write_text('model = "resnet50_ippm"\nippm_scales = [1, 2]\nippm_kernels = [1, 3]\n')
    cfg = config_from_args(build_parser().parse_args(["--config", str(toml)]))
    assert (cfg.ippm_scales, cfg.ippm_kernels) == ([1, 2], [1, 3])
    cfg = config_from_args(build_parser().parse_args(
        ["--config", str(toml), "--ippm-scales", "1,3", "--ippm-kernels", "5,5"]))
    assert (cfg.ippm_scales, cfg.ippm_kernels) == ([1, 3], [5, 5])
    again = config_mod.apply(config_mod.TrainConfig(), cfg.to_dict(), "config.json")
    assert again.ippm_scales == [1, 3]  # round trip through a run's config.json


@pytest.mark.parametrize("values,needle", [
    ({"ippm_scales": [1, 2]}, "resnet50_ippm only, not vgg_small"),
    ({"model": "resnet50_ippm", "ippm_scales": [1, 3, 4]}, "must divide the largest"),
    ({"model": "resnet50_ippm", "ippm_scales": [1, 2]}, "one kernel per scale"),
    ({"model": "resnet50_ippm", "ippm_kernels": "1,x,5"}, "list of positive integers"),
    ({"model": "resnet50_ippm", "ippm_kernels": [1, 0, 5]}, "list of positive integers"),
    ({"model": "resnet50_ippm", "ippm_scales": 4}, "list of positive integers"),
    ({"max_val_samples": -2}, "max_val_samples must be >= -1"),
])
def test_bad_ippm_and_val_cap(values: dict, needle: str):
    with pytest.raises(EmotionLensError, match=needle) as err:
        config_mod.apply(config_mod.TrainConfig(), values, "test")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("max_samples,max_val,cap", [
    (0, -1, 0), (4000, -1, 1000), (400, -1, 200), (4000, 0, 0), (4000, 700, 700), (0, 300, 300)])
def test_val_cap(max_samples: int, max_val: int, cap: int):
    cfg = config_mod.TrainConfig(max_samples=max_samples, max_val_samples=max_val)
    assert config_mod.val_cap(cfg) == cap


def test_bad_toml(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(EmotionLensError, match="not valid TOML"):
        config_mod.load_toml(bad)


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_configs_are_valid(path: Path):
    cfg = config_mod.apply(config_mod.TrainConfig(), config_mod.load_toml(path), str(path))
    assert cfg.model
