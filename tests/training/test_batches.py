"""The backend-agnostic input pipeline (NumPy batches for JAX/PyTorch hosts without TensorFlow)
against tf.data, and a real training run that uses it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.core import EmotionLensError
from training.data.batches import make_batches


def _data(n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 48, 48, 1), dtype=np.uint8), rng.integers(0, 7, n)


def test_array_batches_match_tf_data_without_shuffle(keras_mod):
    x, y = _data()
    w = np.linspace(0.5, 2.0, 7).astype(np.float32)
    tf_b = list(make_batches(x, y, 7, batch_size=16, shuffle=False, seed=0, weights=w,
                             pipeline="tf").as_numpy_iterator())
    np_b = make_batches(x, y, 7, batch_size=16, shuffle=False, seed=0, weights=w, pipeline="arrays")
    assert len(np_b) == len(tf_b) == 4
    for i, (ti, tl, tw) in enumerate(tf_b):
        ni, nl, nw = np_b[i]
        np.testing.assert_allclose(ni, ti, atol=1e-6)
        np.testing.assert_array_equal(nl, tl)
        np.testing.assert_allclose(nw, tw)


def test_array_batches_shuffle_each_epoch_seeded_and_cover_every_image(keras_mod):
    x, y = _data()
    x[:, 0, 0, 0] = np.arange(len(x))  # an id per image, read back from each batch

    def epoch_ids(batches) -> np.ndarray:
        ids = np.concatenate([np.round(batches[i][0][:, 0, 0, 0] * 255) for i in range(len(batches))])
        batches.on_epoch_end()
        return ids.astype(int)

    a = make_batches(x, y, 7, batch_size=16, shuffle=True, seed=3, pipeline="arrays")
    b = make_batches(x, y, 7, batch_size=16, shuffle=True, seed=3, pipeline="arrays")
    e1, e2 = epoch_ids(a), epoch_ids(a)
    assert sorted(e1) == sorted(e2) == list(range(len(x)))
    assert not np.array_equal(e1, e2) and not np.array_equal(e1, np.arange(len(x)))
    np.testing.assert_array_equal(epoch_ids(b), e1)


def test_array_batches_augment_within_range(keras_mod):
    from training.data.augment import AugmentConfig, build_augmenter

    x, y = _data(16)
    aug = build_augmenter(AugmentConfig(rotation=15, gamma=0.4, contrast=0.2, erasing=0.5), seed=1)
    img, onehot = make_batches(x, y, 7, batch_size=16, shuffle=False, seed=0, augmenter=aug,
                               pipeline="arrays")[0]
    assert img.shape == (16, 48, 48, 1) and img.min() >= 0.0 and img.max() <= 1.0
    assert not np.allclose(img, x / 255.0, atol=1e-3)
    np.testing.assert_array_equal(onehot.argmax(-1), y)


def test_unknown_pipeline_and_empty_data_are_one_line(keras_mod):
    x, y = _data(4)
    with pytest.raises(EmotionLensError, match="unknown input pipeline"):
        make_batches(x, y, 7, batch_size=2, shuffle=False, seed=0, pipeline="torch")
    with pytest.raises(EmotionLensError, match="nothing to batch"):
        make_batches(x[:0], y[:0], 7, batch_size=2, shuffle=False, seed=0, pipeline="arrays")


def test_training_run_on_array_batches(tiny_folders: Path, tmp_path: Path, keras_mod):
    """`--input-pipeline arrays` (what a JAX/PyTorch GPU host runs) trains, checkpoints and resumes."""
    from training import run as run_mod

    out = tmp_path / "arrays"
    args = ["--model", "simple_cnn", "--epochs", "1", "--batch-size", "16", "--no-tensorboard",
            "--seed", "1", "--data", str(tiny_folders), "--out", str(out), "--max-samples", "70",
            "--input-pipeline", "arrays", "--no-export"]
    assert run_mod.main(args) == 0
    assert run_mod.main(["--out", str(out), "--resume", "--epochs", "2", "--no-export"]) == 0
    state = json.loads((out / "train_state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    assert json.loads((out / "config.json").read_text())["input_pipeline"] == "arrays"


def first_epochs(*starts: int) -> dict[str, np.ndarray]:
    """For each start epoch, the first epoch `make_datasets` gives a process that starts there:
    the sample order (an id per image) on both pipelines, and the augmentation draws (one image
    64 times, sorted) on the NumPy one."""
    from training.config import TrainConfig
    from training.data.augment import AugmentConfig
    from training.inputs import TrainData, make_datasets

    x, y = _data(64)
    x[:, 0, 0, 0] = np.arange(64)  # an id per image, read back from each batch
    same = np.repeat(x[:1], 64, axis=0)  # one image 64 times: only the draws differ
    found = {}
    for start in starts:
        for pipeline, name, images, augment in (
                ("tf", "order", x, AugmentConfig(enabled=False)),
                ("arrays", "order", x, AugmentConfig(enabled=False)),
                ("arrays", "draws", same, AugmentConfig(rotation=15, gamma=0.4))):
            cfg = TrainConfig(seed=7, batch_size=16, input_pipeline=pipeline, augment=augment)
            val = type("Val", (), {"x": images[:8], "y": y[:8]})()
            train, _ = make_datasets(cfg, TrainData(None, val, images, y, tuple("abcdefg"),
                                                    np.ones(7, np.float32)), start_epoch=start)
            batches = (list(train.as_numpy_iterator()) if pipeline == "tf"
                       else [train[i] for i in range(len(train))])
            img = np.concatenate([b[0] for b in batches])
            found[f"{start}_{pipeline}_{name}"] = (
                np.round(img[:, 0, 0, 0] * 255).astype(int) if name == "order"
                else np.sort(img.reshape(64, -1).mean(axis=1)))
    return found


def test_a_resumed_run_draws_new_orders_and_augmentations(tmp_path: Path, keras_mod):
    """A training process that starts at epoch 0 draws the same sample order and augmentations
    every time (a search trial repeats), in a fresh process as a resume is; one resumed at
    epoch 5 (`make_datasets(start_epoch=5)`) does not replay epoch 1's draws, as every resumed
    process did when it reseeded from the config's seed. The order on both input pipelines;
    the augmentation draws on the NumPy one (tf.data's parallel map draws them in a racy order,
    so they differ between processes even from one seed, only partly)."""
    import subprocess
    import sys

    from tests.training.conftest import ROOT_DIR
    from training.inputs import stream_seed

    out = tmp_path / "resumed.npz"
    code = ("import sys, numpy as np; from tests.training.test_batches import first_epochs; "
            "np.savez(sys.argv[1], **first_epochs(0, 5))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT_DIR,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one, other = dict(np.load(out)), first_epochs(0)  # another process, and this one
    for order in ("tf_order", "arrays_order"):
        new, again, resumed = one[f"0_{order}"], other[f"0_{order}"], one[f"5_{order}"]
        assert sorted(new) == sorted(resumed) == list(range(64))
        np.testing.assert_array_equal(again, new)
        assert not np.array_equal(resumed, new)
    new, again, resumed = one["0_arrays_draws"], other["0_arrays_draws"], one["5_arrays_draws"]
    np.testing.assert_allclose(again, new, atol=1e-6)
    assert np.abs(resumed - new).mean() > 0.005
    assert stream_seed(7, 0) == 7 and len({stream_seed(7, e) for e in range(1, 200)}) == 199
