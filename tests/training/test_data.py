"""Every loader parses its fixture (generated in the real format); splits, balancing, augment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import EXPRESSIONS, EmotionLensError
from tests.training.conftest import CLASSES, make_folder_dataset, synth_face, write_image
from training.data import balance
from training.data.base import canonical_label
from training.data.expw import load_expw
from training.data.fer2013_csv import load_fer2013_csv
from training.data.folders import load_folders
from training.data.loading import detect_format, load_splits
from training.data.splits import stratified_cap, stratified_split


def test_canonical_label_maps_dataset_names():
    assert canonical_label("Anger") == "angry"
    assert canonical_label("happiness") == "happy"
    assert canonical_label("0_sadness") == "sad"
    assert canonical_label("Surprised") == "surprise"
    assert canonical_label("contempt") == "contempt"


def test_folders_fer_layout(tiny_folders: Path):
    splits = load_splits(tiny_folders, size=48, channels=1)
    assert len(splits.train) == 7 * 12 and len(splits.val) == 7 * 12 and len(splits.test) == 84
    assert splits.train.x.shape == (84, 48, 48, 1) and splits.train.x.dtype == np.uint8
    assert splits.train.class_counts() == dict.fromkeys(EXPRESSIONS, 12)


def test_folders_counts_corrupt_and_unknown(tmp_path: Path):
    root = make_folder_dataset(tmp_path / "d", 3, names=("anger", "happiness", "sadness"),
                               splits=("",))
    (root / "anger" / "broken.jpg").write_bytes(b"not a jpeg")
    write_image(root / "pain" / "a.jpg", synth_face(0, np.random.default_rng(0)))
    ds = load_folders(root, use_cache=False)
    assert ds.class_counts()["angry"] == 3 and ds.class_counts()["happy"] == 3
    assert len(ds.report.corrupt) == 1 and ds.report.unknown_labels == {"pain": 1}
    assert any("corrupt" in line for line in ds.report.lines())


def test_folders_cache_roundtrip(tmp_path: Path):
    root = make_folder_dataset(tmp_path / "d", 2, splits=("",))
    a = load_folders(root)
    b = load_folders(root)  # from the .npz cache
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)


@pytest.mark.parametrize("contempt,n_labels,n_images", [("drop", 7, 7 * 3), ("disgust", 7, 8 * 3),
                                                         ("keep", 8, 8 * 3)])
def test_affectnet_layout_contempt_mapping(tmp_path: Path, contempt: str, n_labels: int,
                                           n_images: int):
    names = ("anger", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    root = make_folder_dataset(tmp_path / "affectnet", 3, names=names, splits=("train",), size=96,
                               channels=3)
    s = load_splits(root, size=96, channels=3, contempt=contempt)
    assert len(s.train.labels) == n_labels
    assert len(s.train) + len(s.val) == n_images
    assert s.train.x.shape[1:] == (96, 96, 3)
    if contempt == "keep":
        assert s.train.labels[-1] == "contempt"


def test_exclude_class(tiny_folders: Path):
    s = load_splits(tiny_folders, exclude=["disgust"])
    assert "disgust" not in s.train.labels and len(s.train.labels) == 6
    assert len(s.train) == 6 * 12
    with pytest.raises(EmotionLensError, match="unknown class"):
        load_splits(tiny_folders, exclude=["boredom"])


def _fer_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for usage, n in (("Training", 14), ("PublicTest", 7), ("PrivateTest", 7)):
        for i in range(n):
            px = " ".join(map(str, synth_face(i % 7, rng).ravel()))
            rows.append(f"{i % 7},{px},{usage}")
    rows.append("3,1 2 3,Training")          # wrong pixel count
    rows.append("9," + " ".join(["1"] * 2304) + ",Training")  # unknown emotion code
    rows.append("2," + " ".join(["x"] * 2304) + ",PublicTest")  # not numbers
    path.write_text("\n".join(rows) + "\n")
    return path


def test_fer2013_csv(tmp_path: Path):
    csv = _fer_csv(tmp_path / "fer2013.csv")
    parts = load_fer2013_csv(csv)
    assert set(parts) == {"train", "val", "test"}
    assert len(parts["train"]) == 14 and len(parts["val"]) == 7 and len(parts["test"]) == 7
    assert parts["train"].report.corrupt and parts["train"].report.unknown_labels == {"9": 1}
    assert len(parts["val"].report.corrupt) == 1
    assert detect_format(csv) == "fer2013_csv"
    s = load_splits(csv)
    assert len(s.train) == 14 and s.test is not None


def test_fer2013_csv_wrong_columns(tmp_path: Path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(EmotionLensError, match="not a FER2013 CSV"):
        load_fer2013_csv(bad)


def _expw(root: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(10):
        img = rng.normal(100, 10, (120, 160, 3)).clip(0, 255).astype(np.uint8)
        img[20:80, 40:100] = synth_face(i % 7, rng, 60, 3)
        write_image(root / "image" / "origin" / f"img_{i}.jpg", img)
        conf = 0.2 if i == 9 else 55.0
        lines.append(f"img_{i}.jpg 0 20 40 100 80 {conf} {i % 7}")
    lines.append("img_0.jpg 1 10 10 50 50 40.0 8")         # unknown label
    lines.append("missing.jpg 0 10 10 50 50 40.0 3")       # image not there
    lines.append("img_1.jpg 0 10 10")                      # malformed
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "label" / "label.lst").write_text("\n".join(lines) + "\n")
    return root


def test_expw(tmp_path: Path):
    root = _expw(tmp_path / "expw")
    assert detect_format(root) == "expw"
    ds = load_expw(root, size=48, channels=1, min_confidence=1.0)
    assert len(ds) == 9 and ds.x.shape[1:] == (48, 48, 1)
    rep = ds.report
    assert rep.unknown_labels == {"8": 1} and len(rep.corrupt) == 1
    assert rep.skipped["malformed label.lst line"] == 1
    assert rep.skipped["box confidence below 1"] == 1
    assert len(load_expw(root)) == 10  # no confidence filter
    s = load_splits(root, split="70/10/20")
    assert len(s.train) + len(s.val) + len(s.test) == 10


def test_stratified_splits_deterministic():
    y = np.repeat(np.arange(7), 20)
    a = stratified_split(y, (0.7, 0.15, 0.15), seed=3)
    b = stratified_split(y, (0.7, 0.15, 0.15), seed=3)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert [len(p) for p in a] == [7 * 14, 7 * 3, 7 * 3]
    assert len(set(a[0]) | set(a[1]) | set(a[2])) == len(y)
    tr, va, te = stratified_split(y, (0.7, 0.1, 0.2), seed=1)
    assert (len(tr), len(va), len(te)) == (98, 14, 28)
    cap = stratified_cap(y, 35, seed=0)
    assert len(cap) == 35 and np.all(np.bincount(y[cap]) == 5)


def test_class_weights_and_resampling():
    y = np.array([0] * 90 + [1] * 10)
    w = balance.class_weights(y, 2, "balanced")
    assert w[1] / w[0] == pytest.approx(9.0)
    assert np.mean(w[y]) == pytest.approx(1.0)
    ws = balance.class_weights(y, 2, "sqrt")
    assert ws[1] / ws[0] == pytest.approx(3.0)
    x = np.random.default_rng(0).integers(0, 255, (100, 8, 8, 1), dtype=np.uint8)
    xo, yo = balance.oversample(x, y, 0)
    assert np.bincount(yo).tolist() == [90, 90] and xo.shape == (180, 8, 8, 1)
    xs, ys = balance.smote(x, y, 0)
    assert np.bincount(ys).tolist() == [90, 90] and xs.dtype == np.uint8


def test_augment_is_seeded(keras_mod):
    from training.data.augment import AugmentConfig, build_augmenter

    cfg = AugmentConfig(rotation=10, shear=0.1, zoom=0.1, shift=0.1, brightness=0.2, noise=0.02,
                        erasing=0.5)
    x = np.stack([synth_face(c, np.random.default_rng(c)) for c in range(4)]).astype("float32")
    x /= 255.0
    a = np.asarray(build_augmenter(cfg, seed=5)(x, training=True))
    b = np.asarray(build_augmenter(cfg, seed=5)(x, training=True))
    np.testing.assert_allclose(a, b)
    assert a.shape == x.shape and not np.allclose(a, x)
    assert build_augmenter(AugmentConfig(enabled=False)) is None
    with pytest.raises(EmotionLensError, match="unknown augment"):
        AugmentConfig.from_dict({"sparkle": 1})


@pytest.mark.parametrize("option", ["perspective", "gamma", "blur"])
def test_robustness_augmentations_change_faces_within_range(keras_mod, option: str):
    """Each robustness augmentation (pitch/yaw warp, low light, blur) alone moves the pixels, keeps
    them in [0, 1], repeats with its seed, and is off at inference."""
    from training.data.augment import AugmentConfig, build_augmenter

    value = {"perspective": 0.12, "gamma": 0.4, "blur": 1.0}[option]
    cfg = AugmentConfig(flip=False, rotation=0, zoom=0, shift=0, **{option: value})
    x = np.stack([synth_face(c, np.random.default_rng(c)) for c in range(8)])[..., None]
    x = x.astype("float32") / 255.0
    aug = build_augmenter(cfg, seed=3)
    assert aug is not None and len(aug.layers) == 1
    a = np.asarray(aug(x, training=True))
    assert a.shape == x.shape and a.min() >= 0.0 and a.max() <= 1.0 + 1e-6
    assert np.abs(a - x).mean() > 0.005
    np.testing.assert_allclose(a, np.asarray(build_augmenter(cfg, seed=3)(x, training=True)),
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(aug(x, training=False)), x, atol=1e-6)
    if option == "gamma":  # a monotone per-image curve: the pixel order of each face is kept
        for i in range(len(x)):
            order = np.argsort(x[i].ravel(), kind="stable")
            assert np.all(np.diff(a[i].ravel()[order]) >= -1e-6)


def test_missing_dataset_is_one_line_error(tmp_path: Path):
    with pytest.raises(EmotionLensError, match="dataset not found"):
        load_splits(tmp_path / "nope")
    assert CLASSES == EXPRESSIONS
