"""`python -m benchmarks.detectors`: the detector table's numbers come from real detections on
scenes built from the sample photos; a small run gives every column, and the README block is
replaced in place."""

from __future__ import annotations

from benchmarks.detectors import END, START, render, replace_block, run
from benchmarks.scenes import FACE_SIZES, match, scenes


def test_scenes_hold_faces_of_every_size_on_both_backgrounds(media) -> None:
    scene_list = list(scenes(media))
    sizes = {round(w) for s in scene_list for w in s.face_sizes}
    assert min(sizes) >= 24 and max(sizes) <= 400
    assert {s.background for s in scene_list} == {"plain", "busy"}
    assert {s.layout for s in scene_list} == {"grid", "single", "crowd", "mixed"}
    for size in FACE_SIZES:
        assert any(abs(w - size) < 1 for s in scene_list for w in s.face_sizes), size
    assert sum(len(s.faces) for s in scene_list) > 800


def test_match_counts_found_and_false_boxes() -> None:
    truth = [(0, 0, 10, 10), (50, 50, 10, 10)]
    assert match(truth, [(1, 1, 10, 10), (200, 200, 10, 10)]) == (1, 1)
    assert match(truth, [(1, 1, 10, 10), (0, 0, 10, 10)]) == (1, 1)  # one box per face
    assert match(truth, [(95, 0, 10, 10)], partial=[(96, 0, 10, 10)]) == (0, 0)  # cut by the edge


def test_a_small_run_gives_every_column(media) -> None:
    result = run(media, keys=["blazeface-auto", "blazeface"], repeats=1, sweep=False,
                 every_nth_scene=12, clip=3)
    auto, short = result["rows"]
    assert result["default"] == auto["key"] == "blazeface-auto"
    assert auto["recall"] > short["recall"] and auto["faces"] == short["faces"] > 50
    for row in result["rows"]:
        assert row["ms_mean"] > 0 and row["recall_by_size"]
    table = render(result)
    assert "**blazeface-auto** (default)" in table and "2-core AMD EPYC VM" in table
    readme = f"intro\n{START}\nold\n{END}\nrest"
    assert replace_block(readme, table) == f"intro\n{START}\n{table}\n{END}\nrest"
