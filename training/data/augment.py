"""Training-time augmentation as Keras preprocessing layers, applied in the input pipeline.

The augmentation model is separate from the classifier, so the exported inference graph has no
Random* layers (they break int8 conversion and do nothing at inference anyway). Seeded: the same
seed gives the same augmented stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class AugmentConfig:
    flip: bool = True           # random horizontal flip
    rotation: float = 10.0      # max degrees
    shear: float = 0.0          # max shear factor (0..1)
    zoom: float = 0.1           # max relative zoom in/out
    shift: float = 0.1          # max relative translation
    brightness: float = 0.0     # max relative brightness change
    contrast: float = 0.0       # max relative contrast change
    noise: float = 0.0          # Gaussian noise std (on 0..1 pixels)
    erasing: float = 0.0        # probability of random erasing
    perspective: float = 0.0    # max perspective warp (corner shift, share of the side): pitch/yaw
    gamma: float = 0.0          # max log-gamma: each image gets x ** exp(U(-g, g)) (low light, glare)
    blur: float = 0.0           # max Gaussian blur sigma in pixels (focus, motion, small faces)
    enabled: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            from app.core import EmotionLensError

            raise EmotionLensError(f"unknown augment option(s): {', '.join(sorted(unknown))} "
                                   f"(known: {', '.join(sorted(known))})")
        return cls(**data)


def _random_gamma_layer() -> Any:
    import keras

    class _RandomGamma(keras.layers.Layer):  # type: ignore[misc]
        """x ** exp(U(-g, g)) per image, for images in [0, 1] (training only)."""

        def __init__(self, max_log_gamma: float, seed: int | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.max_log_gamma = float(max_log_gamma)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, x: Any, training: bool = True) -> Any:
            if not training:
                return x
            ops = keras.ops
            shape = (ops.shape(x)[0], 1, 1, 1)
            log_g = keras.random.uniform(shape, -self.max_log_gamma, self.max_log_gamma,
                                         seed=self.seed_generator)
            return ops.power(ops.clip(x, 1e-6, 1.0), ops.exp(log_g))

    return _RandomGamma


def RandomGamma(max_log_gamma: float, seed: int | None = None) -> Any:
    return _random_gamma_layer()(max_log_gamma, seed=seed, name="random_gamma")


def build_augmenter(cfg: AugmentConfig, seed: int = 0) -> Any | None:
    """A `keras.Sequential` of preprocessing layers for float images in [0, 1], or None."""
    if not cfg.enabled:
        return None
    import keras

    L = keras.layers
    layers: list[Any] = []
    if cfg.flip:
        layers.append(L.RandomFlip("horizontal", seed=seed))
    if cfg.rotation > 0:
        layers.append(L.RandomRotation(cfg.rotation / 360.0, fill_mode="reflect", seed=seed + 1))
    if cfg.shear > 0:
        layers.append(L.RandomShear(x_factor=cfg.shear, y_factor=cfg.shear, fill_mode="reflect",
                                    seed=seed + 2))
    if cfg.zoom > 0:
        layers.append(L.RandomZoom(cfg.zoom, fill_mode="reflect", seed=seed + 3))
    if cfg.shift > 0:
        layers.append(L.RandomTranslation(cfg.shift, cfg.shift, fill_mode="reflect", seed=seed + 4))
    if cfg.brightness > 0:
        layers.append(L.RandomBrightness(cfg.brightness, value_range=(0.0, 1.0), seed=seed + 5))
    if cfg.contrast > 0:
        layers.append(L.RandomContrast(cfg.contrast, value_range=(0.0, 1.0), seed=seed + 6))
    if cfg.erasing > 0:
        layers.append(L.RandomErasing(factor=cfg.erasing, scale=(0.02, 0.15), fill_value=None,
                                      value_range=(0.0, 1.0), seed=seed + 7))
    if cfg.perspective > 0:
        layers.append(L.RandomPerspective(factor=1.0, scale=cfg.perspective, seed=seed + 9))
    if cfg.gamma > 0:
        layers.append(RandomGamma(cfg.gamma, seed=seed + 10))
    if cfg.blur > 0:
        layers.append(L.RandomGaussianBlur(factor=1.0, kernel_size=3, sigma=(0.01, cfg.blur),
                                           value_range=(0.0, 1.0), seed=seed + 11))
    if cfg.noise > 0:
        layers.append(L.GaussianNoise(cfg.noise, seed=seed + 8))
    if not layers:
        return None
    return keras.Sequential(layers, name="augment")
