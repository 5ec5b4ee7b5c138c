"""Every architecture builds and takes one training step on tiny generated data."""

from __future__ import annotations

import numpy as np
import pytest

from app.core import EmotionLensError
from training.architectures import registry

TINY = {"xception": 71}  # smallest input each backbone accepts; others 32


@pytest.mark.parametrize("name", registry.names())
def test_builds_and_trains_one_step(keras_mod, name: str):
    keras = keras_mod
    arch = registry.get(name)
    size = TINY.get(name, 32)
    model = arch.build((size, size, arch.channels), 7)
    # eager: no graph tracing of 100s of layers (a training step is a training step either way)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  run_eagerly=True)
    x = np.random.default_rng(0).random((2, size, size, arch.channels), dtype=np.float32)
    y = np.eye(7, dtype=np.float32)[[1, 3]]
    before = [w.copy() for w in model.get_weights()[-2:]]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(float(np.asarray(loss).ravel()[0]))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()[-2:], strict=True))
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)


def test_registry_lists_reference_architectures():
    expected = {"simple_cnn", "three_block_cnn", "vgg16", "vgg19", "mobilenet_v2",
                "mobilenet_v3_small", "mobilenet_v3_large", "resnet50", "resnet101",
                "densenet169", "xception", "resnet50_ippm", "vgg_small"}
    assert expected <= set(registry.names())
    assert registry.get("three_block_cnn").input_size == 64
    assert registry.get("three_block_cnn").channels == 3
    with pytest.raises(EmotionLensError, match="unknown model"):
        registry.get("alexnet")


def test_gray_input_pretrained_backbone_and_head_options(keras_mod):
    build = registry.get("mobilenet_v2").build
    model = build((32, 32, 1), 5, head_batchnorm=True, head_noise=0.1, dropout=0.2)
    names = {layer.name for layer in model.layers}
    assert {"gray_to_rgb", "head_bn", "head_noise", "backbone"} <= names
    assert model.output_shape == (None, 5)


def test_fine_tune_top_layers(keras_mod):
    from training.architectures.applications import set_trainable_top

    model = registry.get("vgg16").build((32, 32, 3), 7)
    base = model.get_layer("backbone")
    set_trainable_top(model, 0)
    assert not base.trainable
    set_trainable_top(model, 4)
    flags = [layer.trainable for layer in base.layers]
    assert flags[-4:] == [True] * 4 and not any(flags[:-4])


def test_imagenet_offline_is_clear(keras_mod, monkeypatch: pytest.MonkeyPatch, tmp_path):
    # an empty Keras home and no network: the download has to fail -> one clear message
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    import socket

    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(EmotionLensError, match=r"could not download ImageNet weights \(offline\?\)"):
        registry.get("mobilenet_v3_small").build((32, 32, 3), 7, weights="imagenet")


def test_ippm_levels(keras_mod):
    model = registry.get("resnet50_ippm").build((32, 32, 3), 7)
    concat = model.get_layer("ippm_concat")
    # backbone output 1×1×2048 upsampled ×4 + three 128-filter levels
    assert concat.output.shape[1:] == (4, 4, 2048 + 3 * 128)
    assert model.get_layer("ippm2_conv").kernel.shape[:2] == (5, 5)


def test_ippm_levels_from_the_config(keras_mod):
    """`ippm_scales`/`ippm_kernels` config fields reach the resnet50_ippm builder."""
    from training import config as config_mod
    from training.models import build_model

    cfg = config_mod.apply(config_mod.TrainConfig(), {"model": "resnet50_ippm", "input_size": 32,
                                                      "ippm_scales": [1, 2],
                                                      "ippm_kernels": [3, 1]}, "test")
    model = build_model(cfg, 7)
    assert model.get_layer("ippm_concat").output.shape[1:] == (2, 2, 2048 + 2 * 128)
    assert model.get_layer("ippm0_conv").kernel.shape[:2] == (3, 3)
    assert model.get_layer("ippm1_conv").kernel.shape[:2] == (1, 1)
    with pytest.raises(ValueError):
        model.get_layer("ippm2_conv")
    with pytest.raises(EmotionLensError, match="one kernel per scale"):
        registry.get("resnet50_ippm").build((32, 32, 3), 7, ippm_scales=(1, 2), ippm_kernels=(1,))


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v2"])
def test_a_backbone_from_scratch_gets_batchnorm_momentum_099(keras_mod, name: str, tmp_path):
    """Keras builds these with momentum 0.999; from scratch on FER2013 the running statistics
    then lag the weights so far that inference predicts one class. The momentum is 0.99, and the
    saved model keeps it (a resumed run goes on with it); running statistics follow the batches."""
    keras = keras_mod

    def momenta(model):
        def walk(layer):
            yield layer
            for sub in getattr(layer, "layers", None) or []:
                yield from walk(sub)
        return [la.momentum for la in walk(model) if isinstance(la, keras.layers.BatchNormalization)]

    from training.architectures.applications import make_backbone

    assert {la.momentum for la in keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3)).layers
        if isinstance(la, keras.layers.BatchNormalization)} == {0.999}  # what Keras gives
    base = make_backbone(name, (32, 32, 3), "none")
    assert set(momenta(base)) == {0.99}
    model = registry.get(name).build((32, 32, 1), 7)
    assert momenta(model) and set(momenta(model)) == {0.99}
    model.save(tmp_path / "m.keras")
    assert set(momenta(keras.models.load_model(tmp_path / "m.keras", compile=False))) == {0.99}


def test_scratch_batchnorm_reaches_nested_models(keras_mod):
    keras = keras_mod
    from training.architectures.applications import from_scratch_batchnorm

    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.BatchNormalization(momentum=0.999)])
    x = keras.Input((8, 8, 3))
    outer = keras.Model(x, keras.layers.BatchNormalization(momentum=0.999)(inner(x)))
    from_scratch_batchnorm(outer, keras)
    bns = [la for la in (*outer.layers, *inner.layers)
           if isinstance(la, keras.layers.BatchNormalization)]
    assert len(bns) == 2 and {la.momentum for la in bns} == {0.99}
