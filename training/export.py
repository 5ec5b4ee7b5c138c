"""Export a trained Keras model to a model bundle the app loads (`app.core.bundle`).

Files: `model.keras` (float, safe_mode loadable), `model_fp16.tflite` (float16 weights, float I/O),
`model_int8.tflite` (post-training quantization; the default `--int8 static` is full integer,
calibrated on a representative dataset of training images, **int8 input and output** with the
scale/zero-point stored in the file; `--int8 dynamic` keeps int8 weights and lets LiteRT quantize
each activation per face at run time, with float input and output).

`python -m training.export --run RUN_DIR --out BUNDLE_DIR [--kinds int8,keras]` (re)builds a bundle
from a finished run, re-measuring float and int8 metrics on the validation split; re-running it picks
up a new `training/configs/crops/<dataset>.toml`. `--epoch N` bundles an epoch the run kept
(`keep_epochs`) instead of its best, `--epoch 52,54-55` the mean of those epochs' weights (SWA;
`--swa`: the mean of its last epochs kept in the checkpoint, `swa_epochs`, training/swa.py);
`--blur SIGMA` puts a fixed Gaussian blur in front of the model; `--class-prior fear=1.4` scales
labels' probabilities in the final layer's bias; `--overwrite` replaces a bundle.

TFLite conversion needs the TensorFlow backend; under another Keras backend the model is saved as
`.keras` and converted in a TensorFlow subprocess.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training.cli import Parser, one_line_errors
from training.config import CHOICES
from training.data.crops import crop_spec_for
from training.metrics import compute_metrics, rounded
from training.swa import parse_epochs

FILE_NAMES = {"keras": "model.keras", "float16": "model_fp16.tflite", "int8": "model_int8.tflite",
              "float32": "model_fp32.tflite"}
LICENCE_NOTES = {
    "fer2013": "FER2013 (Goodfellow et al., ICML 2013 Challenges in Representation Learning, via "
               "Kaggle): research use; the images come from Google image search and carry no "
               "licence for redistribution. The weights are shared for research and personal use; "
               "check your own use against the dataset's terms.",
}


def dataset_id(source: str) -> str:
    """'folders:../shared/datasets/fer2013' -> 'fer2013' (best effort)."""
    low = source.lower()
    for name in ("fer2013", "affectnet", "expw", "rafdb", "ckplus"):
        if name in low:
            return name
    return Path(source.split(":", 1)[-1]).name.lower() or "unknown"


# --------------------------------------------------------------------------- conversion

def _saved_model(model: Any, tmp: Path) -> Path:
    sm = tmp / "saved_model"
    model.export(str(sm), format="tf_saved_model", verbose=False)
    return sm


def set_full_int8(conv: Any, calib: np.ndarray) -> None:
    """Set a TFLiteConverter up for full-integer int8 (int8 input and output too), calibrated
    on `calib`: float model inputs, already normalized, one per representative sample."""
    import tensorflow as tf

    rep = calib.astype(np.float32)

    def representative() -> Any:
        for i in range(len(rep)):
            yield [rep[i:i + 1]]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8


INT8_SCHEMES = CHOICES["int8_scheme"]  # TrainConfig.int8_scheme's, named in training/config.py


def convert_tflite(model: Any, out_path: Path, kind: str,
                   calib: np.ndarray | None = None, int8_scheme: str = "static") -> Path:
    """Convert a Keras model (TF backend) to a `.tflite` of `kind` (float32 | float16 | int8).

    `calib`: float model inputs (already normalized) for the int8 representative dataset of the
    "static" scheme; "dynamic" (int8 weights, activations quantized at run time) needs none."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="el-export-") as tmp:
        sm = _saved_model(model, Path(tmp))
        conv = tf.lite.TFLiteConverter.from_saved_model(str(sm))
        if kind == "float16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
        elif kind == "int8" and int8_scheme == "dynamic":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        elif kind == "int8":
            if int8_scheme != "static":
                raise EmotionLensError(f"unknown int8 scheme {int8_scheme!r} "
                                       f"(known: {', '.join(INT8_SCHEMES)})")
            if calib is None or len(calib) == 0:
                raise EmotionLensError("int8 export needs representative images")
            set_full_int8(conv, calib)
        elif kind != "float32":
            raise EmotionLensError(f"unknown tflite kind {kind!r}")
        try:
            data = conv.convert()
        except Exception as exc:  # converter errors are long MLIR dumps: keep the first line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EmotionLensError(f"TFLite {kind} conversion failed: {first}") from None
    out_path.write_bytes(data)
    return out_path


