"""Small CNNs trained from scratch (Keras 3, no Lambda layers, safe_mode loadable)."""

from __future__ import annotations

from typing import Any

from training.architectures import keras_module as _keras


def vgg_small(input_shape: tuple[int, int, int], num_classes: int, *,
              filters: tuple[int, ...] = (32, 64, 128, 256), dropout: float = 0.4,
              block_dropout: tuple[float, ...] = (0.1, 0.15, 0.2, 0.25),
              name: str = "vgg_small", keras_module: Any = None) -> Any:
    """The default model: VGG-like blocks (Conv-BN-ReLU ×2 + MaxPool), GAP, Dropout, softmax.

    32/64/128/256 filters: 1.18 M parameters, ~117 M multiply-adds at 48×48.
    """
    keras = _keras(keras_module)
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters):
        for j in range(2):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"b{i + 1}_conv{j + 1}")(x)
            x = layers.BatchNormalization(name=f"b{i + 1}_bn{j + 1}")(x)
            x = layers.ReLU(name=f"b{i + 1}_relu{j + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"b{i + 1}_pool")(x)
        if i < len(block_dropout) and block_dropout[i] > 0:
            x = layers.Dropout(block_dropout[i], name=f"b{i + 1}_drop")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="head_drop")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def simple_cnn(input_shape: tuple[int, int, int], num_classes: int, *,
               dense_units: int = 128, name: str = "simple_cnn",
               keras_module: Any = None) -> Any:
    """Reference 'simple CNN': three Conv + ReLU + MaxPool, a dense layer, softmax."""
    keras = _keras(keras_module)
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate((32, 64, 128)):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(0.5, name="drop")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def three_block_cnn(input_shape: tuple[int, int, int], num_classes: int, *,
                    name: str = "three_block_cnn", keras_module: Any = None) -> Any:
    """Reference 'three-block CNN': (Conv2D + BatchNorm + MaxPool + Dropout) ×3, dense + dropout.

    The reference uses 64×64×3 input (its registry default)."""
    keras = _keras(keras_module)
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate((32, 64, 128)):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
        x = layers.Dropout(0.25, name=f"drop{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="dense")(x)
    x = layers.Dropout(0.5, name="head_drop")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)
