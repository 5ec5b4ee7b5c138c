"""app.core.atomic.replacing: whole or not at all, for text and binary files, on any error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.atomic import part_path, replacing


def test_a_clean_block_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("old\n", encoding="utf-8")
    with replacing(path, newline="") as f:
        f.write("face_id,label\r\n1,happy\r\n")
        assert path.read_text(encoding="utf-8") == "old\n"  # untouched until the block ends
        assert part_path(path).is_file()
    assert path.read_bytes() == b"face_id,label\r\n1,happy\r\n"  # newline="" kept the CRLFs
    assert not part_path(path).exists()


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_an_error_keeps_the_old_file_and_leaves_no_part(tmp_path: Path, error: BaseException) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"frames": 10}\n', encoding="utf-8")
    with pytest.raises(type(error)), replacing(path) as f:
        f.write('{"frames": ')
        raise error
    assert path.read_text(encoding="utf-8") == '{"frames": 10}\n'
    assert list(tmp_path.iterdir()) == [path]


def test_a_new_file_that_fails_is_never_made(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    with pytest.raises(ValueError, match="half"), replacing(path) as f:
        f.write("a,b\n")
        raise ValueError("half written")
    assert list(tmp_path.iterdir()) == []


def test_binary_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "teacher.npz"
    probs = np.eye(7, dtype=np.float32)
    with replacing(path, "wb", durable=True) as f:
        np.savez_compressed(f, probs=probs)
    with np.load(path) as data:
        np.testing.assert_array_equal(data["probs"], probs)


def test_only_write_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), replacing(tmp_path / "x", "a"):
        pass
