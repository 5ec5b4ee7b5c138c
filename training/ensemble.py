"""An ensemble of model bundles, with optional flip test-time augmentation, as ONE model bundle.

    python -m training.ensemble --members BUNDLE [BUNDLE ...] [--flip] [--blur SIGMA] --out DIR
                                [--name NAME] [--data DIR] [--overwrite]
    python -m training.ensemble --extract BUNDLE --member N --out DIR [--overwrite]

The bundle's one Keras model computes the mean of the members' softmax outputs over the input and,
with `--flip`, over its horizontal mirror too (the `HorizontalFlip` layer of app/core/layers.py,
safe-mode loadable, REVERSE_V2 in TFLite). With `--blur SIGMA` the members read the face through a
fixed Gaussian blur (the `GaussianBlur` layer: REVERSE_V2, CONCATENATION and DEPTHWISE_CONV_2D in TFLite).
Written like `training.export` writes a bundle: `model.keras`, `model_int8.tflite` (full integer,
calibrated on training images) and `model.json` with float and int8 metrics measured on the
validation split. Because it is an ordinary model file,
the app's `Classifier` and `python -m training.evaluate --model DIR` run it unchanged: what evaluate
measures is what the app runs (at the members' cost added up, twice that with `--flip`).

Members must agree on labels, channels, normalization and crops (else: refused). They may differ in
input size: the bundle takes the first member's, and a member of another size reads the face
resized to its own in the graph (bilinear, as the training loader resizes FER2013's 48 px faces for
a 64 px network; RESIZE_BILINEAR in TFLite). Put the smallest first: nothing is then resized down
without the antialiasing that the app's crop gets.
`--data` is a dataset root with train/ and val/ class folders (default: FER2013 in the shared folder).
Also written: `metrics.json` and `confusion_matrix.png` (val), and each member's training
(recipe, epochs, hardware, minutes) under `provenance.members` in `model.json`.

`--extract BUNDLE --member N` takes member N back out of an ensemble bundle's graph as a bundle of
its own (its `.keras` file as it was built in, input blur included; no int8 file), so that an
ensemble can be rebuilt from a member whose own files stayed on the machine that made them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from app.core import EmotionLensError
from training.cli import Parser, log, one_line_errors

MAX_FILE_BYTES = 30 * 1000 * 1000  # every model file stays under 30 MB
CALIB_SAMPLES = 300  # as training.export (TrainConfig.calib_samples, seed)
CALIB_SEED = 1234


# --------------------------------------------------------------------------- members

def check_members(bundles: list[Any]) -> None:
    """Refuse members that would not read the same crops the same way: one line naming two."""
    first = bundles[0]
    for other in bundles[1:]:
        for what, a, b in (
            ("labels", list(first.labels), list(other.labels)),
            ("channels", first.input.channels, other.input.channels),
            ("normalization", (first.input.mean, first.input.std), (other.input.mean, other.input.std)),
            ("crops", first.input.crops, other.input.crops),
        ):
            if a != b:
                shown = ("differ" if what == "crops" else f"{a} vs {b}")
                raise EmotionLensError(f"members {first.path} and {other.path} differ in {what} "
                                       f"({shown}): an ensemble needs the same labels, channels, "
                                       f"normalization and crops")


def _ends_in_softmax(model: Any) -> bool:
    """The model's output is a softmax: its last layer is one, or a Dense (or other layer) with
    softmax activation, or a model nested as its last layer (a bundle read through
    `training.export --blur`, whose last layer is the network it wraps) that ends in one."""
    import keras

    last = model.layers[-1] if getattr(model, "layers", None) else None
    if isinstance(last, keras.layers.Softmax):
        return True
    if isinstance(last, keras.Model):
        return _ends_in_softmax(last)
    act = getattr(last, "activation", None)
    return getattr(act, "__name__", "") == "softmax"


def as_probabilities(model: Any, name: str) -> Any:
    """`model` wrapped in a model called `name` whose output is probabilities (a Softmax added
    when its last layer is not one)."""
    import keras

    x = keras.Input(shape=tuple(model.input_shape[1:]), name=f"{name}_input")
    y = model(x)
    if not _ends_in_softmax(model):
        y = keras.layers.Softmax(name=f"{name}_softmax")(y)
    return keras.Model(x, y, name=name)


# what a member's card says of its training, carried into the ensemble's card (data, recipe,
# epochs, hardware and training time of each network the bundle runs)
MEMBER_TRAINING = ("architecture", "parameters", "epochs", "best_epoch", "averaged_epochs",
                   "train_minutes", "hardware", "recipe", "teacher", "extracted_from")


def member_training(provenance: dict[str, Any]) -> dict[str, Any]:
    """The training part of a member's provenance (`MEMBER_TRAINING`, those it has)."""
    return {k: provenance[k] for k in MEMBER_TRAINING if k in provenance}


