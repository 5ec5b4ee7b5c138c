"""`training.run --resume` continues only the same run, from a checkpoint that is whole: a changed
architecture, input or class set is refused in one line before the folder is touched; a damaged
state or model file is one line; checkpoints are committed through a manifest, so that a crash
mid-write leaves one consistent checkpoint (rolled forward when the commit was done); a folder
written before manifests existed resumes as it is."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import ROOT_DIR
from training import resume as resume_mod
from training import run as run_mod

QUICK = ["--model", "simple_cnn", "--epochs", "1", "--batch-size", "16", "--no-tensorboard",
         "--seed", "1", "--no-export"]


@pytest.fixture(scope="module")
def one_epoch(tiny_folders: Path, tmp_path_factory: pytest.TempPathFactory, keras_mod) -> Path:
    out = tmp_path_factory.mktemp("resume") / "run"
    assert run_mod.main([*QUICK, "--data", str(tiny_folders), "--out", str(out),
                         "--max-samples", "70"]) == 0
    return out


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())
            if p.is_file()}


def train_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "training.run", *args], capture_output=True,
                          text=True, cwd=ROOT_DIR, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-1500:]
    return lines[0]


def test_a_checkpoint_is_named_by_its_manifest(one_epoch: Path) -> None:
    from training.resume import MANIFEST, digest

    manifest = json.loads((one_epoch / MANIFEST).read_text())
    assert manifest["version"] == 1 and manifest["epoch"] == 1
    assert set(manifest["files"]) == {"last.keras", "best.weights.h5", "train_state.json"}
    for name, want in manifest["files"].items():
        assert digest(one_epoch / name) == want
    assert not list(one_epoch.glob("*.tmp*"))  # nothing staged is left behind


@pytest.mark.parametrize("option,value,message", [
    ("--model", "vgg_small", "--model was 'simple_cnn', now 'vgg_small'"),
    ("--input-size", "64", "--input-size/--channels was '48×48×1', now '64×64×1'"),
    ("--exclude", "disgust", "--exclude was [], now ['disgust']"),
])
def test_resume_as_another_run_is_refused_before_touching_the_folder(
        one_epoch: Path, tmp_path: Path, option: str, value: str, message: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(one_epoch, run)
    before = snapshot(run)
    line = one_error_line(train_cli("--out", str(run), "--resume", option, value, "--epochs", "2"))
    assert line == (f"error: --resume continues {run} as it was trained: {message}; drop the "
                    f"option, or start a new run with another --out")
    assert snapshot(run) == before  # config.json and the checkpoint untouched


def test_damaged_state_and_model_are_one_line(one_epoch: Path, tmp_path: Path) -> None:
    state_run, model_run = tmp_path / "state", tmp_path / "model"
    for run in (state_run, model_run):
        shutil.copytree(one_epoch, run)
        (run / "checkpoint.json").unlink(missing_ok=True)  # as from before manifests: files alone
    (state_run / "train_state.json").write_text('{"epoch": 1, "hist')
    line = one_error_line(train_cli("--out", str(state_run), "--resume", "--epochs", "2"))
    assert line.startswith(f"error: run {state_run}: train_state.json is damaged, not valid JSON")
    good = json.loads((one_epoch / "train_state.json").read_text())
    (state_run / "train_state.json").write_text(json.dumps({**good, "hardware": [{"epochs": "1"}]}))
    line = one_error_line(train_cli("--out", str(state_run), "--resume", "--epochs", "2"))
    assert line == (f"error: run {state_run}: train_state.json is damaged (no whole epoch count and "
                    f"history in it, or a broken hardware list); restore it, or start afresh in "
                    f"another --out")
    data = (model_run / "last.keras").read_bytes()
    (model_run / "last.keras").write_bytes(data[: len(data) // 3])
    line = one_error_line(train_cli("--out", str(model_run), "--resume", "--epochs", "2"))
    assert line == (f"error: cannot resume {model_run}: last.keras is truncated or damaged (not a "
                    f"whole .keras file); restore it, or start afresh in another --out")


def test_a_file_that_does_not_match_the_manifest_is_one_line(one_epoch: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(one_epoch, run)
    weights = bytearray((run / "best.weights.h5").read_bytes())
    weights[len(weights) // 2] ^= 0x10
    (run / "best.weights.h5").write_bytes(bytes(weights))
    line = one_error_line(train_cli("--out", str(run), "--resume", "--epochs", "2"))
    assert line.startswith(f"error: run {run}: checkpoint.json names the checkpoint of epoch 1, "
                           f"and its best.weights.h5 does not match it (damaged")
    (run / "best.weights.h5").unlink()  # absent (git does not track it) is not damaged
    assert resume_mod.RunState(run).load()
    (run / "last.keras").unlink()
    line = one_error_line(train_cli("--out", str(run), "--resume", "--epochs", "2"))
    assert line == (f"error: run {run}: checkpoint.json names the checkpoint of epoch 1, and its "
                    f"last.keras is missing")


def _stage_next_checkpoint(run: Path) -> dict[str, bytes]:
    """Write a next checkpoint's files under their staged names, as `_checkpoint` does before it
    commits (here: the same model, a state one epoch on)."""
    from training.resume import staged_name, write_staged

    state = json.loads((run / "train_state.json").read_text())
    state["epoch"] = 2
    write_staged(run / "train_state.json", json.dumps(state, indent=1))
    shutil.copy(run / "last.keras", run / staged_name("last.keras"))
    return {"train_state.json": (run / staged_name("train_state.json")).read_bytes(),
            "last.keras": (run / staged_name("last.keras")).read_bytes()}


def test_a_crash_before_the_commit_leaves_the_previous_checkpoint(one_epoch: Path,
                                                                  tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(one_epoch, run)
    _stage_next_checkpoint(run)  # ... and the process dies: no manifest written
    state = resume_mod.RunState(run)
    assert state.load() and state.epoch == 1
    assert not list(run.glob("*.tmp.*"))  # the staged files belonged to no checkpoint


def test_a_crash_after_the_commit_is_rolled_forward(one_epoch: Path, tmp_path: Path) -> None:
    from training.resume import MANIFEST, digest, staged_name, write_atomic

    run = tmp_path / "run"
    shutil.copytree(one_epoch, run)
    staged = _stage_next_checkpoint(run)
    manifest = json.loads((run / MANIFEST).read_text())
    for name in staged:
        manifest["files"][name] = digest(run / staged_name(name))
    manifest["epoch"] = 2
    write_atomic(run / MANIFEST, json.dumps(manifest))  # committed; the renames never happened
    state = resume_mod.RunState(run)
    assert state.load() and state.epoch == 2
    for name, data in staged.items():
        assert (run / name).read_bytes() == data and not (run / staged_name(name)).exists()


def test_a_folder_without_manifest_resumes_and_gets_one(one_epoch: Path, tmp_path: Path) -> None:
    """The layout of runs written before manifests (training/checkpoints/realtime among them)."""
    run = tmp_path / "legacy"
    shutil.copytree(one_epoch, run)
    (run / "checkpoint.json").unlink(missing_ok=True)
    old = json.loads((run / "train_state.json").read_text())
    del old["hardware"]  # runs from before the hardware was recorded
    (run / "train_state.json").write_text(json.dumps(old))
    proc = train_cli("--out", str(run), "--resume", "--epochs", "2", "--no-export")
    assert proc.returncode == 0, proc.stderr[-1500:]
    state = json.loads((run / "train_state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    manifest = json.loads((run / "checkpoint.json").read_text())
    assert manifest["epoch"] == 2 and "last.keras" in manifest["files"]
    # the resumed epoch is recorded; the card says plainly that epoch 1's machine is not
    from training.export import hardware_card

    (recorded,) = state["hardware"]
    assert recorded["epochs"] == [2, 2] and recorded["backend"] == "tensorflow"
    assert hardware_card(state["hardware"], 2) == [{"epochs": [1, 1], "recorded": False}, recorded]
    assert hardware_card(state["hardware"], 1) == [{"epochs": [1, 1], "recorded": False}]


def test_hardware_is_recorded_per_machine(tmp_path: Path) -> None:
    """Epochs on one machine extend its range; a resume elsewhere (a GPU call) starts a new entry."""
    cpu = {"cpu": "AMD EPYC", "logical_cpus": 2, "backend": "tensorflow", "accelerator": "none"}
    gpu = {"cpu": "Intel Xeon", "logical_cpus": 16, "backend": "jax", "accelerator": "1× H200"}
    state = resume_mod.RunState(tmp_path)
    for epoch, machine in [(1, cpu), (2, cpu), (3, gpu), (4, gpu), (5, cpu)]:
        state.epoch = epoch
        state.record_hardware(machine)
    assert state.hardware == [{**cpu, "epochs": [1, 2]}, {**gpu, "epochs": [3, 4]},
                              {**cpu, "epochs": [5, 5]}]
    assert state.at_epoch(3).hardware == [{**cpu, "epochs": [1, 2]}, {**gpu, "epochs": [3, 3]}]
