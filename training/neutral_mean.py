"""The model's mean probabilities on the neutral faces of a split: model.json's `neutral_mean`.

A person's neutral baseline is compared with it (`app/core/baseline.py`): a face whose resting
expression the model reads, say, as a little sad has a baseline with more `sad` than this mean,
and that person's later probabilities are divided by the ratio (prior correction).

`export_bundle` calls `add_neutral_mean` before it writes model.json; for a bundle that exists,

    python -m training.neutral_mean --model models/default --data ../shared/datasets/fer2013/val

adds the field to its model.json (the model files, and their sha256, are unchanged).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training.cli import Parser, one_line_errors

NEUTRAL = "neutral"
ABOUT = ("the mean of the model's probabilities (in label order) over the neutral faces of the "
         "split: the reference a person's neutral baseline is divided by (app/core/baseline.py)")


def neutral_mean(probs: np.ndarray, y: np.ndarray, labels: tuple[str, ...] | list[str]) -> np.ndarray | None:
    """The mean of `probs` (N, labels) over the rows whose true label `y` is neutral; None when
    the labels have no neutral class or the split no neutral face."""
    if NEUTRAL not in labels:
        return None
    rows = np.asarray(y) == list(labels).index(NEUTRAL)
    if not rows.any():
        return None
    mean = np.asarray(probs, dtype=np.float64)[rows].mean(axis=0)
    return mean / mean.sum()


def neutral_mean_entry(probs: np.ndarray, y: np.ndarray, labels: tuple[str, ...] | list[str], *,
                       dataset: str, split: str, model_file: str) -> dict[str, Any] | None:
    """The `neutral_mean` object of model.json: the mean and its provenance."""
    mean = neutral_mean(probs, y, labels)
    if mean is None:
        return None
    n = int(np.sum(np.asarray(y) == list(labels).index(NEUTRAL)))
    return {"probs": [round(float(v), 5) for v in mean], "n": n, "dataset": dataset, "split": split,
            "model_file": model_file, "about": ABOUT}


def add_neutral_mean(data: dict[str, Any], model: Any, files: dict[str, Path], x_uint8: np.ndarray,
                     y: np.ndarray, labels: tuple[str, ...], dataset: str = "") -> None:
    """Put `neutral_mean` into model.json's `data` (export): measured with the int8 file when the
    bundle has one (what the app runs by default), else with the float model. Nothing happens
    when the labels have no neutral class or the split no neutral face."""
    if NEUTRAL not in labels:
        return
    rows = np.asarray(y) == list(labels).index(NEUTRAL)
    if not rows.any():
        return
    norm = data.get("input", {}).get("normalization", {})
    x = (x_uint8[rows].astype(np.float32) - float(norm.get("mean", 0.0))) / float(norm.get("std", 255.0))
    kind = next((k for k in ("int8", "float16", "float32") if k in files
                 and files[k].name.endswith(".tflite")), "keras")
    if kind == "keras":
        probs = np.asarray(model.predict(x, batch_size=256, verbose=0))
    else:
        from training.litert import TFLiteModel

        probs = TFLiteModel(files[kind]).predict(x)
    entry = neutral_mean_entry(probs, np.asarray(y)[rows], labels, dataset=dataset or "?",
                               split="val", model_file=kind)
    if entry is not None:
        data["neutral_mean"] = entry


def update_bundle(bundle_dir: Path, data_dir: Path, backend: str = "auto") -> dict[str, Any]:
    """Measure `neutral_mean` for an existing bundle on `data_dir` (a folder per class, e.g.
    fer2013/val) and write it into its model.json; returns the entry."""
    from app.core.bundle import load_bundle, write_model_json
    from app.core.classify import Classifier
    from training.data.folders import load_folders

    bundle = load_bundle(bundle_dir)
    if NEUTRAL not in bundle.labels:
        raise EmotionLensError(f"{bundle_dir}: the model has no {NEUTRAL!r} label")
    clf = Classifier(bundle, backend=backend)
    ds = load_folders(data_dir, labels=bundle.labels, size=bundle.input.size,
                      channels=bundle.input.channels, use_cache=False)
    rows = ds.y == bundle.labels.index(NEUTRAL)
    if not rows.any():
        raise EmotionLensError(f"{data_dir}: no {NEUTRAL} faces")
    crops = ds.x[rows]
    probs = np.concatenate([clf.predict(crops[i:i + 256]) for i in range(0, len(crops), 256)])
    dataset = str(bundle.provenance.get("dataset", "?"))
    entry = neutral_mean_entry(probs, ds.y[rows], bundle.labels, dataset=dataset,
                               split=Path(data_dir).name, model_file=clf.backend)
    assert entry is not None
    data = dict(bundle.raw)
    data["neutral_mean"] = entry
    data.pop("schema_version", None)
    write_model_json(bundle.path, data)
    return entry


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m training.neutral_mean", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="bundle folder whose model.json gets the field")
    p.add_argument("--data", required=True, help="split folder with one folder per class (e.g. fer2013/val)")
    p.add_argument("--backend", default="auto", help="model file to measure with (default: auto, int8 first)")
    args = p.parse_args(argv)
    entry = update_bundle(Path(args.model), Path(args.data), args.backend)
    print(json.dumps(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
