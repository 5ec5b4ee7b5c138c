"""Model building for a training config: the architecture with its input size and options
(`build_model`, and its tf_keras twin for tfmot), the optimizer, compiling, and a fresh model for
a run or a search trial (`new_model`: reseeded, a pretrained backbone frozen as configured).
"""

from __future__ import annotations

from typing import Any

from training.cli import log
from training.config import TrainConfig
from training.runtime import seed_everything


def build_optimizer(cfg: TrainConfig) -> Any:
    import keras

    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=cfg.lr)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=cfg.lr, weight_decay=cfg.weight_decay)
    return keras.optimizers.SGD(learning_rate=cfg.lr, momentum=0.9, nesterov=True,
                                weight_decay=cfg.weight_decay or None)


def compile_model(model: Any, cfg: TrainConfig) -> None:
    import keras

    model.compile(
        optimizer=build_optimizer(cfg),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def build_model(cfg: TrainConfig, num_classes: int, keras_module: Any = None) -> Any:
    """The configured architecture; with `keras_module` (tf_keras) its twin for tfmot, which
    takes its weights from the trained model rather than from `cfg.weights`."""
    from training.architectures import registry

    arch = registry.get(cfg.model)
    size, channels = resolve_input(cfg)
    kwargs: dict[str, Any] = {}
    if keras_module is not None:
        kwargs["keras_module"] = keras_module
    if arch.pretrained:
        kwargs.update(head_batchnorm=cfg.head_batchnorm, head_noise=cfg.head_noise)
        if keras_module is None:
            kwargs["weights"] = cfg.weights
        if cfg.dropout >= 0:
            kwargs["dropout"] = cfg.dropout
    elif cfg.dropout >= 0 and cfg.model == "vgg_small":
        kwargs["dropout"] = cfg.dropout
    kwargs.update(architecture_options(cfg))
    return arch.build((size, size, channels), num_classes, **kwargs)


def architecture_options(cfg: TrainConfig) -> dict[str, Any]:
    """Builder options that change the architecture's layers (so also its tf_keras twin's)."""
    if cfg.model == "resnet50_ippm":  # empty: the architecture's default levels
        return {"ippm_scales": tuple(cfg.ippm_scales), "ippm_kernels": tuple(cfg.ippm_kernels)}
    return {"filters": tuple(cfg.filters)} if cfg.filters else {}  # vgg_small (config.validate)


def resolve_input(cfg: TrainConfig) -> tuple[int, int]:
    from training.architectures import registry

    arch = registry.get(cfg.model)
    return cfg.input_size or arch.input_size, cfg.channels or arch.channels


def new_model(cfg: TrainConfig, num_classes: int) -> Any:
    """Reseed, build and compile the model (a pretrained backbone frozen per `fine_tune_layers` /
    `frozen_epochs`). Call it inside the distribution strategy's scope."""
    seed_everything(cfg)
    model = build_model(cfg, num_classes)
    if cfg.init_from:
        from training.architectures.channel_selection import init_from_file

        widths = init_from_file(model, cfg.init_from)
        log(f"started from the strongest channels of {cfg.init_from}: "
            + ", ".join(str(w) for w in widths.values()))
    if fine_tunes(cfg):
        from training.architectures.applications import set_trainable_top

        set_trainable_top(model, 0 if cfg.frozen_epochs > 0 else cfg.fine_tune_layers)
    compile_model(model, cfg)
    return model


def fine_tunes(cfg: TrainConfig) -> bool:
    from training.architectures import registry

    return registry.get(cfg.model).pretrained and cfg.fine_tune_layers >= 0


def compute_policy(model: Any) -> str:
    """The dtype policy the model's layers compute in ("float32", "mixed_bfloat16", ...): that of
    its first layer with weights of its own, nested models looked into (a model is built under one
    policy; a loaded Model object itself takes the global one)."""
    import keras

    for layer in model._flatten_layers(include_self=False):
        if layer.weights and not isinstance(layer, keras.Model):
            return str(layer.dtype_policy.name)
    return str(model.dtype_policy.name)
