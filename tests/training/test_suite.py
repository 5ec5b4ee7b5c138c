"""`--suite seeds` writes the comparison table (slow: trains and exports two tiny models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import run as run_mod

pytestmark = pytest.mark.slow


def test_suite_table(tiny_folders: Path, tmp_path: Path, keras_mod):
    out = tmp_path / "suite"
    rc = run_mod.main(["--suite", "seeds", "--suite-models", "simple_cnn,vgg_small",
                       "--suite-epochs", "1", "--data", str(tiny_folders), "--out", str(out),
                       "--batch-size", "16", "--calib-samples", "20", "--no-fp16"])
    assert rc == 0
    table = (out / "suite.md").read_text()
    assert "| model | params | input | val accuracy | macro-F1 | int8 accuracy | ms per face |" in table
    assert "| simple_cnn |" in table and "| vgg_small |" in table
    assert "failed" not in table
