"""Architecture registry: name -> builder, default input size/channels, description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core import EmotionLensError


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., Any]
    input_size: int
    channels: int
    description: str
    pretrained: bool = False  # accepts --weights imagenet


REGISTRY: dict[str, Architecture] = {}


def register(arch: Architecture) -> None:
    REGISTRY[arch.name] = arch


def get(name: str) -> Architecture:
    _populate()
    try:
        return REGISTRY[name]
    except KeyError:
        raise EmotionLensError(
            f"unknown model {name!r} (known: {', '.join(names())})") from None


def names() -> list[str]:
    _populate()
    return list(REGISTRY)


def _populate() -> None:
    if REGISTRY:
        return
    from training.architectures import cnn

    register(Architecture("vgg_small", cnn.vgg_small, 48, 1,
                          "default: VGG-like Conv-BN-ReLU×2+pool blocks 32/64/128/256, GAP (1.2 M)"))
    register(Architecture("simple_cnn", cnn.simple_cnn, 48, 1,
                          "3× Conv+ReLU+MaxPool, dense, softmax"))
    register(Architecture("three_block_cnn", cnn.three_block_cnn, 64, 3,
                          "3× (Conv+BN+MaxPool+Dropout), dense+dropout, 64×64×3"))
    try:
        from training.architectures import applications
    except ImportError:  # pragma: no cover - during bootstrap
        return
    applications.register_all(register, Architecture)
