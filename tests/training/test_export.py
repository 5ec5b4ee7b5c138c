"""Export round trip: Keras -> full-int8 TFLite -> the app's runtime keeps the argmax on >= 95 % of
real faces (a tiny model quickly fitted to a few hundred FER2013 val images from ../shared)."""

from __future__ import annotations

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


def test_int8_roundtrip_keeps_argmax_on_real_faces(keras_mod, real_faces, tmp_path: Path):
    from app.core.bundle import write_model_json
    from app.core.classify import Classifier
    from training.architectures import registry

    keras = keras_mod
    x, y = real_faces
    n_fit = 360
    keras.utils.set_random_seed(0)
    model = registry.get("simple_cnn").build((48, 48, 1), 7)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[:n_fit] / 255.0, y[:n_fit], batch_size=32, epochs=3, verbose=0)
    calib = export.calibration_images(x[:n_fit], y[:n_fit], 100, seed=0)
    export.convert_tflite(model, tmp_path / "model_int8.tflite", "int8", calib)
    model.save(str(tmp_path / "model.keras"))
    write_model_json(tmp_path, {
        "name": "roundtrip", "labels": list(EXPRESSIONS),
        "input": {"size": 48, "channels": 1, "normalization": {"mean": 0.0, "std": 255.0},
                  "crop": export.crop_spec_for("fer2013")},
        "files": {"int8": "model_int8.tflite", "keras": "model.keras"},
    })
    faces = x[n_fit:]
    assert len(faces) >= 200
    float_argmax = np.asarray(model.predict(faces / 255.0, verbose=0)).argmax(-1)
    clf = Classifier(tmp_path, backend="int8")
    assert clf.model.quantized
    int8_argmax = clf.predict(faces).argmax(-1)
    agreement = float(np.mean(int8_argmax == float_argmax))
    assert agreement >= 0.95, f"int8 keeps the argmax on only {agreement:.1%} of {len(faces)} faces"
    keras_argmax = Classifier(tmp_path, backend="keras").predict(faces).argmax(-1)
    assert np.mean(keras_argmax == float_argmax) >= 0.99


def test_crop_spec_for():
    spec = export.crop_spec_for("fer2013")
    assert spec and all({"scale", "offset_x", "offset_y", "rotate"} <= set(v) for v in spec.values())
    assert export.crop_spec_for("no_such_dataset") == {
        "default": {"scale": 1.0, "offset_x": 0.0, "offset_y": 0.0, "rotate": True}}
