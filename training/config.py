"""Training configuration: dataclass defaults (the reference recipe) < TOML file < CLI overrides."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core import EmotionLensError
from training.data.augment import AugmentConfig


@dataclass
class TrainConfig:
    # what
    model: str = "vgg_small"
    data: str = ""                 # dataset root (folder-per-class with train/val[/test], CSV, ExpW)
    dataset_format: str = "auto"   # auto | folders | fer2013_csv | expw
    out: str = "runs/latest"
    input_size: int = 0            # 0: the architecture's default
    channels: int = 0              # 0: the architecture's default
    exclude: list[str] = field(default_factory=list)  # classes to drop (e.g. ["disgust"])
    contempt: str = "drop"         # AffectNet contempt: drop | disgust | keep
    split: str = "dataset"         # dataset | 70/15/15 | 70/10/20
    max_samples: int = 0           # cap on training images (0: all), stratified
    max_val_samples: int = -1      # cap on val images (0: all; -1: max(200, max_samples // 4)
                                   # when max_samples is set, else all), stratified
    min_confidence: float = 0.0    # ExpW: drop boxes below this confidence
    # how
    epochs: int = 50
    batch_size: int = 64
    optimizer: str = "adam"        # adam | adamw | sgd
    lr: float = 0.001
    min_lr: float = 1e-6
    weight_decay: float = 0.0      # adamw / sgd
    schedule: str = "plateau"      # plateau | cosine | constant
    warmup_epochs: int = 0
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    early_stopping: int = 5        # patience in epochs, 0: off
    time_budget_min: float = 0.0   # >0: stop (and anneal cosine) within this many minutes
    label_smoothing: float = 0.0
    class_weights: str = "none"    # none | balanced | sqrt
    oversample: bool = False
    smote: bool = False
    dropout: float = -1.0          # head dropout, -1: the architecture's default
    seed: int = 1234
    input_pipeline: str = "auto"   # auto (tf.data on TensorFlow, NumPy batches elsewhere) | tf | arrays
    deterministic: bool = False    # TF op determinism: bit-identical reruns (slower on GPU)
    # transfer learning
    weights: str = "none"          # imagenet | none | PATH to a .keras/.weights.h5
    fine_tune_layers: int = -1     # -1: train everything; N: freeze base, then unfreeze top N
    frozen_epochs: int = 0         # epochs with the base frozen before fine-tuning
    head_batchnorm: bool = False
    head_noise: float = 0.0
    # vgg_small: filters of its four blocks ([]: 32, 64, 128, 256)
    filters: list[int] = field(default_factory=list)
    # start from the strongest channels of this trained, wider model of the same layout (.keras;
    # structured pruning, then this run fine-tunes); "" starts from random weights
    init_from: str = ""
    # distillation: train towards (1 - teacher_weight) x the one-hot label + teacher_weight x this
    # model bundle's probabilities (sharpened or softened by teacher_temperature), computed once
    # on the training images (training/distill.py); "" trains on the labels alone
    teacher: str = ""
    teacher_weight: float = 0.5
    teacher_temperature: float = 1.0
    # resnet50_ippm: pyramid levels and one conv kernel per level ([]: the defaults 1,2,4 / 1,3,5)
    ippm_scales: list[int] = field(default_factory=list)
    ippm_kernels: list[int] = field(default_factory=list)
    # keep every epoch's weights as epochs/epoch_NNN.weights.h5 in the run folder (not only the
    # best and the last), so that `training.export --epoch N` can bundle any of them later
    keep_epochs: bool = False
    # keep the running mean of the last N epochs' weights in the checkpoint (swa.npz, tracked
    # with it; training/swa.py) for `training.export --swa`; 0: none
    swa_epochs: int = 0
    # quantization / pruning / export
    export: bool = True
    int8: bool = True
    fp16: bool = True
    calib_samples: int = 300
    # how model_int8.tflite is quantized: "static" (full integer, activation ranges calibrated on
    # calib_samples training images; int8 input and output) or "dynamic" (int8 weights, each
    # activation quantized per face at run time by LiteRT's XNNPACK kernels; float input and
    # output): MobileNetV3's hard-swish and gates lose 0.8 point static, 0.2 dynamic
    int8_scheme: str = "static"
    qat: bool = False
    qat_epochs: int = 2
    prune: bool = False
    prune_sparsity: float = 0.5
    # runtime
    # auto (float16 on a GPU) | on (float16) | off | bfloat16 (for CPUs with AMX or AVX512-BF16:
    # 1.36x the float32 speed of vgg_wide's training steps on a 2-vCPU Intel Xeon VM with AMX)
    mixed_precision: str = "auto"
    distribute: str = "auto"       # auto | none | mirrored | multiworker
    tensorboard: bool = True
    name: str = ""
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


INT_LISTS = ("ippm_scales", "ippm_kernels", "filters")


def _int_list(name: str, value: Any) -> list[int]:
    """`[1, 2, 4]` (TOML, config.json) or `"1,2,4"` (command line) -> [1, 2, 4]; positive only."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        if not isinstance(items, list | tuple) or any(isinstance(v, bool | float) for v in items):
            raise ValueError(value)
        ints = [int(str(v).strip()) for v in items if str(v).strip()]
        if any(v < 1 for v in ints):
            raise ValueError(value)
    except ValueError:
        raise EmotionLensError(f"option {name} must be a list of positive integers, "
                               f"got {value!r}") from None
    return ints


