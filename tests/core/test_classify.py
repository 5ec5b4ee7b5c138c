"""The classifier runtime on real faces: LiteRT int8 vs Keras float, batching, card checks."""

import json
import shutil

import cv2
import numpy as np
import pytest

from app.core import EmotionLensError
from app.core.classify import Classifier
from tests.conftest import DEFAULT_MODEL


@pytest.fixture(scope="module")
def real_faces(fer_val):
    """40 FER2013 PublicTest faces per class (280), as the model's uint8 crops."""
    crops = []
    for class_dir in sorted(p for p in fer_val.iterdir() if p.is_dir()):
        for path in sorted(class_dir.glob("*.jpg"))[:40]:
            crops.append(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    return np.stack(crops)[..., None]


def test_tflite_and_keras_agree_on_real_faces(default_model, real_faces):
    lite = Classifier(default_model, backend="int8")
    if "keras" not in lite.bundle.available_kinds:
        pytest.skip("the default bundle ships no .keras file")
    ref = Classifier(default_model, backend="keras")
    a, b = lite.predict(real_faces), ref.predict(real_faces)
    assert a.shape == b.shape == (len(real_faces), 7)
    agree = float(np.mean(a.argmax(1) == b.argmax(1)))
    assert agree >= 0.95, agree
    assert np.allclose(a.sum(1), 1, atol=0.02)


def test_batch_equals_one_by_one(default_model, real_faces):
    clf = Classifier(default_model)
    batch = clf.predict(real_faces[:5])
    single = np.concatenate([clf.predict(real_faces[i : i + 1]) for i in range(5)])
    assert np.allclose(batch, single, atol=1e-5)
    assert clf.predict(real_faces[:0]).shape == (0, 7)


def test_model_is_better_than_chance_on_real_faces(default_model, real_faces):
    clf = Classifier(default_model)
    truth = np.repeat(np.arange(7), 40)
    labels = clf.labels
    folder_order = sorted(labels)  # class folders are sorted by name
    truth_idx = np.array([labels.index(folder_order[t]) for t in truth])
    acc = float(np.mean(clf.predict(real_faces).argmax(1) == truth_idx))
    assert acc > 0.35, acc  # chance is 1/7; the card reports the full-split figure


def test_card_that_does_not_match_the_file_is_refused(default_model, tmp_path):
    bundle = tmp_path / "b"
    shutil.copytree(default_model, bundle)
    meta = json.loads((bundle / "model.json").read_text())
    meta["input"]["size"] = 64
    (bundle / "model.json").write_text(json.dumps(meta))
    with pytest.raises(EmotionLensError, match="does not match"):
        Classifier(bundle, backend="int8")
    meta["input"]["size"] = 48
    meta["labels"] = meta["labels"][:5]
    meta.pop("neutral_mean", None)  # its 7 values would be refused first
    (bundle / "model.json").write_text(json.dumps(meta))
    with pytest.raises(EmotionLensError, match="outputs"):
        Classifier(bundle, backend="int8")


def test_unknown_or_missing_backend(default_model):
    with pytest.raises(EmotionLensError, match="unknown backend"):
        Classifier(default_model, backend="cuda")
    with pytest.raises(EmotionLensError, match="has no float32 file"):
        Classifier(default_model, backend="float32")


def at_size(faces: np.ndarray, size: int) -> np.ndarray:
    """The 48 px val faces at a bundle's input size (MobileNetV3 reads 64)."""
    if size == faces.shape[1]:
        return faces
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in faces])[..., None]


SHIPPED = sorted(p for p in (DEFAULT_MODEL.parent).iterdir() if (p / "model.json").is_file())


@pytest.mark.parametrize("bundle", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_bundle_answers_with_real_confidence(bundle, real_faces):
    """Probabilities as the network means them, on every shipped bundle and runtime: the faces a
    bundle gets right it calls with a median top probability of at least 0.5. A second softmax
    over probabilities (the `models/best` of 2026-12-03) squashes them towards 1/7: its median
    there was 0.26."""
    truth = np.repeat(np.arange(7), 40)
    for kind in ("int8", "keras"):
        clf = Classifier(bundle, backend=kind)
        folder_order = sorted(clf.labels)
        truth_idx = np.array([clf.labels.index(folder_order[t]) for t in truth])
        p = clf.predict(at_size(real_faces, clf.bundle.input.size))
        right = p.argmax(1) == truth_idx
        assert right.mean() > 0.35, (bundle.name, kind, right.mean())
        assert np.allclose(p.sum(1), 1, atol=0.02)
        top = float(np.median(p.max(1)[right]))
        assert top >= 0.5, (bundle.name, kind, top)


@pytest.mark.parametrize("bundle", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_int8_file_stays_with_its_float_model(bundle, real_faces):
    """The models issue's floor: int8 within 0.5 point of float on val, as each card records it,
    and here on 280 val faces the int8 file's argmax is float's on at least 97 % of them. The
    MobileNetV3 bundle of 2026-12-02 (full integer: 0.83 point lower, 90.6 % agreement on val)
    failed both; quantized dynamically it is 0.22 point lower and agrees on 98.9 %."""
    metrics = json.loads((bundle / "model.json").read_text())["metrics"]
    assert metrics["accuracy"] - metrics["int8_accuracy"] <= 0.005, (bundle.name, metrics["accuracy"],
                                                                      metrics["int8_accuracy"])
    keras_clf = Classifier(bundle, backend="keras")
    faces = at_size(real_faces, keras_clf.bundle.input.size)
    float_top = keras_clf.predict(faces).argmax(1)
    int8_top = Classifier(bundle, backend="int8").predict(faces).argmax(1)
    assert float(np.mean(float_top == int8_top)) >= 0.97, bundle.name
