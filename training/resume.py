"""What `--resume` continues from, written so that a crash at any moment leaves a consistent run.

A checkpoint is `last.keras` (model and optimizer), `best.weights.h5` and `train_state.json`
(epoch, best val, schedule position, history: `RunState`), with `swa_epochs` also `swa.npz`.
Each epoch the new files are written under temporary names and fsynced; then `checkpoint.json`,
the manifest naming the files of the checkpoint with their sizes and sha256, is replaced
atomically (the commit); then the files are renamed into place. A crash before the commit
leaves the previous checkpoint whole; a crash after it is rolled forward on the next `--resume`
(the staged files are the ones the manifest names). A folder without a manifest (written before
it existed) is resumed as it is.

`check_same_run` refuses a `--resume` that would continue a run as another one (a changed
architecture, input or class set), before anything in the folder is touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from app.core import EmotionLensError
from app.core.atomic import fsync_dir

STATE_FILE = "train_state.json"
LAST_CKPT = "last.keras"
BEST_WEIGHTS = "best.weights.h5"
MANIFEST = "checkpoint.json"
SWA_WEIGHTS = "swa.npz"  # with swa_epochs: the running mean of the last epochs (training/swa.py)
MANIFEST_VERSION = 1
# what a resumed run cannot change: the model in last.keras was built from these
SAME_RUN_KEYS = ("model", "filters", "exclude", "contempt", "ippm_scales", "ippm_kernels",
                 "dropout", "head_batchnorm", "head_noise")
_OPTION = {"input": "--input-size/--channels"}


def staged_name(name: str) -> str:
    """The temporary name a checkpoint file is written under: last.keras -> last.tmp.keras (Keras
    needs the suffixes kept)."""
    stem, dot, rest = name.partition(".")
    return f"{stem}.tmp{dot}{rest}"


def write_staged(path: Path, text: str) -> Path:
    """`text` in the staged twin of `path`, fsynced; returns the staged path."""
    tmp = path.with_name(staged_name(path.name))
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` whole or not at all (temp file, fsync, rename, fsync folder)."""
    tmp = write_staged(path, text)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of `folder`, None for a folder without one (the layout before manifests)."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EmotionLensError(f"run {folder}: {MANIFEST} is damaged ({exc})") from None
    files = data.get("files") if isinstance(data, dict) else None
    if (not isinstance(files, dict) or data.get("version") != MANIFEST_VERSION
            or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str)
                       and isinstance(v.get("size"), int) and "/" not in k for k, v in files.items())):
        raise EmotionLensError(f"run {folder}: {MANIFEST} is not a checkpoint manifest")
    return data


def commit(folder: Path, staged: dict[str, Path], keep: tuple[str, ...], epoch: int) -> None:
    """Make the staged files (final name -> fsynced temp file) and the kept ones (unchanged, still
    part of the checkpoint) the checkpoint of `epoch`: manifest first, then the renames."""
    files = {name: digest(folder / name) for name in keep if (folder / name).is_file()}
    files.update({name: digest(tmp) for name, tmp in staged.items()})
    manifest = {"version": MANIFEST_VERSION, "epoch": epoch, "files": files}
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    for name, tmp in staged.items():
        os.replace(tmp, folder / name)
    fsync_dir(folder)


def _matches(path: Path, want: dict[str, Any]) -> bool:
    return path.is_file() and path.stat().st_size == want["size"] and digest(path) == want


