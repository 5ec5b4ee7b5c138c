"""`python -m training.run` on datasets with nothing usable in them: one `error:` line, exit 2,
before any model is built (these datasets cannot train, so nothing trains here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from training import run as run_mod


def _csv_wrong_columns(root: Path) -> Path:
    (root / "fer2013.csv").write_text("label,image\n3,1 2 3\n")
    return root / "fer2013.csv"


def _csv_no_valid_rows(root: Path) -> Path:
    rows = ["emotion,pixels,Usage", "3,1 2 3,Training", "9," + " 1" * 2304 + ",Training",
            "x,,Training", "2," + " 300" * 2304 + ",PublicTest", "4,a b c,Training,extra"]
    (root / "fer2013.csv").write_text("\n".join(rows) + "\n")
    return root / "fer2013.csv"


def _expw_malformed(root: Path) -> Path:
    (root / "image").mkdir()
    (root / "label.lst").write_text("a.jpg 0 1 2\nb.jpg 0 nan 1 5 5 50 3\nc.jpg 0 1 1 9 9 50 8\n"
                                    "../x.jpg 0 1 1 9 9 50 3\nmissing.jpg 0 1 1 9 9 50 3\n")
    return root


def _folders_empty_classes(root: Path) -> Path:
    for name in ("angry", "happy", "neutral"):
        (root / "train" / name).mkdir(parents=True)
    return root


def _folders_corrupt_and_unknown(root: Path) -> Path:
    (root / "train" / "happy").mkdir(parents=True)
    (root / "train" / "happy" / "a.jpg").write_bytes(b"\xff\xd8 broken")
    (root / "train" / "happy" / "b.png").write_bytes(b"")
    (root / "train" / "pain").mkdir()
    (root / "train" / "boredom").mkdir()
    return root


@pytest.mark.parametrize("make,needle", [
    (_csv_wrong_columns, "is not a FER2013 CSV"),
    (_csv_no_valid_rows, "no usable Training rows"),
    (_expw_malformed, "no usable faces"),
    (_folders_empty_classes, "no readable images of known classes"),
    (_folders_corrupt_and_unknown, "no readable images of known classes"),
], ids=["csv-columns", "csv-rows", "expw-lines", "empty-classes", "corrupt-images"])
def test_unusable_dataset_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            make: Callable[[Path], Path], needle: str) -> None:
    root = tmp_path / "data"
    root.mkdir()
    data = make(root)
    out = tmp_path / "run"
    code = run_mod.main(["--data", str(data), "--out", str(out), "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert not out.exists()  # the data is checked before anything is written
