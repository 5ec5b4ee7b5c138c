"""`emotion-lens annotate` end to end on real media with the shipped default model."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import imageio_ffmpeg
import pytest

from app.cli import main
from app.core import EXPRESSIONS
from app.core.detect import create_detector
from app.core.track import iou
from tests.media_files import image_folder

COLUMNS = ["frame", "time_s", "face_id", "x", "y", "w", "h", *EXPRESSIONS, "label"]


def probe(path):
    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                         capture_output=True, text=True).stderr
    return [line.strip() for line in out.splitlines() if "Stream #" in line]


@pytest.fixture(scope="module")
def annotated(media, default_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("annotate")
    cmd = [sys.executable, "-m", "app.cli", "annotate", str(media / "street_phone.mp4"),
           "-o", str(out / "a.mp4"), "--csv", str(out / "a.csv"), "--json", str(out / "a.json"),
           "--model", str(default_model)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_every_frame_is_written(annotated):
    out, _ = annotated
    cap = cv2.VideoCapture(str(out / "a.mp4"))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 115
    streams = probe(out / "a.mp4")
    assert any("Video: h264" in s and "yuv420p" in s for s in streams), streams


def test_csv_has_the_contract_columns_and_one_face_per_frame(annotated):
    out, _ = annotated
    with open(out / "a.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames[: len(COLUMNS)] == COLUMNS
        rows = list(reader)
    frames = [int(r["frame"]) for r in rows]
    per_frame = {i: frames.count(i) for i in range(115)}
    assert sum(1 for n in per_frame.values() if n == 1) >= 0.95 * 115
    for r in rows:
        probs = [float(r[name]) for name in EXPRESSIONS]
        assert abs(sum(probs) - 1) < 0.02
        assert r["label"] == EXPRESSIONS[probs.index(max(probs))]
    assert len({r["face_id"] for r in rows}) <= 3  # one person: IDs stay stable


def test_boxes_lie_on_the_face(annotated, media):
    """Every 10th frame: the CSV box overlaps an independent OpenCV (Haar) detection."""
    out, _ = annotated
    with open(out / "a.csv", newline="") as f:
        rows = {int(r["frame"]): r for r in csv.DictReader(f)}
    cap = cv2.VideoCapture(str(media / "street_phone.mp4"))
    checked = 0
    with create_detector("opencv") as haar:
        for i in range(115):
            _, frame = cap.read()
            if i % 10 or i not in rows:
                continue
            ref = haar.detect(frame)
            if not ref:
                continue
            box = tuple(float(rows[i][k]) for k in "xywh")
            assert max(iou(box, r.box) for r in ref) > 0.3, (i, box, [r.box for r in ref])
            checked += 1
    assert checked >= 5


def test_json_counts_frames_and_rows(annotated):
    out, _ = annotated
    data = json.loads((out / "a.json").read_text())
    s = data["summary"]
    assert s["frames"] == 115
    assert s["frames_with_faces"] + s["frames_without_faces"] == 115
    assert s["face_rows"] == len(data["rows"])
    assert set(COLUMNS) <= set(data["rows"][0])
    assert abs(sum(s["label_share"].values()) - 1) < 1e-6


def test_annotated_image(media, default_model, tmp_path):
    assert main(["annotate", str(media / "two_faces.jpg"), "-o", str(tmp_path / "t.png"),
                 "--csv", str(tmp_path / "t.csv"), "--model", str(default_model)]) == 0
    img = cv2.imread(str(tmp_path / "t.png"))
    assert img.shape == (1588, 2280, 3)
    assert len((tmp_path / "t.csv").read_text().strip().splitlines()) == 3  # header + 2 faces


def test_source_audio_is_kept(media, default_model, tmp_path):
    with_audio = tmp_path / "talk.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i",
                    str(media / "street_phone.mp4"), "-f", "lavfi", "-i", "sine=frequency=440:duration=5",
                    "-shortest", "-c:v", "copy", "-c:a", "aac", str(with_audio)], check=True)
    assert main(["annotate", str(with_audio), "-o", str(tmp_path / "out.mp4"),
                 "--model", str(default_model), "--detector", "opencv"]) == 0
    streams = probe(tmp_path / "out.mp4")
    assert any("Audio: aac" in s for s in streams), streams


def test_opencv_detector_annotates_too(media, default_model, tmp_path):
    assert main(["annotate", str(media / "single_face.jpg"), "--csv", str(tmp_path / "s.csv"),
                 "--detector", "opencv", "--model", str(default_model)]) == 0
    assert len((tmp_path / "s.csv").read_text().strip().splitlines()) == 2


@pytest.mark.parametrize("suffix", [".pgm", ".ppm", ".JPG", ".webp"])
def test_default_output_of_any_image_is_an_image(tmp_path, suffix):
    from app.core.annotate import default_outputs

    src = tmp_path / f"face{suffix}"
    src.write_bytes(b"x")
    assert default_outputs(src, tmp_path).video == tmp_path / "face_annotated.png"


def test_folder_names_skipped_files_and_numbers_only_the_images_read(media, default_model,
                                                                     tmp_path, capsys):
    folder = image_folder(tmp_path / "frames", {"a.jpg": media / "single_face.jpg",
                                                "b.jpg": b"not an image",
                                                "c.jpg": media / "two_faces.jpg"})
    out = tmp_path / "f.csv"
    assert main(["annotate", str(folder), "--csv", str(out), "--json", str(tmp_path / "f.json"),
                 "--model", str(default_model)]) == 0
    err = capsys.readouterr().err
    assert any("skipped" in line and "b.jpg" in line for line in err.splitlines()), err
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames[: len(COLUMNS)] == COLUMNS and "file" in reader.fieldnames
        rows = list(reader)
    assert [(r["frame"], r["time_s"], r["file"]) for r in rows] == [
        ("0", "0.000", "a.jpg"), ("1", "1.000", "c.jpg"), ("1", "1.000", "c.jpg")]
    data = json.loads((tmp_path / "f.json").read_text())
    assert [(r["frame"], r["file"]) for r in data["rows"]] == [(0, "a.jpg"), (1, "c.jpg"),
                                                              (1, "c.jpg")]
    assert data["summary"]["frames"] == 2
    assert [Path(p).name for p in data["summary"]["skipped_files"]] == ["b.jpg"]

    # an interrupted folder run resumes with the same rows, file names included
    clean = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(clean[:3]))  # the header, frame 0 and half of frame 1
    assert main(["annotate", str(folder), "--csv", str(out), "--resume",
                 "--model", str(default_model)]) == 0
    with open(out, newline="") as f:
        resumed = list(csv.DictReader(f))
    assert [(r["frame"], r["file"], r["label"], r["x"]) for r in resumed] == \
        [(r["frame"], r["file"], r["label"], r["x"]) for r in rows]
