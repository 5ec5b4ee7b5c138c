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
(`val_accuracy`). The tuner's project directory is `OUT/search/` (`overwrite=False`), so an
interrupted search resumes: finished trials are not re-run. Writes `OUT/search_results.md`,
`OUT/search_results.csv` (trials sorted by score) and `OUT/best_config.toml` (reproduce the winner
with `python -m training.run --config OUT/best_config.toml`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core import EmotionLensError
from training import config as config_mod
from training.config import TrainConfig

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


def parse_space(raw: Any, source: str, model: str) -> dict[str, list[Any]]:
    """Validate a `[space]` table: known keys, non-empty lists of valid values."""
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
        _check_ippm(space, source)
    return space


def _check_ippm(space: dict[str, list[Any]], source: str) -> None:
    from training.architectures import ippm

    scales = [_ints(v) for v in space.get("ippm_scales", [",".join(map(str, ippm.SCALES))])]
    kernels = [_ints(v) for v in space.get("ippm_kernels", [",".join(map(str, ippm.KERNELS))])]
    for sc in scales:
        if any(max(sc) % s for s in sc):
            raise EmotionLensError(f"{source}: iPPM scales must divide the largest one: {list(sc)}")
    lengths = {len(v) for v in scales} | {len(v) for v in kernels}
    if len(lengths) > 1:
        raise EmotionLensError(f"{source}: every ippm_scales and ippm_kernels entry needs the same "
                               f"length (one kernel per scale; defaults {list(ippm.SCALES)}, "
                               f"{list(ippm.KERNELS)})")


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


def load_space_file(path: str | Path, model: str) -> dict[str, list[Any]]:
    data = config_mod.load_toml(path)
    raw = data.get("space", data.get("search", {}).get("space") if isinstance(
        data.get("search"), dict) else None)
    if raw is None:
        raise EmotionLensError(f"{path}: no [space] table")
    return parse_space(raw, str(path), model)


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
        space = load_space_file(args.space, cfg.model)
        source = args.space
    elif isinstance(table.get("space"), str):
        space_path = Path(table["space"])
        if not space_path.is_absolute():
            space_path = Path(args.config).parent / space_path
        space = load_space_file(space_path, cfg.model)
        source = str(space_path)
    elif isinstance(table.get("space"), dict):
        space = parse_space(table["space"], f"{args.config} [search.space]", cfg.model)
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
    """`cfg` with a trial's hyperparameter values applied (iPPM values are not config options)."""
    over: dict[str, Any] = {k: values[k] for k in ("lr", "batch_size", "optimizer", "dropout",
                                                    "fine_tune_layers") if k in values}
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


def build_trial_model(cfg: TrainConfig, values: dict[str, Any], num_classes: int) -> Any:
    from training import run as run_mod

    if "ippm_scales" not in values and "ippm_kernels" not in values:
        return run_mod.build_model(cfg, num_classes)
    from training.architectures import applications, ippm

    scales = _ints(values.get("ippm_scales", ",".join(map(str, ippm.SCALES))))
    kernels = _ints(values.get("ippm_kernels", ",".join(map(str, ippm.KERNELS))))
    if len(scales) != len(kernels):
        raise ValueError(f"iPPM: {len(scales)} scales but {len(kernels)} kernels")
    build = applications.builder("resnet50", functools.partial(
        ippm.ippm_block, scales=scales, kernels=kernels))
    size, channels = run_mod.resolve_input(cfg)
    kwargs: dict[str, Any] = {"weights": cfg.weights, "head_batchnorm": cfg.head_batchnorm,
                              "head_noise": cfg.head_noise}
    if cfg.dropout >= 0:
        kwargs["dropout"] = cfg.dropout
    return build((size, size, channels), num_classes, **kwargs)


# --------------------------------------------------------------------------- the search

def _hypermodel(cfg: TrainConfig, opts: SearchOptions, data: dict[str, Any]) -> Any:
    import keras_tuner as kt

    from training import run as run_mod
    from training.data import balance
    from training.data.augment import build_augmenter

    class EmotionHyperModel(kt.HyperModel):
        def declare(self, hp: Any) -> dict[str, Any]:
            return {k: hp.Choice(k, v) for k, v in opts.space.items()}

        def build(self, hp: Any) -> Any:
            values = self.declare(hp)
            tcfg = trial_config(cfg, values, opts.max_epochs)
            model = build_trial_model(tcfg, values, data["num_classes"])
            arch = run_mod.registry_get(tcfg.model)
            if arch.pretrained and tcfg.fine_tune_layers >= 0:
                from training.architectures.applications import set_trainable_top

                set_trainable_top(model, tcfg.fine_tune_layers)
            run_mod.compile_model(model, tcfg)
            return model

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            values = self.declare(hp)
            tcfg = trial_config(cfg, values, opts.max_epochs)
            x, y = data["x"], data["y"]
            cw = balance.class_weights(y, data["num_classes"], tcfg.class_weights)
            aug = build_augmenter(tcfg.augment, tcfg.seed) if tcfg.augment.enabled else None
            train_tf = run_mod.make_tf_dataset(
                x, y, data["num_classes"], batch_size=tcfg.batch_size, shuffle=True,
                seed=tcfg.seed, augmenter=aug,
                weights=cw if tcfg.class_weights != "none" else None)
            kwargs.pop("validation_data", None)
            kwargs.setdefault("verbose", 2)
            return model.fit(train_tf, validation_data=data["val_tf"], epochs=opts.max_epochs,
                             shuffle=False, **kwargs)

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


def make_tuner(hypermodel: Any, opts: SearchOptions, directory: Path, seed: int) -> Any:
    import keras_tuner as kt

    objective = kt.Objective(OBJECTIVE, direction="max")
    common = {"directory": str(directory), "project_name": opts.method, "overwrite": False}
    if opts.method == "grid":
        oracle = _resumable_grid_oracle()(objective=objective, max_trials=opts.trials, seed=seed)
        return kt.Tuner(oracle=oracle, hypermodel=hypermodel, **common)
    cls = kt.RandomSearch if opts.method == "random" else kt.BayesianOptimization
    return cls(hypermodel, objective=objective, max_trials=opts.trials, seed=seed, **common)


def _load_data(cfg: TrainConfig) -> dict[str, Any]:
    """Train/val arrays as `training.run.train` prepares them (the test split is never used)."""
    from training import run as run_mod
    from training.data import balance
    from training.data.loading import load_splits
    from training.data.splits import stratified_cap

    if not cfg.data:
        raise EmotionLensError("no dataset given (use --data PATH or data = ... in --config)")
    if not Path(cfg.data).exists():
        raise EmotionLensError(f"dataset not found: {cfg.data}")
    size, channels = run_mod.resolve_input(cfg)
    splits = load_splits(cfg.data, fmt=cfg.dataset_format, size=size, channels=channels,
                         exclude=cfg.exclude, contempt=cfg.contempt, split=cfg.split,
                         seed=cfg.seed, min_confidence=cfg.min_confidence)
    train_ds, val_ds = splits.train, splits.val
    if cfg.max_samples:
        train_ds = train_ds.subset(stratified_cap(train_ds.y, cfg.max_samples, cfg.seed))
        val_ds = val_ds.subset(stratified_cap(val_ds.y, max(200, cfg.max_samples // 4), cfg.seed))
    x, y = train_ds.x, train_ds.y
    if cfg.smote:
        x, y = balance.smote(x, y, cfg.seed)
    elif cfg.oversample:
        x, y = balance.oversample(x, y, cfg.seed)
    n = len(train_ds.labels)
    val_tf = run_mod.make_tf_dataset(val_ds.x, val_ds.y, n, batch_size=256, shuffle=False,
                                     seed=cfg.seed)
    return {"x": x, "y": y, "num_classes": n, "val_tf": val_tf, "n_val": len(val_ds)}


def run_search(cfg: TrainConfig, opts: SearchOptions) -> list[dict[str, Any]]:
    """Run (or resume) the search; write the results table and the best config. Returns the
    completed trials, best first."""
    import keras

    from training.run import log

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    data = _load_data(cfg)
    log(f"{opts.method} search over {', '.join(opts.space)} ({opts.source}): up to {opts.trials} "
        f"trials × {opts.max_epochs} epochs, scored on val ({data['n_val']} images)")
    tuner = make_tuner(_hypermodel(cfg, opts, data), opts, out / "search", cfg.seed)
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
    """A TOML config for `training.run --config` with the winner's values (full epochs)."""
    best_cfg = trial_config(cfg, best["values"])
    best_cfg = dataclasses.replace(best_cfg, out=str(Path(cfg.out) / "best"))
    data = best_cfg.to_dict()
    aug = data.pop("augment")
    lines = [f"# best of a {opts.method} search: trial {best['trial']}, val_accuracy "
             f"{best['score']:.4f} after {opts.max_epochs} epochs",
             f"# reproduce: python -m training.run --config {path}"]
    ippm_vals = {k: best["values"][k] for k in ("ippm_scales", "ippm_kernels") if k in best["values"]}
    if ippm_vals:
        lines.append(f"# iPPM (not a config option; the registry default is used): {ippm_vals}")
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items()]
    lines += ["", "[augment]"] + [f"{k} = {_toml_value(v)}" for k, v in aug.items()]
    path.write_text("\n".join(lines) + "\n")
