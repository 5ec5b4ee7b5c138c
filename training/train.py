"""One training run, start to finish: the data (`training.inputs`), the model
(`training.models`), the epochs (`training.fit`, checkpointed by `training.resume`), then the best
weights evaluated, the reports written and the bundle exported (`training.export`, QAT and pruning
in `training.tfmot_tune`).

`python -m training.run` (its command line) and `--suite` call `train`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.core import EmotionLensError
from training import distill, fit, inputs, models, runtime
from training.cli import log
from training.config import TrainConfig
from training.resume import (
    BEST_WEIGHTS,
    LAST_CKPT,
    STATE_FILE,
    RunState,
    check_model_file,
    load_last_model,
    write_atomic,
)


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
        check_model_file(out / LAST_CKPT, state.epoch)
    # the data first (no RNG state involved): an unusable dataset fails in about a second,
    # before TensorFlow loads and before anything is written
    size, channels = models.resolve_input(cfg)
    if cfg.teacher and not (resume and distill.has_cache(out, state.teacher)):
        from app.core.bundle import load_bundle

        load_bundle(cfg.teacher)  # a missing or broken teacher fails before the data loads
    data = inputs.load_data(cfg)
    if cfg.teacher:  # before anything is written: another teacher or other classes are refused
        state.teacher = inputs.with_teacher(cfg, data, state.teacher if resume else None, log,
                                            folder=out)

    import keras

    out.mkdir(parents=True, exist_ok=True)
    if resume:
        log(f"resuming {out} at epoch {state.epoch} (best val acc {state.best_val_accuracy:.4f})")
    write_atomic(out / "config.json", json.dumps(cfg.to_dict(), indent=2))
    runtime.seed_everything(cfg)
    for note in data.splits.notes:
        log(note)
    labels = data.labels
    log(f"train {len(data.y)} images, val {len(data.val)}; classes {labels}; class weights "
        + ", ".join(f"{n}={w:.2f}" for n, w in zip(labels, data.class_weights, strict=True)))

    mixed = runtime.setup_mixed_precision(cfg.mixed_precision)
    strategy = runtime.strategy_for(cfg.distribute)
    if mixed or strategy is not None:
        log(f"mixed precision {'on' if mixed else 'off'}; strategy "
            f"{type(strategy).__name__ if strategy is not None else 'default'}")
    with runtime.scope(strategy):
        if resume and (out / LAST_CKPT).is_file():
            model = load_last_model(out / LAST_CKPT)
            policy = keras.mixed_precision.global_policy().name
            saved = models.compute_policy(model)
            if saved != policy:
                log(f"the resumed model computes in {saved}, as it was trained, not {policy}: "
                    f"--mixed-precision applies to new runs")
        else:
            model = models.new_model(cfg, len(labels))
    log(f"model {cfg.model}: {model.count_params():,} parameters, input {size}×{size}×{channels}")
    start = state.epoch if resume else 0
    if start:
        log(f"shuffling and augmentation seeded for epoch {start + 1} "
            f"(seed {inputs.stream_seed(cfg.seed, start)}): no replay of earlier epochs' draws")
    train_tf, val_tf = inputs.make_datasets(cfg, data, start_epoch=start)

    fit.fit_model(cfg, model, train_tf, val_tf, fit.make_callbacks(cfg, out, state), state, strategy)
    state.finished = True
    state.save()
    if (out / BEST_WEIGHTS).is_file():
        model.load_weights(str(out / BEST_WEIGHTS))
    log(f"training done: {state.epoch} epochs, {state.train_seconds / 60:.1f} min, best val acc "
        f"{state.best_val_accuracy:.4f} at epoch {state.best_epoch}")
    if state.swa:
        log(f"the mean of epochs {state.swa[0]}-{state.swa[1]} is in the checkpoint: bundle it with "
            f"python -m training.export --run {out} --swa --out DIR")
    if mixed:  # export and reports in float32
        weights = model.get_weights()
        keras.mixed_precision.set_global_policy("float32")
        model = models.build_model(cfg, len(labels))
        model.set_weights(weights)
    finish(cfg, out, model, data.splits, data.val, labels, state, size, channels)
    return out


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
