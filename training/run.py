"""`python -m training.run`: train a model, evaluate it on val (and test), export a model bundle.

Config precedence: built-in reference defaults < `--config FILE.toml` < command-line options.
Run `python -m training.run --help` for every option and architecture.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training import config as config_mod
from training.cli import Parser, one_line_errors
from training.config import TrainConfig

STATE_FILE = "train_state.json"
LAST_CKPT = "last.keras"
BEST_WEIGHTS = "best.weights.h5"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- callbacks

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

    def load(self) -> bool:
        """Read the saved progress (after checking the checkpoint against its manifest, finishing
        a commit a crash cut short); False when there is none. Damage is one line."""
        from training.resume import read_state, recover

        recover(self.path.parent, optional=(BEST_WEIGHTS,))  # not tracked in training/checkpoints
        if not self.path.is_file():
            return False
        for k, v in read_state(self.path).items():
            setattr(self, k, v)
        return True

    def stage(self) -> Path:
        """The progress written (fsynced) under its temporary name, for `training.resume.commit`."""
        from training.resume import write_staged

        data = {k: v for k, v in self.__dict__.items() if k != "path"}
        return write_staged(self.path, json.dumps(data, indent=1))

    def save(self) -> None:
        """Replace the saved progress, the model files of the checkpoint kept as they are."""
        from training.resume import commit

        commit(self.path.parent, {STATE_FILE: self.stage()}, (LAST_CKPT, BEST_WEIGHTS), self.epoch)


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


def make_callbacks(cfg: TrainConfig, out: Path | None, state: RunState) -> list[Any]:
    """The LR schedule, early stopping and time budget of a run; with `out` also its checkpoints,
    saved progress and TensorBoard logs (a search trial passes None: same training, no files)."""
    import keras

    class Progress(keras.callbacks.Callback):  # type: ignore[misc]
        """LR schedule (cosine by epoch or by time budget), checkpoints, early stopping, budget."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.time()
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
            took = time.time() - self._t0
            state.train_seconds += took
            state.epoch = epoch + 1
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
            from training.resume import commit, fsync_file, staged_name

            assert out is not None
            staged: dict[str, Path] = {}
            if improved:
                staged[BEST_WEIGHTS] = out / staged_name(BEST_WEIGHTS)
                self.model.save_weights(str(staged[BEST_WEIGHTS]))
            staged[LAST_CKPT] = out / staged_name(LAST_CKPT)
            self.model.save(str(staged[LAST_CKPT]))
            for path in staged.values():
                fsync_file(path)
            staged[STATE_FILE] = state.stage()
            commit(out, staged, () if improved else (BEST_WEIGHTS,), state.epoch)

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


# --------------------------------------------------------------------------- model

def build_optimizer(cfg: TrainConfig) -> Any:
    import keras

    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=cfg.lr)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=cfg.lr, weight_decay=cfg.weight_decay)
    return keras.optimizers.SGD(learning_rate=cfg.lr, momentum=0.9, nesterov=True,
                                weight_decay=cfg.weight_decay or None)


