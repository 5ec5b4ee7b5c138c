"""The Python API (`import emotion_lens as el`): DataFrames in one call, from one file or a corpus,
their summary table, and an import that a user's own app.py does not break."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import emotion_lens as el
import pandas as pd
import pytest

import app
from app.cli import main
from app.core.results import CsvWriter
from app.services.corpus import SUMMARY
from tests.media_files import ffmpeg


def test_analyze_returns_the_csv_of_annotate_with_a_source_column(
        media: Path, default_model: Path, tmp_path: Path) -> None:
    image = media / "two_faces.jpg"
    df = el.analyze(image, model=default_model)
    labels = tuple(c for c in df.columns if c in ("angry", "disgust", "fear", "happy", "sad",
                                                  "surprise", "neutral"))
    assert list(df.columns) == ["source", *CsvWriter.header(labels)]
    assert len(df) == 2 and set(df["source"]) == {str(image)}
    assert df["face_id"].dtype == "int64" and df["happy"].dtype == "float64"
    out = tmp_path / "a.csv"
    assert main(["annotate", str(image), "--csv", str(out), "--model", str(default_model)]) == 0
    pd.testing.assert_frame_equal(df.drop(columns="source"), el.read_annotations(out))
    with pytest.raises(el.EmotionLensError, match="unknown option"):
        el.analyze(image, detectr="opencv")


def test_analyze_corpus_is_one_frame_and_summarize_is_its_summary(
        media: Path, default_model: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "photos").mkdir(parents=True)
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(media / "street_phone.mp4"),
                    "-frames:v", "12", "-vf", "scale=320:-2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(corpus / "clip.mp4")], check=True)
    shutil.copy(media / "single_face.jpg", corpus / "photos" / "face.jpg")
    (corpus / "notes.mp4").write_text("not a video")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"1 item\(s\) failed: .*notes\.mp4: cannot decode"):
        df = el.analyze_corpus(corpus, out=out, workers=0, model=default_model)
    manifest = pd.DataFrame(df.attrs["manifest"])
    assert sorted(manifest["status"]) == ["done", "done", "failed"]
    assert len(df) == manifest["face_rows"].astype(int).sum() > 0
    assert set(df["source"]) == {str(corpus / "clip.mp4"), str(corpus / "photos")}
    assert df.loc[df["source"] == str(corpus / "photos"), "file"].tolist() == ["face.jpg"]
    pd.testing.assert_frame_equal(df, el.read_batch(out))

    summary = el.summarize(df)
    on_disk = pd.read_csv(out / SUMMARY)
    assert list(summary.columns) == list(on_disk.columns)
    assert summary[["source", "face_id", "frames", "dominant"]].values.tolist() == \
        on_disk[["source", "face_id", "frames", "dominant"]].values.tolist()
    clip = summary[summary["source"] == str(corpus / "clip.mp4")]
    assert clip["frames"].sum() == (df["source"] == str(corpus / "clip.mp4")).sum()
    shares = summary.filter(like="share_")
    assert ((shares.sum(axis=1) - 1).abs() < 1e-4).all()
    assert el.summarize(df.iloc[:0]).empty


def test_emotion_lens_imports_beside_a_users_own_app_py(default_model: Path, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import sys\nimport emotion_lens as el\n\n"
        "if __name__ == '__main__':\n"
        "    from app.core.bundle import load_bundle\n"
        "    print(sys.modules['app'].__file__, load_bundle(sys.argv[1]).labels[3], el.analyze.__name__)\n")
    done = subprocess.run([sys.executable, "app.py", str(default_model)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ours = Path(app.__file__).resolve()
    assert done.stdout.split() == [str(ours), "happy", "analyze"]  # `app` is Emotion Lens's
    # another `app` imported first: one line saying what to do, not an error deep inside
    done = subprocess.run([sys.executable, "-c", "import app, emotion_lens"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        "ImportError: emotion_lens needs the module name `app` for Emotion Lens")
