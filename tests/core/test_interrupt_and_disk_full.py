"""`annotate` stopped halfway, for real: Ctrl-C in a terminal (SIGINT to the whole foreground
process group, FFmpeg included), and a disk that fills up (a small tmpfs, or where mounting is not
allowed a file-size limit). What was written is kept and whole: a playable MP4, no partial CSV
row, JSON that says what happened, and one line on the console."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.sources import VideoFile
from tests.conftest import ROOT
from tests.media_files import ffmpeg

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and file-size limits")


@pytest.fixture(scope="module")
def long_face_clip(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample face clip four times over (460 frames) with a tone, small on disk (its
    annotated copy is about nine times larger)."""
    out = tmp_path_factory.mktemp("long") / "talk.mp4"
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-stream_loop", "3",
                    "-i", str(media / "street_phone.mp4"), "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=44100", "-map", "0:v", "-map", "1:a",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "38", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "32k", "-shortest", str(out)], check=True)
    return out


def annotate_cmd(src: Path, out: Path, model: Path, video: bool = True) -> list[str]:
    return [sys.executable, "-m", "app.cli", "annotate", str(src),
            *(["-o", str(out / "a.mp4")] if video else []),
            "--csv", str(out / "a.csv"), "--json", str(out / "a.json"), "--model", str(model)]


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
            "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs")}


def data_rows(path: Path) -> int:
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def assert_whole_csv(path: Path) -> list[dict[str, str]]:
    """Every row has every column (nothing a reader would fill with NaN); returns the rows."""
    data = path.read_bytes()
    assert data.endswith(b"\r\n"), data[-200:]
    with open(path, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    header, rows = table[0], table[1:]
    assert all(len(row) == len(header) for row in rows), [r for r in rows if len(r) != len(header)]
    for row in rows:
        float(row[1])
        [float(v) for v in row[7:14]]
    return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.mark.parametrize("video", [True, False], ids=["video+csv+json", "csv+json"])
def test_ctrl_c_keeps_whole_outputs_and_says_interrupted(
        long_face_clip: Path, default_model: Path, tmp_path: Path, video: bool) -> None:
    proc = subprocess.Popen(annotate_cmd(long_face_clip, tmp_path, default_model, video),
                            cwd=tmp_path, env=env(tmp_path), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and data_rows(tmp_path / "a.csv") < 20:
            assert time.monotonic() < deadline, "no rows after 240 s"
            time.sleep(0.05)
        assert proc.poll() is None, "it finished before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "error" not in err, err
    rows = assert_whole_csv(tmp_path / "a.csv")
    summary = json.loads((tmp_path / "a.json").read_text())["summary"]
    assert summary["cancelled"] is True and summary["stopped_early"] is False
    assert 20 <= summary["frames"] < 460
    assert {int(r["frame"]) for r in rows} <= set(range(summary["frames"]))
    assert summary["face_rows"] == len(rows)  # CSV and JSON end at the same frame
    if video:  # a whole MP4 (its index written) with every frame annotated before the stop
        assert len(list(VideoFile(tmp_path / "a.mp4"))) == summary["frames"]


def _mount_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


@pytest.fixture(params=["tmpfs", "file-size-limit"])
def small_disk(request: pytest.FixtureRequest,
               tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None] | None]]:
    """A folder where writing stops after about 1 MB, and what the child process must run
    first: a 1 MB tmpfs (root, mount allowed), or RLIMIT_FSIZE (writes fail with EFBIG; SIGXFSZ
    is ignored, so the write fails instead of killing the process)."""
    where = tmp_path / "small"
    where.mkdir()
    if request.param == "tmpfs":
        if not _mount_tmpfs(where, "1m"):
            pytest.skip("NOT TESTED ON A FULL DISK: cannot mount a tmpfs here (needs root and "
                        "CAP_SYS_ADMIN); the file-size-limit case still runs")
        try:
            yield where, None
        finally:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)
        return
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    yield where, limit


def test_a_full_disk_stops_in_one_line_and_keeps_what_was_written(
        long_face_clip: Path, default_model: Path, tmp_path: Path,
        small_disk: tuple[Path, Callable[[], None] | None]) -> None:
    where, before = small_disk
    done = subprocess.run(annotate_cmd(long_face_clip, where, default_model), cwd=tmp_path,
                          env=env(tmp_path), preexec_fn=before, capture_output=True, text=True,
                          timeout=300)
    # the MP4 plays as far as it was written: its fragments (a second each) up to the full disk
    assert len(list(VideoFile(where / "a.mp4"))) >= 25
    assert_whole_csv(where / "a.csv")  # no partial last row
    assert not list(where.glob("*.part"))
    if (where / "a.json").exists():
        json.loads((where / "a.json").read_text())
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(err) == 1 and err[0].startswith("error: "), done.stderr
    assert "No space left on device" in err[0] or "File too large" in err[0], err
    assert "what was written before is kept" in err[0]


FILL_CSV = """
import sys
import numpy as np
from app.core.results import CsvWriter, FaceResult, FrameResult

labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
writer = CsvWriter(sys.argv[1], labels)
probs = np.full(7, 1 / 7, np.float32)
try:
    for i in range(100_000):
        faces = [FaceResult(k, (10.0 * k, 20.0, 30.0, 40.0), 0.9, probs, probs) for k in range(3)]
        writer.write(FrameResult(i, i / 30, faces))
except OSError as exc:
    print(f"{i} {exc.strerror} ({exc.filename})")
finally:
    try:
        writer.close()
    except OSError:
        pass
"""


def test_a_csv_on_a_full_disk_ends_with_a_whole_row(
        tmp_path: Path, small_disk: tuple[Path, Callable[[], None] | None]) -> None:
    """Rows of three faces until the disk says no: the file ends with the last whole frame."""
    where, before = small_disk
    done = subprocess.run([sys.executable, "-c", FILL_CSV, str(where / "rows.csv")],
                          env=env(tmp_path), preexec_fn=before, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    frame, _, why = done.stdout.strip().partition(" ")
    assert int(frame) > 100, done.stdout
    rows = assert_whole_csv(where / "rows.csv")
    assert len(rows) == 3 * int(frame)  # every frame before the failing one, whole
    assert why in (f"No space left on device ({where / 'rows.csv'})",  # the error names the file
                   f"File too large ({where / 'rows.csv'})"), done.stdout
