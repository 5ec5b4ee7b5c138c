"""An annotation killed with SIGKILL keeps its flushed rows, and --resume finishes the job without
duplicating a row."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import imageio_ffmpeg
import pytest

from app.cli import main
from app.core.runs import record_path
from tests.media_files import h264_clip, image_folder


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def long_video(media, tmp_path_factory):
    """The sample video played four times (460 frames), long enough to be killed mid-way."""
    out = tmp_path_factory.mktemp("long") / "long.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-stream_loop", "3",
                    "-i", str(media / "street_phone.mp4"), "-c", "copy", str(out)], check=True)
    return out


def test_sigkill_then_resume_matches_a_clean_run(long_video, default_model, tmp_path):
    clean = tmp_path / "clean.csv"
    assert main(["annotate", str(long_video), "--csv", str(clean), "--model", str(default_model)]) == 0
    expected = rows(clean)

    part = tmp_path / "part.csv"
    cmd = [sys.executable, "-m", "app.cli", "annotate", str(long_video), "--csv", str(part),
           "--model", str(default_model)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if part.exists() and len(part.read_bytes().splitlines()) > 30:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.fail("the run ended before it could be killed; make the input longer")
    survived = rows(part)
    assert 0 < len(survived) < len(expected)  # flushed rows are on disk

    assert main(["annotate", str(long_video), "--csv", str(part), "--model", str(default_model),
                 "--resume"]) == 0
    resumed = rows(part)
    keys = [(r["frame"], r["face_id"]) for r in resumed]
    assert len(keys) == len(set(keys)), "a row was written twice"
    assert [r["frame"] for r in resumed] == [r["frame"] for r in expected]
    for got, want in zip(resumed, expected, strict=True):
        assert got["label"] == want["label"]
        assert abs(float(got["happy"]) - float(want["happy"])) < 1e-4
        assert got["x"] == want["x"]


def test_resume_of_a_finished_run_changes_nothing(media, default_model, tmp_path):
    out = tmp_path / "a.csv"
    args = ["annotate", str(media / "street_phone.mp4"), "--csv", str(out),
            "--model", str(default_model)]
    assert main(args) == 0
    before = rows(out)
    assert main([*args, "--resume"]) == 0
    after = rows(out)
    assert len(after) == len(before)
    for a, b in zip(after, before, strict=True):
        for key, value in b.items():
            if key.startswith("smooth_"):  # re-derived from 5-decimal CSV state: last digit may move
                assert abs(float(a[key]) - float(value)) < 1e-3
            else:
                assert a[key] == value


def test_resume_rebuilds_video_and_json(media, default_model, tmp_path):
    out = tmp_path / "a.csv"
    base = ["annotate", str(media / "street_phone.mp4"), "--csv", str(out),
            "--model", str(default_model)]
    assert main(base) == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:50]) + lines[50][:10])  # as if killed mid-row
    assert main([*base, "--resume", "-o", str(tmp_path / "a.mp4"), "--json",
                 str(tmp_path / "a.json")]) == 0
    import cv2
    summary = json.loads((tmp_path / "a.json").read_text())["summary"]
    assert summary["frames"] == 115
    assert len(rows(out)) == summary["face_rows"]
    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 115


def test_resume_needs_the_csv(media, tmp_path, capsys):
    assert main(["annotate", str(media / "street_phone.mp4"), "--json", str(tmp_path / "a.json"),
                 "--resume"]) == 2
    assert "--csv" in capsys.readouterr().err


# --- a resume continues only the same run (its record beside the CSV), and replaces nothing else ---

def run_cli(capsys, *args):
    code = main(list(args))
    return code, capsys.readouterr().err.strip()


@pytest.fixture
def first_run(default_model, tmp_path, capsys):
    """A finished run of a small generated clip into r.csv; resumes are checked against it."""
    src = h264_clip(tmp_path / "in.mp4", frames=8)
    csv_path = tmp_path / "r.csv"
    code, err = run_cli(capsys, "annotate", str(src), "--csv", str(csv_path),
                        "--model", str(default_model))
    assert code == 0, err
    return src, csv_path


def refused(capsys, csv_path, *args):
    """Run a resume that must be refused in one line, leaving the CSV as it was; the line."""
    before = csv_path.read_bytes()
    code, err = run_cli(capsys, "annotate", *args, "--csv", str(csv_path), "--resume")
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: cannot resume"), err
    assert csv_path.read_bytes() == before
    return err


def test_resume_refuses_another_input(first_run, default_model, capsys, tmp_path):
    src, csv_path = first_run
    other = tmp_path / "other.mp4"
    other.write_bytes(src.read_bytes())
    err = refused(capsys, csv_path, str(other), "--model", str(default_model))
    assert "input" in err and "other.mp4" in err


def test_resume_refuses_a_changed_input_file(first_run, default_model, capsys):
    src, csv_path = first_run
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    err = refused(capsys, csv_path, str(src), "--model", str(default_model))
    assert "changed" in err


def test_resume_refuses_other_options(first_run, default_model, capsys):
    src, csv_path = first_run
    err = refused(capsys, csv_path, str(src), "--model", str(default_model),
                  "--detector", "opencv", "--smoothing", "0")
    assert "detector opencv" in err and "smoothing" in err


def test_resume_refuses_another_model(first_run, default_model, capsys, tmp_path):
    src, csv_path = first_run
    other = tmp_path / "bundle"
    shutil.copytree(default_model, other)
    card = json.loads((other / "model.json").read_text())
    card["input"]["crop"]["opencv"]["scale"] = 1.3  # same name and files, other crops
    (other / "model.json").write_text(json.dumps(card))
    err = refused(capsys, csv_path, str(src), "--model", str(other))
    assert "model" in err


def test_resume_refuses_a_folder_whose_images_changed(media, default_model, capsys, tmp_path):
    folder = image_folder(tmp_path / "frames", {"a.jpg": media / "single_face.jpg",
                                                "b.jpg": media / "two_faces.jpg"})
    csv_path = tmp_path / "f.csv"
    assert run_cli(capsys, "annotate", str(folder), "--csv", str(csv_path),
                   "--model", str(default_model))[0] == 0
    (folder / "c.jpg").write_bytes((media / "single_face.jpg").read_bytes())
    err = refused(capsys, csv_path, str(folder), "--model", str(default_model))
    assert "added c.jpg" in err


def test_resume_refuses_a_csv_without_a_record(first_run, default_model, capsys):
    src, csv_path = first_run
    record_path(csv_path).unlink()  # a CSV from an older version, or from another tool
    err = refused(capsys, csv_path, str(src), "--model", str(default_model))
    assert "record" in err


def test_resume_with_nothing_to_resume_starts_fresh_and_replaces_nothing(default_model, capsys,
                                                                        tmp_path):
    src = h264_clip(tmp_path / "in.mp4", frames=8)
    precious = {tmp_path / "a.json": "precious json", tmp_path / "a.mp4": "precious video"}
    for path, text in precious.items():
        path.write_text(text)
    csv_path = tmp_path / "a.csv"
    for option, path in (("--json", tmp_path / "a.json"), ("-o", tmp_path / "a.mp4")):
        code, err = run_cli(capsys, "annotate", str(src), "--csv", str(csv_path), option,
                            str(path), "--resume", "--model", str(default_model))
        assert code == 2 and "exists; pass --overwrite" in err, err
    assert all(path.read_text() == text for path, text in precious.items())
    assert not csv_path.exists()
    code, err = run_cli(capsys, "annotate", str(src), "--csv", str(csv_path), "--json",
                        str(tmp_path / "new.json"), "--resume", "--model", str(default_model))
    assert code == 0, err  # nothing to resume: a fresh run
    assert csv_path.read_text().splitlines()[0].startswith("frame,time_s,face_id")


def test_resume_replaces_only_the_files_of_its_run(first_run, default_model, capsys, tmp_path):
    src, csv_path = first_run
    stranger = tmp_path / "stranger.json"
    stranger.write_text("someone else's")
    code, err = run_cli(capsys, "annotate", str(src), "--csv", str(csv_path), "--json",
                        str(stranger), "--resume", "--model", str(default_model))
    assert code == 2 and "exists; pass --overwrite" in err, err
    assert stranger.read_text() == "someone else's"
    # the run's own outputs are rebuilt: a second resume may replace the JSON the first wrote
    for _ in range(2):
        code, err = run_cli(capsys, "annotate", str(src), "--csv", str(csv_path), "--json",
                            str(tmp_path / "r.json"), "--resume", "--model", str(default_model))
        assert code == 0, err