def compile_model(model: Any, cfg: TrainConfig) -> None:
    import keras

    model.compile(
        optimizer=build_optimizer(cfg),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def build_model(cfg: TrainConfig, num_classes: int, keras_module: Any = None) -> Any:
    """The configured architecture; with `keras_module` (tf_keras) its twin for tfmot, which
    takes its weights from the trained model rather than from `cfg.weights`."""
    from training.architectures import registry

    arch = registry.get(cfg.model)
    size, channels = resolve_input(cfg)
    kwargs: dict[str, Any] = {}
    if keras_module is not None:
        kwargs["keras_module"] = keras_module
    if arch.pretrained:
        kwargs.update(head_batchnorm=cfg.head_batchnorm, head_noise=cfg.head_noise)
        if keras_module is None:
            kwargs["weights"] = cfg.weights
        if cfg.dropout >= 0:
            kwargs["dropout"] = cfg.dropout
    elif cfg.dropout >= 0 and cfg.model == "vgg_small":
        kwargs["dropout"] = cfg.dropout
    kwargs.update(architecture_options(cfg))
    return arch.build((size, size, channels), num_classes, **kwargs)


def architecture_options(cfg: TrainConfig) -> dict[str, Any]:
    """Builder options that change the architecture's layers (so also its tf_keras twin's)."""
    if cfg.model == "resnet50_ippm":  # empty: the architecture's default levels
        return {"ippm_scales": tuple(cfg.ippm_scales), "ippm_kernels": tuple(cfg.ippm_kernels)}
    return {"filters": tuple(cfg.filters)} if cfg.filters else {}  # vgg_small (config.validate)


def resolve_input(cfg: TrainConfig) -> tuple[int, int]:
    from training.architectures import registry

    arch = registry.get(cfg.model)
    return cfg.input_size or arch.input_size, cfg.channels or arch.channels


# --------------------------------------------------------------------------- main flow

def seed_everything(cfg: TrainConfig) -> None:
    """Seed Python, NumPy, TensorFlow and Keras from `cfg.seed`; `cfg.deterministic` also turns on
    TensorFlow op determinism (process-wide) for bit-identical reruns."""
    import keras

    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@dataclass
class TrainData:
    """What a run trains and validates on (the search's trials see exactly the same)."""
    splits: Any
    val: Any                  # the (capped) val Dataset
    x: np.ndarray             # training images after the cap and oversampling/SMOTE
    y: np.ndarray
    labels: tuple[str, ...]
    class_weights: np.ndarray


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


def make_datasets(cfg: TrainConfig, data: TrainData) -> tuple[Any, Any]:
    """The shuffled (augmented, weighted) training batches and the val batches; reseeds first.
    `tf.data` on TensorFlow, a NumPy `PyDataset` on JAX/PyTorch (no TensorFlow on the GPU hosts)."""
    from training.data.augment import build_augmenter
    from training.data.batches import make_batches

    seed_everything(cfg)
    n = len(data.labels)
    augmenter = build_augmenter(cfg.augment, cfg.seed) if cfg.augment.enabled else None
    train_tf = make_batches(data.x, data.y, n, batch_size=cfg.batch_size, shuffle=True,
                            seed=cfg.seed, augmenter=augmenter,
                            weights=data.class_weights if cfg.class_weights != "none" else None,
                            pipeline=cfg.input_pipeline)
    val_tf = make_batches(data.val.x, data.val.y, n, batch_size=256, shuffle=False,
                          seed=cfg.seed, pipeline=cfg.input_pipeline)
    return train_tf, val_tf


def new_model(cfg: TrainConfig, num_classes: int) -> Any:
    """Reseed, build and compile the model (a pretrained backbone frozen per `fine_tune_layers` /
    `frozen_epochs`). Call it inside the distribution strategy's scope."""
    seed_everything(cfg)
    model = build_model(cfg, num_classes)
    if cfg.init_from:
        from training.architectures.channel_selection import init_from_file

        widths = init_from_file(model, cfg.init_from)
        log(f"started from the strongest channels of {cfg.init_from}: "
            + ", ".join(str(w) for w in widths.values()))
    if fine_tunes(cfg):
        from training.architectures.applications import set_trainable_top

        set_trainable_top(model, 0 if cfg.frozen_epochs > 0 else cfg.fine_tune_layers)
    compile_model(model, cfg)
    return model


def fine_tunes(cfg: TrainConfig) -> bool:
    from training.architectures import registry

    return registry.get(cfg.model).pretrained and cfg.fine_tune_layers >= 0


def fit_model(cfg: TrainConfig, model: Any, train_tf: Any, val_tf: Any, callbacks: list[Any],
              state: RunState, strategy: Any = None) -> None:
    """Train from `state.epoch` to `cfg.epochs`: the frozen-backbone phase first (if any), then
    the rest; callbacks stop it early (early stopping, time budget)."""
    from training import runtime

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


def train(cfg: TrainConfig, *, resume: bool = False) -> Path:
    """Train per `cfg`, writing checkpoints and finally the bundle + reports into `cfg.out`.

    Seeding: the model is built right after reseeding and the input pipeline made right after
    reseeding again, as a search trial does, so `--config best_config.toml` repeats the trial."""
    out = Path(cfg.out)
    if not cfg.data:
        raise EmotionLensError("no dataset given (use --data PATH or data = ... in --config)")
    if not Path(cfg.data).exists():
        raise EmotionLensError(f"dataset not found: {cfg.data}")
    state = RunState(out)
    if resume and not state.load():
        raise EmotionLensError(f"nothing to resume in {out} (no {STATE_FILE})")
    if resume:
        from training.resume import check_model_file

        check_model_file(out / LAST_CKPT, state.epoch)
    # the data first (no RNG state involved): an unusable dataset fails in about a second,
    # before TensorFlow loads and before anything is written
    size, channels = resolve_input(cfg)
    data = load_data(cfg)

    import keras

    out.mkdir(parents=True, exist_ok=True)
    if resume:
        log(f"resuming {out} at epoch {state.epoch} (best val acc {state.best_val_accuracy:.4f})")
    from training.resume import write_atomic

    write_atomic(out / "config.json", json.dumps(cfg.to_dict(), indent=2))
    seed_everything(cfg)
    for note in data.splits.notes:
        log(note)
    labels = data.labels
    log(f"train {len(data.y)} images, val {len(data.val)}; classes {labels}; class weights "
        + ", ".join(f"{n}={w:.2f}" for n, w in zip(labels, data.class_weights, strict=True)))

    from training import runtime

    mixed = runtime.setup_mixed_precision(cfg.mixed_precision)
    strategy = runtime.strategy_for(cfg.distribute)
    if mixed or strategy is not None:
        log(f"mixed precision {'on' if mixed else 'off'}; strategy "
            f"{type(strategy).__name__ if strategy is not None else 'default'}")
    with runtime.scope(strategy):
        if resume and (out / LAST_CKPT).is_file():
            from training.resume import load_last_model

            model = load_last_model(out / LAST_CKPT)
        else:
            model = new_model(cfg, len(labels))
    log(f"model {cfg.model}: {model.count_params():,} parameters, input {size}×{size}×{channels}")
    train_tf, val_tf = make_datasets(cfg, data)

    fit_model(cfg, model, train_tf, val_tf, make_callbacks(cfg, out, state), state, strategy)
    state.finished = True
    state.save()
    if (out / BEST_WEIGHTS).is_file():
        model.load_weights(str(out / BEST_WEIGHTS))
    log(f"training done: {state.epoch} epochs, {state.train_seconds / 60:.1f} min, best val acc "
        f"{state.best_val_accuracy:.4f} at epoch {state.best_epoch}")
    if mixed:  # export and reports in float32
        weights = model.get_weights()
        keras.mixed_precision.set_global_policy("float32")
        model = build_model(cfg, len(labels))
        model.set_weights(weights)
    finish(cfg, out, model, data.splits, data.val, labels, state, size, channels)
    return out


def budget_left(cfg: TrainConfig, state: RunState) -> bool:
    """False when --time-budget-min is set and another epoch would overrun it."""
    if cfg.time_budget_min <= 0 or not state.epoch:
        return True
    mean = state.train_seconds / state.epoch
    return state.train_seconds + mean <= cfg.time_budget_min * 60


def finish(cfg: TrainConfig, out: Path, model: Any, splits: Any, val_ds: Any,
           labels: tuple[str, ...], state: RunState, size: int, channels: int) -> None:
    """Evaluate the best weights, write reports, export the bundle."""
    from training import export, reports

    model.save(str(out / "model.keras"))
    reports.write_run_reports(out, model, val_ds, splits.test, labels, state.history)
    extra: dict[str, Any] = {}
    if cfg.qat or cfg.prune:
        from training import tfmot_tune

        extra = tfmot_tune.run_in_subprocess(out, cfg, model)
    if cfg.export:
        export.export_bundle(model, out, cfg=cfg, labels=labels, size=size, channels=channels,
                             train=splits.train, val=val_ds, state=state, data_source=splits.source,
                             extra_metrics=extra)
    log(f"wrote {out}")


# --------------------------------------------------------------------------- CLI

def build_parser() -> argparse.ArgumentParser:
    from training.architectures import registry

    archs = "\n".join(f"  {n:<20} {registry.get(n).description}" for n in registry.names())
    p = Parser(
        prog="python -m training.run",
        description="Train an expression model, evaluate it and export a model bundle "
                    "(model.keras, model_fp16.tflite, model_int8.tflite, model.json).",
        epilog=f"architectures (--model):\n{archs}\n\n"
               "Config precedence: defaults < --config TOML < options. Several GPUs are used with "
               "tf.distribute.MirroredStrategy (TF backend); a cluster with "
               "MultiWorkerMirroredStrategy from TF_CONFIG (--distribute multiworker).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = TrainConfig()
    add = p.add_argument
    add("--config", help="TOML file with options (keys as below without dashes; [augment] table)")
    add("--model", help=f"architecture (default {d.model}); see the list below")
    add("--data", help="dataset: folder with train/val[/test] class folders, a class-folder root, "
                       "a FER2013 CSV, or an ExpW folder with label.lst")
    add("--dataset-format", choices=config_mod.CHOICES["dataset_format"], help="default: auto")
    add("--out", help=f"output folder (default {d.out})")
    add("--epochs", type=int, help=f"maximum epochs (default {d.epochs})")
    add("--batch-size", type=int, help=f"batch size (default {d.batch_size})")
    add("--lr", type=float, help=f"learning rate (default {d.lr})")
    add("--min-lr", type=float, help=f"floor of the lr schedule (default {d.min_lr})")
    add("--optimizer", choices=config_mod.CHOICES["optimizer"], help=f"default {d.optimizer}")
    add("--weight-decay", type=float, help="AdamW/SGD weight decay")
    add("--schedule", choices=config_mod.CHOICES["schedule"], help=f"lr schedule (default {d.schedule})")
    add("--warmup-epochs", type=int, help="linear lr warm-up epochs")
    add("--early-stopping", type=int, help=f"patience in epochs, 0 off (default {d.early_stopping})")
    add("--time-budget-min", type=float, help="stop within this many minutes (cosine anneals by time)")
    add("--label-smoothing", type=float, help="label smoothing (default 0)")
    add("--class-weights", choices=config_mod.CHOICES["class_weights"], help="class weighting")
    add("--oversample", action=argparse.BooleanOptionalAction, help="random oversampling")
    add("--smote", action=argparse.BooleanOptionalAction, help="SMOTE oversampling")
    add("--exclude", help="comma-separated classes to drop, e.g. disgust")
    add("--contempt", choices=config_mod.CHOICES["contempt"],
        help="AffectNet contempt class: drop (default), map to disgust, or keep as an 8th class")
    add("--split", choices=config_mod.CHOICES["split"], help="splits (default: the dataset's)")
    add("--max-samples", type=int, help="cap on training images (stratified), for quick runs")
    add("--max-val-samples", type=int, help="cap on val images (stratified; 0: all; default: "
                                            "max(200, max-samples/4) with --max-samples, else all)")
    add("--min-confidence", type=float, help="ExpW: drop face boxes below this confidence")
    add("--input-size", type=int, help="input side in pixels (default: the architecture's)")
    add("--channels", type=int, choices=(1, 3), help="1 gray or 3 RGB (default: the architecture's)")
    add("--dropout", type=float, help="head dropout")
    add("--weights", help="imagenet | none | PATH (pretrained architectures; default none)")
    add("--fine-tune-layers", type=int, help="freeze the base, then unfreeze its top N layers")
    add("--frozen-epochs", type=int, help="epochs with the base frozen before fine-tuning")
    add("--head-batchnorm", action=argparse.BooleanOptionalAction, help="BatchNorm in the head")
    add("--head-noise", type=float, help="GaussianNoise std in the head")
    add("--filters", help="vgg_small block widths, e.g. 16,32,64,128 (default 32,64,128,256)")
    add("--init-from", help="start from the strongest channels of this trained, wider .keras of "
                            "the same layout (structured pruning; the run fine-tunes)")
    add("--ippm-scales", help="resnet50_ippm pyramid scales, e.g. 1,2,4 (the default)")
    add("--ippm-kernels", help="resnet50_ippm conv kernel per scale, e.g. 1,3,5 (the default)")
    add("--qat", action=argparse.BooleanOptionalAction,
        help="quantization-aware fine-tuning (tfmot, tf_keras twin, own subprocess)")
    add("--qat-epochs", type=int, help="QAT fine-tuning epochs (default 2)")
    add("--prune", action=argparse.BooleanOptionalAction, help="magnitude pruning fine-tune")
    add("--prune-sparsity", type=float, help="target sparsity (default 0.5)")
    add("--export", action=argparse.BooleanOptionalAction, help="write the bundle (default on)")
    add("--fp16", action=argparse.BooleanOptionalAction, help="also export float16 .tflite (on)")
    add("--calib-samples", type=int, help="representative images for int8 (default 300)")
    add("--mixed-precision", choices=config_mod.CHOICES["mixed_precision"], help="default auto")
    add("--distribute", choices=config_mod.CHOICES["distribute"], help="default auto")
    add("--input-pipeline", choices=config_mod.CHOICES["input_pipeline"],
        help="training batches: tf.data, NumPy arrays (any backend), or auto (default)")
    add("--tensorboard", action=argparse.BooleanOptionalAction, help="TensorBoard logs (default on)")
    add("--seed", type=int, help=f"random seed (default {d.seed})")
    add("--deterministic", action=argparse.BooleanOptionalAction,
        help="TensorFlow op determinism: bit-identical reruns (default off)")
    add("--name", help="display name written to model.json")
    add("--resume", action="store_true", help="continue the interrupted run in --out")
    add("--suite", choices=("seeds",), help="train every architecture with a given budget "
                                            "(see --suite-epochs) and write a markdown table")
    add("--suite-epochs", type=int, default=1, help="epochs per model in --suite (default 1)")
    add("--suite-models", help="comma-separated subset of architectures for --suite")
    add("--search", choices=("grid", "random", "bayesian"),
        help="KerasTuner hyperparameter search over --space (or the config's [search] table)")
    add("--space", help="TOML file with a [space] table of values to try (see training/search.py)")
    add("--trials", type=int, help="--search: trial budget (default 10)")
    add("--max-epochs", type=int, help="--search: epochs per trial (default 3)")
    return p


NON_CONFIG = {"config", "resume", "suite", "suite_epochs", "suite_models", "search", "space",
              "trials", "max_epochs"}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < --config < options; with --resume: the run's saved config < --config < options."""
    cfg = TrainConfig()
    if args.resume:
        # the run's folder: --out, else the --config file's `out`, else the default
        out = Path(args.out or (config_mod.apply_file(cfg, args.config).out if args.config
                                else cfg.out))
        saved_path = out / "config.json"
        if not saved_path.is_file():
            raise EmotionLensError(f"nothing to resume in {out} (no config.json)")
        try:
            saved = json.loads(saved_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise EmotionLensError(f"{saved_path} is not valid JSON: {exc}") from None
        if not isinstance(saved, dict):
            raise EmotionLensError(f"{saved_path} is damaged: not a JSON object of options")
        cfg = config_mod.apply(cfg, saved, str(saved_path))
    saved_cfg = cfg
    if args.config:
        cfg = config_mod.apply_file(cfg, args.config)
    overrides = {k: v for k, v in vars(args).items() if v is not None and k not in NON_CONFIG}
    cfg = config_mod.apply(cfg, overrides, "command line")
    if args.resume:  # before anything in the run's folder is read further or written
        from training.resume import check_same_run

        check_same_run(saved_cfg, cfg, saved_path)
    return cfg


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        cfg = config_from_args(args)
        from training import search

        search_opts = search.options_from(args, cfg)
        if search_opts is not None:
            search.run_search(cfg, search_opts)
            return 0
        if args.suite:
            from training import suite

            models = [m.strip() for m in args.suite_models.split(",")] if args.suite_models else None
            suite.run_suite(cfg, epochs=args.suite_epochs, models=models)
            return 0
        train(cfg, resume=args.resume)
        return 0
    except KeyboardInterrupt:
        print("error: interrupted (resume with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
