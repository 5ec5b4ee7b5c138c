"""`emotion-lens report` on real annotations: a clip with two faces and frames without any, built
at test time from the shared photos; an image folder; a CSV with no face; one without its record;
damaged CSVs; the app's Record writing the same record; segments from runs of one label."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.pipeline import Pipeline
from app.core.sources import VideoFile
from app.services.report import SEGMENT_COLUMNS, build_report, load_results, runs_of, segments_of
from app.ui.recorder import Recorder
from tests.media_files import ffmpeg, image_folder

FPS = 12
FACE_FRAMES, EMPTY_FRAMES = 30, 9  # 2.5 s of two faces, then 0.75 s of a street with nobody


def two_faces_then_none(media: Path, out: Path) -> Path:
    """The two-face photo panned slowly for 2.5 s, then the photo without people, 400×300."""
    graph = (f"[0:v]scale=480:-2,crop=400:300:x='20+12*t':y=10,setsar=1,fps={FPS}[a];"
             f"[1:v]scale=400:300,setsar=1,fps={FPS}[b];[a][b]concat=n=2:v=1,format=yuv420p[v]")
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error",
                    "-loop", "1", "-framerate", str(FPS), "-t", f"{FACE_FRAMES / FPS}",
                    "-i", str(media / "two_faces.jpg"),
                    "-loop", "1", "-framerate", str(FPS), "-t", f"{EMPTY_FRAMES / FPS}",
                    "-i", str(media / "no_faces.jpg"),
                    "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast",
                    str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def run(media, default_model, tmp_path_factory):
    """The clip annotated with a baseline on its first second, then its report."""
    folder = tmp_path_factory.mktemp("report")
    clip = two_faces_then_none(media, folder / "two.mp4")
    assert main(["annotate", str(clip), "-o", str(folder / "two_annotated.mp4"),
                 "--csv", str(folder / "two.csv"), "--baseline", "0-1",
                 "--model", str(default_model)]) == 0
    assert main(["report", str(folder / "two.csv")]) == 0
    return folder


def _images(html: str) -> list[str]:
    return re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)


def test_the_report_is_one_self_contained_file(run):
    html = (run / "two_report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    sources = _images(html)
    assert sources and all(s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,"))
                           for s in sources)
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html)  # no URL to fetch
    assert not re.search(r"<(?:script|link|iframe)\b", html)
    assert "A facial expression is not a felt emotion" in html


def test_the_report_shows_both_faces_and_the_frames_without_one(run, default_model):
    report = build_report(run / "two.csv", plots_on=False)
    assert report.frames == FACE_FRAMES + EMPTY_FRAMES
    assert FACE_FRAMES - 2 <= report.frames_with_faces <= FACE_FRAMES + 1
    assert report.frames - report.frames_with_faces >= EMPTY_FRAMES - 1
    assert len(report.no_face_ranges) == 1
    assert [f.face_id for f in report.faces] == [1, 2] and not report.other_faces
    for face in report.faces:
        assert face.rows >= FACE_FRAMES - 2
        assert face.thumbnail and face.thumbnail.startswith("data:image/jpeg;base64,")
        assert face.thumbnail_note == "from the source two.mp4"
        assert "baseline 0-1 s" in face.baseline and "from the run" in face.baseline
        assert abs(sum(s["share"] for s in face.shares) - 1) < 1e-9
    assert report.calibration.startswith("Baseline 0-1 s (set when annotating): 2 face(s)")
    run_table = dict(report.run)
    assert run_table["source"].endswith("two.mp4 (video)")
    card = json.loads((default_model / "model.json").read_text())["metrics"]
    assert (f"{card['accuracy']:.1%} (int8 {card['int8_accuracy']:.1%})"
            in run_table["model card accuracy"])
    assert run_table["frames"] == "400×300 px, 12.00 fps"
    assert not report.unknown
    html = (run / "two_report.html").read_text(encoding="utf-8")
    assert html.count('alt="probabilities of face #') == 2 and "Face #2" in html
    assert 'alt="expressions over time"' in html and 'alt="faces per frame"' in html


def test_segments_csv_for_elan_and_boris(run):
    text = (run / "two_report_segments.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert tuple(csv.reader(text.splitlines()).__next__()) == SEGMENT_COLUMNS
    assert rows, text
    labels = load_results(run / "two.csv").labels
    for r in rows:
        start, end = float(r["start_s"]), float(r["end_s"])
        assert end - start >= 1.0 - 1e-6 and 0 <= start < end <= (FACE_FRAMES + 1) / FPS
        assert r["face_id"] in {"1", "2"} and r["label"] in labels and 0 < float(r["mean_prob"]) <= 1
    # the photo does not change: each face holds one expression the whole time it is seen
    assert {r["face_id"] for r in rows} == {"1", "2"}


def test_outputs_are_never_replaced_silently(run, capsys):
    before = (run / "two_report.html").stat().st_mtime_ns
    assert main(["report", str(run / "two.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {run / 'two_report.html'} exists; pass --overwrite to replace it"
    assert (run / "two_report.html").stat().st_mtime_ns == before
    assert main(["report", str(run / "two.csv"), "-o", str(run / "two.csv")]) == 2
    assert "must end in .html" in capsys.readouterr().err
    assert main(["report", str(run / "two.csv"), "-o", str(run / "x.html"),
                 "--segments", str(run / "two.csv")]) == 2
    assert "is the input file" in capsys.readouterr().err


def test_thumbnails_fall_back_to_the_annotated_video_then_say_why(run, tmp_path):
    for name in ("two.csv", "two.csv.run.json"):
        shutil.copy(run / name, tmp_path / name)
    record_path = tmp_path / "two.csv.run.json"
    record = json.loads(record_path.read_text())
    record["run"]["source"]["path"] = str(tmp_path / "gone.mp4")  # the source is not at hand
    record_path.write_text(json.dumps(record))
    report = build_report(tmp_path / "two.csv", plots_on=False)
    assert all(f.thumbnail and f.thumbnail_note == "from the annotated two_annotated.mp4"
               for f in report.faces)
    record["outputs"] = [str(tmp_path / "two.csv")]  # nor the annotated video
    record_path.write_text(json.dumps(record))
    report = build_report(tmp_path / "two.csv", plots_on=False)
    assert all(f.thumbnail is None and "source is not at hand" in f.thumbnail_note
               for f in report.faces)
    assert any(n.startswith("no thumbnails") for n in report.notes)
    report = build_report(tmp_path / "two.csv", plots_on=False, source=run / "two.mp4")
    assert all(f.thumbnail for f in report.faces)


def test_a_csv_without_its_record_says_what_is_unknown(run, tmp_path, capsys):
    shutil.copy(run / "two.csv", tmp_path / "bare.csv")
    assert main(["report", str(tmp_path / "bare.csv")]) == 0
    report = build_report(tmp_path / "bare.csv", plots_on=False)
    assert any("no record of the run" in u for u in report.unknown)
    assert dict(report.run)["model"] == "unknown" and dict(report.run)["started"] == "unknown"
    # its cal_ columns still give calibrated labels (smoothed here, as the run would have)
    assert all("cal_ columns" in f.baseline for f in report.faces)
    assert all(f.thumbnail is None for f in report.faces)
    html = (tmp_path / "bare_report.html").read_text(encoding="utf-8")
    assert "Unknown: no record of the run beside the CSV" in html


def test_report_baseline_recalibrates_and_min_segment_counts(run, default_model, tmp_path):
    shutil.copy(run / "two.csv", tmp_path / "r.csv")
    report = build_report(tmp_path / "r.csv", plots_on=False, baseline=(0.0, 2.0),
                          model=default_model, min_segment_s=0.25)
    assert report.calibration.startswith("Baseline 0-2 s (given to the report): 2 face(s)")
    assert "607 neutral faces" in report.calibration
    assert all("measured by the report" in f.baseline for f in report.faces)
    longer = build_report(tmp_path / "r.csv", plots_on=False, baseline=(0.0, 2.0),
                          model=default_model, min_segment_s=2.0)
    assert len(longer.segments) <= len(report.segments)
    assert all(s.duration_s >= 2.0 - 1e-6 for s in longer.segments)
    nobody = build_report(tmp_path / "r.csv", plots_on=False, baseline=(2.6, 3.2),
                          model=default_model)
    assert any("nothing is calibrated" in n for n in nobody.notes)


def test_image_folder_and_a_csv_with_no_face(media, default_model, tmp_path, capsys):
    folder = image_folder(tmp_path / "photos", {"a.jpg": media / "two_faces.jpg",
                                                "b.jpg": media / "no_faces.jpg",
                                                "c.jpg": media / "single_face.jpg"})
    assert main(["annotate", str(folder), "--csv", str(tmp_path / "photos.csv"),
                 "--model", str(default_model)]) == 0
    assert main(["report", str(tmp_path / "photos.csv")]) == 0
    report = build_report(tmp_path / "photos.csv", plots_on=False)
    assert report.images and report.frames == 3 and report.frames_with_faces == 2
    assert not report.segments and report.no_face_ranges == ["images 2–2"]
    assert report.faces and all(f.thumbnail for f in report.faces)
    assert (tmp_path / "photos_report_segments.csv").read_text().strip() == ",".join(SEGMENT_COLUMNS)

    assert main(["annotate", str(media / "no_faces.jpg"), "--csv", str(tmp_path / "none.csv"),
                 "--model", str(default_model)]) == 0
    assert main(["report", str(tmp_path / "none.csv")]) == 0
    report = build_report(tmp_path / "none.csv", plots_on=False)
    assert report.rows == 0 and report.frames == 1 and not report.faces
    html = (tmp_path / "none_report.html").read_text(encoding="utf-8")
    assert "No face was found in any frame" in html


@pytest.mark.parametrize("content,why", [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a results CSV"),
    (b"a,b,c\n1,2,3\n", "no column frame, time_s, face_id, x, y, w, h, label"),
    (b"frame,time_s,face_id,x,y,w,h,happy,sad,label\n0,0.0,1,1,1,9,9,0.5,oops,happy\n",
     "line 2: sad is 'oops', not a number"),
    (b"frame,time_s,face_id,x,y,w,h,happy,sad,label\n0,0.0,1,1,1,9,9,0.5,7,happy\n",
     "line 2: a probability outside 0..1"),
    (b'frame,time_s,face_id,x,y,w,h,happy,sad,label\n0,0.0,1,1,1,9,9,0.5,0.5,happy,"x\n',
     "not a results CSV"),
])
def test_a_damaged_csv_gives_one_line(tmp_path, capsys, content, why):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and why in err, err
    assert not (tmp_path / "bad_report.html").exists()
    assert main(["report", str(tmp_path / "missing.csv")]) == 2
    assert "results CSV not found" in capsys.readouterr().err


def test_the_apps_record_writes_the_same_record(media, default_model, tmp_path):
    """Record (app/ui/recorder.py, plain Python) on the sample video: the record beside its CSV
    names source, model and card, settings and start; the report counts the frames from the
    first recorded one, and takes thumbnails from its annotated video, found by time."""
    csv_path, video_path = tmp_path / "session_emotions.csv", tmp_path / "session_annotated.mp4"
    source = VideoFile(media / "street_phone.mp4")
    with Pipeline(model=default_model) as pipeline:
        recorder = Recorder(csv_path, pipeline.labels, video_path, source.fps,
                            source=str(media / "street_phone.mp4"), pipeline=pipeline)
        early = json.loads((tmp_path / "session_emotions.csv.run.json").read_text())
        assert early["run"]["kind"] == "record" and early["run"]["source"]["frame_size"] is None
        for frame in source:  # the recording starts at frame 20 of what the app shows
            if frame.index >= 60:
                break
            result = pipeline.process(frame)
            if frame.index >= 20:
                recorder.write(frame, result)
        recorder.close()
    source.close()
    record = json.loads((tmp_path / "session_emotions.csv.run.json").read_text())
    run = record["run"]
    assert run["source"] == {"path": str(media / "street_phone.mp4"), "kind": "video",
                             "fps": pytest.approx(24.7, abs=0.1), "frame_size": [596, 336],
                             "frame_count": None}
    card = json.loads((default_model / "model.json").read_text())["metrics"]
    assert run["model"]["card"]["accuracy"] == card["accuracy"] and run["model"]["backend"] == "int8"
    assert run["settings"]["smoothing_half_life_s"] == 0.25 and run["frames"] == 40
    assert run["started"] <= run["finished"] and run["first_frame"] == 20 and run["last_frame"] == 59
    assert run["video_start_s"] == pytest.approx(20 / 24.7, abs=0.02)
    assert record["identity"]["input"] == {"path": str(media / "street_phone.mp4"), "files": {}}
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    report = build_report(csv_path, plots_on=False, source=moved / "not_here.mp4")
    assert report.faces and all(f.thumbnail and "annotated session_annotated.mp4" in f.thumbnail_note
                                for f in report.faces)
    assert report.frames == 40 and report.frames_with_faces >= 38  # the sample has a face throughout
    assert dict(report.run)["written by"] == "the app's Record"


def test_segments_are_runs_of_one_label_of_at_least_the_minimum():
    labels = ("happy", "sad", "neutral")
    t = np.arange(40) / 10.0  # 10 fps
    shown = np.array([0] * 15 + [1] * 5 + [2] * 20)
    probs = np.full((40, 3), 0.2)
    probs[np.arange(40), shown] = 0.6
    segs = segments_of(t, shown, probs, 3, labels, min_s=1.0, max_gap_s=1.0, frame_s=0.1)
    assert [(s.label, s.start_s, s.end_s) for s in segs] == [("happy", 0.0, 1.5), ("neutral", 2.0, 4.0)]
    assert all(s.face_id == 3 and s.mean_prob == 0.6 for s in segs)
    gap = np.r_[t[:20], t[20:] + 1.5]  # the face unseen for 1.6 s: the run is cut there
    segs = segments_of(gap, np.zeros(40, int), probs, 1, labels, min_s=1.0, max_gap_s=1.0, frame_s=0.1)
    assert [(s.start_s, s.end_s) for s in segs] == [(0.0, 2.0), (3.5, 5.5)]
    assert runs_of(np.array([0, 1, 1, 0, 1], bool)) == [(1, 2), (4, 4)]
