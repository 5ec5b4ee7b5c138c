"""`python -m training.run`: train a model, evaluate it on val (and test), export a model bundle.

Config precedence: built-in reference defaults < `--config FILE.toml` < command-line options.
Run `python -m training.run --help` for every option and architecture.

This module is the command line only: it builds the config and hands it to `training.train`
(one run), `training.search` (`--search`) or `training.suite` (`--suite`). The layers under them
are drawn in the README ("For developers") and checked by `[tool.importlinter]` in pyproject.toml.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.core import EmotionLensError
from training import config as config_mod
from training.cli import Parser, one_line_errors
from training.config import TrainConfig
from training.train import train


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
    add("--teacher", help="distil from this model bundle: train towards its probabilities mixed "
                          "with the labels (see --teacher-weight)")
    add("--teacher-weight", type=float,
        help=f"share of the teacher in each target, the rest the label (default {d.teacher_weight})")
    add("--teacher-temperature", type=float,
        help=f"soften (>1) or sharpen (<1) the teacher's probabilities (default {d.teacher_temperature})")
    add("--ippm-scales", help="resnet50_ippm pyramid scales, e.g. 1,2,4 (the default)")
    add("--ippm-kernels", help="resnet50_ippm conv kernel per scale, e.g. 1,3,5 (the default)")
    add("--qat", action=argparse.BooleanOptionalAction,
        help="quantization-aware fine-tuning (tfmot, tf_keras twin, own subprocess)")
    add("--qat-epochs", type=int, help="QAT fine-tuning epochs (default 2)")
    add("--prune", action=argparse.BooleanOptionalAction, help="magnitude pruning fine-tune")
    add("--prune-sparsity", type=float, help="target sparsity (default 0.5)")
    add("--keep-epochs", action=argparse.BooleanOptionalAction,
        help="keep every epoch's weights in OUT/epochs/ (for training.export --epoch N; default off)")
    add("--swa-epochs", type=int, metavar="N",
        help="keep the mean of the last N epochs' weights in the checkpoint, for "
             "training.export --swa (default 0: none)")
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
