"""`python -m training.run --search grid|random|bayesian --space FILE`: hyperparameter search with
KerasTuner.

The search space is a TOML file with a `[space]` table (or a `[search]` table in the `--config`
file with `space = "FILE"` or an inline `[search.space]` table); every key lists the values to try:

    [space]
    lr = [1e-3, 3e-4]
    batch_size = [32, 64]
    optimizer = ["adam", "sgd"]
    dropout = [0.3, 0.5]               # head dropout (pretrained backbones, vgg_small)
    augment_strength = [0.0, 1.0, 2.0] # multiplies the [augment] magnitudes; 0 turns it off
    fine_tune_layers = [0, 20, 50]     # transfer learning: unfreeze the top N backbone layers
    ippm_scales = [[1, 2, 4], [1, 2]]  # resnet50_ippm only
    ippm_kernels = [[1, 3, 5], [1, 3]] # resnet50_ippm only (one kernel per scale)

Every trial trains for `--max-epochs` epochs and is scored on the validation split only
(`val_accuracy`, its best epoch). A trial is trained exactly as `training.run` trains: the same data
(`max_samples`/`max_val_samples` caps), the model built right after reseeding and the input pipeline
made right after reseeding again, the same LR schedule, early stopping and frozen-backbone phase;
only checkpoints and TensorBoard logs are left out (`deterministic = true` makes the two bit-identical;
without it CPU/GPU thread order adds noise). The tuner's project directory is `OUT/search/`
(`overwrite=False`), so an interrupted search resumes: finished trials are not re-run. Writes
`OUT/search_results.md`, `OUT/search_results.csv` (trials sorted by score) and `OUT/best_config.toml`
(the winner's values with `epochs` = the trial's epochs, so `python -m training.run --config
OUT/best_config.toml` repeats the trial; raise `--epochs` for a longer final run).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core import EmotionLensError
from training import config as config_mod
from training import fit as fitting  # (the hypermodel has a fit method of its own)
from training import inputs, models, runtime
from training.cli import log
from training.config import TrainConfig
from training.resume import RunState

METHODS = ("grid", "random", "bayesian")
OBJECTIVE = "val_accuracy"
AUGMENT_SCALED = ("rotation", "shear", "zoom", "shift", "brightness", "contrast", "noise", "erasing")
# hyperparameter -> (value type check, description)
KNOWN = {
    "lr": "learning rate (> 0)",
    "batch_size": "batch size (>= 1)",
    "optimizer": f"one of {', '.join(config_mod.CHOICES['optimizer'])}",
    "dropout": "head dropout in [0, 1)",
    "augment_strength": "multiplier of the [augment] magnitudes (>= 0; 0: off)",
    "fine_tune_layers": "top backbone layers to unfreeze (pretrained models; 0: frozen backbone)",
    "ippm_scales": "iPPM levels, a list of scales per choice (resnet50_ippm)",
    "ippm_kernels": "iPPM kernels, a list per choice (resnet50_ippm)",
}


@dataclass
class SearchOptions:
    method: str
    space: dict[str, list[Any]]
    trials: int = 10
    max_epochs: int = 3
    source: str = ""


# --------------------------------------------------------------------------- parsing

def _encode(value: Any) -> Any:
    """KerasTuner choices are scalars: list values (iPPM scales/kernels) become "1,2,4"."""
    if isinstance(value, list):
        return ",".join(str(int(v)) for v in value)
    return value


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in str(text).split(","))


def parse_space(raw: Any, source: str, model: str, base: TrainConfig | None = None
                ) -> dict[str, list[Any]]:
    """Validate a `[space]` table: known keys, non-empty lists of valid values (iPPM levels
    against `base`'s configured ones where only one of scales/kernels is searched)."""
    from training.architectures import registry

    if not isinstance(raw, dict):
        raise EmotionLensError(f"{source}: the search space must be a [space] table")
    if not raw:
        raise EmotionLensError(f"{source}: the search space is empty (known: {', '.join(KNOWN)})")
    arch = registry.get(model)
    space: dict[str, list[Any]] = {}
    for key, values in raw.items():
        if key not in KNOWN:
            raise EmotionLensError(f"{source}: unknown hyperparameter {key!r} "
                                   f"(known: {', '.join(KNOWN)})")
        if not isinstance(values, list) or not values:
            raise EmotionLensError(f"{source}: {key} must be a non-empty list of values to try")
        try:
            checked = [_check(key, v) for v in values]
        except (TypeError, ValueError):
            raise EmotionLensError(f"{source}: bad value in {key} = {values!r}: "
                                   f"{KNOWN[key]}") from None
        if len(set(map(str, checked))) != len(checked):
            raise EmotionLensError(f"{source}: {key} lists a value twice: {values!r}")
        space[key] = checked
    if ("dropout" in space and not arch.pretrained and model != "vgg_small"):
        raise EmotionLensError(f"{source}: model {model} has no dropout option to search")
    if "fine_tune_layers" in space and not arch.pretrained:
        raise EmotionLensError(f"{source}: fine_tune_layers needs a pretrained backbone, "
                               f"not {model}")
    if ({"ippm_scales", "ippm_kernels"} & set(space)) and model != "resnet50_ippm":
        raise EmotionLensError(f"{source}: ippm_scales/ippm_kernels need --model resnet50_ippm")
    if {"ippm_scales", "ippm_kernels"} & set(space):
        _check_ippm(space, source, base)
    return space


def _check_ippm(space: dict[str, list[Any]], source: str, base: TrainConfig | None) -> None:
    """Every searched combination of iPPM scales and kernels must be buildable."""
    from training.architectures import ippm

    scales = base.ippm_scales if base is not None and base.ippm_scales else ippm.SCALES
    kernels = base.ippm_kernels if base is not None and base.ippm_kernels else ippm.KERNELS
    for sc in space.get("ippm_scales", [_encode(list(scales))]):
        for k in space.get("ippm_kernels", [_encode(list(kernels))]):
            problem = ippm.check(_ints(sc), _ints(k))
            if problem:
                raise EmotionLensError(f"{source}: {problem}")


def _check(key: str, v: Any) -> Any:
    if key in ("ippm_scales", "ippm_kernels"):
        if not isinstance(v, list) or not v or not all(isinstance(i, int) and i > 0 for i in v):
            raise ValueError(v)
        return _encode(v)
    if key == "optimizer":
        if v not in config_mod.CHOICES["optimizer"]:
            raise ValueError(v)
        return str(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(v)
    if key in ("batch_size", "fine_tune_layers"):
        if not float(v).is_integer() or v < (1 if key == "batch_size" else 0):
            raise ValueError(v)
        return int(v)
    v = float(v)
    ok = {"lr": v > 0, "dropout": 0 <= v < 1, "augment_strength": v >= 0}[key]
    if not ok or not math.isfinite(v):
        raise ValueError(v)
    return v


def load_space_file(path: str | Path, model: str, base: TrainConfig | None = None
                    ) -> dict[str, list[Any]]:
    data = config_mod.load_toml(path)
    raw = data.get("space", data.get("search", {}).get("space") if isinstance(
        data.get("search"), dict) else None)
    if raw is None:
        raise EmotionLensError(f"{path}: no [space] table")
    return parse_space(raw, str(path), model, base)


def options_from(args: Any, cfg: TrainConfig) -> SearchOptions | None:
    """The search requested by `--search/--space/--trials/--max-epochs` and/or the config's
    `[search]` table (options win); None when no search was asked for."""
    table: dict[str, Any] = {}
    if getattr(args, "config", None):
        raw = config_mod.load_toml(args.config).get("search")
        if raw is not None and not isinstance(raw, dict):
            raise EmotionLensError(f"{args.config}: [search] must be a table")
        table = dict(raw or {})
    unknown = set(table) - {"method", "space", "trials", "max_epochs"}
    if unknown:
        raise EmotionLensError(f"{args.config}: unknown [search] key(s): {', '.join(sorted(unknown))}")
    method = args.search or table.get("method")
    if not method:
        if args.space or args.trials or args.max_epochs:
            raise EmotionLensError("--space/--trials/--max-epochs need --search grid|random|bayesian")
        return None
    if method not in METHODS:
        raise EmotionLensError(f"search method must be one of {', '.join(METHODS)}, got {method!r}")
    if args.space:
        space = load_space_file(args.space, cfg.model, cfg)
        source = args.space
    elif isinstance(table.get("space"), str):
        space_path = Path(table["space"])
        if not space_path.is_absolute():
            space_path = Path(args.config).parent / space_path
        space = load_space_file(space_path, cfg.model, cfg)
        source = str(space_path)
    elif isinstance(table.get("space"), dict):
        space = parse_space(table["space"], f"{args.config} [search.space]", cfg.model, cfg)
        source = f"{args.config} [search.space]"
    else:
        raise EmotionLensError("no search space (use --space FILE or space = ... in [search])")
    trials = args.trials if args.trials is not None else table.get("trials", 10)
    max_epochs = args.max_epochs if args.max_epochs is not None else table.get("max_epochs", 3)
    for name, val in (("trials", trials), ("max_epochs", max_epochs)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise EmotionLensError(f"search {name} must be an integer >= 1, got {val!r}")
    return SearchOptions(method, space, trials, max_epochs, source)


# --------------------------------------------------------------------------- trial config

def trial_config(cfg: TrainConfig, values: dict[str, Any], max_epochs: int | None = None
                 ) -> TrainConfig:
    """`cfg` with a trial's hyperparameter values applied (and `epochs` = `max_epochs`)."""
    # ("1,2,4" iPPM levels are parsed by config.apply like any list option)
    over: dict[str, Any] = {k: values[k] for k in ("lr", "batch_size", "optimizer", "dropout",
                                                    "fine_tune_layers", "ippm_scales",
                                                    "ippm_kernels") if k in values}
    if max_epochs is not None:
        over["epochs"] = max_epochs
    if "augment_strength" in values:
        s = float(values["augment_strength"])
        base = dataclasses.asdict(cfg.augment)
        aug = {k: (min(1.0, base[k] * s) if k == "erasing" else base[k] * s)
               for k in AUGMENT_SCALED}
        aug["enabled"] = s > 0 and cfg.augment.enabled
        over["augment"] = aug
    return config_mod.apply(cfg, over, "search space")


# --------------------------------------------------------------------------- the search

def _hypermodel(cfg: TrainConfig, opts: SearchOptions, data: Any, strategy: Any) -> Any:
    """Each trial: `training.models.new_model` in build(), then `inputs.make_datasets` and
    `training.fit.fit_model` with a run's own callbacks (no files written) in fit(); scored by its best val
    accuracy."""
    import keras_tuner as kt

    class EmotionHyperModel(kt.HyperModel):
        def declare(self, hp: Any) -> dict[str, Any]:
            return {k: hp.Choice(k, v) for k, v in opts.space.items()}

        def build(self, hp: Any) -> Any:
            tcfg = trial_config(cfg, self.declare(hp), opts.max_epochs)
            return models.new_model(tcfg, len(data.labels))

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> float:
            values = self.declare(hp)
            tcfg = trial_config(cfg, values, opts.max_epochs)
            log(f"trial {values}")
            train_tf, val_tf = inputs.make_datasets(tcfg, data)
            state = RunState(Path(cfg.out) / "search")  # in memory only
            callbacks = fitting.make_callbacks(tcfg, None, state) + list(kwargs.get("callbacks", []))
            fitting.fit_model(tcfg, model, train_tf, val_tf, callbacks, state, strategy)
            return state.best_val_accuracy

    return EmotionHyperModel()


def _resumable_grid_oracle() -> type:
    """KerasTuner's GridSearchOracle keeps its walk through the grid (`_ordered_ids`,
    `_populate_next`) in memory only, so a reloaded grid search finds no next point and stops.
    This subclass rebuilds that state from the reloaded trials."""
    import functools as ft

    import keras_tuner as kt

    class ResumableGridSearchOracle(kt.oracles.GridSearchOracle):
        def reload(self) -> None:
            super().reload()
            ids = [t for t in self.start_order
                   if t in self.trials and self.trials[t].hyperparameters.values]
            order = sorted(ids, key=ft.cmp_to_key(lambda a, b: self._compare(
                self.trials[a].hyperparameters.values, self.trials[b].hyperparameters.values)))
            for trial_id in order:
                self._ordered_ids.insert(trial_id)
            self._populate_next = [t for t in ids if t not in self._retry_queue]

    return ResumableGridSearchOracle


def make_tuner(hypermodel: Any, opts: SearchOptions, directory: Path, seed: int,
               strategy: Any = None) -> Any:
    import keras_tuner as kt

    objective = kt.Objective(OBJECTIVE, direction="max")
    common: dict[str, Any] = {"directory": str(directory), "project_name": opts.method,
                              "overwrite": False}
    if strategy is not None:
        common["distribution_strategy"] = strategy
    if opts.method == "grid":
        oracle = _resumable_grid_oracle()(objective=objective, max_trials=opts.trials, seed=seed)
        return kt.Tuner(oracle=oracle, hypermodel=hypermodel, **common)
    cls = kt.RandomSearch if opts.method == "random" else kt.BayesianOptimization
    return cls(hypermodel, objective=objective, max_trials=opts.trials, seed=seed, **common)


def run_search(cfg: TrainConfig, opts: SearchOptions) -> list[dict[str, Any]]:
    """Run (or resume) the search; write the results table and the best config. Returns the
    completed trials, best first."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    runtime.seed_everything(cfg)
    data = inputs.load_data(cfg)
    inputs.with_teacher(cfg, data, log=log)  # every trial mixes it by its own weight
    runtime.setup_mixed_precision(cfg.mixed_precision)
    strategy = runtime.strategy_for(cfg.distribute)
    log(f"{opts.method} search over {', '.join(opts.space)} ({opts.source}): up to "
                f"{opts.trials} trials × {opts.max_epochs} epochs on {len(data.y)} training images, "
                f"scored on val ({len(data.val)} images)")
    tuner = make_tuner(_hypermodel(cfg, opts, data, strategy), opts, out / "search", cfg.seed,
                       strategy)
    try:
        tuner.search(verbose=0)
    except RuntimeError as exc:  # KerasTuner: too many failed trials
        raise EmotionLensError(f"search stopped: {str(exc).strip().splitlines()[-1][:300]}") from None
    rows = collect(tuner, opts)
    if not rows:
        raise EmotionLensError(f"no search trial completed (see {out / 'search'})")
    write_results(out, rows, opts)
    write_best_config(out / "best_config.toml", cfg, rows[0], opts)
    log(f"best trial {rows[0]['trial']}: val_accuracy {rows[0]['score']:.4f} "
                f"{rows[0]['values']}; wrote {out / 'search_results.md'}, {out / 'best_config.toml'}")
    return rows


def collect(tuner: Any, opts: SearchOptions) -> list[dict[str, Any]]:
    rows = []
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED" or trial.score is None:
            continue
        values = {k: trial.hyperparameters.values[k] for k in opts.space
                  if k in trial.hyperparameters.values}
        rows.append({"trial": trial.trial_id, "score": float(trial.score), "values": values})
    rows.sort(key=lambda r: (-r["score"], r["trial"]))
    return rows


def write_results(out: Path, rows: list[dict[str, Any]], opts: SearchOptions) -> None:
    keys = list(opts.space)
    with (out / "search_results.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "trial", OBJECTIVE, *keys])
        for i, r in enumerate(rows, 1):
            w.writerow([i, r["trial"], f"{r['score']:.6f}", *(r["values"].get(k, "") for k in keys)])
    lines = [f"# Hyperparameter search ({opts.method}, {len(rows)} completed trials, "
             f"{opts.max_epochs} epochs each, scored on val)", "",
             "| rank | trial | val accuracy | " + " | ".join(keys) + " |",
             "|---:|---:|---:|" + "---|" * len(keys)]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['trial']} | {r['score']:.4f} | "
                     + " | ".join(str(r["values"].get(k, "")) for k in keys) + " |")
    (out / "search_results.md").write_text("\n".join(lines) + "\n")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf") if v == v else "nan"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(i) for i in v) + "]"
    return json.dumps(str(v))


def write_best_config(path: Path, cfg: TrainConfig, best: dict[str, Any],
                      opts: SearchOptions) -> None:
    """A TOML config for `training.run --config` with the winner's values and the trial's epochs:
    training with it repeats the trial (same data, seed, schedule, architecture)."""
    best_cfg = trial_config(cfg, best["values"], opts.max_epochs)
    best_cfg = dataclasses.replace(best_cfg, out=str(Path(cfg.out) / "best"))
    data = best_cfg.to_dict()
    aug = data.pop("augment")
    lines = [f"# best of a {opts.method} search: trial {best['trial']}, val_accuracy "
             f"{best['score']:.4f} (best epoch of {opts.max_epochs})",
             f"# reproduce: python -m training.run --config {path}",
             "# (epochs = the trial's; add --epochs N --out DIR for a longer final run)"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items()]
    lines += ["", "[augment]"] + [f"{k} = {_toml_value(v)}" for k, v in aug.items()]
    path.write_text("\n".join(lines) + "\n")
