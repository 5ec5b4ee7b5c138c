"""Distillation (`teacher = BUNDLE`): a real teacher bundle (a tiny run at 40 px, so the student's
48 px images are resized for it) reads the training images once; the student's batches carry its
probabilities mixed with the labels; the run records the teacher, and its card names it, and
saves the teacher's probabilities, which a resumed run reads instead of the teacher; without
them a resumed run refuses another teacher; wrong teachers are one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.core import EmotionLensError
from tests.training.conftest import CLASSES
from training import run as run_mod

QUICK = ["--model", "simple_cnn", "--epochs", "1", "--batch-size", "16", "--no-tensorboard",
         "--calib-samples", "20", "--seed", "1", "--max-samples", "70"]


@pytest.fixture(scope="module")
def teacher(tiny_folders: Path, tmp_path_factory: pytest.TempPathFactory, keras_mod) -> Path:
    out = tmp_path_factory.mktemp("teacher") / "t40"
    assert run_mod.main([*QUICK, "--epochs", "3", "--input-size", "40", "--data", str(tiny_folders),
                         "--out", str(out), "--no-fp16"]) == 0
    return out


def _cfg(tiny_folders: Path, teacher: Path, out: Path, **kw):
    from training import config as config_mod
    from training.config import TrainConfig

    return config_mod.apply(TrainConfig(), {
        "model": "simple_cnn", "data": str(tiny_folders), "out": str(out), "max_samples": 70,
        "batch_size": 16, "seed": 1, "teacher": str(teacher), **kw}, "test")


def test_soft_targets_mix_label_and_teacher():
    from training.distill import soft_targets

    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([1, 2])
    t = soft_targets(p, y, 0.5, 1.0)
    np.testing.assert_allclose(t, [[0.35, 0.6, 0.05], [0.05, 0.05, 0.9]], atol=1e-6)
    np.testing.assert_allclose(soft_targets(p, y, 1.0, 1.0), p, atol=1e-6)
    hot = soft_targets(p, y, 1.0, 2.0)  # softened: p ** 0.5 renormalized
    np.testing.assert_allclose(hot[0], np.sqrt(p[0]) / np.sqrt(p[0]).sum(), atol=1e-6)
    assert hot[0].max() < 0.7
    np.testing.assert_allclose(soft_targets(p, y, 0.3, 0.5).sum(1), 1.0, atol=1e-6)


def test_batches_carry_the_teachers_probabilities(tiny_folders, teacher, tmp_path, keras_mod):
    """The teacher's own Classifier on each image resized to its 40 px is what the student's
    batches hold (weight 1: the teacher alone; 0.5: half the label), on tf.data and arrays."""
    from app.core.classify import Classifier
    from training import inputs
    from training.data.base import to_size

    cfg = _cfg(tiny_folders, teacher, tmp_path / "s", teacher_weight=1.0)
    data = inputs.load_data(cfg)
    record = inputs.with_teacher(cfg, data, log=lambda _m: None)
    assert record["sha256"] == json.loads((teacher / "model.json").read_text())["sha256"][
        "model.keras"]
    assert record["weight"] == 1.0 and 0.0 <= record["train_agreement"] <= 1.0
    want = Classifier(teacher, backend="keras").predict(
        np.stack([to_size(img, 40, 1) for img in data.x]))
    np.testing.assert_allclose(data.teacher_probs, want, atol=1e-5)
    assert not np.allclose(want, np.eye(len(CLASSES))[data.y], atol=0.2)  # not the labels
    for pipeline in ("tf", "arrays"):
        c = _cfg(tiny_folders, teacher, tmp_path / "s", teacher_weight=1.0,
                 input_pipeline=pipeline, augment={"enabled": False})
        train, _val = inputs.make_datasets(c, data)
        batch = next(iter(train)) if pipeline == "tf" else train[0]
        got = np.asarray(batch[1])
        ids = [int(np.argmin(np.abs(data.x.astype(np.float32) / 255.0 - np.asarray(img)).reshape(
            len(data.x), -1).sum(1))) for img in batch[0][:5]]
        np.testing.assert_allclose(got[:5], want[ids], atol=1e-5)
    half = _cfg(tiny_folders, teacher, tmp_path / "s", teacher_weight=0.5, input_pipeline="arrays",
                augment={"enabled": False})
    train, _val = inputs.make_datasets(half, data)
    img, got = train[0][0], np.asarray(train[0][1])
    ids = [int(np.argmin(np.abs(data.x.astype(np.float32) / 255.0 - np.asarray(i)).reshape(
        len(data.x), -1).sum(1))) for i in img[:5]]
    np.testing.assert_allclose(got[:5], 0.5 * want[ids] + 0.5 * np.eye(len(CLASSES))[data.y[ids]],
                               atol=1e-5)


def _replace_teacher(mine: Path, out: Path) -> None:
    """Another bundle (the student's own) where the teacher was: models/best rebuilt."""
    shutil.rmtree(mine)
    mine.mkdir()
    for name in ("model.json", "model.keras", "model_int8.tflite"):
        shutil.copy(out / name, mine / name)


def _unfinish(out: Path) -> None:
    from training.resume import RunState

    rs = RunState(out)
    rs.load()
    rs.finished = False
    rs.save()


@pytest.mark.parametrize("saved", [True, False], ids=["teacher.npz", "no teacher.npz"])
def test_a_distilled_run_records_its_teacher_and_resumes_from_its_saved_probabilities(
        tiny_folders, teacher, tmp_path, capsys, saved):
    """The card and the run's state name the teacher file, and the run saves the teacher's
    probabilities at its start. When another model is put at the teacher's path (models/best
    replaced between sessions), `--resume` goes on with the saved probabilities (the same
    targets, the teacher not read); a run without them (started before they were saved)
    refuses the other file in one line."""
    mine = tmp_path / "teacher"
    shutil.copytree(teacher, mine)
    out = tmp_path / "student"
    assert run_mod.main([*QUICK, "--epochs", "2", "--data", str(tiny_folders), "--out", str(out),
                         "--teacher", str(mine), "--teacher-weight", "0.7", "--no-fp16"]) == 0
    assert "agrees with the dataset's on" in capsys.readouterr().out
    state = json.loads((out / "train_state.json").read_text())
    assert state["teacher"]["path"] == str(mine) and state["teacher"]["weight"] == 0.7
    card = json.loads((out / "model.json").read_text())
    assert card["provenance"]["teacher"]["sha256"] == state["teacher"]["sha256"]
    assert card["provenance"]["recipe"]["teacher_weight"] == 0.7

    from training import distill, inputs

    cfg = _cfg(tiny_folders, mine, out)
    data = inputs.load_data(cfg)
    clf, _ = distill.load_teacher(mine, data.labels)
    with np.load(out / distill.TEACHER_CACHE) as z:
        assert str(z["teacher_sha256"]) == state["teacher"]["sha256"]
        np.testing.assert_allclose(z["probs"], distill.teacher_probabilities(clf, data.x, False),
                                   atol=1e-6)
    if not saved:
        (out / distill.TEACHER_CACHE).unlink()
    _replace_teacher(mine, out)
    _unfinish(out)
    capsys.readouterr()
    rc = run_mod.main(["--out", str(out), "--resume", "--epochs", "3"])
    got = capsys.readouterr()
    if saved:
        assert rc == 0, got.err
        assert "saved at the run's start: the teacher itself is not read" in got.out
        assert "agrees with the dataset's on" not in got.out
        after = json.loads((out / "train_state.json").read_text())
        assert after["epoch"] == 3 and after["teacher"]["sha256"] == state["teacher"]["sha256"]
    else:
        err = got.err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "not the file this run started with" in err[0], err
        assert json.loads((out / "train_state.json").read_text())["epoch"] == 2


def test_saved_teacher_probabilities_are_used_only_for_the_same_images(tiny_folders, teacher,
                                                                      tmp_path):
    """teacher.npz answers only for the images and the teacher it was saved for; otherwise the
    teacher is read again (and a changed teacher file is refused)."""
    from training import distill, inputs

    cfg = _cfg(tiny_folders, teacher, tmp_path / "s")
    data = inputs.load_data(cfg)
    folder = tmp_path / "run"
    info = inputs.with_teacher(cfg, data, log=lambda _m: None, folder=folder)
    first = data.teacher_probs.copy()
    assert distill.cached_probabilities(folder, info, data.x, data.y) is not None
    other = data.x.copy()
    other[0, 0, 0] ^= 1  # one pixel
    assert distill.cached_probabilities(folder, info, other, data.y) is None
    assert distill.cached_probabilities(folder, {**info, "sha256": "f" * 64}, data.x, data.y) is None
    (folder / distill.TEACHER_CACHE).write_bytes(b"not an npz")
    assert not distill.has_cache(folder, info)
    data.teacher_probs = None
    inputs.with_teacher(cfg, data, recorded=info, log=lambda _m: None, folder=folder)
    np.testing.assert_allclose(data.teacher_probs, first, atol=1e-6)  # read again, saved again
    assert distill.cached_probabilities(folder, info, data.x, data.y) is not None


@pytest.mark.parametrize("case", ["missing", "classes", "weight"])
def test_bad_teachers_are_one_line_before_anything_is_written(tiny_folders, teacher, tmp_path,
                                                              capsys, case):
    out = tmp_path / "never"
    extra = {"missing": ["--teacher", str(tmp_path / "nope")],
             "classes": ["--teacher", str(teacher), "--exclude", "disgust"],
             "weight": ["--teacher", str(teacher), "--teacher-weight", "1.5"]}[case]
    rc = run_mod.main([*QUICK, "--data", str(tiny_folders), "--out", str(out), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: "), err
    assert {"missing": "nope", "classes": "order must match", "weight": "teacher_weight"}[case] \
        in err[0]
    assert not out.exists()


def test_read_teacher_refuses_a_changed_file(tiny_folders, teacher, tmp_path):
    from training import inputs

    cfg = _cfg(tiny_folders, teacher, tmp_path / "s")
    data = inputs.load_data(cfg)
    with pytest.raises(EmotionLensError, match="not the file this run started with"):
        inputs.with_teacher(cfg, data, recorded={"sha256": "f" * 64}, log=lambda _m: None)