def build_ensemble(models: list[Any], flip: bool, name: str = "ensemble",
                   blur: float = 0.0) -> Any:
    """Input (through a fixed Gaussian blur of `blur` px unless 0) -> every member on it (and on
    its mirror with `flip`), resized to the member's own input size where that differs from the
    first member's -> their mean."""
    import keras

    from app.core.layers import GaussianBlur, HorizontalFlip
    from training.export import check_blur

    check_blur(blur)
    if len(models) < 2 and not flip and not blur:
        raise EmotionLensError("nothing to do: give two or more members, or --flip or --blur")
    inp = keras.Input(shape=tuple(models[0].input_shape[1:]), name="face")
    seen = GaussianBlur(blur, name="input_blur")(inp) if blur else inp
    views = [seen, HorizontalFlip(name="mirror")(seen)] if flip else [seen]
    outs = []
    size = tuple(models[0].input_shape[1:3])
    for i, m in enumerate(models):
        member = as_probabilities(m, f"member_{i}")
        own = tuple(m.input_shape[1:3])
        read = (keras.layers.Resizing(*own, interpolation="bilinear", name=f"resize_{i}")
                if own != size else (lambda v: v))
        # training=False here, where the member is called: an inference graph (no dropout,
        # batch-norm statistics) for every view, resized or not.
        outs += [member(read(v), training=False) for v in views]
    out = keras.layers.Average(name="mean_probs")(outs)
    return keras.Model(inp, out, name=name)


def load_members(paths: list[str]) -> tuple[list[Any], list[Any]]:
    """(bundles, their Keras models), checked to match each other and their cards."""
    from app.core.bundle import load_bundle
    from app.core.classify import load_keras_file

    bundles = [load_bundle(p) for p in paths]
    check_members(bundles)
    models = []
    for b in bundles:
        if "keras" not in b.available_kinds:
            raise EmotionLensError(f"member {b.path} has no .keras file: an ensemble is built from "
                                   f"the float models")
        m = load_keras_file(b.verify("keras"), what=f"member {b.path}")
        want = (b.input.size, b.input.size, b.input.channels)
        if tuple(m.input_shape[1:]) != want or int(m.output_shape[-1]) != len(b.labels):
            raise EmotionLensError(f"member {b.path}: its model takes {tuple(m.input_shape[1:])} and "
                                   f"gives {m.output_shape[-1]} outputs, model.json says {want} and "
                                   f"{len(b.labels)} labels")
        models.append(m)
    return bundles, models


# --------------------------------------------------------------------------- bundle

def load_split(data: Path, split: str, bundle: Any) -> Any:
    """`split`'s class folders under `data`, read at `bundle`'s input size and channels."""
    from training.data.folders import find_split_dir, load_folders

    d = find_split_dir(data, split)
    if d is None:
        raise EmotionLensError(f"no {split} split (class folders) in {data}")
    return load_folders(d, labels=bundle.labels, size=bundle.input.size,
                        channels=bundle.input.channels)


def _prepare_out(out: Path, members: list[Any], overwrite: bool) -> None:
    from training.export import check_out

    if any(out.resolve() == b.path.resolve() for b in members):
        raise EmotionLensError(f"--out {out} is one of the members")
    check_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)


def write_reports(out: Path, measured: dict[str, Any], labels: tuple[str, ...]) -> None:
    """metrics.json (val, float and each converted file, as `training.export` writes it) and
    confusion_matrix.png (float, on val), replacing those of a bundle written here before."""
    import json

    from training.metrics import rounded
    from training.reports import plot_val_confusion

    (out / "metrics.json").write_text(json.dumps(
        {("val" if k == "float" else f"val_{k}"): rounded(m) for k, m in measured.items()},
        indent=2) + "\n")
    plot_val_confusion(measured["float"], labels, out / "confusion_matrix.png")


