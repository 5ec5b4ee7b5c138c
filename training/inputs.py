"""What a run trains and validates on, as its config asks: the dataset's splits (`load_cfg_splits`),
capped (`load_capped_splits`), oversampled or SMOTEd with class weights (`load_data`), and the
batches (`make_datasets`). A search trial sees exactly the same as a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training import config as config_mod
from training.config import TrainConfig
from training.models import resolve_input
from training.runtime import seed_everything


@dataclass
class TrainData:
    """What a run trains and validates on (the search's trials see exactly the same)."""
    splits: Any
    val: Any                  # the (capped) val Dataset
    x: np.ndarray             # training images after the cap and oversampling/SMOTE
    y: np.ndarray
    labels: tuple[str, ...]
    class_weights: np.ndarray
    teacher_probs: np.ndarray | None = None  # distillation's teacher on x (training/distill.py)


def load_cfg_splits(cfg: TrainConfig) -> Any:
    """The dataset's splits as `cfg` asks for them (format, input, classes, split, seed)."""
    from training.data.loading import load_splits

    size, channels = resolve_input(cfg)
    return load_splits(cfg.data, fmt=cfg.dataset_format, size=size, channels=channels,
                       exclude=cfg.exclude, contempt=cfg.contempt, split=cfg.split,
                       seed=cfg.seed, min_confidence=cfg.min_confidence)


def load_capped_splits(cfg: TrainConfig) -> tuple[Any, Any, Any]:
    """(splits, train, val): train capped at `max_samples`, val at `val_cap` (stratified)."""
    from training.data.splits import stratified_cap

    splits = load_cfg_splits(cfg)
    train_ds, val_ds = splits.train, splits.val
    if cfg.max_samples:
        train_ds = train_ds.subset(stratified_cap(train_ds.y, cfg.max_samples, cfg.seed))
    if config_mod.val_cap(cfg):
        val_ds = val_ds.subset(stratified_cap(val_ds.y, config_mod.val_cap(cfg), cfg.seed))
    return splits, train_ds, val_ds


def load_data(cfg: TrainConfig) -> TrainData:
    """Load the splits, apply `max_samples`/`max_val_samples` and oversampling/SMOTE."""
    if not cfg.data:
        raise EmotionLensError("no dataset given (use --data PATH or data = ... in --config)")
    if not Path(cfg.data).exists():
        raise EmotionLensError(f"dataset not found: {cfg.data}")
    from training.data import balance
    from training.data.splits import warn_about_classes

    splits, train_ds, val_ds = load_capped_splits(cfg)
    warn_about_classes(train_ds, val_ds, splits.notes)  # one class, or none shared: refused
    x, y = train_ds.x, train_ds.y
    if cfg.smote:
        x, y = balance.smote(x, y, cfg.seed)
    elif cfg.oversample:
        x, y = balance.oversample(x, y, cfg.seed)
    labels = train_ds.labels
    cw = balance.class_weights(y, len(labels), cfg.class_weights)
    return TrainData(splits, val_ds, x, y, labels, cw)


def stream_seed(seed: int, start_epoch: int) -> int:
    """The seed of the shuffling and augmentation streams of a process that starts training at
    `start_epoch` (0 for a new run: `seed` itself, so a new run repeats a search trial exactly).

    A resumed run must not restart those streams from `seed`: every resume would replay the
    first epochs' sample order and augmentation draws, which the model then partly memorizes
    (the realtime run's train accuracy jumped 1.5-5.4 points after its later resumes and stayed
    2-3 points up while the replayed epochs lasted). So each start epoch gets its own seed."""
    if start_epoch <= 0:
        return seed
    return int(np.random.SeedSequence([seed, start_epoch]).generate_state(1)[0] % 2**30)


def soft_targets(cfg: TrainConfig, data: TrainData) -> np.ndarray | None:
    """Distillation's targets (label and teacher mixed by `cfg`'s weight and temperature), or None
    to train on the one-hot labels."""
    if not cfg.teacher or data.teacher_probs is None:
        return None
    from training.distill import soft_targets as mix

    return mix(data.teacher_probs, data.y, cfg.teacher_weight, cfg.teacher_temperature)


def with_teacher(cfg: TrainConfig, data: TrainData, recorded: dict[str, Any] | None = None,
                 log: Any = print, folder: Path | None = None) -> dict[str, Any]:
    """`data` given the teacher's probabilities when `cfg` names one; returns its record ({}
    without a teacher). With a run's `folder`, they come from the copy saved there at the run's
    start when it is the recorded teacher's for these images, and are saved there otherwise."""
    if not cfg.teacher:
        return {}
    from training import distill

    mix = {"weight": cfg.teacher_weight, "temperature": cfg.teacher_temperature}
    if folder is not None and recorded:
        probs = distill.cached_probabilities(folder, recorded, data.x, data.y)
        if probs is not None:
            data.teacher_probs = probs
            log(f"teacher probabilities of {recorded.get('path')} (sha256 "
                f"{str(recorded.get('sha256'))[:12]}…) from {folder / distill.TEACHER_CACHE}, "
                f"saved at the run's start: the teacher itself is not read")
            return {**recorded, **mix}
    data.teacher_probs, info = distill.read_teacher(cfg, data.x, data.y, data.labels, recorded, log)
    if folder is not None:
        distill.save_probabilities(folder, data.teacher_probs, info, data.x, data.y)
    return {**info, **mix}


def make_datasets(cfg: TrainConfig, data: TrainData, start_epoch: int = 0) -> tuple[Any, Any]:
    """The shuffled (augmented, weighted) training batches and the val batches; reseeds first,
    from `stream_seed(cfg.seed, start_epoch)` (a resumed run passes the epoch it resumes at).
    `tf.data` on TensorFlow, a NumPy `PyDataset` on JAX/PyTorch (no TensorFlow on the GPU hosts)."""
    from training.data.augment import build_augmenter
    from training.data.batches import make_batches

    seed = stream_seed(cfg.seed, start_epoch)
    seed_everything(cfg, seed)
    n = len(data.labels)
    augmenter = build_augmenter(cfg.augment, seed) if cfg.augment.enabled else None
    train_tf = make_batches(data.x, data.y, n, batch_size=cfg.batch_size, shuffle=True,
                            seed=seed, augmenter=augmenter,
                            weights=data.class_weights if cfg.class_weights != "none" else None,
                            pipeline=cfg.input_pipeline, soft=soft_targets(cfg, data))
    val_tf = make_batches(data.val.x, data.val.y, n, batch_size=256, shuffle=False,
                          seed=seed, pipeline=cfg.input_pipeline)
    return train_tf, val_tf