def calibration_images(x_uint8: np.ndarray, y: np.ndarray, n: int, seed: int,
                       mean: float = 0.0, std: float = 255.0) -> np.ndarray:
    """`n` training images, stratified, normalized like the model input."""
    from training.data.splits import stratified_cap

    idx = stratified_cap(y, n, seed) if n < len(y) else np.arange(len(y))
    return (x_uint8[idx].astype(np.float32) - mean) / std


# --------------------------------------------------------------------------- bundle

def predict_keras(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def measure(model: Any, files: dict[str, Path], x_uint8: np.ndarray, y: np.ndarray,
            labels: tuple[str, ...], mean: float = 0.0, std: float = 255.0) -> dict[str, Any]:
    """Metrics of the float model and of every tflite file on the same images, plus agreement."""
    from training.litert import TFLiteModel

    x = (x_uint8.astype(np.float32) - mean) / std
    res: dict[str, Any] = {}
    float_pred = predict_keras(model, x).argmax(-1)
    res["float"] = compute_metrics(y, float_pred, labels)
    for kind, path in files.items():
        if not path.name.endswith(".tflite"):
            continue
        pred = TFLiteModel(path).predict(x).argmax(-1)
        res[kind] = compute_metrics(y, pred, labels)
        res[kind]["argmax_agreement_with_float"] = float(np.mean(pred == float_pred))
    return res


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[1], timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def val_metrics(measured: dict[str, dict[str, Any]], kinds: list[str]) -> dict[str, Any]:
    """model.json's `metrics` from `measure()`: the float model's figures on val, and accuracy,
    macro-F1 and argmax agreement with float for each converted file kind."""
    flt = measured["float"]
    metrics: dict[str, Any] = {"split": "val", "n": flt["n"]}
    metrics.update({k: flt[k] for k in ("accuracy", "macro_f1", "per_class", "confusion_matrix")})
    for k in kinds:
        metrics[f"{k}_accuracy"] = measured[k]["accuracy"]
        metrics[f"{k}_macro_f1"] = measured[k]["macro_f1"]
        metrics[f"{k}_argmax_agreement"] = measured[k]["argmax_agreement_with_float"]
    return metrics


def input_card(size: int, channels: int, mean: float, std: float,
               crop: dict[str, Any]) -> dict[str, Any]:
    """model.json's `input`: what the model takes and which face crop it was trained on."""
    return {"size": size, "channels": channels, "normalization": {"mean": mean, "std": std},
            "crop": crop}


def int8_note(calib_images: int, scheme: str = "static") -> dict[str, str]:
    """model.json's `quantization`: for a full-integer file calibrated on `calib_images`, or
    for the dynamic scheme."""
    if scheme == "dynamic":
        return {"int8": "dynamic range: int8 weights, each activation quantized to int8 per face "
                        "at run time (LiteRT XNNPACK); float input and output"}
    return {"int8": "full integer: int8 input and output, scale/zero_point in the file; "
                    f"{calib_images} training images calibrate"}


def build_stamp() -> dict[str, Any]:
    """When, from which commit and with which Keras a bundle was written (for `provenance`)."""
    import keras

    return {"created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "code_commit": git_commit(),
            "versions": {"keras": keras.__version__, "backend": keras.backend.backend()}}


def int8_cost(path: Path, threads: int = 2, runs: int = 100) -> dict[str, Any]:
    """What the int8 file costs here, on LiteRT (the app's runtime): median ms per call for one
    face and for a batch of four (best of 3 medians, after a warm-up), and the machine. Other
    work on the machine at the time counts too: a card's figure, not a benchmark."""
    import time

    from app.core.classify import LiteRTModel
    from app.core.machine import machine_info

    model = LiteRTModel(path, num_threads=threads)
    result: dict[str, Any] = {"runtime": "LiteRT", "threads": threads}
    for faces, key in ((1, "ms_per_face"), (4, "ms_per_4_faces")):
        x = np.zeros((faces, *model.input_shape[1:]), np.float32)
        for _ in range(20):
            model.predict(x)
        medians = []
        for _ in range(3):
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                model.predict(x)
                times.append(time.perf_counter() - t0)
            medians.append(float(np.median(times)) * 1e3)
        result[key] = round(min(medians), 3)
    result["machine"] = machine_info()
    return result


def hardware_card(hardware: list[dict[str, Any]], epochs: int) -> list[dict[str, Any]]:
    """The machines that trained epochs 1..`epochs` (the run's `hardware` list, cut there); epochs
    that no entry covers (trained before runs recorded their hardware) as `"recorded": false`."""
    out: list[dict[str, Any]] = []
    nxt = 1
    for h in sorted(hardware, key=lambda h: h["epochs"][0]):
        first, last = h["epochs"][0], min(h["epochs"][1], epochs)
        if first > epochs:
            break
        if first > nxt:
            out.append({"epochs": [nxt, first - 1], "recorded": False})
        out.append({**{k: v for k, v in h.items() if k != "epochs"}, "epochs": [first, last]})
        nxt = max(nxt, last + 1)
    if nxt <= epochs:
        out.append({"epochs": [nxt, epochs], "recorded": False})
    return out


def cost_card(files: dict[str, Path]) -> dict[str, Any]:
    """model.json's `cost`: each model file's size and, with an int8 file, what it costs here."""
    card: dict[str, Any] = {"file_bytes": {p.name: p.stat().st_size for p in files.values()}}
    if "int8" in files:
        card["int8"] = int8_cost(files["int8"])
    return card


def card_test_time(input_blur: float, class_prior: dict[str, float] | None) -> dict[str, Any]:
    """The card's `test_time` entry: what was put around the trained weights (none: no entry)."""
    test_time: dict[str, Any] = {}
    if input_blur:
        test_time["input_blur_sigma"] = float(input_blur)
    if class_prior:
        test_time["class_prior"] = {k: float(v) for k, v in class_prior.items()}
    return {"test_time": test_time} if test_time else {}


def check_blur(sigma: float) -> float:
    """`sigma` of `--blur` (training.export, training.ensemble): 0 (none) or more."""
    if sigma < 0:
        raise EmotionLensError(f"--blur must be 0 or more (got {sigma:g})")
    return sigma


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse, in one line, an `--out` bundle folder that is a file, or that holds files and may
    not be replaced (no `--overwrite`)."""
    if out.exists() and not out.is_dir():
        raise EmotionLensError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise EmotionLensError(f"--out {out} exists and is not empty (add --overwrite to replace it)")


def with_input_blur(model: Any, sigma: float) -> Any:
    """`model` reading its input through a fixed Gaussian blur of `sigma` px (the GaussianBlur
    layer of app/core/layers.py); `model` itself when `sigma` is 0."""
    if not check_blur(sigma):
        return model
    import keras

    from app.core.layers import GaussianBlur

    inp = keras.Input(shape=tuple(model.input_shape[1:]), name="face")
    return keras.Model(inp, model(GaussianBlur(sigma, name="input_blur")(inp)), name=model.name)


def parse_class_prior(text: str) -> dict[str, float]:
    """`--class-prior fear=1.4[,sad=0.9]`: a factor (> 0) per label name. Checks the form and the
    factors only, so that a malformed value fails before the dataset loads; the names are checked
    against the labels by `check_prior_labels` once they are known."""
    prior: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            factor = float(value) if sep else float("nan")
        except ValueError:
            factor = float("nan")
        if not sep or not math.isfinite(factor) or factor <= 0:
            raise EmotionLensError(f"--class-prior {text}: give LABEL=FACTOR with a factor above 0 "
                                   f"(e.g. fear=1.4), not {part!r}")
        prior[name] = factor
    if not prior:
        raise EmotionLensError(f"--class-prior {text!r}: give LABEL=FACTOR (e.g. fear=1.4)")
    return prior


def check_prior_labels(prior: dict[str, float], labels: tuple[str, ...], text: str) -> None:
    """Every name in a parsed `--class-prior` (`text`, for the message) is one of `labels`."""
    for name in prior:
        if name not in labels:
            raise EmotionLensError(f"--class-prior {text}: no label {name!r} (labels: "
                                   f"{', '.join(labels)})")


def with_class_prior(model: Any, prior: dict[str, float], labels: tuple[str, ...]) -> Any:
    """`model` with each label's probability multiplied by its factor in `prior`, renormalized:
    softmax(z + log w) = p·w / Σ p·w, so the factors go into the bias of the final softmax
    layer, at no cost per face. A decision prior, chosen on val like the blur (the card records
    it under `provenance.test_time.class_prior`); `model` itself when `prior` is empty."""
    if not prior:
        return model
    import keras

    last = model.layers[-1]
    if not (isinstance(last, keras.layers.Dense) and last.use_bias
            and last.get_config().get("activation") == "softmax"):
        raise EmotionLensError(f"--class-prior needs a model ending in a softmax Dense layer with a "
                               f"bias; {model.name} ends in {type(last).__name__} {last.name!r}")
    kernel, bias = last.get_weights()
    for name, factor in prior.items():
        bias[labels.index(name)] += math.log(factor)
    last.set_weights([kernel, bias])
    return model


def export_bundle(model: Any, out: Path, *, cfg: Any, labels: tuple[str, ...], size: int,
                  channels: int, train: Any, val: Any, state: Any, data_source: str,
                  kinds: tuple[str, ...] | None = None, extra_metrics: dict | None = None,
                  input_blur: float = 0.0, averaged_epochs: list[int] | None = None,
                  class_prior: dict[str, float] | None = None) -> dict[str, Any]:
    """Write the model files and `model.json` into `out`; returns the model.json data. With
    `input_blur`, `model` should come from `with_input_blur` (the card records the sigma); with
    `averaged_epochs`, the card says whose weights `model` averages."""
    import keras

    out.mkdir(parents=True, exist_ok=True)
    if kinds is None:
        kinds = ("keras",) + (("float16",) if cfg.fp16 else ()) + (("int8",) if cfg.int8 else ())
    files: dict[str, Path] = {}
    if "keras" in kinds:
        p = out / FILE_NAMES["keras"]
        model.save(str(p))
        files["keras"] = p
    tfl_kinds = [k for k in ("float32", "float16", "int8") if k in kinds]
    if tfl_kinds:
        if keras.backend.backend() == "tensorflow":
            calib = (calibration_images(train.x, train.y, cfg.calib_samples, cfg.seed)
                     if _needs_calibration(tfl_kinds, cfg.int8_scheme) else None)
            for k in tfl_kinds:
                files[k] = convert_tflite(model, out / FILE_NAMES[k], k,
                                          calib if k == "int8" else None, cfg.int8_scheme)
        else:
            files.update(_convert_in_tf_subprocess(model, out, tfl_kinds, train, cfg))
    measured = measure(model, files, val.x, val.y, labels)
    ds = dataset_id(data_source)
    n_epochs = int(getattr(state, "epoch", 0))
    metrics = val_metrics(measured, tfl_kinds)
    if extra_metrics:
        metrics.update(extra_metrics)
    params = int(model.count_params())
    data = {
        "name": cfg.name or f"{cfg.model} ({ds})",
        "labels": list(labels),
        "input": input_card(size, channels, 0.0, 255.0, crop_spec_for(ds)),
        "files": {k: p.name for k, p in files.items()},
        "quantization": (int8_note(min(cfg.calib_samples, len(train)), cfg.int8_scheme)
                         if "int8" in files else {}),
        "provenance": {
            "architecture": cfg.model,
            "parameters": params,
            "dataset": ds,
            "data_source": data_source,
            "trained_on": f"{ds} train split ({len(train)} images)",
            "selected_on": f"{ds} validation split ({len(val)} images"
                           + (", FER2013 PublicTest)" if ds == "fer2013" else ")"),
            "licence": LICENCE_NOTES.get(ds, "see the dataset's own terms"),
            "epochs": n_epochs,
            "best_epoch": int(getattr(state, "best_epoch", 0)),
            "train_minutes": round(float(getattr(state, "train_seconds", 0.0)) / 60, 1),
            "hardware": hardware_card(getattr(state, "hardware", []), n_epochs),
            **({"averaged_epochs": list(averaged_epochs)} if averaged_epochs else {}),
            "recipe": _recipe(cfg),
            **({"teacher": dict(state.teacher)} if getattr(state, "teacher", None) else {}),
            **card_test_time(input_blur, class_prior),
            **build_stamp(),
        },
        "metrics": rounded(metrics),
        "cost": cost_card(files),
    }
    from app.core.bundle import write_model_json
    from training.neutral_mean import add_neutral_mean

    add_neutral_mean(data, model, files, val.x, val.y, labels, dataset=ds)  # model.json's neutral_mean
    write_model_json(out, data)
    mpath = out / "metrics.json"
    existing = json.loads(mpath.read_text()) if mpath.is_file() else {}
    existing.setdefault("val", rounded(measured["float"]))
    for k in tfl_kinds:
        existing[f"val_{k}"] = rounded(measured[k])
    mpath.write_text(json.dumps(existing, indent=2) + "\n")
    return data


def _recipe(cfg: Any) -> dict[str, Any]:
    d = cfg.to_dict()
    keep = ("model", "epochs", "batch_size", "optimizer", "lr", "min_lr", "weight_decay", "schedule",
            "warmup_epochs", "time_budget_min", "label_smoothing", "class_weights", "oversample",
            "smote", "exclude", "max_samples", "max_val_samples", "seed", "weights", "filters",
            "init_from", "ippm_scales", "ippm_kernels", "qat", "prune", "augment")
    recipe = {k: d[k] for k in keep if k in d}
    if d.get("teacher"):
        recipe.update({k: d[k] for k in ("teacher", "teacher_weight", "teacher_temperature")})
    return recipe


def _needs_calibration(kinds: list[str], int8_scheme: str) -> bool:
    """Only a static (full-integer) int8 file is calibrated on training images."""
    return "int8" in kinds and int8_scheme == "static"


def _convert_in_tf_subprocess(model: Any, out: Path, kinds: list[str], train: Any,
                              cfg: Any) -> dict[str, Path]:
    """Non-TF backend: save .keras + calibration images, convert under KERAS_BACKEND=tensorflow."""
    with tempfile.TemporaryDirectory(prefix="el-export-") as tmp:
        kpath = Path(tmp) / "model.keras"
        model.save(str(kpath))
        calib_args: list[str] = []
        if _needs_calibration(kinds, cfg.int8_scheme):
            cpath = Path(tmp) / "calib.npy"
            np.save(cpath, calibration_images(train.x, train.y, cfg.calib_samples, cfg.seed))
            calib_args = ["--calib", str(cpath)]
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        cmd = [sys.executable, "-m", "training.export", "--convert-only", str(kpath),
               *calib_args, "--out", str(out), "--kinds", ",".join(kinds),
               "--int8", cfg.int8_scheme]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EmotionLensError("TFLite conversion subprocess failed: "
                                   + (proc.stderr.strip().splitlines() or ["?"])[-1])
    return {k: out / FILE_NAMES[k] for k in kinds}


# --------------------------------------------------------------------------- CLI

def rebuild_from_run(run: Path, out: Path, kinds: tuple[str, ...], name: str | None,
                     write_reports: bool = True, input_blur: float = 0.0,
                     epochs: list[int] | None = None, class_prior: str | None = None,
                     swa: bool = False, int8_scheme: str | None = None) -> dict[str, Any]:
    """Bundle the best weights of a finished (or interrupted) run into `out`; with `epochs`, the
    weights the run kept of that epoch (`keep_epochs`), or of several their average; with `swa`,
    the running mean of its last epochs it kept in the checkpoint (`swa_epochs`); read
    through a fixed Gaussian blur of `input_blur` px when it is not 0; with `class_prior`
    ("fear=1.4"), those labels' probabilities scaled (`with_class_prior`); `int8_scheme` in
    place of the run's config's."""
    import keras

    from training import config as config_mod
    from training.inputs import load_cfg_splits
    from training.models import build_model, resolve_input
    from training.resume import BEST_WEIGHTS, LAST_CKPT, RunState, epoch_weights
    from training.swa import SWA_WEIGHTS, as_model_weights, average_weights, load_mean

    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise EmotionLensError(f"not a training run (no config.json): {run}")
    cfg = config_mod.apply(config_mod.TrainConfig(), json.loads(cfg_path.read_text()), str(cfg_path))
    if name:
        cfg.name = name
    if int8_scheme is not None:
        cfg.int8_scheme = int8_scheme
    prior = parse_class_prior(class_prior) if class_prior is not None else {}  # before the data loads
    state = RunState(run)
    state.load()
    kept: list[Path] = []
    if swa:
        if not state.swa or not (run / SWA_WEIGHTS).is_file():
            raise EmotionLensError(f"{run} kept no SWA mean (a run keeps one with swa_epochs = N, "
                                   f"over its last N epochs)")
        epochs = list(range(state.swa[0], state.swa[1] + 1))
        state = state.at_epoch(state.swa[1])
    elif epochs:
        state = state.at_epoch(max(epochs))
        kept = [epoch_weights(run, e) for e in epochs]
        missing = [e for e, path in zip(epochs, kept, strict=True) if not path.is_file()]
        if missing:
            raise EmotionLensError(f"{run} kept no weights of epoch {', '.join(map(str, missing))} "
                                   f"({kept[epochs.index(missing[0])]} is missing; a run keeps every "
                                   f"epoch with keep_epochs = true)")
    size, channels = resolve_input(cfg)
    splits = load_cfg_splits(cfg)
    labels = splits.train.labels
    if class_prior is not None:
        check_prior_labels(prior, labels, class_prior)
    if swa:
        model = build_model(cfg, len(labels))
        model.set_weights(as_model_weights(load_mean(run / SWA_WEIGHTS), model))
    elif kept:
        models = []
        for path in kept:
            models.append(build_model(cfg, len(labels)))
            models[-1].load_weights(str(path))
        model = average_weights(models)
    elif (run / BEST_WEIGHTS).is_file():
        model = build_model(cfg, len(labels))
        model.load_weights(str(run / BEST_WEIGHTS))
    elif (run / LAST_CKPT).is_file():
        # the resumable checkpoint carries the optimizer's state (twice the weights again for
        # Adam): only the weights go into a fresh build, so the bundle's file holds no optimizer
        model = build_model(cfg, len(labels))
        model.set_weights(keras.models.load_model(str(run / LAST_CKPT), compile=False).get_weights())
    else:
        raise EmotionLensError(f"no weights in {run} ({BEST_WEIGHTS} or {LAST_CKPT})")
    model = with_input_blur(with_class_prior(model, prior, labels), input_blur)
    data = export_bundle(model, out, cfg=cfg, labels=labels, size=size, channels=channels,
                         train=splits.train, val=splits.val, state=state, data_source=splits.source,
                         kinds=kinds, input_blur=input_blur,
                         averaged_epochs=epochs if epochs and len(epochs) > 1 else None,
                         class_prior=prior)
    if write_reports:
        from training import reports

        reports.write_run_reports(out, model, splits.val, None, labels, state.history,
                                  which=("confusion_matrix",))
    return data


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    p = Parser(prog="python -m training.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="training run folder (has config.json and best.weights.h5)")
    p.add_argument("--out", required=True, help="bundle folder to write")
    p.add_argument("--kinds", default="keras,float16,int8",
                   help="comma-separated: keras, float32, float16, int8 (default keras,float16,int8)")
    p.add_argument("--name", help="display name in model.json")
    p.add_argument("--epoch", metavar="N[,M-K]",
                   help="bundle epoch N of the run (kept by keep_epochs = true) instead of its best; "
                        "several (52,54-56): the average of their weights")
    p.add_argument("--swa", action="store_true",
                   help="bundle the mean of the run's last epochs that it kept in its checkpoint "
                        "(swa_epochs = N in its config)")
    p.add_argument("--blur", type=float, default=0.0, metavar="SIGMA",
                   help="the model reads faces through a fixed Gaussian blur of SIGMA px, as it "
                        "saw them in augmented training (default 0: none)")
    p.add_argument("--class-prior", metavar="LABEL=FACTOR[,...]",
                   help="multiply these labels' probabilities by FACTOR (renormalized; in the final "
                        "layer's bias, no cost per face), e.g. fear=1.4")
    p.add_argument("--int8", choices=INT8_SCHEMES, default=None, dest="int8_scheme",
                   help="how model_int8.tflite is quantized: static (full integer, calibrated) or "
                        "dynamic (int8 weights, activations quantized per face at run time); "
                        "default: the run's int8_scheme (static unless its config says otherwise)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    p.add_argument("--convert-only", metavar="MODEL_KERAS", help=argparse.SUPPRESS)
    p.add_argument("--calib", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in FILE_NAMES]
    if bad:
        raise EmotionLensError(f"unknown kind(s) {', '.join(bad)} (known: {', '.join(FILE_NAMES)})")
    out = Path(args.out)
    if args.convert_only:
        from app.core.classify import load_keras_file

        model = load_keras_file(args.convert_only)  # with the project's layers (the blur, ...)
        calib = np.load(args.calib) if args.calib else None
        out.mkdir(parents=True, exist_ok=True)
        for k in kinds:
            convert_tflite(model, out / FILE_NAMES[k], k, calib, args.int8_scheme or "static")
        return 0
    if not args.run:
        raise EmotionLensError("give --run RUN_DIR")
    run = Path(args.run)
    if not run.is_dir():
        raise EmotionLensError(f"run folder not found: {run}")
    check_blur(args.blur)
    check_out(out, args.overwrite)
    if args.swa and args.epoch is not None:
        raise EmotionLensError("give --epoch or --swa, not both")
    epochs = parse_epochs(args.epoch) if args.epoch is not None else None
    data = rebuild_from_run(run, out, kinds, args.name, input_blur=args.blur, epochs=epochs,
                            class_prior=args.class_prior, swa=args.swa, int8_scheme=args.int8_scheme)
    m = data["metrics"]
    print(f"wrote {out}: val accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}"
          + (f", int8 accuracy {m['int8_accuracy']:.4f}" if "int8_accuracy" in m else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
