"""The README's performance block (benchmarks/run.py) from real bench runs: one line per row with
what ran ahead and which detector, the targets judged on the right rows, a block that replaces the
old one, and --render-only filling today's rows from results saved under older labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from app.bench import bench
from app.core.settings import DEFAULT_DETECTOR, PipelineSettings
from benchmarks.run import (
    END,
    FER_TARGET,
    NOT_MEASURED,
    START,
    Row,
    plan_rows,
    render_section,
    replace_block,
    row_key,
    saved_rows,
)

MACHINE = {"Model name": "Test CPU", "nproc": 2, "os": "Linux", "python": "3.11"}
# the labels targets() judges
DEFAULT = ("model", "default")
RESNET = ("model", "ResNet50-iPPM")
FOUR_DECODE = ("faces", "4 faces, decoding ahead only (as the desktop app)")


def _meta(media: Path) -> dict[str, Any]:
    return {"date": "2026-11-21 12:00 UTC", "frames": 6, "load": "0.1–0.2",
            "video": str(media / "street_phone.mp4")}


def _rows(media: Path, model: Path) -> list[Row]:
    video, image = media / "street_phone.mp4", media / "single_face.jpg"
    rows = [Row("model", "default", video, model),
            Row("model", "default, decoding ahead only (as the desktop app)", video, model,
                ahead="decode"),
            Row("faces", "4 faces, decoding ahead only (as the desktop app)", image, model,
                tile=2, ahead="decode"),
            Row("model", "ResNet50-iPPM", video, None, role="resnet", skipped="no bundle")]
    for row in rows:
        if row.model is not None:
            row.result = bench(row.input, PipelineSettings(detector=row.detector), model=row.model,
                               frames=6, tile=row.tile, warmup=1, ahead=row.ahead)
    return rows


def test_table_shows_each_row_with_its_mode_and_judges_the_targets(media: Path, int8_bundle: Path,
                                                                   tmp_path: Path) -> None:
    rows = _rows(media, int8_bundle)
    fer = {"fer_version": "22.5.1", "tf": "2.x", "faces_per_frame_mean": 1.0, "fps": 0.1,
           "faces_per_s": 0.1, "p50_ms": 9000.0, "p95_ms": 9900.0, "cpu_ms_per_frame": 18000.0,
           "peak_rss_mb": 900.0}  # a stand-in `fer` far slower than anything measured here
    section = render_section(rows, fer, MACHINE, _meta(media))
    assert section.startswith(START) and section.rstrip().endswith(END)
    lines = section.splitlines()
    table = [ln for ln in lines if ln.startswith("| model: ") or ln.startswith("| faces: ")]
    assert len(table) == 4
    default_line = next(ln for ln in table if ln.startswith("| model: default |"))
    cells = [c.strip() for c in default_line.strip("|").split("|")]
    assert cells[3] == DEFAULT_DETECTOR and rows[0].result["detector"] == DEFAULT_DETECTOR
    assert cells[4] == "detect" and f"**{rows[0].result['fps']:.0f}**" in cells
    assert "| decode |" in table[1] and "| decode |" in table[2]
    assert "skipped: no bundle" in table[3]
    four = rows[2].result
    target = next(ln for ln in lines if ln.startswith("| 4 faces, decoding ahead only"))
    assert f"{four['fps']:.0f} frames/s, p95 {four['p95_ms']:.1f} ms" in target
    default_target = next(ln for ln in lines if ln.startswith("| default model and detector"))
    assert f"`{DEFAULT_DETECTOR}`" in default_target and "≥ 200 frames/s" in default_target
    ratio = rows[0].result["fps"] / fer["fps"]
    assert FER_TARGET == 10
    assert f"| ≥ 10× the frames/s of `fer` (same video, same run) | {ratio:.1f}× | ✓ |" in section
    assert "| ResNet50-iPPM int8: ≥ 120 frames/s | – | – |" in section  # not measured: no mark
    # the default IS the LiteRT detector now: no separate "--detector blazeface" targets
    assert "the same with `--detector blazeface`" not in section
    assert "same faces as MediaPipe)" not in section and "≥ 5×" not in section
    assert f"default detector, `{DEFAULT_DETECTOR}`" in section

    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{START}\nold table\n{END}\n\n## After\n", encoding="utf-8")
    replace_block(readme, section)
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and text.count(START) == 1 and text.count(END) == 1
    assert text.startswith("# Title\n\nintro\n\n") and text.rstrip().endswith("## After")


def test_rows_that_mean_the_default_use_the_default_detector() -> None:
    rows = plan_rows(Path("street_phone.mp4"), Path("single_face.jpg"))
    labels = [(r.group, r.label) for r in rows]
    assert len(set(labels)) == len(labels)
    keys = [row_key(r.role, r.detector, r.backend, r.input.name, r.tile, r.ahead) for r in rows]
    assert len(set(keys)) == len(keys)  # --render-only maps saved results by configuration
    assert {DEFAULT, RESNET, FOUR_DECODE} <= set(labels)
    by_label = {(r.group, r.label): r for r in rows}
    for key in (DEFAULT, RESNET, FOUR_DECODE, ("model", "best")):
        assert by_label[key].detector == DEFAULT_DETECTOR and by_label[key].backend == "int8"
    assert by_label[RESNET].role == "resnet" and by_label[("model", "best")].role == "best"
    # the detector rows compare the default with short range alone, MediaPipe Tasks and OpenCV
    assert sorted(r.detector for r in rows if r.group == "detector") == [
        "blazeface", "mediapipe", "opencv"]
    # one-thread rows for the default detector
    assert any(r.ahead == "none" and r.detector == DEFAULT_DETECTOR and r.tile == 1 for r in rows)
    assert any(r.ahead == "none" and r.detector == DEFAULT_DETECTOR and r.tile == 2 for r in rows)
    # 4 faces with decoding ahead only: the default detector, and MediaPipe Tasks to compare
    assert sorted(r.detector for r in rows if r.tile == 2 and r.ahead == "decode") == sorted(
        [DEFAULT_DETECTOR, "mediapipe"])
    for r in rows:
        if r.detector != DEFAULT_DETECTOR:  # a row on another detector says so in its label
            assert f"`{r.detector}`" in r.label, r.label
        else:
            assert "MediaPipe" not in r.label and "BlazeFace" not in r.label, r.label


def _result(detector: str, fps: float, faces: float = 1.0, classify_ms: float = 1.0,
            ahead: str = "detect", backend: str = "int8", model: str = "m") -> dict[str, Any]:
    stage = {"mean": classify_ms, "p50": classify_ms, "p95": classify_ms, "max": classify_ms}
    return {"model": model, "backend": backend, "detector": detector, "ahead": ahead,
            "frame_size": [596, 336], "faces_per_frame_mean": faces, "fps": fps,
            "faces_per_s": fps * faces, "p50_ms": 5.0, "p95_ms": 9.0, "cpu_ms_per_frame": 7.0,
            "peak_rss_mb": 150.0, "stages": {"classify": stage}}


def _saved(label: str, detector: str, fps: float | None, tile: int = 1, ahead: str = "detect",
           backend: str = "int8", inp: str = "/m/street_phone.mp4", skipped: str = "",
           group: str = "model", **extra: Any) -> dict[str, Any]:
    return {"group": group, "label": label, "input": inp, "tile": tile, "ahead": ahead,
            "detector": detector, "backend": backend, "note": "", "skipped": skipped,
            "result": None if fps is None else _result(detector, fps, ahead=ahead,
                                                       backend=backend), **extra}


def test_render_only_fills_todays_rows_by_configuration(media: Path) -> None:
    # rows as matrix.json of 2026-11-21 saved them: MediaPipe Tasks the default, no "role"
    saved = {"rows": [
        _saved("default", "mediapipe", 151.0),
        _saved("ResNet50-iPPM", "mediapipe", 105.0),
        _saved("ResNet50-iPPM, BlazeFace on LiteRT", "blazeface", 127.0),
        _saved("BlazeFace on LiteRT (same faces as MediaPipe)", "blazeface", 271.0,
               group="detector"),
        _saved("float16", "mediapipe", None, backend="float16", skipped="bundle has no float16 "
               "file", group="backend"),
        _saved("4 faces, decoding ahead only (as the desktop app)", "mediapipe", 79.0, tile=2,
               ahead="decode", inp="/m/single_face.jpg", group="faces"),
    ]}
    rows = saved_rows(saved, media / "street_phone.mp4", media / "single_face.jpg")
    by = {(r.group, r.label): r for r in rows}
    assert [r.label for r in rows] == [r.label for r in plan_rows(Path("v"), Path("i"))]
    # the former default row measured what is now the MediaPipe Tasks detector row
    mp = next(r for r in rows if r.group == "detector" and r.detector == "mediapipe")
    assert mp.result is not None and mp.result["fps"] == 151.0
    bf = next(r for r in rows if r.group == "detector" and r.detector == "blazeface")
    assert bf.result is not None and bf.result["fps"] == 271.0
    four_mp = next(r for r in rows if r.tile == 2 and r.ahead == "decode"
                   and r.detector == "mediapipe")
    assert four_mp.result is not None and four_mp.result["fps"] == 79.0
    # nothing saved for the default detector: not measured, never an old number under it
    for key in (DEFAULT, RESNET, FOUR_DECODE, ("backend", "float16")):
        assert by[key].result is None and by[key].skipped == NOT_MEASURED
    section = render_section(rows, None, MACHINE, _meta(media))
    assert "| default model and detector (`blazeface-auto`), one face, street_phone.mp4: " \
           "≥ 200 frames/s | – | – |" in section
    assert "| 4 faces, decoding ahead only: ≥ 30 frames/s, p95 ≤ 15 ms (headless stand-in for " \
           "the GUI path) | – | – |" in section
    assert "skipped: not measured" not in section and f"| {NOT_MEASURED} |" in section
    assert "| **151** |" in section and "| mediapipe | detect |" in section

    # a run saved by today's code (labels, role) maps back one to one
    today = plan_rows(media / "street_phone.mp4", media / "single_face.jpg")
    resaved = {"rows": [{"group": r.group, "label": r.label, "role": r.role, "input": str(r.input),
                         "tile": r.tile, "ahead": r.ahead, "detector": r.detector,
                         "backend": r.backend, "note": "n", "skipped": "", "model_name": "m",
                         "result": _result(r.detector, 100.0 + i, ahead=r.ahead,
                                           backend=r.backend)}
                        for i, r in enumerate(today)]}
    back = saved_rows(resaved, media / "street_phone.mp4", media / "single_face.jpg")
    assert [r.result["fps"] for r in back] == [100.0 + i for i in range(len(today))]


def test_render_only_of_the_saved_results_does_not_crash(media: Path) -> None:
    from benchmarks.run import RESULTS

    path = RESULTS / "matrix.json"
    if not path.is_file():
        pytest.skip("no saved benchmark results")
    saved = json.loads(path.read_text(encoding="utf-8"))
    rows = saved_rows(saved, Path(saved["meta"]["video"]), media / "single_face.jpg")
    section = render_section(rows, saved["fer"], saved["machine"], saved["meta"])
    assert section.startswith(START) and "Targets:" in section


def _fake_bundle(folder: Path, source: Path, *, name: str, accuracy: float,
                 provenance: dict[str, Any], int8_accuracy: float | None = None) -> Path:
    folder.mkdir(parents=True)
    card = json.loads((source / "model.json").read_text(encoding="utf-8"))
    card.pop("sha256", None)
    card.pop("neutral_mean", None)
    card["name"], card["provenance"] = name, provenance
    card["metrics"] = {"split": "val", "accuracy": accuracy}
    if int8_accuracy is not None:
        card["metrics"]["int8_accuracy"] = int8_accuracy
    shutil.copy(source / card["files"]["int8"], folder / "model_int8.tflite")
    card["files"] = {"int8": "model_int8.tflite"}
    (folder / "model.json").write_text(json.dumps(card), encoding="utf-8")
    return folder


def test_the_best_row_is_the_most_accurate_trained_bundle(default_model: Path) -> None:
    from benchmarks.run import ROOT, best_bundle

    path, note = best_bundle(None, None)  # nothing to compare with: the most accurate one runs
    assert path is not None and (path / "model.json").is_file()
    assert "most accurate" in note and "%" in note
    path, note = best_bundle(None, path)  # ... unless it is the default, which has its own rows
    assert path is None and "is the default" in note and str(ROOT) not in note
    # named explicitly: that bundle, described as the row's note describes it (an ensemble, such
    # as the default on the face and its mirror, says how many passes a face costs)
    from app.core.bundle import load_bundle
    from benchmarks.run import describe_bundle

    assert best_bundle(default_model, None) == (default_model,
                                                describe_bundle(load_bundle(default_model)))


def test_the_best_row_takes_an_ensemble_in_models_best(int8_bundle: Path, tmp_path: Path) -> None:
    from app.core.bundle import load_bundle
    from benchmarks.run import best_bundle

    default = _fake_bundle(tmp_path / "models" / "default", int8_bundle, name="the default",
                           accuracy=0.604, provenance={"architecture": "vgg_small"})
    best = _fake_bundle(tmp_path / "models" / "best", int8_bundle, name="Ensemble of 2, flip TTA",
                        accuracy=0.655, int8_accuracy=0.651,
                        provenance={"architecture": "ensemble", "test_time": {"flip": True},
                                    "members": [{"name": "a"}, {"name": "b"}]})
    found = [(p, load_bundle(p), "") for p in (default, best)]  # as find_bundles lists them
    path, note = best_bundle(None, default, found)
    assert path == best
    assert "val accuracy 65.5%, int8 65.1%" in note
    assert "ensemble of 2 bundles, flip test-time augmentation: 4 member passes per face" in note
    assert best_bundle(best, default)[1].startswith("ensemble of 2 bundles")  # named explicitly
    one = _fake_bundle(tmp_path / "one", int8_bundle, name="one member, mirrored", accuracy=0.66,
                       provenance={"architecture": "ensemble", "test_time": {"flip": True},
                                   "members": [{"name": "a"}]})
    assert "one bundle, flip test-time augmentation: 2 member passes per face" in best_bundle(one, default)[1]

    # the row: the bundle's name from model.json, int8, and its classify cost against the default
    video = Path("street_phone.mp4")
    rows = [Row("model", "default", video, default, result=_result(DEFAULT_DETECTOR, 190.0,
                                                                     classify_ms=1.0)),
            Row("model", "best", video, best, role="best", note=note,
                result=_result(DEFAULT_DETECTOR, 90.0, classify_ms=4.1,
                               model="Ensemble of 2, flip TTA"))]
    section = render_section(rows, None, MACHINE, {"date": "d", "frames": 6, "load": "?",
                                                   "video": "street_phone.mp4"})
    line = next(ln for ln in section.splitlines() if ln.startswith("| model: best |"))
    assert "| Ensemble of 2, flip TTA | int8 |" in line
    assert "classify 4.10 ms per face, 4.1× the default model's" in line
    # skipped (say, no int8 file), the row still names the bundle
    rows[1].result, rows[1].skipped, rows[1].model_name = None, "bundle has no int8 file", "E"
    section = render_section(rows, None, MACHINE, {"date": "d", "frames": 6, "load": "?",
                                                   "video": "street_phone.mp4"})
    line = next(ln for ln in section.splitlines() if ln.startswith("| model: best |"))
    assert "| E | int8 |" in line and "skipped: bundle has no int8 file" in line
