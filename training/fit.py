"""Fitting a model: the epochs of a run (a frozen-backbone phase first when configured), and the
callbacks around them: the LR schedule (cosine by epoch or by time budget, warm-up, plateau),
early stopping, the time budget, and with an output folder the checkpoints (`training.resume`)
and TensorBoard logs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from app.core.atomic import fsync_file
from training import runtime, swa
from training.cli import log
from training.clock import ActiveClock
from training.config import TrainConfig
from training.models import compile_model, fine_tunes
from training.resume import (
    BEST_WEIGHTS,
    LAST_CKPT,
    STATE_FILE,
    SWA_WEIGHTS,
    RunState,
    commit,
    epoch_weights,
    staged_name,
)


def lr_at(cfg: TrainConfig, epoch: int, progress: float) -> float:
    """Learning rate for `epoch` (0-based); `progress` in [0, 1] drives the cosine."""
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1) / (cfg.warmup_epochs + 1)
    if cfg.schedule != "cosine":
        return cfg.lr
    p = min(max(progress, 0.0), 1.0)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * p))


def tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def training_machine() -> dict[str, Any]:
    """What this process trains on, for the run's `hardware` list and the model card: CPU model,
    logical CPUs, the Keras backend and its accelerator ("none" when it computes on the CPU)."""
    import keras

    from app.core.machine import machine_info

    info = machine_info()
    backend = keras.backend.backend()
    accelerator = "none"
    try:
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform != "cpu"]
            accelerator = f"{len(gpus)}× {gpus[0].device_kind}" if gpus else "none"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                accelerator = f"{torch.cuda.device_count()}× {torch.cuda.get_device_name(0)}"
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
                accelerator = f"{len(gpus)}× {name}"
    except Exception:  # an accelerator that cannot say what it is still trains
        accelerator = "unknown"
    return {"cpu": info["cpu"], "logical_cpus": info["logical_cpus"], "backend": backend,
            "accelerator": accelerator}


def make_callbacks(cfg: TrainConfig, out: Path | None, state: RunState) -> list[Any]:
    """The LR schedule, early stopping and time budget of a run; with `out` also its checkpoints,
    saved progress and TensorBoard logs (a search trial passes None: same training, no files)."""
    import keras

    clock = ActiveClock().start()  # epoch times without the pauses (kill -STOP ... -CONT)
    machine = training_machine()

    class Progress(keras.callbacks.Callback):  # type: ignore[misc]
        """LR schedule (cosine by epoch or by time budget), checkpoints, early stopping, budget."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = clock.now()
            opt = self.model.optimizer
            if cfg.schedule == "cosine" or (cfg.warmup_epochs and epoch < cfg.warmup_epochs):
                if cfg.time_budget_min > 0:
                    progress = state.train_seconds / (cfg.time_budget_min * 60)
                else:
                    span = max(1, cfg.epochs - cfg.warmup_epochs)
                    progress = (epoch - cfg.warmup_epochs) / span
                opt.learning_rate = lr_at(cfg, epoch, progress)
            elif epoch == cfg.warmup_epochs and cfg.warmup_epochs:
                opt.learning_rate = cfg.lr

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = dict(logs or {})
            took = clock.now() - self._t0
            state.train_seconds += took
            state.epoch = epoch + 1
            state.record_hardware(machine)
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["lr"] = lr
            logs["seconds"] = took
            for k, v in logs.items():
                state.history.setdefault(k, []).append(float(v))
            val_acc = float(logs.get("val_accuracy", logs.get("accuracy", 0.0)))
            improved = val_acc > state.best_val_accuracy
            if improved:
                state.best_val_accuracy = val_acc
                state.best_epoch = epoch + 1
                state.epochs_without_improvement = 0
            else:
                state.epochs_without_improvement += 1
            if out is not None:
                self._checkpoint(improved)
            log(f"epoch {epoch + 1}: " + " ".join(
                f"{k}={v:.4g}" for k, v in logs.items()) + f" (best {state.best_val_accuracy:.4f}"
                f" @ {state.best_epoch})")
            if cfg.early_stopping and state.epochs_without_improvement >= cfg.early_stopping:
                log(f"early stopping: no val improvement in {cfg.early_stopping} epochs")
                self.model.stop_training = True
            if cfg.time_budget_min > 0:
                n = len(state.history.get("seconds", [1]))
                mean = state.train_seconds / max(1, n)
                if state.train_seconds + mean > cfg.time_budget_min * 60:
                    log(f"time budget {cfg.time_budget_min:g} min reached after epoch {epoch + 1}")
                    self.model.stop_training = True

        def _checkpoint(self, improved: bool) -> None:
            """The epoch's files under temporary names, fsynced, then committed together
            (training.resume): a crash at any point leaves one whole checkpoint."""
            assert out is not None
            staged: dict[str, Path] = {}
            if improved:
                staged[BEST_WEIGHTS] = out / staged_name(BEST_WEIGHTS)
                self.model.save_weights(str(staged[BEST_WEIGHTS]))
            staged[LAST_CKPT] = out / staged_name(LAST_CKPT)
            self.model.save(str(staged[LAST_CKPT]))
            if cfg.keep_epochs:  # outside the checkpoint: an extra, written whole or not at all
                kept = epoch_weights(out, state.epoch)
                kept.parent.mkdir(exist_ok=True)
                self.model.save_weights(str(kept.with_name(staged_name(kept.name))))
                os.replace(kept.with_name(staged_name(kept.name)), kept)
            if swa.in_window(state.epoch, cfg.epochs, cfg.swa_epochs):
                # the mean so far, plus this epoch; a window entered late (swa_epochs set in a
                # resumed run), or a mean that is not of the window's epochs up to this one (the
                # window moved with a changed epochs), starts anew at this epoch
                going_on = (bool(state.swa) and state.swa[1] == state.epoch - 1
                            and swa.in_window(state.swa[0], cfg.epochs, cfg.swa_epochs))
                first = state.swa[0] if going_on else state.epoch
                staged[SWA_WEIGHTS] = out / staged_name(SWA_WEIGHTS)
                swa.accumulate(out / SWA_WEIGHTS if going_on else None, self.model.get_weights(),
                               state.epoch - first + 1, staged[SWA_WEIGHTS])
                state.swa = [first, state.epoch]
            for path in staged.values():
                fsync_file(path)
            staged[STATE_FILE] = state.stage()
            keep = tuple(name for name in (BEST_WEIGHTS, SWA_WEIGHTS) if name not in staged)
            commit(out, staged, keep, state.epoch)

    cbs: list[Any] = [Progress()]
    if cfg.schedule == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            min_lr=cfg.min_lr, verbose=1))
    if out is None:
        return cbs
    if cfg.tensorboard and not tensorboard_available():
        log("TensorBoard logs skipped: the tensorboard package is not installed")
    elif cfg.tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard"),
                                               write_graph=False, profile_batch=0))
    return cbs


