"""Outputs that would lose data are refused before anything is written: an output that is the
input under another name (hard or symbolic link), an output that is a folder, and an output that
another run is writing at the same time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from app.cli import main
from app.core.outputs import LOCK_SUFFIX
from tests.media_files import h264_clip, image_folder


def run_main(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err.strip()


def frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count


def lock_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(LOCK_SUFFIX))


def link(kind: str, target: Path, name: Path) -> Path:
    if kind == "hard":
        os.link(target, name)
    else:
        name.symlink_to(target)
    return name


@pytest.mark.parametrize("kind", ["hard", "symbolic"])
def test_a_video_output_linked_to_the_input_is_refused(default_model, tmp_path, capsys, kind):
    src = h264_clip(tmp_path / "in.mp4", frames=8)
    before = src.read_bytes()
    out = link(kind, src, tmp_path / "out.mp4")
    code, err = run_main(capsys, "annotate", str(src), "-o", str(out), "--csv",
                         str(tmp_path / "a.csv"), "--overwrite", "--model", str(default_model))
    assert code == 2 and "is the input" in err and len(err.splitlines()) == 1, err
    assert src.read_bytes() == before
    assert not (tmp_path / "a.csv").exists()  # refused before anything was written


@pytest.mark.parametrize("kind", ["hard", "symbolic"])
def test_an_image_output_linked_to_the_input_is_refused(media, default_model, tmp_path, capsys,
                                                        kind):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), cv2.imread(str(media / "single_face.jpg")))
    before = src.read_bytes()
    out = link(kind, src, tmp_path / "out.png")
    code, err = run_main(capsys, "annotate", str(src), "-o", str(out), "--overwrite",
                         "--model", str(default_model))
    assert code == 2 and "is the input" in err and len(err.splitlines()) == 1, err
    assert src.read_bytes() == before


@pytest.mark.parametrize("option", ["--csv", "--json"])
def test_a_folder_output_linked_to_one_of_its_images_is_refused(media, default_model, tmp_path,
                                                                capsys, option):
    folder = image_folder(tmp_path / "frames", {"a.jpg": media / "single_face.jpg",
                                                "b.jpg": media / "two_faces.jpg"})
    before = (folder / "b.jpg").read_bytes()
    out = link("hard", folder / "b.jpg", tmp_path / f"out{option.replace('--', '.')}")
    code, err = run_main(capsys, "annotate", str(folder), option, str(out), "--overwrite",
                         "--model", str(default_model))
    assert code == 2 and "is the input" in err and "b.jpg" in err, err
    assert (folder / "b.jpg").read_bytes() == before


@pytest.mark.parametrize("option", ["-o", "--csv", "--json"])
def test_an_output_that_is_a_folder_is_refused_at_the_start(default_model, tmp_path, capsys,
                                                            option):
    src = h264_clip(tmp_path / "in.mp4", frames=8)
    target = tmp_path / ("out.mp4" if option == "-o" else f"out{option.replace('--', '.')}")
    target.mkdir()
    others = {"-o": tmp_path / "x.mp4", "--csv": tmp_path / "x.csv", "--json": tmp_path / "x.json"}
    args = ["annotate", str(src), option, str(target), "--overwrite", "--model", str(default_model)]
    for other, path in others.items():
        if other != option:
            args += [other, str(path)]
    code, err = run_main(capsys, *args)
    assert code == 2 and "is a folder" in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert not any(p.exists() for p in others.values())  # nothing else was started
    assert list(target.iterdir()) == []


def cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "annotate", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_second_run_on_the_same_outputs_fails_in_one_line(default_model, tmp_path):
    src = h264_clip(tmp_path / "long.mp4", frames=1000, size="320x240")
    env = {**os.environ, "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs")}
    out, csv = tmp_path / "out.mp4", tmp_path / "out.csv"
    args = (str(src), "-o", str(out), "--csv", str(csv), "--overwrite", "--model", str(default_model))
    first = cli(*args, env=env)
    deadline = time.monotonic() + 120
    while not csv.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before the second started"
    second = cli(*args, env=env)
    _, err = second.communicate(timeout=120)
    still_running = first.poll() is None
    _, first_err = first.communicate(timeout=300)
    assert second.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "another run" in lines[0], err
    if not still_running:
        pytest.fail("the first run ended before the second one tried; make the input longer")
    assert first.returncode == 0, first_err
    assert frame_count(out) == 1000  # the winner's video is whole, not mixed with the loser's
    assert len(csv.read_text().splitlines()) == 1  # test pattern: no faces, the header only once
    assert lock_files(tmp_path) == []  # released on exit


def test_a_lock_left_by_a_dead_run_is_taken_over(default_model, tmp_path, capsys):
    src = h264_clip(tmp_path / "in.mp4", frames=8)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    csv = tmp_path / "out.csv"
    (tmp_path / f"out.csv{LOCK_SUFFIX}").write_text(f"{dead.pid}\n")  # as a SIGKILLed run leaves it
    code, err = run_main(capsys, "annotate", str(src), "--csv", str(csv),
                         "--model", str(default_model))
    assert code == 0, err
    assert csv.is_file()
    assert lock_files(tmp_path) == []


def test_locks_are_released_after_a_failed_run(default_model, tmp_path, capsys):
    src = h264_clip(tmp_path / "in.mp4", frames=8)
    (tmp_path / "other.mp4").write_bytes(src.read_bytes())
    csv = tmp_path / "out.csv"
    assert run_main(capsys, "annotate", str(src), "--csv", str(csv),
                    "--model", str(default_model))[0] == 0
    code, err = run_main(capsys, "annotate", str(tmp_path / "other.mp4"), "--csv", str(csv),
                         "--resume", "--model", str(default_model))  # refused: another input
    assert code == 2, err
    assert lock_files(tmp_path) == []
