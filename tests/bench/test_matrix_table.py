"""The README's performance block (benchmarks/run.py) from real bench runs: one line per row with
what ran ahead, the targets judged on the right rows, and a block that replaces the old one."""

from __future__ import annotations

from pathlib import Path

from app.bench import bench
from app.core.settings import PipelineSettings
from benchmarks.run import END, START, Row, render_section, replace_block


def _rows(media: Path, model: Path) -> list[Row]:
    video, image = media / "street_phone.mp4", media / "single_face.jpg"
    rows = [Row("model", "default", video, model),
            Row("model", "default, decoding ahead only (as the desktop app)", video, model,
                ahead="decode"),
            Row("faces", "4 faces, decoding ahead only (as the desktop app)", image, model,
                tile=2, ahead="decode"),
            Row("model", "ResNet50-iPPM", video, None, skipped="no bundle")]
    for row in rows:
        if row.model is not None:
            row.result = bench(row.input, PipelineSettings(), model=row.model, frames=6,
                               tile=row.tile, warmup=1, ahead=row.ahead)
    return rows


def test_table_shows_each_row_with_its_mode_and_judges_the_targets(media: Path, int8_bundle: Path,
                                                                   tmp_path: Path) -> None:
    rows = _rows(media, int8_bundle)
    fer = {"fer_version": "22.5.1", "tf": "2.x", "faces_per_frame_mean": 1.0, "fps": 1.0,
           "faces_per_s": 1.0, "p50_ms": 900.0, "p95_ms": 990.0, "cpu_ms_per_frame": 1800.0,
           "peak_rss_mb": 900.0}  # a stand-in `fer` far slower than anything measured here
    machine = {"Model name": "Test CPU", "nproc": 2, "os": "Linux", "python": "3.11"}
    meta = {"date": "2026-11-21 12:00 UTC", "frames": 6, "load": "0.1–0.2",
            "video": str(media / "street_phone.mp4")}
    section = render_section(rows, fer, machine, meta)
    assert section.startswith(START) and section.rstrip().endswith(END)
    lines = section.splitlines()
    table = [ln for ln in lines if ln.startswith("| model: ") or ln.startswith("| faces: ")]
    assert len(table) == 4
    default_line = next(ln for ln in table if ln.startswith("| model: default |"))
    cells = [c.strip() for c in default_line.strip("|").split("|")]
    assert cells[4] == "detect" and f"**{rows[0].result['fps']:.0f}**" in cells
    assert "| decode |" in table[1] and "| decode |" in table[2]
    assert "skipped: no bundle" in table[3]
    four = rows[2].result
    target = next(ln for ln in lines if ln.startswith("| 4 faces, decoding ahead only"))
    assert f"{four['fps']:.0f} frames/s, p95 {four['p95_ms']:.1f} ms" in target
    ratio = rows[0].result["fps"] / fer["fps"]
    assert f"| ≥ 5× the frames/s of `fer` | {ratio:.1f}× | ✓ |" in section
    assert "| ResNet50-iPPM int8: ≥ 120 frames/s | – | – |" in section  # not measured: no mark

    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{START}\nold table\n{END}\n\n## After\n", encoding="utf-8")
    replace_block(readme, section)
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and text.count(START) == 1 and text.count(END) == 1
    assert text.startswith("# Title\n\nintro\n\n") and text.rstrip().endswith("## After")


def test_the_best_row_is_the_most_accurate_trained_bundle(default_model: Path) -> None:
    from benchmarks.run import ROOT, best_bundle

    path, note = best_bundle(None, None)  # nothing to compare with: the most accurate one runs
    assert path is not None and (path / "model.json").is_file()
    assert "most accurate" in note and "%" in note
    path, note = best_bundle(None, path)  # ... unless it is the default, which has its own rows
    assert path is None and "is the default" in note and str(ROOT) not in note
    assert best_bundle(default_model, None) == (default_model, "")  # named explicitly