def fit_model(cfg: TrainConfig, model: Any, train_tf: Any, val_tf: Any, callbacks: list[Any],
              state: RunState, strategy: Any = None) -> None:
    """Train from `state.epoch` to `cfg.epochs`: the frozen-backbone phase first (if any), then
    the rest; callbacks stop it early (early stopping, time budget)."""
    if fine_tunes(cfg) and cfg.frozen_epochs > 0 and state.epoch < cfg.frozen_epochs:
        log(f"training the head with the backbone frozen for {cfg.frozen_epochs} epochs")
        model.fit(train_tf, validation_data=val_tf, epochs=min(cfg.frozen_epochs, cfg.epochs),
                  initial_epoch=state.epoch, callbacks=callbacks, verbose=2, shuffle=False)
        if state.epoch < cfg.epochs and not model.stop_training:
            from training.architectures.applications import set_trainable_top

            with runtime.scope(strategy):
                set_trainable_top(model, cfg.fine_tune_layers)
                compile_model(model, cfg)  # the trainable set changed: new optimizer state
            log(f"fine-tuning the top {cfg.fine_tune_layers} backbone layers")
    if state.epoch < cfg.epochs and not model.stop_training and budget_left(cfg, state):
        model.fit(train_tf, validation_data=val_tf, epochs=cfg.epochs, initial_epoch=state.epoch,
                  callbacks=callbacks, verbose=2, shuffle=False)


def budget_left(cfg: TrainConfig, state: RunState) -> bool:
    """False when --time-budget-min is set and another epoch would overrun it."""
    if cfg.time_budget_min <= 0 or not state.epoch:
        return True
    mean = state.train_seconds / state.epoch
    return state.train_seconds + mean <= cfg.time_budget_min * 60
