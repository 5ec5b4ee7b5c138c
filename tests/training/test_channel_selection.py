"""Structured pruning (`init_from`): a narrower vgg_small starts from a trained wider one's
strongest channels, and the training run fine-tunes it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.core import EmotionLensError
from training import run as run_mod
from training.architectures import cnn
from training.architectures.channel_selection import init_from_file, init_from_wider

WIDE, NARROW = (8, 12, 16, 20), (4, 6, 8, 10)


def _wide_with_dead_channels(rng: np.random.Generator) -> tuple[object, list[np.ndarray]]:
    """A wide vgg_small with random weights in which all but NARROW[i] channels of every
    convolution are switched off (BatchNorm gamma = beta = 0: exactly zero after the ReLU)."""
    wide = cnn.vgg_small((48, 48, 1), 7, filters=WIDE)
    alive = []
    for layer in wide.layers:
        if type(layer).__name__ == "Conv2D":
            w = layer.get_weights()
            layer.set_weights([rng.normal(0, 0.3, w[0].shape).astype("float32")])
        if type(layer).__name__ == "BatchNormalization":
            n_channels = layer.get_weights()[0].shape[0]
            n = NARROW[int(layer.name[1]) - 1]
            keep = np.sort(rng.choice(n_channels, n, replace=False))
            on = np.isin(np.arange(n_channels), keep)
            layer.set_weights([np.where(on, rng.uniform(0.5, 2, n_channels), 0).astype("float32"),
                               np.where(on, rng.normal(0, 0.1, n_channels), 0).astype("float32"),
                               rng.normal(0, 0.1, n_channels).astype("float32"),
                               rng.uniform(0.5, 2, n_channels).astype("float32")])
            alive.append(keep)
    return wide, alive


def test_narrow_copy_of_a_network_with_dead_channels_computes_the_same(keras_mod) -> None:
    rng = np.random.default_rng(3)
    wide, alive = _wide_with_dead_channels(rng)
    narrow = cnn.vgg_small((48, 48, 1), 7, filters=NARROW)
    widths = init_from_wider(narrow, wide)
    assert list(widths.values()) == [w for w in NARROW for _ in range(2)]
    x = rng.uniform(0, 1, (5, 48, 48, 1)).astype("float32")
    want = wide.predict(x, verbose=0)
    got = narrow.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # and the channels it kept are exactly the live ones
    kernel = narrow.get_layer("b1_conv1").get_weights()[0]
    np.testing.assert_array_equal(kernel, wide.get_layer("b1_conv1").get_weights()[0][..., alive[0]])


def test_layouts_that_cannot_be_narrowed_are_one_line_errors(keras_mod) -> None:
    wide = cnn.vgg_small((48, 48, 1), 7, filters=NARROW)
    with pytest.raises(EmotionLensError, match="fewer than the 8 wanted"):
        init_from_wider(cnn.vgg_small((48, 48, 1), 7, filters=WIDE), wide)
    with pytest.raises(EmotionLensError, match="does not have"):
        init_from_wider(cnn.simple_cnn((48, 48, 1), 7), wide)
    with pytest.raises(EmotionLensError, match="7 outputs"):
        init_from_wider(cnn.vgg_small((48, 48, 1), 6, filters=NARROW), wide)
    with pytest.raises(EmotionLensError, match="takes 1 channels"):
        init_from_wider(cnn.vgg_small((48, 48, 3), 7, filters=NARROW), wide)
    with pytest.raises(EmotionLensError, match="not found"):
        init_from_file(wide, "/nonexistent/model.keras")


def test_training_run_fine_tunes_a_pruned_model(tiny_folders: Path, tmp_path: Path, keras_mod) -> None:
    rng = np.random.default_rng(4)
    wide, _ = _wide_with_dead_channels(rng)
    source = tmp_path / "wide.keras"
    wide.save(source)
    out = tmp_path / "narrow"
    rc = run_mod.main(["--model", "vgg_small", "--filters", ",".join(map(str, NARROW)),
                       "--init-from", str(source), "--epochs", "1", "--batch-size", "16",
                       "--no-tensorboard", "--no-export", "--data", str(tiny_folders),
                       "--out", str(out), "--max-samples", "70", "--seed", "1"])
    assert rc == 0
    model = keras_mod.models.load_model(out / "model.keras", compile=False)
    assert model.get_layer("b4_conv2").filters == NARROW[3]
    saved = json.loads((out / "config.json").read_text())
    assert saved["filters"] == list(NARROW) and saved["init_from"] == str(source)


@pytest.mark.parametrize("args,needle", [
    (["--model", "simple_cnn", "--filters", "4,4,4,4"], "applies to vgg_small"),
    (["--filters", "4,4"], "one width per block"),
    (["--filters", "4,x,4,4"], "list of positive integers"),
])
def test_bad_filters_are_one_line_errors(args: list[str], needle: str, tiny_folders: Path,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run_mod.main([*args, "--epochs", "1", "--data", str(tiny_folders), "--out",
                       str(tmp_path / "o"), "--max-samples", "70", "--no-tensorboard"])
    assert rc == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and needle in err[0]
