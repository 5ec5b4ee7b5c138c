"""Distillation: a run trains towards a teacher bundle's probabilities mixed with the labels.

    teacher = "models/best"      # in a config (or --teacher DIR)
    teacher_weight = 0.5         # target = (1 - w) * one-hot label + w * teacher's probabilities
    teacher_temperature = 1.0    # the teacher's p ** (1/T), renormalized: T > 1 softens it

The teacher reads every training image once, un-augmented, before the first epoch (at its own
input size and channels, through its own file, float where it has one), and those targets go with
the image through every augmentation: a flip, a small shift, rotation or zoom does not change an
expression. FER2013's labels are noisy and many faces are between two expressions; a strong
teacher's probabilities say which, and a small student trained on them learns more from the same
images than from the one-hot label alone.

A run's teacher probabilities are saved in its folder at the start (`teacher.npz`, tracked with
the resumable state: 28,709 FER2013 faces take about 0.6 MB), with the teacher file's sha256 and
a fingerprint of the training images. A resumed run reads them from there, so it needs neither
the teacher nor the minutes of reading the images with it again, and it goes on after the bundle
at the teacher's path has been replaced (models/best rebuilt while its student trains). A run
without that file (started before it existed) checks that the teacher is the same file (its
sha256 is in the run's state): a run distilled from two teachers would be neither's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from app.core.atomic import replacing

BATCH = 256
TEACHER_CACHE = "teacher.npz"  # in the run's folder: the teacher's probabilities at the start


def load_teacher(path: str | Path, labels: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    """(the teacher's `Classifier`, what the run's state and card record of it); one line when
    it is not a bundle or does not predict the run's classes in the run's order."""
    from app.core.bundle import file_sha256, load_bundle
    from app.core.classify import Classifier

    bundle = load_bundle(path)
    if tuple(bundle.labels) != tuple(labels):
        raise EmotionLensError(f"teacher {path} predicts {', '.join(bundle.labels)}; this run "
                               f"trains {', '.join(labels)}: the classes and their order must match")
    kind = "keras" if "keras" in bundle.available_kinds else bundle.available_kinds[0]
    clf = Classifier(bundle, backend=kind)
    info = {"path": str(path), "name": bundle.name, "file": bundle.files[kind],
            "sha256": bundle.sha256.get(bundle.files[kind]) or file_sha256(bundle.verify(kind)),
            "val_accuracy": bundle.metrics.get("accuracy")}
    return clf, info


def teacher_probabilities(clf: Any, x: np.ndarray, progress: bool = True) -> np.ndarray:
    """The teacher's probabilities (N, classes) for uint8 images `x` (N, H, W, C), each resized
    and converted to the teacher's input as the training loader would make it."""
    from training.data.base import to_size

    spec = clf.bundle.input
    same = x.shape[1] == spec.size and x.shape[3] == spec.channels
    out = np.empty((len(x), len(clf.labels)), np.float32)
    starts = range(0, len(x), BATCH)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="teacher", unit="batch", leave=False)
    for i in starts:
        chunk = x[i:i + BATCH]
        if not same:
            chunk = np.stack([to_size(img, spec.size, spec.channels) for img in chunk])
        out[i:i + len(chunk)] = clf.predict(chunk)
    return out


def soft_targets(probs: np.ndarray, y: np.ndarray, weight: float, temperature: float) -> np.ndarray:
    """(1 - weight) * one-hot(y) + weight * probs ** (1/temperature) renormalized; rows sum to 1."""
    p = np.clip(probs.astype(np.float64), 1e-12, 1.0) ** (1.0 / temperature)
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(probs.shape[1])[np.asarray(y, np.int64)]
    return ((1.0 - weight) * onehot + weight * p).astype(np.float32)


def read_teacher(cfg: Any, x: np.ndarray, y: np.ndarray, labels: tuple[str, ...],
                 recorded: dict[str, Any] | None = None,
                 log: Any = print) -> tuple[np.ndarray, dict[str, Any]]:
    """`cfg.teacher`'s probabilities for the training images `x` (`soft_targets` mixes them with
    the labels for each run or trial), and the teacher's record for the run's state. `recorded`
    (a resumed run's) must name the same teacher file, else one line."""
    clf, info = load_teacher(cfg.teacher, labels)
    if recorded and recorded.get("sha256") != info["sha256"]:
        raise EmotionLensError(f"teacher {cfg.teacher} is not the file this run started with "
                               f"(sha256 {str(recorded.get('sha256'))[:12]}…, now "
                               f"{info['sha256'][:12]}…): resume with that teacher, or start a new run")
    t0 = time.perf_counter()
    probs = teacher_probabilities(clf, x)
    agree = float((probs.argmax(1) == np.asarray(y)).mean())
    info = {**info, "train_agreement": round(agree, 4)}
    log(f"teacher {cfg.teacher} ({clf.backend}) read {len(x)} training images in "
        f"{time.perf_counter() - t0:.0f} s: its label agrees with the dataset's on {agree:.1%}")
    return probs, info


def images_fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the training images and labels, in order (what the saved probabilities are for)."""
    import hashlib

    h = hashlib.sha256(repr((x.shape, str(x.dtype))).encode())
    h.update(np.ascontiguousarray(x).data)
    h.update(np.asarray(y, np.int64).tobytes())
    return h.hexdigest()


def has_cache(folder: Path, recorded: dict[str, Any] | None) -> bool:
    """Whether `folder` holds saved teacher probabilities of the recorded teacher file (cheap:
    the images are checked when they are read, by `cached_probabilities`)."""
    path = Path(folder) / TEACHER_CACHE
    if not recorded or not path.is_file():
        return False
    try:
        with np.load(path) as z:
            return str(z["teacher_sha256"]) == recorded.get("sha256")
    except (OSError, ValueError, KeyError):
        return False


def cached_probabilities(folder: Path, recorded: dict[str, Any] | None, x: np.ndarray,
                         y: np.ndarray) -> np.ndarray | None:
    """The probabilities saved at the run's start, when they are the recorded teacher's for
    these very images; None otherwise (then the teacher is read again)."""
    path = Path(folder) / TEACHER_CACHE
    if not recorded or not path.is_file():
        return None
    try:
        with np.load(path) as z:  # one read: the teacher's sha256, the images', the probabilities
            if (str(z["teacher_sha256"]) != recorded.get("sha256")
                    or str(z["images_sha256"]) != images_fingerprint(x, y)):
                return None
            probs = z["probs"]
    except (OSError, ValueError, KeyError):
        return None
    return probs.astype(np.float32) if probs.shape[0] == len(x) else None


def save_probabilities(folder: Path, probs: np.ndarray, info: dict[str, Any], x: np.ndarray,
                       y: np.ndarray) -> Path:
    """Write `folder`/teacher.npz whole or not at all, durably (`app.core.atomic.replacing`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TEACHER_CACHE
    with replacing(path, "wb", durable=True) as f:
        np.savez_compressed(f, probs=probs.astype(np.float32), teacher_sha256=info["sha256"],
                            images_sha256=images_fingerprint(x, y))
    return path
