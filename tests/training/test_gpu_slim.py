"""training/gpu/slim.sh: before a device call it takes the big tracked model files out of the tree
and the index (a call carries the tracked tree with the data, 64 MiB in all), and `restore` puts
them back exactly. Real git, in a throwaway repository laid out like this one."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIG = ["models/default/model.keras", "training/checkpoints/realtime/last.keras"]
SMALL = ["models/default/model.json", "training/checkpoints/realtime/train_state.json", "app/x.py",
         "assets/big.png"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    rng = os.urandom
    for name in BIG:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(rng(1_200_000))
    for name in SMALL:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        # a big file outside models/ and training/checkpoints/ stays (the GPU host may need it)
        (repo / name).write_bytes(rng(1_200_000) if name.endswith(".png") else b"{}\n")
    (repo / "training/gpu").mkdir(parents=True)
    shutil.copy(ROOT / "training/gpu/slim.sh", repo / "training/gpu/slim.sh")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return repo


def slim(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "training/gpu/slim.sh", *args], cwd=repo, capture_output=True, text=True)


def test_slim_takes_the_big_model_files_out_and_restores_them(repo: Path) -> None:
    before = {name: sha(repo / name) for name in BIG + SMALL}
    (repo / BIG[1]).write_bytes(os.urandom(1_100_000))  # an uncommitted change survives the trip
    before[BIG[1]] = sha(repo / BIG[1])

    assert sorted(slim(repo, "list").stdout.split()) == sorted(BIG)  # what prepare.sh leaves out
    took = slim(repo)
    assert took.returncode == 0, took.stderr
    assert "took 2 files" in took.stdout
    tracked = set(git(repo, "ls-files").split())
    assert not tracked & set(BIG) and set(SMALL) <= tracked
    assert not any((repo / name).exists() for name in BIG)
    # nothing new shows as untracked: the stash is ignored, so a device call does not carry it
    assert "??" not in git(repo, "status", "--porcelain")

    again = slim(repo)  # a second take would lose the list of the first
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        "error: .gpu-slim/ exists (an earlier take): run 'training/gpu/slim.sh restore' first"]

    back = slim(repo, "restore")
    assert back.returncode == 0, back.stderr
    assert {name: sha(repo / name) for name in BIG + SMALL} == before
    assert not (repo / ".gpu-slim").exists()
    assert git(repo, "status", "--porcelain").split() == ["M", BIG[1]]  # as before the take
    assert slim(repo, "restore").stdout.startswith("nothing to restore")


def test_slim_refuses_an_unknown_word(repo: Path) -> None:
    bad = slim(repo, "undo")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["error: usage: training/gpu/slim.sh [take|restore|list]"]
