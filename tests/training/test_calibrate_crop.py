"""`python -m training.calibrate_crop`: bad input is one line; a real calibration finds the faces."""

import cv2

from training.calibrate_crop import main, measure


def test_missing_dataset_is_one_line(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "c.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: dataset folder not found: {tmp_path / 'nope'}"
    assert not (tmp_path / "c.toml").exists()


def test_fer_faces_give_a_crop_near_the_box(fer_val):
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
              for p in sorted((fer_val / "happy").glob("*.jpg"))[:20]]
    m = measure(images, "mediapipe")
    assert m["found"] >= 15
    assert 0.9 < m["scale"] < 1.5 and abs(m["offset_x"]) < 0.1
