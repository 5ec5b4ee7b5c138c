"""Fuzzing the folder-per-class loader (FER2013 images, AffectNet, RAF-DB layouts): any mix of class
names, empty classes, tiny, 16-bit, corrupt, empty and random files loads exactly the decodable
images of known classes, or fails with one EmotionLensError line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from app.core import EXPRESSIONS
from tests.training.fuzzing import FUZZ, check_dataset, fresh_dir, load_or_error
from training.data.base import canonical_label
from training.data.folders import IMAGE_EXTS, load_folders
from training.data.loading import load_splits

CLASS_NAMES = ["angry", "Anger", "0_happiness", "sad", "Surprised", "fear", "disgust", "neutral",
               "contempt", "pain", "123", "ünïcode", "happy face"]
FILE_KINDS = ["gray_png", "color_jpg", "png16", "one_pixel", "tall", "empty", "text", "truncated_jpg",
              "random", "not_an_image_suffix"]


def _image(kind: str, rng: np.random.Generator) -> tuple[str, bytes]:
    """(suffix, file bytes) of one file of `kind`."""
    if kind == "empty":
        return ".jpg", b""
    if kind == "text":
        return ".png", b"this is not an image\n"
    if kind == "random":
        return rng.choice([".jpg", ".png", ".bmp"]), rng.bytes(int(rng.integers(1, 400)))
    if kind == "not_an_image_suffix":
        return ".txt", b"notes"
    shape = {"gray_png": (48, 48), "color_jpg": (40, 56, 3), "png16": (30, 30), "one_pixel": (1, 1),
             "tall": (90, 3, 3), "truncated_jpg": (64, 64, 3)}[kind]
    dtype = np.uint16 if kind == "png16" else np.uint8
    img = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    suffix = ".jpg" if kind.endswith("jpg") else ".png"
    ok, buf = cv2.imencode(suffix, img)
    assert ok
    data = buf.tobytes()
    return suffix, data[: len(data) // 3] if kind == "truncated_jpg" else data


classes = st.dictionaries(st.sampled_from(CLASS_NAMES), st.lists(st.sampled_from(FILE_KINDS), max_size=4),
                          max_size=6)


def write_tree(root: Path, tree: dict[str, list[str]], seed: int,
               ) -> tuple[dict[str, int], dict[str, int]]:
    """Write the class folders; returns (decodable images, files with an image suffix) per
    canonical class name."""
    rng = np.random.default_rng(seed)
    decodable: dict[str, int] = {}
    images: dict[str, int] = {}
    for name, kinds in tree.items():
        folder = root / name
        folder.mkdir(parents=True)
        label = canonical_label(name)
        for i, kind in enumerate(kinds):
            suffix, data = _image(kind, rng)
            path = folder / f"img_{i}{suffix}"
            path.write_bytes(data)
            if suffix in IMAGE_EXTS:
                images[label] = images.get(label, 0) + 1
                if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None:
                    decodable[label] = decodable.get(label, 0) + 1
    return decodable, images


@FUZZ
@given(tree=classes, seed=st.integers(0, 2**16), size=st.sampled_from([48, 20]),
       channels=st.sampled_from([1, 3]), contempt=st.sampled_from(["drop", "disgust", "unknown"]))
def test_folders_load_exactly_the_decodable_images(tmp_path: Path, tree: dict[str, list[str]], seed: int,
                                                   size: int, channels: int, contempt: str) -> None:
    root = fresh_dir(tmp_path)
    decodable, images = write_tree(root, tree, seed)
    extra: dict[str, str | None] = {"drop": {"contempt": None}, "disgust": {"contempt": "disgust"},
                                    "unknown": {}}[contempt]
    want: dict[str, int] = {}
    unknown = 0
    for label, n in images.items():
        mapped = extra.get(label, label)
        if mapped is None:
            continue
        if mapped not in EXPRESSIONS:
            unknown += n
        elif decodable.get(label):
            want[mapped] = want.get(mapped, 0) + decodable[label]
    ds = load_or_error(lambda: load_folders(root, size=size, channels=channels, extra_map=extra,
                                            use_cache=False))
    if ds is None:
        assert not want
        return
    check_dataset(ds, size, channels, EXPRESSIONS)
    assert dict(ds.report.counts) == want
    assert sum(ds.report.unknown_labels.values()) == unknown
    known = sum(n for label, n in images.items() if extra.get(label, label) in EXPRESSIONS)
    assert len(ds.report.corrupt) == known - len(ds)


@FUZZ
@given(train=classes, val=classes, seed=st.integers(0, 2**16),
       contempt=st.sampled_from(["drop", "disgust", "keep"]))
def test_affectnet_layout_through_load_splits(tmp_path: Path, train: dict[str, list[str]],
                                              val: dict[str, list[str]], seed: int, contempt: str) -> None:
    """`train/` and `val/` class folders (AffectNet's layout, contempt included), via load_splits
    and its cache: well-formed splits or one error line."""
    root = fresh_dir(tmp_path)
    (root / "train").mkdir()
    write_tree(root / "train", train, seed)
    if val:
        (root / "val").mkdir()
        write_tree(root / "val", val, seed + 1)
    splits = load_or_error(lambda: load_splits(root, size=32, channels=3, contempt=contempt))
    if splits is None:
        return
    labels = (*EXPRESSIONS, "contempt") if contempt == "keep" else EXPRESSIONS
    check_dataset(splits.train, 32, 3, labels, whole=False)
    for part in (splits.val, splits.test):
        if part is not None and len(part):
            check_dataset(part, 32, 3, labels, whole=False)


def test_empty_classes_and_no_images_are_one_line(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for name in ("angry", "happy", "sad"):
        (root / name).mkdir(parents=True)
    assert load_or_error(lambda: load_folders(root, use_cache=False)) is None
    (root / "happy" / "a.png").write_bytes(cv2.imencode(".png", np.full((8, 8), 9, np.uint8))[1].tobytes())
    ds = load_or_error(lambda: load_folders(root, use_cache=False))
    assert ds is not None and ds.class_counts()["happy"] == 1 and ds.class_counts()["angry"] == 0
    assert load_or_error(lambda: load_folders(tmp_path / "nope")) is None
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.jpg").write_bytes(b"")
    assert load_or_error(lambda: load_folders(tmp_path / "flat")) is None
