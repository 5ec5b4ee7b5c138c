import json

import pytest

from app.core import EXPRESSIONS, EmotionLensError
from app.core.bundle import load_bundle


def write(tmp_path, data, files=("model_int8.tflite",)):
    for f in files:
        (tmp_path / f).write_bytes(b"x")
    (tmp_path / "model.json").write_text(json.dumps(data))
    return tmp_path


def good():
    return {"schema_version": 1, "labels": list(EXPRESSIONS),
            "input": {"size": 48, "channels": 1, "normalization": {"mean": 0, "std": 255},
                      "crop": {"mediapipe": {"scale": 1.2, "offset_y": -0.1}}},
            "files": {"int8": "model_int8.tflite"}}


def test_valid_bundle_loads(tmp_path):
    b = load_bundle(write(tmp_path, good()))
    assert b.labels == EXPRESSIONS
    assert b.input.crop_for("mediapipe").scale == 1.2
    assert b.input.crop_for("opencv").scale == 1.0  # unknown detector: neutral crop
    assert b.available_kinds == ["int8"]


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.pop("labels"), "labels"),
    (lambda d: d.update(labels=["a", "a"]), "duplicates"),
    (lambda d: d["input"].update(size=3), "input.size"),
    (lambda d: d["input"].update(channels=2), "channels"),
    (lambda d: d["input"]["normalization"].update(std=0), "std"),
    (lambda d: d.update(files={"int8": "../../etc/passwd"}), "plain file name"),
    (lambda d: d.update(files={"pickle": "m.pkl"}), "unknown file kind"),
    (lambda d: d.update(schema_version=99), "schema_version"),
    (lambda d: d["input"]["crop"]["mediapipe"].update(scale=100), "scale"),
])
def test_invalid_model_json_is_one_clear_error(tmp_path, mutate, message):
    data = good()
    mutate(data)
    with pytest.raises(EmotionLensError, match=message):
        load_bundle(write(tmp_path, data))


def test_missing_and_broken_bundles(tmp_path):
    with pytest.raises(EmotionLensError, match="not found"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(EmotionLensError, match=r"no model\.json"):
        load_bundle(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(EmotionLensError, match="not valid JSON"):
        load_bundle(tmp_path)
    data = good()
    (tmp_path / "model.json").write_text(json.dumps(data))  # names a file that is missing
    with pytest.raises(EmotionLensError, match="none of the model files"):
        load_bundle(tmp_path)


def test_crop_for_shares_calibrations_between_detectors_with_the_same_boxes():
    from app.core.bundle import CropSpec, crop_for

    mp, default = CropSpec(scale=1.17), CropSpec(scale=1.3)
    assert crop_for({"mediapipe": mp}, "blazeface") is mp
    assert crop_for({"mediapipe": mp, "default": default}, "opencv") is default
    assert crop_for({}, "opencv") == CropSpec()