def _coerce(name: str, current: Any, value: Any) -> Any:
    if name in INT_LISTS:
        return _int_list(name, value)
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise EmotionLensError(f"option {name} must be true or false, got {value!r}")
    if isinstance(current, int) and not isinstance(current, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value))
        except ValueError:
            raise EmotionLensError(f"option {name} must be an integer, got {value!r}") from None
    if isinstance(current, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise EmotionLensError(f"option {name} must be a number, got {value!r}") from None
    if isinstance(current, list):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return [str(v) for v in value]
        raise EmotionLensError(f"option {name} must be a list, got {value!r}")
    if isinstance(current, str):
        return str(value)
    return value


def apply(cfg: TrainConfig, values: dict[str, Any], source: str) -> TrainConfig:
    """Return `cfg` with `values` (from a TOML file or the CLI) applied, type-checked."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    data = cfg.to_dict()
    for key, value in values.items():
        key = key.replace("-", "_")
        if key == "augment":
            if not isinstance(value, dict):
                raise EmotionLensError(f"{source}: [augment] must be a table")
            aug = {**data["augment"], **value}
            data["augment"] = aug
            continue
        if key not in fields:
            raise EmotionLensError(f"{source}: unknown option {key!r}")
        data[key] = _coerce(key, getattr(cfg, key), value)
    aug_cfg = AugmentConfig.from_dict(data.pop("augment"))
    new = TrainConfig(**data, augment=aug_cfg)
    validate(new)
    return new


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise EmotionLensError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EmotionLensError(f"config file {p} is not valid TOML: {exc}") from None


def apply_file(cfg: TrainConfig, path: str | Path) -> TrainConfig:
    """`cfg` with a TOML config file applied (its `[search]` table is training.search's)."""
    values = load_toml(path)
    values.pop("search", None)
    return apply(cfg, values, str(path))


CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": ("adam", "adamw", "sgd"),
    "schedule": ("plateau", "cosine", "constant"),
    "class_weights": ("none", "balanced", "sqrt"),
    "dataset_format": ("auto", "folders", "fer2013_csv", "expw"),
    "split": ("dataset", "70/15/15", "70/10/20"),
    "contempt": ("drop", "disgust", "keep"),
    "mixed_precision": ("auto", "on", "off", "bfloat16"),
    "distribute": ("auto", "none", "mirrored", "multiworker"),
    "input_pipeline": ("auto", "tf", "arrays"),
    "int8_scheme": ("static", "dynamic"),
}


def validate(cfg: TrainConfig) -> None:
    from training.architectures import registry

    registry.get(cfg.model)  # unknown names fail here, listing the known ones
    for key, choices in CHOICES.items():
        if getattr(cfg, key) not in choices:
            raise EmotionLensError(f"{key} must be one of {', '.join(choices)}, got {getattr(cfg, key)!r}")
    positive = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "calib_samples": cfg.calib_samples}
    for key, val in positive.items():
        if val < 1:
            raise EmotionLensError(f"{key} must be at least 1, got {val}")
    if cfg.lr <= 0:
        raise EmotionLensError(f"lr must be positive, got {cfg.lr}")
    if cfg.max_samples < 0:
        raise EmotionLensError(f"max_samples must be >= 0, got {cfg.max_samples}")
    if cfg.max_val_samples < -1:
        raise EmotionLensError(f"max_val_samples must be >= -1, got {cfg.max_val_samples}")
    if cfg.input_size and not 16 <= cfg.input_size <= 512:
        raise EmotionLensError(f"input_size must be 16..512, got {cfg.input_size}")
    if cfg.channels not in (0, 1, 3):
        raise EmotionLensError(f"channels must be 1 or 3, got {cfg.channels}")
    if not 0.0 <= cfg.label_smoothing < 1.0:
        raise EmotionLensError(f"label_smoothing must be in [0, 1), got {cfg.label_smoothing}")
    if not 0.0 < cfg.teacher_weight <= 1.0:
        raise EmotionLensError(f"teacher_weight must be in (0, 1], got {cfg.teacher_weight}")
    if not 0.0 < cfg.teacher_temperature <= 100.0:
        raise EmotionLensError(f"teacher_temperature must be in (0, 100], got {cfg.teacher_temperature}")
    if not 0 <= cfg.swa_epochs <= cfg.epochs:
        raise EmotionLensError(f"swa_epochs must be in 0..epochs ({cfg.epochs}), got {cfg.swa_epochs}")
    if not 0.0 < cfg.prune_sparsity < 1.0:
        raise EmotionLensError(f"prune_sparsity must be in (0, 1), got {cfg.prune_sparsity}")
    _validate_ippm(cfg)
    _validate_filters(cfg)


def _validate_filters(cfg: TrainConfig) -> None:
    if not cfg.filters:
        return
    if cfg.model != "vgg_small":
        raise EmotionLensError(f"option filters applies to vgg_small, not {cfg.model}")
    if len(cfg.filters) != 4:
        raise EmotionLensError(f"option filters needs one width per block of vgg_small (4), "
                               f"got {cfg.filters}")


def _validate_ippm(cfg: TrainConfig) -> None:
    from training.architectures import ippm

    if not (cfg.ippm_scales or cfg.ippm_kernels):
        return
    if cfg.model != "resnet50_ippm":
        raise EmotionLensError(f"ippm_scales/ippm_kernels apply to model resnet50_ippm only, "
                               f"not {cfg.model}")
    problem = ippm.check(cfg.ippm_scales or ippm.SCALES, cfg.ippm_kernels or ippm.KERNELS)
    if problem:
        raise EmotionLensError(problem)


def val_cap(cfg: TrainConfig) -> int:
    """How many val images to keep (stratified); 0: all of them."""
    if cfg.max_val_samples >= 0:
        return cfg.max_val_samples
    return max(200, cfg.max_samples // 4) if cfg.max_samples else 0
