"""Export round trip: a trained Keras model -> full-int8 TFLite -> the app's runtime stays with float
on real faces (the shipped default's `.keras`, re-exported here, on FER2013 val images from ../shared).

A briefly trained toy model is near-uniform: its near-ties flip under int8 either way, so it measures
noise, not the export. The shipped model is decided on most faces, as every model a user runs is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.core import EXPRESSIONS
from training import export


@pytest.fixture(scope="module")
def real_faces(fer_val_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    from training.data.folders import load_folders

    ds = load_folders(fer_val_dir, max_per_class=90, use_cache=False)
    idx = np.random.default_rng(0).permutation(len(ds))
    return ds.x[idx], ds.y[idx]


def test_int8_roundtrip_keeps_argmax_on_real_faces(keras_mod, real_faces, default_model: Path,
                                                   tmp_path: Path):
    from app.core.bundle import write_model_json
    from app.core.classify import Classifier, load_keras_file

    card = json.loads((default_model / "model.json").read_text())
    size, channels = card["input"]["size"], card["input"]["channels"]
    if channels != 1:
        pytest.skip("the round trip feeds gray FER2013 faces; the default is not a gray model")
    model = load_keras_file(default_model / card["files"]["keras"])
    x, y = real_faces
    if x.shape[1] != size:
        import cv2

        x = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in x])
        if x.ndim == 3:
            x = x[..., None]
    n_calib = 150
    calib = export.calibration_images(x[:n_calib], y[:n_calib], 100, seed=0)
    export.convert_tflite(model, tmp_path / "model_int8.tflite", "int8", calib)
    model.save(str(tmp_path / "model.keras"))
    write_model_json(tmp_path, {
        "name": "roundtrip", "labels": list(EXPRESSIONS),
        "input": {"size": size, "channels": 1, "normalization": card["input"]["normalization"],
                  "crop": export.crop_spec_for("fer2013")},
        "files": {"int8": "model_int8.tflite", "keras": "model.keras"},
    })
    faces = x[n_calib:]
    assert len(faces) >= 400
    keras_probs = Classifier(tmp_path, backend="keras").predict(faces)
    clf = Classifier(tmp_path, backend="int8")
    assert clf.model.quantized
    int8_probs = clf.predict(faces)
    err = np.abs(int8_probs - keras_probs)
    assert float(err.mean()) <= 0.02, f"int8 moves the probabilities by {err.mean():.3f} on average"
    top2 = np.sort(keras_probs, axis=-1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > 0.1
    assert decided.mean() >= 0.5, f"the model is decided on only {decided.mean():.0%} of the faces"
    float_argmax = keras_probs.argmax(-1)
    int8_argmax = int8_probs.argmax(-1)
    overall = float(np.mean(int8_argmax == float_argmax))
    on_decided = float(np.mean(int8_argmax[decided] == float_argmax[decided]))
    assert on_decided >= 0.99, (f"int8 keeps the argmax on only {on_decided:.1%} of "
                                f"{decided.sum()} faces where float is decided")
    assert overall >= 0.95, f"int8 keeps the argmax on only {overall:.1%} of {len(faces)} faces"
    # and int8 is as accurate as float on these labelled faces, within a point
    acc_f = float(np.mean(float_argmax == y[n_calib:]))
    acc_q = float(np.mean(int8_argmax == y[n_calib:]))
    assert acc_q >= acc_f - 0.01, f"int8 accuracy {acc_q:.3f} vs float {acc_f:.3f}"


def test_crop_spec_for():
    spec = export.crop_spec_for("fer2013")
    assert spec and all({"scale", "offset_x", "offset_y", "rotate"} <= set(v) for v in spec.values())
    assert export.crop_spec_for("no_such_dataset") == {
        "default": {"scale": 1.0, "offset_x": 0.0, "offset_y": 0.0, "rotate": True}}
