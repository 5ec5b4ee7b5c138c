"""Quantization-aware training (`--qat`) and magnitude pruning (`--prune`) with
tensorflow-model-optimization.

tfmot works only with `tf_keras` (Keras 2), which needs `TF_USE_LEGACY_KERAS=1` process-wide, so
this runs in its own subprocess: the parent saves the trained weights, the child builds the
`tf_keras` twin of the architecture (same builder, backbone inlined), carries the weights over
(checked on a few images), fine-tunes, converts to a full-int8 `.tflite` and measures it on val:

- QAT: `model_qat_int8.tflite`; MobileNetV3 (hard-swish) is not supported by tfmot's
  `quantize_model` and fails with a clear message (use the PTQ int8 file instead).
- Pruning: `model_pruned_int8.tflite` at `--prune-sparsity` (polynomial decay schedule).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training.cli import Parser, one_line_errors

WEIGHTS_FILE = "tfmot_weights.npz"
RESULT_FILE = "tfmot_metrics.json"
UNSUPPORTED_QAT = ("mobilenet_v3_small", "mobilenet_v3_large")


def run_in_subprocess(out: Path, cfg: Any, model: Any, timeout: float | None = None
                      ) -> dict[str, Any]:
    """Parent side: hand the trained (float32) `model` to a TF_USE_LEGACY_KERAS=1 child that reads
    the run's config.json; return its metrics."""
    if cfg.qat and cfg.model in UNSUPPORTED_QAT:
        raise EmotionLensError(f"--qat is not available for {cfg.model}: tfmot's quantize_model "
                               "does not support MobileNetV3's hard-swish; use the PTQ int8 export")
    ws = model.get_weights()
    probe = np.random.default_rng(0).random((4, *model.input_shape[1:]), dtype=np.float32)
    ref = np.asarray(model.predict(probe, verbose=0))
    np.savez(out / WEIGHTS_FILE, probe=probe, ref=ref, **{f"w{i:04d}": w for i, w in enumerate(ws)})
    modes = [m for m, on in (("qat", cfg.qat), ("prune", cfg.prune)) if on]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "KERAS_BACKEND": "tensorflow"}
    cmd = [sys.executable, "-m", "training.tfmot_tune", "--run", str(out), "--modes", ",".join(modes)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        errs = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        raise EmotionLensError(errs[-1][7:] if errs else
                               "QAT/pruning subprocess failed: " + proc.stderr.strip()[-300:])
    return json.loads((out / RESULT_FILE).read_text())


def _child(run: Path, modes: list[str]) -> dict[str, Any]:
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise EmotionLensError("run this with TF_USE_LEGACY_KERAS=1 (training.train does that)")
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from training import config as config_mod
    from training.export import calibration_images, set_full_int8
    from training.inputs import load_capped_splits
    from training.litert import TFLiteModel
    from training.metrics import compute_metrics, rounded
    from training.models import build_model

    cfg = config_mod.apply(config_mod.TrainConfig(), json.loads((run / "config.json").read_text()),
                           "config.json")
    _, train, val = load_capped_splits(cfg)
    labels = train.labels
    saved = np.load(run / WEIGHTS_FILE)
    weights = [saved[k] for k in sorted(k for k in saved.files if k.startswith("w"))]

    def twin() -> Any:
        m = build_model(cfg, len(labels), keras_module=tf_keras)
        try:
            m.set_weights(weights)
        except ValueError as exc:
            raise EmotionLensError(f"weights do not fit the tf_keras twin of {cfg.model}: "
                                   f"{str(exc).splitlines()[0]}") from None
        got = m.predict(saved["probe"], verbose=0)
        if not np.allclose(got, saved["ref"], atol=1e-3):
            raise EmotionLensError(f"the tf_keras twin of {cfg.model} does not reproduce the "
                                   "Keras 3 model (weights did not carry over)")
        return m

    x_tr = train.x.astype(np.float32) / 255.0
    y_tr = np.eye(len(labels), dtype=np.float32)[train.y]
    x_va = val.x.astype(np.float32) / 255.0
    calib = calibration_images(train.x, train.y, cfg.calib_samples, cfg.seed)
    results: dict[str, Any] = {}

    def convert(m: Any, path: Path) -> None:
        conv = tf.lite.TFLiteConverter.from_keras_model(m)
        set_full_int8(conv, calib)
        path.write_bytes(conv.convert())

    def score(path: Path) -> dict[str, Any]:
        pred = TFLiteModel(path).predict(x_va).argmax(-1)
        return rounded(compute_metrics(val.y, pred, labels))

    lr = cfg.lr * 0.1
    if "qat" in modes:
        if cfg.model in UNSUPPORTED_QAT:
            raise EmotionLensError(f"QAT is not available for {cfg.model} (hard-swish)")
        try:
            q = quantize(twin(), tfmot, tf_keras)
        except (ValueError, RuntimeError) as exc:
            raise EmotionLensError(f"tfmot cannot quantize {cfg.model}: "
                                   f"{str(exc).splitlines()[0][:200]}") from None
        q.compile(optimizer=tf_keras.optimizers.Adam(lr), metrics=["accuracy"],
                  loss=tf_keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing))
        q.fit(x_tr, y_tr, batch_size=cfg.batch_size, epochs=cfg.qat_epochs, verbose=2)
        path = run / "model_qat_int8.tflite"
        convert(q, path)
        m = score(path)
        results["qat_int8_accuracy"] = m["accuracy"]
        results["qat_int8_macro_f1"] = m["macro_f1"]
        results["qat_epochs"] = cfg.qat_epochs
    if "prune" in modes:
        steps = int(np.ceil(len(x_tr) / cfg.batch_size)) * max(1, cfg.qat_epochs)
        sched = tfmot.sparsity.keras.PolynomialDecay(0.0, cfg.prune_sparsity, 0,
                                                     max(1, steps - 1),
                                                     frequency=max(1, min(100, steps // 4)))
        p = tfmot.sparsity.keras.prune_low_magnitude(twin(), pruning_schedule=sched)
        p.compile(optimizer=tf_keras.optimizers.Adam(lr), metrics=["accuracy"],
                  loss=tf_keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing))
        p.fit(x_tr, y_tr, batch_size=cfg.batch_size, epochs=max(1, cfg.qat_epochs), verbose=2,
              callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
        stripped = tfmot.sparsity.keras.strip_pruning(p)
        kernels = [w for w in stripped.get_weights() if w.ndim >= 2]
        zeros = sum(int((k == 0).sum()) for k in kernels) / max(1, sum(k.size for k in kernels))
        path = run / "model_pruned_int8.tflite"
        convert(stripped, path)
        m = score(path)
        results["pruned_int8_accuracy"] = m["accuracy"]
        results["pruned_int8_macro_f1"] = m["macro_f1"]
        results["pruned_sparsity"] = round(zeros, 4)
    (run / RESULT_FILE).write_text(json.dumps(results, indent=2) + "\n")
    return results


# Float pre-processing layers tfmot's default 8-bit registry does not know: left unannotated, they
# stay float in the QAT graph (the int8 converter quantizes them like any PTQ op).
UNANNOTATED = ("Rescaling", "Normalization", "GaussianNoise")


def quantize(model: Any, tfmot: Any, tf_keras: Any) -> Any:
    """`quantize_model`, or annotate every layer but the pre-processing ones and `quantize_apply`."""
    try:
        return tfmot.quantization.keras.quantize_model(model)
    except (RuntimeError, ValueError) as exc:
        if "is not supported" not in str(exc):
            raise

    def annotate(layer: Any) -> Any:
        if type(layer).__name__ in UNANNOTATED:
            return layer.__class__.from_config(layer.get_config())
        return tfmot.quantization.keras.quantize_annotate_layer(
            layer.__class__.from_config(layer.get_config()))

    annotated = tf_keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    return tfmot.quantization.keras.quantize_apply(annotated)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m training.tfmot_tune", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run folder with config.json and tfmot_weights.npz")
    p.add_argument("--modes", default="qat", help="qat, prune or qat,prune")
    args = p.parse_args(argv)
    res = _child(Path(args.run), [m.strip() for m in args.modes.split(",") if m.strip()])
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
