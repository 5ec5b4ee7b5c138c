"""Splits that cannot train or judge a model: train with one class, or a val that shares no class
with train, are refused in one line before anything trains; a val of one class, or classes only one
split has, train with a `warning:` line (the card's val accuracy would be 1.0 or 0.0 otherwise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import ROOT_DIR, make_folder_dataset
from training import config as config_mod
from training import inputs as inputs_mod


def two_splits(root: Path, train: tuple[str, ...], val: tuple[str, ...]) -> Path:
    make_folder_dataset(root, 6, names=train, splits=("train",))
    make_folder_dataset(root, 4, names=val, splits=("val",), seed=1)
    return root


@pytest.mark.parametrize("train,val,message", [
    (("angry", "happy"), ("sad", "surprise"),
     "val shares no class with train (train: angry, happy; val: sad, surprise)"),
    (("happy",), ("happy", "sad"), "train has images of 1 class(es) only (happy)"),
], ids=["disjoint", "one-train-class"])
def test_unusable_splits_are_refused_in_one_line(tmp_path: Path, train: tuple[str, ...],
                                                 val: tuple[str, ...], message: str) -> None:
    data = two_splits(tmp_path / "data", train, val)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "training.run", "--model", "simple_cnn",
                           "--epochs", "1", "--data", str(data), "--out", str(out), "--no-export"],
                          capture_output=True, text=True, cwd=ROOT_DIR, timeout=600)
    assert proc.returncode == 2, proc.stderr[-1500:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("train,val,warning", [
    (("angry", "happy", "sad"), ("happy",),
     "warning: val has images of one class only (happy): val accuracy is that class's recall"),
    (("angry", "happy", "sad"), ("angry", "happy"),
     "warning: val has no images of sad: their recall is not measured"),
    (("angry", "happy"), ("angry", "happy", "fear"),
     "warning: train has no images of fear: the model cannot predict them"),
], ids=["one-val-class", "val-lacks-a-class", "val-has-an-unseen-class"])
def test_lopsided_splits_warn_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          train: tuple[str, ...], val: tuple[str, ...],
                                          warning: str) -> None:
    data = two_splits(tmp_path / "data", train, val)
    cfg = config_mod.apply(config_mod.TrainConfig(), {"model": "simple_cnn", "data": str(data)},
                           "test")
    loaded = inputs_mod.load_data(cfg)  # what training.run trains on
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning:")]
    assert len(err) == 1 and err[0].startswith(warning), err
    assert err[0] in loaded.splits.notes


def test_matching_splits_do_not_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = two_splits(tmp_path / "data", ("angry", "happy"), ("angry", "happy"))
    cfg = config_mod.apply(config_mod.TrainConfig(), {"model": "simple_cnn", "data": str(data)},
                           "test")
    inputs_mod.load_data(cfg)
    assert "warning:" not in capsys.readouterr().err
