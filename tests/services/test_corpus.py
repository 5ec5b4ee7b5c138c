"""`emotion-lens batch` on a real corpus: per-item CSVs and a manifest whatever the files are, the
same outputs from one or two workers, a second run that does nothing, Ctrl-C and resume.

The corpus is made at test time from the shared media with the bundled FFmpeg: two real videos
(H.264 MP4, H.264 MKV), an iPhone-style clip (HEVC in .mov, variable frame rate, AAC audio), an
image in a folder, and a text file named .mp4.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.cli import main
from app.core import EmotionLensError
from app.core.outputs import lock_outputs
from app.core.sources import VideoFile
from app.services import corpus_task
from app.services.corpus import MANIFEST, SUMMARY, run_batch, split_cores
from app.services.corpus_items import plan
from tests.conftest import ROOT
from tests.media_files import ffmpeg

MOV_FRAMES = 30
ITEMS = {  # input (relative to the corpus) -> CSV (relative to the output folder)
    "broken.mp4": None,
    "clips/street_later.mkv": "clips/street_later.mkv.csv",
    "interviews/IMG_0001.MOV": "interviews/IMG_0001.MOV.csv",
    "photos": "photos/images.csv",
    "street.mp4": "street.mp4.csv",
}


def mov_pts(n: int) -> float:
    """When frame `n` of the iPhone-style clip is shown: steps of 4/120 or 5/120 s (VFR)."""
    return (4 * n + int(n * 0.53)) / 120


def build_corpus(folder: Path, media: Path) -> Path:
    street = str(media / "street_phone.mp4")
    for sub in ("clips", "interviews", "photos"):
        (folder / sub).mkdir(parents=True)
    run = [ffmpeg(), "-y", "-loglevel", "error"]
    subprocess.run([*run, "-i", street, "-frames:v", "24", "-vf", "scale=320:-2", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(folder / "street.mp4")], check=True)
    subprocess.run([*run, "-ss", "2.5", "-i", street, "-frames:v", "20", "-vf", "scale=400:-2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(folder / "clips" / "street_later.mkv")],
                   check=True)
    subprocess.run([*run, "-ss", "1", "-i", street, "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=44100", "-filter_complex",
                    f"[0:v]scale=480:-2,trim=end_frame={MOV_FRAMES},settb=1/600,"
                    "setpts='(4*N+floor(N*0.53))*5'[v];[1:a]pan=stereo|c0=c0|c1=c0[a]",
                    "-map", "[v]", "-map", "[a]", "-fps_mode:v", "passthrough",
                    "-enc_time_base:v", "1/600", "-video_track_timescale", "600",
                    "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
                    "-tag:v", "hvc1", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
                    "-t", f"{mov_pts(MOV_FRAMES):.3f}", str(folder / "interviews" / "IMG_0001.MOV")],
                   check=True)
    shutil.copy(media / "two_faces.jpg", folder / "photos" / "two_faces.jpg")
    (folder / "broken.mp4").write_text("this is a text file, not a video\n")
    return folder


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def manifest(out: Path) -> dict[str, dict[str, str]]:
    return {Path(r["input"]).name: r for r in rows(out / MANIFEST)}


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("corpus"), media)


@pytest.fixture(scope="module")
def first_run(corpus: Path, default_model: Path, tmp_path_factory: pytest.TempPathFactory,
              ) -> tuple[Path, int, str, str]:
    out = tmp_path_factory.mktemp("batch") / "out"
    code, stdout, stderr = cli("batch", str(corpus), "--out", str(out), "--workers", "1",
                               "--model", str(default_model))
    return out, code, stdout, stderr


# --- planning: items and output names (no model) -----------------------------------------------

def test_items_and_their_output_names(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for name in ("a/x.mov", "a/x.mp4", "a/one.jpg", "a/two.png", "a/sub/y.MKV", "a/.hidden/z.mp4",
                 "a/._x.mov", "a/notes.txt", "b/z.avi", "a/out/old.annotated.mp4"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    out = root / "a" / "out"  # inside an input folder: never searched
    items = plan([root / "a", str(root / "b" / "*.avi"), root / "a" / "one.jpg"], out, video=True)
    got = {it.rel: (it.kind, it.csv.relative_to(out).as_posix(),
                    it.media.relative_to(out).as_posix() if it.media else None) for it in items}
    assert got == {
        "a": ("images", "a/images.csv", None),  # the loose images of a/ (one.jpg named alone too)
        "a/sub/y.MKV": ("video", "a/sub/y.MKV.csv", "a/sub/y.MKV.annotated.mp4"),
        "a/x.mov": ("video", "a/x.mov.csv", "a/x.mov.annotated.mp4"),
        "a/x.mp4": ("video", "a/x.mp4.csv", "a/x.mp4.annotated.mp4"),
        "b/z.avi": ("video", "b/z.avi.csv", "b/z.avi.annotated.mp4"),
    }
    alone = plan([root / "a" / "two.png", root / "a" / "notes.txt"], out, video=True)
    assert {(it.rel, it.kind, it.media.name if it.media else None) for it in alone} == {
        ("two.png", "image", "two.png.annotated.png"), ("notes.txt", "video", "notes.txt.annotated.mp4")}


def test_planning_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "images").write_bytes(b"x")  # named alone, beside loose images: both want images.csv
    (tmp_path / "face.jpg").write_bytes(b"x")
    with pytest.raises(EmotionLensError, match=r"would both write .*images\.csv"):
        plan([tmp_path, tmp_path / "images"], tmp_path / "out")
    with pytest.raises(EmotionLensError, match="no file or folder matches"):
        plan([str(tmp_path / "*.mov")], tmp_path / "out")
    with pytest.raises(EmotionLensError, match="input not found"):
        plan([tmp_path / "missing.mp4"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmotionLensError, match="no videos or images found"):
        plan([tmp_path / "empty"], tmp_path / "out")
    with pytest.raises(EmotionLensError, match="is the input folder"):
        plan([tmp_path], tmp_path)


def test_the_default_split_of_cores() -> None:
    assert split_cores(2) == (2, 1)
    assert split_cores(16) == (16, 1)
    assert split_cores(2, 2) == (2, 1)
    assert split_cores(8, 2) == (2, 4)
    assert split_cores(4, 0) == (0, 4)


# --- a real corpus --------------------------------------------------------------------------------

def test_a_corpus_gives_csvs_a_manifest_and_a_summary(first_run: tuple[Path, int, str, str],
                                                      corpus: Path, default_model: Path,
                                                      tmp_path: Path) -> None:
    out, code, stdout, stderr = first_run
    assert code == 1, stdout + stderr  # some item failed
    assert "5 items: 4 done, 0 skipped" in stdout and "1 failed" in stdout
    assert "failed: broken.mp4: cannot decode video" in stderr
    for name, csv_name in ITEMS.items():
        if csv_name:
            assert (out / csv_name).is_file(), name
            assert (out / (csv_name + ".run.json")).is_file()
    assert not (out / "broken.mp4.csv").exists()
    table = manifest(out)
    assert set(table) == {Path(n).name for n in ITEMS}
    broken = table["broken.mp4"]
    assert broken["status"] == "failed" and "cannot decode video" in broken["message"]
    assert "\n" not in broken["message"] and broken["csv"] == ""
    for name in ("street.mp4", "street_later.mkv", "IMG_0001.MOV", "photos"):
        row = table[name]
        assert row["status"] == "done" and row["message"] == "", row
        assert int(row["frames_with_faces"]) > 0 and int(row["faces"]) >= 1
        assert int(row["face_rows"]) == len(rows(out / row["csv"]))
    assert [table[n]["frames"] for n in ("street.mp4", "street_later.mkv", "IMG_0001.MOV", "photos")] \
        == ["24", "20", str(MOV_FRAMES), "1"]
    assert table["photos"]["faces"] == "2"
    # the phone clip keeps its variable frame rate in time_s
    for r in rows(out / ITEMS["interviews/IMG_0001.MOV"]):
        assert float(r["time_s"]) == pytest.approx(mov_pts(int(r["frame"])), abs=2e-3)
    # an item's CSV is what `annotate` writes for that file
    alone = tmp_path / "street.csv"
    assert main(["annotate", str(corpus / "street.mp4"), "--csv", str(alone),
                 "--model", str(default_model)]) == 0
    batch_rows, annotate_rows = rows(out / "street.mp4.csv"), rows(alone)
    assert len(batch_rows) == len(annotate_rows) > 0
    for got, want in zip(batch_rows, annotate_rows, strict=True):
        assert (got["frame"], got["face_id"], got["x"], got["w"], got["label"]) == \
            (want["frame"], want["face_id"], want["x"], want["w"], want["label"])
        assert float(got["happy"]) == pytest.approx(float(want["happy"]), abs=1e-4)
    # the summary: one row per item and face ID, label shares summing to 1
    summary = rows(out / SUMMARY)
    assert {(Path(r["source"]).name, r["face_id"]) for r in summary} >= {
        ("street.mp4", "1"), ("photos", "1"), ("photos", "2")}
    for r in summary:
        assert sum(float(v) for k, v in r.items() if k.startswith("share_")) == pytest.approx(1, abs=1e-4)
        assert r["dominant"] in {k.removeprefix("share_") for k in r if k.startswith("share_")}
    street = [r for r in summary if Path(r["source"]).name == "street.mp4"]
    assert sum(int(r["frames"]) for r in street) == len(batch_rows)


def test_a_second_run_does_nothing_and_says_so(first_run: tuple[Path, int, str, str],
                                               corpus: Path, default_model: Path) -> None:
    out = first_run[0]
    before = snapshot(out)
    code, stdout, stderr = cli("batch", str(corpus), "--out", str(out), "--workers", "1",
                               "--model", str(default_model))
    assert code == 1, stdout + stderr  # the text file fails again
    assert "nothing to do: 4 of 5 items were done by an earlier run" in stdout
    assert "1 failed again" in stdout
    after = snapshot(out)
    assert set(after) == set(before)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {MANIFEST}, changed  # every CSV, record and the summary untouched
    assert {n: r["status"] for n, r in manifest(out).items()} == {
        "broken.mp4": "failed", "street_later.mkv": "skipped", "IMG_0001.MOV": "skipped",
        "photos": "skipped", "street.mp4": "skipped"}


def test_two_workers_write_the_same_outputs_and_the_videos(
        first_run: tuple[Path, int, str, str], corpus: Path, default_model: Path,
        tmp_path: Path) -> None:
    out = tmp_path / "two"
    code, stdout, stderr = cli("batch", str(corpus), "--out", str(out), "--workers", "2", "--video",
                               "--model", str(default_model))
    assert code == 1, stdout + stderr
    one = first_run[0]
    for csv_name in filter(None, ITEMS.values()):
        assert (out / csv_name).read_bytes() == (one / csv_name).read_bytes(), csv_name
    # the annotated MP4 beside each video's CSV, every frame at its own time (the .MOV is VFR)
    mov = out / "interviews" / "IMG_0001.MOV.annotated.mp4"
    assert manifest(out)["IMG_0001.MOV"]["video"] == "interviews/IMG_0001.MOV.annotated.mp4"
    source = VideoFile(mov)
    times = [frame.time_s for frame in source]
    source.close()
    assert len(times) == MOV_FRAMES
    assert max(abs(t - mov_pts(i)) for i, t in enumerate(times)) < 2e-3
    assert (out / "street.mp4.annotated.mp4").is_file()
    assert (out / "clips" / "street_later.mkv.annotated.mp4").is_file()
    assert not list(out.glob("photos/*.mp4"))  # a folder of images has its CSV only
    assert {n: r["status"] for n, r in manifest(out).items()} == {
        "broken.mp4": "failed", "street_later.mkv": "done", "IMG_0001.MOV": "done", "photos": "done",
        "street.mp4": "done"}
    assert (out / SUMMARY).read_bytes() == (one / SUMMARY).read_bytes()


def test_a_stopped_batch_resumes_without_writing_a_row_twice(
        first_run: tuple[Path, int, str, str], corpus: Path, default_model: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_task, "REPORT_EVERY_S", 0.0)  # every frame reported: stop at frame 10
    out = tmp_path / "out"
    stop = threading.Event()
    seen: list[int] = []

    def frames(n: int) -> None:
        seen.append(n)
        if sum(seen) >= 10:
            stop.set()

    result = run_batch([corpus], out, model=default_model, workers=0, on_frames=frames, stop=stop,
                       bar=False)
    assert result.interrupted
    table = manifest(out)
    later = table["street_later.mkv"]  # broken.mp4 failed first, then this one was stopped
    assert later["status"] == "failed" and later["message"].startswith("interrupted after")
    assert set(table) == {"broken.mp4", "street_later.mkv"}  # the rest never started
    partial = rows(out / ITEMS["clips/street_later.mkv"])
    assert 0 < len({r["frame"] for r in partial}) < 20

    done = run_batch([corpus], out, model=default_model, workers=0, bar=False)
    assert (done.done, done.failed, done.skipped) == (4, 1, 0)
    resumed = rows(out / ITEMS["clips/street_later.mkv"])
    clean = rows(first_run[0] / ITEMS["clips/street_later.mkv"])
    keys = [(r["frame"], r["face_id"]) for r in resumed]
    assert len(keys) == len(set(keys)), "a row was written twice"
    assert keys == [(r["frame"], r["face_id"]) for r in clean]
    for got, want in zip(resumed, clean, strict=True):
        assert (got["x"], got["label"]) == (want["x"], want["label"])


def test_a_worker_that_dies_costs_no_item_that_did_not_kill_it(
        first_run: tuple[Path, int, str, str], corpus: Path, default_model: Path,
        tmp_path: Path) -> None:
    """SIGKILL, as the OOM killer sends: the item in flight is run again alone and resumed."""
    import psutil

    killed: list[int] = []

    def frames(_n: int) -> None:
        if not killed:
            for child in psutil.Process().children():
                if "spawn_main" in " ".join(child.cmdline()):  # the pool's worker
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)

    out = tmp_path / "out"
    result = run_batch([corpus], out, model=default_model, workers=1, on_frames=frames, bar=False)
    assert killed
    assert (result.done, result.failed) == (4, 1)  # only the text file failed
    for csv_name in filter(None, ITEMS.values()):
        got, want = rows(out / csv_name), rows(first_run[0] / csv_name)
        assert [(r["frame"], r["face_id"], r["label"]) for r in got] == \
            [(r["frame"], r["face_id"], r["label"]) for r in want], csv_name


def _driver_ignores_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by Python: it keeps SIG_IGN


@pytest.mark.parametrize("driver", ["sees Ctrl-C", "misses Ctrl-C"])
def test_ctrl_c_stops_the_workers_cleanly_and_a_rerun_finishes(
        media: Path, default_model: Path, tmp_path: Path, driver: str) -> None:
    """Ctrl-C to the process group, as a terminal sends it. When the driver misses it (here its
    SIGINT is ignored; in one CI run on a loaded VM it acted on none) and only the worker's item
    is interrupted, the batch still ends as interrupted, not as a finished run."""
    corpus = tmp_path / "long"
    corpus.mkdir()
    shutil.copy(media / "street_phone.mp4", corpus / "long.mp4")  # 115 frames, 596×336
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "app.cli", "batch", str(corpus), "--out", str(out), "--workers", "1",
           "--model", str(default_model)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,  # its own process group, as a terminal's
                            preexec_fn=_driver_ignores_sigint if driver == "misses Ctrl-C" else None)
    part = out / "long.mp4.csv"
    deadline, sent = time.monotonic() + 120, False
    while time.monotonic() < deadline and proc.poll() is None:
        if part.exists() and len(part.read_bytes().splitlines()) > 20:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the driver and its worker get it
            sent = True
            break
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=60)
    if not sent:
        pytest.fail(f"the batch ended before Ctrl-C (make the input longer): {stdout} {stderr}")
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr
    row = manifest(out)["long.mp4"]
    assert row["status"] == "failed" and "interrupted" in row["message"]
    partial = rows(part)
    assert 0 < len(partial) < 115
    assert not list(out.rglob("*.lock")), "a lock file was left behind"

    code, stdout, _ = cli("batch", str(corpus), "--out", str(out), "--workers", "0",
                          "--model", str(default_model))
    assert code == 0, stdout
    final = rows(part)
    keys = [(r["frame"], r["face_id"]) for r in final]
    assert len(keys) == len(set(keys)), "a row was written twice"
    assert len({r["frame"] for r in final}) == 115
    assert final[: len(partial) - 5] == partial[: len(partial) - 5]  # the rows on disk were kept


def test_one_batch_at_a_time_per_folder(corpus: Path, default_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with lock_outputs([out / MANIFEST]):
        code, _, stderr = cli("batch", str(corpus), "--out", str(out), "--model", str(default_model))
    assert code == 2
    assert stderr.startswith("error: ") and "being written by another run" in stderr
    assert stderr.count("\n") == 1


def test_without_ray_installed_ray_names_the_extra(corpus: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is not installed
    monkeypatch.delitem(sys.modules, "app.services.corpus_ray", raising=False)
    out = tmp_path / "out"
    code, _, stderr = cli("batch", str(corpus), "--out", str(out), "--ray")
    assert code == 2
    assert stderr == 'error: --ray needs Ray, which is not installed: pip install "emotion-lens[cluster]"\n'
    assert not out.exists()  # nothing written


def test_per_file_baselines_calibrate_only_the_files_named(corpus: Path, default_model: Path,
                                                           tmp_path: Path) -> None:
    """`batch --baseline ranges.csv`: the item named there gets cal_ columns from its own range,
    the others stay raw; a second run with the same ranges skips, other ranges do not."""
    ranges = tmp_path / "ranges.csv"
    ranges.write_text("file,start,end\nstreet.mp4,0,0.6\n", encoding="utf-8")
    out = tmp_path / "out"
    media = ["street.mp4", "clips/street_later.mkv"]
    args = [str(corpus / m) for m in media]
    code, _stdout, stderr = cli("batch", *args, "--out", str(out), "--workers", "0",
                                "--model", str(default_model), "--baseline", str(ranges))
    assert code == 0, stderr
    calibrated = rows(out / "street.mp4.csv")
    raw = rows(out / "clips" / "street_later.mkv.csv")
    cal = [c for c in calibrated[0] if c.startswith("cal_")]
    assert len(cal) == 7 and not any(c.startswith("cal_") for c in raw[0])
    for row in calibrated:
        values = [float(row[c]) for c in cal]
        assert abs(sum(values) - 1) < 1e-3
    assert any(abs(float(r["cal_neutral"]) - float(r["neutral"])) > 0.01 for r in calibrated)
    code, stdout, _ = cli("batch", *args, "--out", str(out), "--workers", "0",
                          "--model", str(default_model), "--baseline", str(ranges))
    assert code == 0 and "nothing to do" in stdout
    code, stdout, stderr = cli("batch", *args, "--out", str(out), "--workers", "0",
                               "--model", str(default_model), "--baseline", "0-0.5")
    # another range is another run: refused in one line, the outputs of the first kept
    assert code == 1, stdout
    assert manifest(out)["street.mp4"]["status"] == "failed"
    assert "baseline" in manifest(out)["street.mp4"]["message"]
    assert rows(out / "street.mp4.csv") == calibrated
    code, _, stderr = cli("batch", *args, "--out", str(out), "--baseline", "3-1")
    assert code == 2 and stderr.count("\n") == 1 and "--baseline" in stderr