def write_ensemble(member_paths: list[str], out: Path, *, flip: bool, name: str | None = None,
                   data: Path | None = None, overwrite: bool = False,
                   calib_samples: int = CALIB_SAMPLES, blur: float = 0.0) -> dict[str, Any]:
    """Build the ensemble of the bundles at `member_paths` into the bundle `out`; returns its
    model.json data."""
    import keras

    from app.core.bundle import file_sha256, write_model_json
    from training.export import (
        FILE_NAMES,
        build_stamp,
        calibration_images,
        card_test_time,
        convert_tflite,
        cost_card,
        dataset_id,
        input_card,
        int8_note,
        measure,
        val_metrics,
    )
    from training.metrics import rounded
    from training.neutral_mean import add_neutral_mean
    from training.paths import fer2013_dir

    if not member_paths:
        raise EmotionLensError("give at least one member bundle (--members)")
    if keras.backend.backend() != "tensorflow":
        raise EmotionLensError("the TFLite conversion needs KERAS_BACKEND=tensorflow")
    data = Path(data) if data is not None else fer2013_dir()
    if not data.is_dir():
        raise EmotionLensError(f"dataset folder not found: {data} (give --data)")
    bundles, models = load_members(member_paths)
    _prepare_out(out, bundles, overwrite)
    first = bundles[0]
    labels, spec = first.labels, first.input
    log(f"{len(bundles)} member(s){' x 2 views (flip)' if flip else ''}; loading {data}")
    train, val = load_split(data, "train", first), load_split(data, "val", first)
    model = build_ensemble(models, flip, blur=blur)

    files: dict[str, Path] = {"keras": out / FILE_NAMES["keras"]}
    model.save(str(files["keras"]))
    _check_size(files["keras"])
    log(f"converting to int8 ({min(calib_samples, len(train))} calibration images)")
    calib = calibration_images(train.x, train.y, calib_samples, CALIB_SEED, spec.mean, spec.std)
    files["int8"] = convert_tflite(model, out / FILE_NAMES["int8"], "int8", calib)
    _check_size(files["int8"])
    log(f"measuring float and int8 on {len(val)} val images")
    measured = measure(model, files, val.x, val.y, labels, spec.mean, spec.std)
    metrics = val_metrics(measured, ["int8"])

    prov0 = first.provenance
    ds = str(prov0.get("dataset") or dataset_id(str(data)))
    provenance: dict[str, Any] = {
        "architecture": "ensemble",
        "members": [{"name": b.name, "path": str(p),
                     "sha256": b.sha256.get(b.files["keras"]) or file_sha256(b.file("keras")),
                     "val_accuracy": b.metrics.get("accuracy"),
                     **({"test_time": b.provenance["test_time"]}
                        if b.provenance.get("test_time") else {}),
                     **member_training(b.provenance)}
                    for p, b in zip(member_paths, bundles, strict=True)],
        "test_time": {"flip": bool(flip), **card_test_time(blur, None).get("test_time", {})},
        "parameters": int(model.count_params()),
        "dataset": ds,
        "data_source": f"folders:{data}",
        **{k: prov0[k] for k in ("trained_on", "selected_on", "licence") if k in prov0},
        **build_stamp(),
    }
    card: dict[str, Any] = {
        "name": name or (f"Ensemble of {len(bundles)}" + (", flip TTA" if flip else "")
                         + f" ({ds})"),
        "labels": list(labels),
        "input": input_card(spec.size, spec.channels, spec.mean, spec.std,
                            {k: v.to_dict() for k, v in spec.crops.items()}),
        "files": {k: p.name for k, p in files.items()},
        "quantization": int8_note(min(calib_samples, len(train))),
        "provenance": provenance,
        "metrics": rounded(metrics),
        "cost": cost_card(files),
    }
    add_neutral_mean(card, model, files, val.x, val.y, labels, dataset=ds)
    write_model_json(out, card)
    write_reports(out, measured, labels)
    from app.core.bundle import load_bundle

    load_bundle(out)  # what the app will read
    return card


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size >= MAX_FILE_BYTES:
        path.unlink()
        raise EmotionLensError(f"{path.name} would be {size / 1e6:.1f} MB, over the "
                               f"{MAX_FILE_BYTES // 1_000_000} MB a model file may have: use fewer "
                               f"or smaller members")


