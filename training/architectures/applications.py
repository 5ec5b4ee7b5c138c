"""Keras Applications backbones (VGG16/19, MobileNetV2/V3, ResNet50/101, DenseNet169, Xception) with
a classification head, for transfer learning or training from scratch.

The model takes float input in [0, 1] (model.json normalization mean 0, std 255) and does the
backbone's own preprocessing inside the graph with built-in layers only (Rescaling, Normalization,
a fixed 1×1 channel-swap convolution): no Lambda layers, so `.keras` loads with safe_mode and
converts to int8. Gray input is repeated to 3 channels when the backbone wants RGB.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training.architectures import keras_module as _keras

# name -> (keras.applications constructor name, preprocessing mode, default input size, min size)
BACKBONES: dict[str, tuple[str, str, int, int]] = {
    "vgg16": ("VGG16", "caffe", 48, 32),
    "vgg19": ("VGG19", "caffe", 48, 32),
    "mobilenet_v2": ("MobileNetV2", "tf", 96, 32),
    "mobilenet_v3_small": ("MobileNetV3Small", "tf", 96, 32),
    "mobilenet_v3_large": ("MobileNetV3Large", "tf", 96, 32),
    "resnet50": ("ResNet50", "caffe", 96, 32),
    "resnet101": ("ResNet101", "caffe", 96, 32),
    "densenet169": ("DenseNet169", "torch", 96, 32),
    "xception": ("Xception", "tf", 96, 71),
}
DESCRIPTIONS = {
    "vgg16": "VGG16 backbone + GAP head (keras.applications)",
    "vgg19": "VGG19 backbone + GAP head",
    "mobilenet_v2": "MobileNetV2 backbone + GAP head (QAT-compatible)",
    "mobilenet_v3_small": "MobileNetV3Small backbone (hard-swish: no tfmot QAT)",
    "mobilenet_v3_large": "MobileNetV3Large backbone (hard-swish: no tfmot QAT)",
    "resnet50": "ResNet50 backbone + GAP head (QAT-compatible)",
    "resnet101": "ResNet101 backbone + GAP head",
    "densenet169": "DenseNet169 backbone + GAP head",
    "xception": "Xception backbone + GAP head (input >= 71)",
}
IMAGENET_MEAN_RGB = np.array([123.68, 116.779, 103.939])
TORCH_MEAN = np.array([0.485, 0.456, 0.406])
TORCH_STD = np.array([0.229, 0.224, 0.225])


def preprocessing(x: Any, mode: str, channels: int, keras_module: Any = None) -> Any:
    """[0, 1] input -> what the backbone expects, with serializable built-in layers."""
    keras = _keras(keras_module)

    L = keras.layers
    if channels == 1:
        x = L.Concatenate(name="gray_to_rgb")([x, x, x])
    if mode == "tf":  # [-1, 1]
        return L.Rescaling(2.0, offset=-1.0, name="to_pm1")(x)
    if mode == "torch":  # ImageNet mean/std on [0, 1]
        return L.Normalization(mean=TORCH_MEAN.tolist(), variance=(TORCH_STD ** 2).tolist(),
                               name="imagenet_norm")(x)
    # caffe: 0..255, RGB -> BGR, minus the ImageNet mean (BGR)
    x = L.Rescaling(255.0, name="to_255")(x)
    swap = L.Conv2D(3, 1, use_bias=False, trainable=False, name="rgb_to_bgr")
    x = swap(x)
    swap.set_weights([np.eye(3)[::-1].reshape(1, 1, 3, 3).astype("float32")])
    return L.Normalization(mean=IMAGENET_MEAN_RGB[::-1].tolist(), variance=[1.0, 1.0, 1.0],
                           name="imagenet_mean")(x)


def make_backbone(name: str, input_shape: tuple[int, int, int], weights: str,
                  keras_module: Any = None, input_tensor: Any = None) -> Any:
    keras = _keras(keras_module)

    ctor_name, _mode, _size, min_size = BACKBONES[name]
    if input_shape[0] < min_size:
        raise EmotionLensError(f"{name} needs input size >= {min_size}, got {input_shape[0]}")
    ctor = getattr(keras.applications, ctor_name)
    kwargs: dict[str, Any] = {"include_top": False, "input_shape": (*input_shape[:2], 3),
                              "weights": "imagenet" if weights == "imagenet" else None}
    if keras_module is None:  # Keras 3: a nested model named "backbone" (for freezing)
        kwargs["name"] = "backbone"
    if input_tensor is not None:
        kwargs["input_tensor"] = input_tensor
    if ctor_name.startswith("MobileNetV3"):
        kwargs["include_preprocessing"] = False
    try:
        base = ctor(**kwargs)
    except Exception as exc:
        if weights == "imagenet":
            raise EmotionLensError(f"could not download ImageNet weights (offline?) for {name}: "
                                   f"{str(exc).splitlines()[0][:160]}") from None
        raise EmotionLensError(f"cannot build {name}: {str(exc).splitlines()[0][:200]}") from None
    if weights != "imagenet":
        from_scratch_batchnorm(base, keras)
    return base


SCRATCH_BN_MOMENTUM = 0.99


def from_scratch_batchnorm(base: Any, keras: Any) -> None:
    """Batch-norm momentum 0.99 in a backbone trained from scratch. Keras builds MobileNetV2/V3
    with 0.999, made for ImageNet's 5,000 steps an epoch: on FER2013 (449 steps) the running
    statistics lag the weights so far that inference predicts one class. Measured on
    MobileNetV3-Small from scratch after 4 epochs: val 24.9 % (every face "happy") with the running
    statistics, 41 % with the batch's own. Pretrained weights keep their momentum (fine-tuning).
    Nested models are walked too."""
    def walk(layer: Any) -> Any:
        for sub in getattr(layer, "layers", None) or []:
            yield sub
            yield from walk(sub)

    for layer in walk(base):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.momentum > SCRATCH_BN_MOMENTUM:
            layer.momentum = SCRATCH_BN_MOMENTUM


def head(x: Any, num_classes: int, *, dropout: float, head_batchnorm: bool, head_noise: float,
         keras_module: Any = None) -> Any:
    keras = _keras(keras_module)

    L = keras.layers
    x = L.GlobalAveragePooling2D(name="gap")(x)
    if head_batchnorm:
        x = L.BatchNormalization(name="head_bn")(x)
    if head_noise > 0:
        x = L.GaussianNoise(head_noise, name="head_noise")(x)
    if dropout > 0:
        x = L.Dropout(dropout, name="head_drop")(x)
    return L.Dense(num_classes, activation="softmax", name="probs")(x)


def load_weights_file(model: Any, weights: str) -> None:
    """`--weights PATH`: a `.weights.h5` or a `.keras` whose weights match this architecture."""
    from pathlib import Path

    from app.core.classify import load_keras_file

    p = Path(weights)
    if not p.is_file():
        raise EmotionLensError(f"--weights must be imagenet, none or a weights file; not found: {p}")
    try:
        if p.suffix == ".keras":
            model.set_weights(load_keras_file(p, "--weights").get_weights())
        else:
            model.load_weights(str(p))
    except EmotionLensError:
        raise
    except Exception as exc:
        raise EmotionLensError(f"cannot load weights from {p}: {str(exc).splitlines()[0][:200]}"
                               ) from None


def builder(name: str, extra: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A build function `(input_shape, num_classes, **opts) -> keras.Model` for backbone `name`."""

    def build(input_shape: tuple[int, int, int], num_classes: int, *, weights: str = "none",
              dropout: float = 0.3, head_batchnorm: bool = False, head_noise: float = 0.0,
              keras_module: Any = None) -> Any:
        keras = _keras(keras_module)
        mode = BACKBONES[name][1]
        # with tf_keras (tfmot) the backbone is inlined: tfmot cannot quantize a nested model;
        # otherwise it is built before the Input, as the seeded weights depend on creation order
        flat = keras_module is not None
        if not flat:
            base = make_backbone(name, input_shape,
                                 "imagenet" if weights == "imagenet" else "none")
        inputs = keras.Input(shape=input_shape, name="image")
        x = preprocessing(inputs, mode, input_shape[2], keras_module)
        if flat:
            base = make_backbone(name, input_shape, "none", keras_module, input_tensor=x)
            x = base.output
        else:
            x = base(x)
        if extra is not None:
            x = extra(x, keras_module=keras_module)
        outputs = head(x, num_classes, dropout=dropout, head_batchnorm=head_batchnorm,
                       head_noise=head_noise, keras_module=keras_module)
        model = keras.Model(inputs, outputs, name=name)
        if weights not in ("imagenet", "none", ""):
            load_weights_file(model, weights)
        return model

    return build


