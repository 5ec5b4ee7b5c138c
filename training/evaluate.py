"""`python -m training.evaluate --model BUNDLE --data DIR [--json]`: evaluate any model bundle on a
folder-per-class dataset.

Class folders with other names (anger, happiness, sadness, ...) are mapped to the model's labels;
images of classes the model lacks (e.g. contempt) are counted and reported, not silently dropped
(they cannot be scored, so they are excluded from the metrics and listed under "unscored").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from app.core.classify import load_keras_file
from training.cli import Parser, one_line_errors
from training.metrics import compute_metrics, rounded


def load_any_model(bundle: Any, kind: str | None = None) -> tuple[str, Any]:
    """(kind, predict function on normalized float input) for the bundle's best available file."""
    order = [kind] if kind else ["keras", "float32", "float16", "int8"]
    for k in order:
        path = bundle.file(k)
        if path is None or not path.is_file():
            continue
        if k == "keras":
            model = load_keras_file(path)
            return k, lambda x, m=model: np.asarray(m.predict(x, batch_size=256, verbose=0))
        from training.litert import TFLiteModel

        tfl = TFLiteModel(path)
        return k, tfl.predict
    if kind:
        raise EmotionLensError(f"the bundle has no {kind} model file "
                               f"(has: {', '.join(bundle.available_kinds)})")
    raise EmotionLensError(f"no usable model file in {bundle.path}")


def scan_classes(data: Path, labels: tuple[str, ...]) -> tuple[dict[str, str], dict[str, int]]:
    """Map class folder -> model label; count images of folders the model cannot score."""
    from training.data.base import canonical_label
    from training.data.folders import IMAGE_EXTS

    mapped: dict[str, str] = {}
    unscored: dict[str, int] = {}
    for d in sorted(p for p in data.iterdir() if p.is_dir()):
        name = canonical_label(d.name)
        if name in labels:
            mapped[d.name] = name
        else:
            unscored[d.name] = sum(1 for f in d.iterdir() if f.suffix.lower() in IMAGE_EXTS)
    return mapped, unscored


def evaluate(model_dir: str | Path, data: str | Path, *, kind: str | None = None,
             max_samples: int = 0) -> dict[str, Any]:
    from app.core.bundle import load_bundle
    from training.data.folders import find_split_dir, load_folders
    from training.data.splits import stratified_cap

    bundle = load_bundle(model_dir)
    data = Path(data)
    if not data.is_dir():
        raise EmotionLensError(f"dataset folder not found: {data}")
    labels = bundle.labels
    mapped, unscored = scan_classes(data, labels)
    if not mapped:
        # a dataset root with splits: evaluate its test (else val) split
        for split in ("test", "val"):
            d = find_split_dir(data, split)
            if d is not None:
                data = d
                mapped, unscored = scan_classes(data, labels)
                break
    if not mapped:
        raise EmotionLensError(f"no class folders matching the model's labels ({', '.join(labels)}) "
                               f"in {data}")
    ds = load_folders(data, labels=labels, size=bundle.input.size, channels=bundle.input.channels,
                      use_cache=False)
    if max_samples:
        ds = ds.subset(stratified_cap(ds.y, max_samples, 0))
    used_kind, predict = load_any_model(bundle, kind)
    x = (ds.x.astype(np.float32) - bundle.input.mean) / bundle.input.std
    probs = predict(x)
    if probs.shape[-1] != len(labels):
        raise EmotionLensError(f"model outputs {probs.shape[-1]} classes but model.json lists "
                               f"{len(labels)}")
    res = compute_metrics(ds.y, probs.argmax(-1), labels)
    res["model_file"] = used_kind
    res["data"] = str(data)
    res["class_folders"] = mapped
    res["unscored"] = {k: v for k, v in unscored.items() if v}
    res["corrupt"] = len(ds.report.corrupt)
    missing = [c for c in labels if ds.class_counts().get(c, 0) == 0]
    res["classes_without_images"] = missing
    return res


def format_text(res: dict[str, Any]) -> str:
    from training.reports import classification_report_text

    out = [f"{res['data']} ({res['model_file']} model): n={res['n']} "
           f"accuracy={res['accuracy']:.4f} macro-F1={res['macro_f1']:.4f}"]
    out.append(classification_report_text(res).rstrip())
    if res["unscored"]:
        out.append("not scored (the model has no such class): "
                   + ", ".join(f"{k} ({v} images)" for k, v in res["unscored"].items()))
    if res["classes_without_images"]:
        out.append("model classes with no images here: " + ", ".join(res["classes_without_images"]))
    if res["corrupt"]:
        out.append(f"{res['corrupt']} corrupt images skipped")
    return "\n".join(out)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    p = Parser(prog="python -m training.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model bundle folder (with model.json)")
    p.add_argument("--data", required=True,
                   help="folder of class folders (or a dataset root: its test, else val, split)")
    p.add_argument("--kind", choices=("keras", "float32", "float16", "int8"),
                   help="which model file to run (default: keras, else the first tflite)")
    p.add_argument("--max-samples", type=int, default=0, help="stratified cap on images")
    p.add_argument("--json", action="store_true", help="print JSON: n, accuracy, macro_f1, "
                   "per_class {precision, recall, f1, support}, confusion_matrix, unscored")
    args = p.parse_args(argv)
    res = evaluate(args.model, args.data, kind=args.kind, max_samples=args.max_samples)
    if args.json:
        print(json.dumps(rounded(res, 6), indent=2))
    else:
        print(format_text(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