def recover(folder: Path, optional: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Check the checkpoint in `folder` against its manifest, finishing a commit a crash cut short;
    None when the folder has no manifest. Raises one line naming a file that does not match.
    An `optional` file may be absent (not tracked in git, say), never different."""
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    todo: list[tuple[Path, Path]] = []
    for name, want in manifest["files"].items():
        final, tmp = folder / name, folder / staged_name(name)
        if _matches(final, want):
            continue
        if _matches(tmp, want):  # committed, not yet renamed
            todo.append((tmp, final))
            continue
        if name in optional and not final.exists():
            continue
        state = ("is missing" if not final.exists() else
                 f"does not match it (damaged, or replaced without it: delete {MANIFEST} to resume "
                 f"the files as they are)")
        raise EmotionLensError(f"run {folder}: {MANIFEST} names the checkpoint of epoch "
                               f"{manifest.get('epoch')}, and its {name} {state}")
    for tmp, final in todo:
        os.replace(tmp, final)
    if todo:
        fsync_dir(folder)
    for name in manifest["files"]:  # what a crash left staged is in no checkpoint now
        (folder / staged_name(name)).unlink(missing_ok=True)
    return manifest


def _hardware_ok(hardware: Any) -> bool:
    return isinstance(hardware, list) and all(
        isinstance(h, dict) and isinstance(h.get("epochs"), list) and len(h["epochs"]) == 2
        and all(isinstance(e, int) and not isinstance(e, bool) for e in h["epochs"]) for h in hardware)


def read_state(path: Path) -> dict[str, Any]:
    """train_state.json as a dict with the fields a resume needs; one line when it is damaged."""
    folder = path.parent
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EmotionLensError(f"run {folder}: {path.name} is damaged, not valid JSON ({exc}); "
                               f"restore it, or start afresh in another --out") from None
    ok = (isinstance(data, dict) and isinstance(data.get("epoch"), int)
          and not isinstance(data["epoch"], bool) and data["epoch"] >= 0
          and isinstance(data.get("history", {}), dict)
          and isinstance(data.get("best_val_accuracy", 0.0), int | float)
          and _hardware_ok(data.get("hardware", [])))
    if not ok:
        raise EmotionLensError(f"run {folder}: {path.name} is damaged (no whole epoch count and "
                               f"history in it, or a broken hardware list); restore it, or start "
                               f"afresh in another --out")
    return data


def check_model_file(path: Path, epoch: int) -> None:
    """A resume at `epoch` > 0 needs the last checkpoint's model: present and a whole .keras zip."""
    folder = path.parent
    if epoch <= 0:
        return
    if not path.is_file():
        raise EmotionLensError(f"cannot resume {folder}: train_state.json is at epoch {epoch} but "
                               f"{path.name} is missing")
    try:
        with zipfile.ZipFile(path) as zf:
            whole = zf.testzip() is None  # every member's CRC: a flipped bit, a cut-off file
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        whole = False
    if not whole:
        raise EmotionLensError(f"cannot resume {folder}: {path.name} is truncated or damaged (not a "
                               f"whole .keras file); restore it, or start afresh in another --out")


def load_last_model(path: Path) -> Any:
    """The model and optimizer of the last checkpoint; one line when Keras cannot read it."""
    import keras

    check_model_file(path, 1)
    try:
        return keras.models.load_model(str(path))
    except Exception as exc:  # Keras raises many types for a bad file
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise EmotionLensError(f"cannot resume {path.parent}: {path.name} does not load "
                               f"({first})") from None


EPOCHS_DIR = "epochs"  # with keep_epochs: one weights file per epoch


def epoch_weights(out: Path, epoch: int) -> Path:
    """Where a run keeping its epochs (`keep_epochs`) keeps epoch `epoch` (1-based)."""
    return out / EPOCHS_DIR / f"epoch_{epoch:03d}.weights.h5"


def check_same_run(saved: Any, cfg: Any, saved_path: Path) -> None:
    """Refuse to continue the run saved in `saved_path` (config `saved`) with `cfg` when they differ
    in what the checkpointed model was built from."""
    from training.models import resolve_input

    out = saved_path.parent
    pairs: list[tuple[str, Any, Any]] = [
        (key, getattr(saved, key), getattr(cfg, key)) for key in SAME_RUN_KEYS]
    with contextlib.suppress(EmotionLensError):  # an unknown model: the "model" pair says it
        pairs.append(("input", resolve_input(saved), resolve_input(cfg)))
    for key, was, now in pairs:
        if key == "exclude":
            was, now = sorted(was), sorted(now)
        if was != now:
            option = _OPTION.get(key, f"--{key.replace('_', '-')}")
            if key == "input":
                was, now = "×".join(map(str, (was[0], was[0], was[1]))), \
                    "×".join(map(str, (now[0], now[0], now[1])))
            raise EmotionLensError(
                f"--resume continues {out} as it was trained: {option} was {was!r}, now {now!r}; "
                f"drop the option, or start a new run with another --out")


class RunState:
    """Persistent progress of a run (what `--resume` continues from)."""

    def __init__(self, out: Path) -> None:
        self.path = out / STATE_FILE
        self.epoch = 0
        self.best_val_accuracy = -1.0
        self.best_epoch = 0
        self.train_seconds = 0.0
        self.history: dict[str, list[float]] = {}
        self.finished = False
        self.epochs_without_improvement = 0
        self.frozen_done = False
        # what trained which epochs: [{"cpu", "logical_cpus", "backend", "epochs": [first, last]}]
        self.hardware: list[dict[str, Any]] = []
        # distillation: the teacher bundle's record (path, file, sha256, weight, temperature)
        self.teacher: dict[str, Any] = {}
        # [first, last]: the epochs whose mean weights swa.npz holds (swa_epochs, training/swa.py)
        self.swa: list[int] = []

    def record_hardware(self, machine: dict[str, Any]) -> None:
        """Count the epoch just done (`self.epoch`) as trained on `machine` (the same machine as
        the epoch before it extends that entry's epoch range)."""
        last = self.hardware[-1] if self.hardware else None
        if last is not None and {k: v for k, v in last.items() if k != "epochs"} == machine \
                and last["epochs"][1] == self.epoch - 1:
            last["epochs"][1] = self.epoch
        else:
            self.hardware.append({**machine, "epochs": [self.epoch, self.epoch]})

    def load(self) -> bool:
        """Read the saved progress (after checking the checkpoint against its manifest, finishing
        a commit a crash cut short); False when there is none. Damage is one line."""
        recover(self.path.parent, optional=(BEST_WEIGHTS,))  # not tracked in training/checkpoints
        if not self.path.is_file():
            return False
        for k, v in read_state(self.path).items():
            setattr(self, k, v)
        return True

    def stage(self) -> Path:
        """The progress written (fsynced) under its temporary name, for `commit`."""
        data = {k: v for k, v in self.__dict__.items() if k != "path"}
        return write_staged(self.path, json.dumps(data, indent=1))

    def at_epoch(self, epoch: int) -> RunState:
        """The progress as it stood after `epoch` (1-based, at most `self.epoch`): its history cut
        there, its training time the sum of those epochs' times, and `epoch` as its best (what a
        bundle of that epoch's weights reports)."""
        if not 1 <= epoch <= self.epoch:
            raise EmotionLensError(f"epoch {epoch} is not in this run (epochs 1-{self.epoch} done)")
        past = RunState(self.path.parent)
        past.epoch = past.best_epoch = epoch
        past.history = {k: list(v[:epoch]) for k, v in self.history.items()}
        past.train_seconds = float(sum(past.history.get("seconds", [])))
        val = past.history.get("val_accuracy", [])
        past.best_val_accuracy = float(val[epoch - 1]) if len(val) >= epoch else -1.0
        past.hardware = [{**h, "epochs": [h["epochs"][0], min(h["epochs"][1], epoch)]}
                         for h in self.hardware if h["epochs"][0] <= epoch]
        past.teacher = dict(self.teacher)
        past.swa = list(self.swa) if self.swa and self.swa[1] <= epoch else []
        return past

    def save(self) -> None:
        """Replace the saved progress, the model files of the checkpoint kept as they are."""
        commit(self.path.parent, {STATE_FILE: self.stage()}, (LAST_CKPT, BEST_WEIGHTS, SWA_WEIGHTS),
               self.epoch)
