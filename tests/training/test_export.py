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


def test_dynamic_int8_keeps_the_argmax_and_answers_a_face_alike_alone_or_in_a_batch(
        keras_mod, real_faces, default_model: Path, tmp_path: Path):
    """`int8_scheme = "dynamic"` (MobileNetV3's): int8 weights, float input and output, each
    activation quantized at run time. The app's `Classifier` runs the file as it is; a face gets
    the same probabilities alone as in a batch of four (the activations are quantized per face,
    not per batch), and the argmax stays with float on the shipped default's real faces."""
    from ai_edge_litert.interpreter import Interpreter

    from app.core.bundle import write_model_json
    from app.core.classify import Classifier, load_keras_file

    card = json.loads((default_model / "model.json").read_text())
    if card["input"]["channels"] != 1 or card["input"]["size"] != 48:
        pytest.skip("the test feeds 48 px gray FER2013 faces")
    model = load_keras_file(default_model / card["files"]["keras"])
    path = export.convert_tflite(model, tmp_path / "model_int8.tflite", "int8", None, "dynamic")
    details = Interpreter(model_path=str(path))
    assert details.get_input_details()[0]["dtype"] == np.float32
    assert any(t["dtype"] == np.int8 for t in details.get_tensor_details()), "no int8 weights"
    static = tmp_path / "static.tflite"
    export.convert_tflite(model, static, "int8", export.calibration_images(*real_faces, 100, 0))
    assert path.stat().st_size < 1.2 * static.stat().st_size
    model.save(str(tmp_path / "model.keras"))
    write_model_json(tmp_path, {
        "name": "dynamic", "labels": list(EXPRESSIONS),
        "input": {"size": 48, "channels": 1, "normalization": card["input"]["normalization"],
                  "crop": export.crop_spec_for("fer2013")},
        "files": {"int8": "model_int8.tflite", "keras": "model.keras"},
        "quantization": export.int8_note(0, "dynamic"),
    })
    faces, _ = real_faces
    clf = Classifier(tmp_path, backend="int8")
    assert clf.backend == "int8" and not clf.model.quantized
    probs = clf.predict(faces)
    want = Classifier(tmp_path, backend="keras").predict(faces)
    assert float(np.mean(probs.argmax(-1) == want.argmax(-1))) >= 0.97
    assert float(np.abs(probs - want).mean()) <= 0.02
    alone = np.concatenate([clf.predict(faces[i:i + 1]) for i in range(4)])
    assert np.allclose(clf.predict(faces[:4]), alone, atol=1e-6)
    with pytest.raises(export.EmotionLensError, match="unknown int8 scheme 'per-tensor'"):
        export.convert_tflite(model, tmp_path / "x.tflite", "int8", None, "per-tensor")


def test_convert_only_makes_a_dynamic_file_without_calibration_images(default_model: Path,
                                                                      tmp_path: Path):
    """The converting subprocess of a non-TensorFlow backend (`--convert-only`) gets calibration
    images only for a static file: a dynamic one is made without them, a static one without them
    is refused in one line."""
    import subprocess
    import sys

    card = json.loads((default_model / "model.json").read_text())
    keras_file = default_model / card["files"]["keras"]
    base = [sys.executable, "-m", "training.export", "--convert-only", str(keras_file),
            "--kinds", "int8"]
    done = subprocess.run([*base, "--out", str(tmp_path / "d"), "--int8", "dynamic"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-400:]
    assert (tmp_path / "d" / "model_int8.tflite").stat().st_size > 100_000
    done = subprocess.run([*base, "--out", str(tmp_path / "s"), "--int8", "static"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "int8 export needs representative images" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "s" / "model_int8.tflite").exists()
    assert not export._needs_calibration(["float16", "int8"], "dynamic")
    assert export._needs_calibration(["float16", "int8"], "static")
    assert not export._needs_calibration(["float16"], "static")