def set_trainable_top(model: Any, n: int, keras_module: Any = None) -> None:
    """Freeze the backbone, then unfreeze its top `n` layers (BatchNorm layers stay frozen);
    n = 0 freezes the whole backbone."""
    keras = _keras(keras_module)

    try:
        base = model.get_layer("backbone")
    except ValueError:
        raise EmotionLensError(f"model {model.name} has no pretrained backbone to freeze") from None
    if n <= 0:
        base.trainable = False
        return
    base.trainable = True
    layers = base.layers
    cut = len(layers) - max(0, n)
    for i, layer in enumerate(layers):
        layer.trainable = i >= cut and not isinstance(layer, keras.layers.BatchNormalization)


def resnet50_ippm(input_shape: tuple[int, int, int], num_classes: int, *,
                  ippm_scales: tuple[int, ...] | None = None,
                  ippm_kernels: tuple[int, ...] | None = None, **opts: Any) -> Any:
    """ResNet50 + iPPM head; `ippm_scales`/`ippm_kernels` choose the pyramid levels (one kernel per
    scale; defaults `ippm.SCALES`/`ippm.KERNELS`). Other options as `builder`'s."""
    from training.architectures import ippm

    scales = tuple(ippm_scales or ippm.SCALES)
    kernels = tuple(ippm_kernels or ippm.KERNELS)
    problem = ippm.check(scales, kernels)
    if problem:
        raise EmotionLensError(problem)
    block = functools.partial(ippm.ippm_block, scales=scales, kernels=kernels)
    return builder("resnet50", block)(input_shape, num_classes, **opts)


def register_all(register: Callable[[Any], None], Architecture: type) -> None:
    for name, (_ctor, _mode, size, _min) in BACKBONES.items():
        register(Architecture(name, builder(name), size, 3, DESCRIPTIONS[name], pretrained=True))
    register(Architecture("resnet50_ippm", resnet50_ippm, 96, 3,
                          "ResNet50 + improved pyramid pooling module (iPPM) head",
                          pretrained=True))