def extract_member(bundle_dir: str | Path, index: int, out: Path,
                   overwrite: bool = False) -> dict[str, Any]:
    """Write member `index` of the ensemble bundle at `bundle_dir` as a bundle of its own (its
    `.keras` file at its own input size, as it was when the ensemble was built: blur included,
    no mirror), so that an ensemble can be rebuilt from members whose files were not kept.
    Returns its model.json data."""
    import keras

    from app.core.bundle import load_bundle, write_model_json
    from app.core.classify import load_keras_file
    from training.export import FILE_NAMES

    src = load_bundle(bundle_dir)
    members = src.provenance.get("members") or []
    if src.provenance.get("architecture") != "ensemble" or not members:
        raise EmotionLensError(f"{src.path} is not an ensemble bundle (no provenance.members)")
    if not 0 <= index < len(members):
        raise EmotionLensError(f"--member must be 0-{len(members) - 1} for {src.path} "
                               f"({len(members)} members), not {index}")
    if "keras" not in src.available_kinds:
        raise EmotionLensError(f"{src.path} has no .keras file to take the member from")
    model = load_keras_file(src.verify("keras"), what=str(src.path))
    try:
        layer = model.get_layer(f"member_{index}")
    except ValueError:
        raise EmotionLensError(f"{src.path}'s model has no layer member_{index}") from None
    shape = tuple(layer.input_shape[1:])
    _prepare_out(out, [src], overwrite)
    inp = keras.Input(shape=shape, name="face")
    member = keras.Model(inp, layer(inp, training=False), name=f"member_{index}")
    member.save(str(out / FILE_NAMES["keras"]))
    record = dict(members[index])
    name = str(record.pop("name", f"member {index} of {src.name}"))
    val_accuracy = record.pop("val_accuracy", None)
    record.pop("path", None)
    record.pop("sha256", None)
    card_input = dict(src.raw["input"], size=int(shape[0]), channels=int(shape[-1]))
    card: dict[str, Any] = {
        "name": name,
        "labels": list(src.labels),
        "input": card_input,
        "files": {"keras": FILE_NAMES["keras"]},
        "provenance": {
            **record,
            **{k: src.provenance[k] for k in ("dataset", "trained_on", "selected_on", "licence")
               if k in src.provenance},
            "extracted_from": f"{src.path} member {index} (sha256 {members[index].get('sha256')})",
        },
        "metrics": ({"split": "val", "accuracy": val_accuracy} if val_accuracy is not None
                    else {}),
    }
    write_model_json(out, card)
    load_bundle(out)  # what the app and training.ensemble will read
    return card


# --------------------------------------------------------------------------- CLI

@one_line_errors
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    p = Parser(prog="python -m training.ensemble", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", nargs="+", metavar="BUNDLE",
                   help="member bundle folders (same labels, channels, normalization and crops; "
                        "the first one's input size, the others resized to theirs)")
    p.add_argument("--flip", action="store_true",
                   help="also average over the horizontally mirrored face (twice the cost)")
    p.add_argument("--blur", type=float, default=0.0, metavar="SIGMA",
                   help="every member reads the face through a fixed Gaussian blur of SIGMA px "
                        "(default 0: none)")
    p.add_argument("--out", required=True, help="bundle folder to write")
    p.add_argument("--name", help="display name in model.json")
    p.add_argument("--data", help="dataset root with train/ and val/ class folders "
                                  "(default: $EMOTION_LENS_SHARED/datasets/fer2013)")
    p.add_argument("--calib-samples", type=int, default=CALIB_SAMPLES,
                   help=f"training images that calibrate int8 (default {CALIB_SAMPLES})")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    p.add_argument("--extract", metavar="BUNDLE",
                   help="instead of building: write member N (--member) of this ensemble bundle "
                        "as a bundle of its own (its .keras file, as it was built in)")
    p.add_argument("--member", type=int, metavar="N", help="with --extract: which member (0 first)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.extract:
        if args.members:
            raise EmotionLensError("give --members (build) or --extract (take one out), not both")
        if args.member is None:
            raise EmotionLensError("--extract needs --member N (0 for the first member)")
        card = extract_member(args.extract, args.member, out, overwrite=args.overwrite)
        print(f"wrote {out}: {card['name']}")
        return 0
    if not args.members:
        raise EmotionLensError("give --members BUNDLE [BUNDLE ...] (or --extract BUNDLE --member N)")
    if args.calib_samples < 1:
        raise EmotionLensError("--calib-samples must be at least 1")
    card = write_ensemble(args.members, out, flip=args.flip, name=args.name,
                          data=Path(args.data) if args.data else None, overwrite=args.overwrite,
                          calib_samples=args.calib_samples, blur=args.blur)
    m = card["metrics"]
    print(f"wrote {out}: val accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
          f"int8 accuracy {m['int8_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
