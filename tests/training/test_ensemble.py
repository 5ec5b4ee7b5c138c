"""`python -m training.ensemble`: members' mean (over the face and its mirror) as one model bundle,
built from two tiny trained member bundles (one ending in softmax, one in logits) on a tiny
synthetic dataset whose classes, like expressions, survive a mirror; real Keras, TFLite conversion
and LiteRT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import CLASSES, write_image

SIZE = 48


def _mirror_safe_face(cls: int, rng: np.random.Generator) -> np.ndarray:
    """Noise and a bright blob on the vertical centre line, its height given by the class: the
    class of a face and of its mirror are the same (tests/training/conftest.py's faces are not)."""
    img = rng.normal(90, 20, (SIZE, SIZE))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    cy, cx = SIZE * (0.15 + 0.7 * cls / (len(CLASSES) - 1)), (SIZE - 1) / 2
    img += 150 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (SIZE / 12) ** 2))
    return img.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory) -> Path:
    """train/ and val/, 12 faces of each of the 7 classes, 48×48 gray JPEGs."""
    root = tmp_path_factory.mktemp("mirror_safe")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls, name in enumerate(CLASSES):
            for j in range(12):
                write_image(root / split / name / f"{j:02d}.jpg", _mirror_safe_face(cls, rng))
    return root


def _tiny_member(keras, x: np.ndarray, y: np.ndarray, seed: int, softmax: bool):
    keras.utils.set_random_seed(seed)
    inp = keras.Input(x.shape[1:])
    h = keras.layers.Conv2D(4, 5, strides=4, activation="relu")(inp)
    h = keras.layers.Dropout(0.2)(keras.layers.Flatten()(h))  # the ensemble must drop none
    out = keras.layers.Dense(len(CLASSES), activation="softmax" if softmax else None)(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax))
    model.fit(x, y, epochs=25, batch_size=16, verbose=0)
    return model


def _write_member(model, folder: Path, name: str, size: int = SIZE) -> Path:
    from app.core.bundle import write_model_json
    from training.export import crop_spec_for

    folder.mkdir(parents=True)
    model.save(str(folder / "model.keras"))
    write_model_json(folder, {
        "name": name, "labels": list(CLASSES),
        "input": {"size": size, "channels": 1, "normalization": {"mean": 0.0, "std": 255.0},
                  "crop": crop_spec_for("fer2013")},
        "files": {"keras": "model.keras"},
        "provenance": {"dataset": "fer2013", "trained_on": "tiny synthetic train",
                       "licence": "test data", "architecture": "simple_cnn", "epochs": 3,
                       "averaged_epochs": [2, 3], "train_minutes": 0.1,
                       "hardware": [{"epochs": "1-3", "cpu": "test CPU"}],
                       "recipe": {"optimizer": "adamw", "seed": 7}, "code_commit": "abc1234"},
        "metrics": {"accuracy": 0.5},
    })
    return folder


@pytest.fixture(scope="module")
def val_x(tiny_folders: Path) -> tuple[np.ndarray, np.ndarray]:
    from training.data.folders import load_folders

    ds = load_folders(tiny_folders / "val", size=SIZE, channels=1, use_cache=False)
    return ds.x, ds.y


@pytest.fixture(scope="module")
def members(keras_mod, tiny_folders: Path, tmp_path_factory) -> list[Path]:
    from training.data.folders import load_folders

    ds = load_folders(tiny_folders / "train", size=SIZE, channels=1, use_cache=False)
    x = ds.x.astype(np.float32) / 255.0
    root = tmp_path_factory.mktemp("members")
    return [_write_member(_tiny_member(keras_mod, x, ds.y, seed=1, softmax=True), root / "a", "A"),
            _write_member(_tiny_member(keras_mod, x, ds.y, seed=2, softmax=False), root / "b", "B")]


@pytest.fixture(scope="module")
def flip_bundle(members: list[Path], tiny_folders: Path, tmp_path_factory) -> Path:
    from training import ensemble

    out = tmp_path_factory.mktemp("ens") / "flip"
    rc = ensemble.main(["--members", *map(str, members), "--flip", "--out", str(out),
                        "--data", str(tiny_folders), "--name", "tiny ensemble"])
    assert rc == 0
    return out


def _member_probs(path: Path, x: np.ndarray) -> np.ndarray:
    from app.core.classify import load_keras_file

    y = np.asarray(load_keras_file(path / "model.keras")(x, training=False), dtype=np.float64)
    if not (y.min() >= 0 and np.allclose(y.sum(-1), 1, atol=1e-4)):
        e = np.exp(y - y.max(-1, keepdims=True))
        y = e / e.sum(-1, keepdims=True)
    return y


def test_flip_ensemble_is_the_mean_over_members_and_mirror(flip_bundle, members, val_x, capsys):
    from app.core.classify import load_keras_file

    x = val_x[0][:32].astype(np.float32) / 255.0
    ens = load_keras_file(flip_bundle / "model.keras")  # safe mode, HorizontalFlip registered
    got = np.asarray(ens(x, training=False))
    mirror = np.ascontiguousarray(x[:, :, ::-1])
    want = np.mean([_member_probs(m, v) for m in members for v in (x, mirror)], axis=0)
    assert np.allclose(got, want, atol=1e-5)
    # the logit member really needed its softmax (else the check above proves little)
    raw_b = np.asarray(load_keras_file(members[1] / "model.keras")(x, training=False))
    assert not np.allclose(raw_b.sum(-1), 1, atol=1e-3)


def test_card_and_app_runtime(flip_bundle, members, val_x):
    from app.core.bundle import load_bundle
    from app.core.classify import Classifier

    b = load_bundle(flip_bundle)
    card = b.raw
    assert set(b.files) == {"keras", "int8"} and set(b.sha256) == {"model.keras", "model_int8.tflite"}
    prov = card["provenance"]
    assert prov["architecture"] == "ensemble" and prov["test_time"] == {"flip": True}
    assert [m["path"] for m in prov["members"]] == [str(m) for m in members]
    assert all(len(m["sha256"]) == 64 and m["val_accuracy"] == 0.5 for m in prov["members"])
    for m in prov["members"]:  # each network's training travels into the card; its build stamp not
        assert m["architecture"] == "simple_cnn" and m["averaged_epochs"] == [2, 3]
        assert m["epochs"] == 3 and m["train_minutes"] == 0.1
        assert m["hardware"] == [{"epochs": "1-3", "cpu": "test CPU"}]
        assert m["recipe"] == {"optimizer": "adamw", "seed": 7} and "code_commit" not in m
    assert prov["trained_on"] == "tiny synthetic train" and prov["licence"] == "test data"
    assert card["name"] == "tiny ensemble"
    reports = json.loads((flip_bundle / "metrics.json").read_text())  # and the picture of them
    assert reports["val"]["accuracy"] == card["metrics"]["accuracy"]
    assert reports["val_int8"]["accuracy"] == card["metrics"]["int8_accuracy"]
    assert (flip_bundle / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert card["input"]["crop"] == load_bundle(members[0]).raw["input"]["crop"]
    for k in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "int8_accuracy",
              "int8_macro_f1", "int8_argmax_agreement"):
        assert k in card["metrics"], k
    assert card["metrics"]["n"] == len(val_x[1])
    assert len(card["neutral_mean"]["probs"]) == len(CLASSES)

    faces = val_x[0]
    clf = Classifier(flip_bundle)  # auto: the int8 file
    assert clf.backend == "int8" and clf.model.quantized
    q = clf.predict(faces)
    f = Classifier(flip_bundle, backend="keras").predict(faces)
    assert np.abs(q - f).mean() < 0.03
    assert np.mean(q.argmax(-1) == f.argmax(-1)) >= 0.8


def test_evaluate_runs_on_the_ensemble(flip_bundle, tiny_folders):
    from training.evaluate import evaluate

    for kind in ("keras", "int8"):
        res = evaluate(flip_bundle, tiny_folders / "val", kind=kind)
        assert res["n"] == 12 * len(CLASSES) and res["model_file"] == kind
    card = json.loads((flip_bundle / "model.json").read_text())
    assert res["accuracy"] == pytest.approx(card["metrics"]["int8_accuracy"], abs=1e-4)


def test_without_flip_it_is_the_members_mean(members, val_x):
    from app.core.classify import load_keras_file
    from training.ensemble import build_ensemble

    models = [load_keras_file(m / "model.keras") for m in members]
    ens = build_ensemble(models, flip=False)
    assert not any(layer.name == "mirror" for layer in ens.layers)
    x = val_x[0][:32].astype(np.float32) / 255.0
    want = np.mean([_member_probs(m, x) for m in members], axis=0)
    assert np.allclose(np.asarray(ens(x, training=False)), want, atol=1e-5)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("change", ["labels", "channels", "crop"])
def test_mismatched_members_are_refused(members, tiny_folders, tmp_path, capsys, change):
    from app.core.bundle import write_model_json
    from training import ensemble

    other = tmp_path / "other"
    shutil.copytree(members[1], other)
    card = json.loads((other / "model.json").read_text())
    card.pop("schema_version"), card.pop("sha256")
    if change == "labels":
        card["labels"] = card["labels"][1:] + card["labels"][:1]
    elif change == "channels":
        card["input"]["channels"] = 3
    else:
        card["input"]["crop"] = {"default": {"scale": 1.3, "offset_x": 0.0, "offset_y": 0.0,
                                             "rotate": True}}
    write_model_json(other, card)
    rc = ensemble.main(["--members", str(members[0]), str(other), "--out", str(tmp_path / "out"),
                        "--data", str(tiny_folders)])
    assert rc == 2
    line = _one_error_line(capsys)
    assert str(members[0]) in line and str(other) in line
    assert {"labels": "labels", "channels": "channels", "crop": "crops"}[change] in line
    assert not (tmp_path / "out").exists()


def test_existing_out_is_refused_without_overwrite(members, tiny_folders, tmp_path, capsys):
    from training import ensemble

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    rc = ensemble.main(["--members", *map(str, members), "--out", str(out), "--data", str(tiny_folders)])
    assert rc == 2
    assert "--overwrite" in _one_error_line(capsys)
    assert (out / "keep.txt").read_text() == "x"


def test_blur_with_flip_reads_the_blurred_face(members, tiny_folders, val_x, tmp_path):
    """`--blur SIGMA` (here with one member and `--flip`): the mean over the blurred face and its
    mirror, OpenCV's blur exactly; the card records the sigma; int8 runs it on LiteRT."""
    import cv2

    from app.core.bundle import load_bundle
    from app.core.classify import Classifier
    from app.core.layers import GaussianBlur
    from training import ensemble

    out = tmp_path / "blur"
    assert ensemble.main(["--members", str(members[0]), "--flip", "--blur", "0.7", "--out",
                          str(out), "--data", str(tiny_folders)]) == 0
    card = load_bundle(out).raw
    assert card["provenance"]["test_time"] == {"flip": True, "input_blur_sigma": 0.7}
    assert set(card["cost"]["file_bytes"]) == {"model.keras", "model_int8.tflite"}
    assert card["cost"]["int8"]["ms_per_face"] > 0
    faces = val_x[0][:32]
    k = len(GaussianBlur(0.7)._taps)
    x = np.stack([cv2.GaussianBlur(f[..., 0].astype(np.float32), (k, k), 0.7)
                  for f in faces])[..., None] / 255.0
    want = np.mean([_member_probs(members[0], v) for v in (x, np.ascontiguousarray(x[:, :, ::-1]))],
                   axis=0)
    got = Classifier(out, backend="keras").predict(faces)
    assert np.allclose(got, want, atol=1e-5)
    q = Classifier(out, backend="int8").predict(faces)
    assert np.abs(q - got).mean() < 0.03


def test_a_member_of_another_input_size_reads_the_face_resized(members, keras_mod, tiny_folders,
                                                              tmp_path):
    """A 64 px member (trained, as the training loader makes 64 px faces, on the 48 px images
    resized bilinearly) beside a 48 px one: the bundle takes 48 px faces, and the 64 px member
    reads each one resized in the graph exactly as OpenCV's INTER_LINEAR resizes it; the int8 file
    (RESIZE_BILINEAR) runs on LiteRT."""
    import cv2

    from app.core.bundle import load_bundle
    from app.core.classify import Classifier
    from training import ensemble
    from training.data.folders import load_folders

    big = 64
    ds = load_folders(tiny_folders / "train", size=big, channels=1, use_cache=False)
    m64 = _write_member(_tiny_member(keras_mod, ds.x.astype(np.float32) / 255.0, ds.y, seed=3,
                                     softmax=True), tmp_path / "m64", "64 px", size=big)
    out = tmp_path / "mixed"
    assert ensemble.main(["--members", str(members[0]), str(m64), "--out", str(out),
                          "--data", str(tiny_folders)]) == 0
    bundle = load_bundle(out)
    assert bundle.input.size == SIZE
    faces = load_folders(tiny_folders / "val", size=SIZE, channels=1, use_cache=False).x[:32]
    x48 = faces.astype(np.float32) / 255.0
    x64 = np.stack([cv2.resize(f[..., 0], (big, big), interpolation=cv2.INTER_LINEAR)
                    for f in faces])[..., None].astype(np.float32) / 255.0
    want = (_member_probs(members[0], x48) + _member_probs(m64, x64)) / 2
    got = Classifier(out, backend="keras").predict(faces)
    assert np.abs(got - want).max() < 2e-3  # OpenCV rounds the resized face to uint8
    assert not np.allclose(_member_probs(m64, x64), _member_probs(members[0], x48), atol=0.05)
    q = Classifier(out, backend="int8").predict(faces)
    assert np.abs(q - got).mean() < 0.03
    assert bundle.raw["metrics"]["accuracy"] > 0.5


# --------------------------------------------------------------------------- choose_members

@pytest.fixture(scope="module")
def blurred_val(tmp_path_factory) -> Path:
    """A val/ split whose blobs sit up to 0.7 of a class step away from their class's height and
    drown in more noise: the members err, and differently, so the subsets' scores differ."""
    root = tmp_path_factory.mktemp("hard_val")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for cls, name in enumerate(CLASSES):
        for j in range(12):
            pos = np.clip(cls + rng.uniform(-0.7, 0.7), 0, len(CLASSES) - 1)
            cy, cx = SIZE * (0.15 + 0.7 * pos / (len(CLASSES) - 1)), (SIZE - 1) / 2
            img = rng.normal(90, 45, (SIZE, SIZE))
            img += 150 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (SIZE / 12) ** 2))
            write_image(root / "val" / name / f"{j:02d}.jpg", img.clip(0, 255).astype(np.uint8))
    return root


def test_choose_members_scores_every_subset_on_the_even_half(members, blurred_val, tmp_path,
                                                             capsys):
    """Each subset's row is the mean of its members' (face + mirror) probabilities, scored on the
    even-numbered val faces; the choice is that half's best passing the recall floor, and the
    printed command builds it."""
    from training import choose_members

    csv = tmp_path / "subsets.csv"
    rc = choose_members.main(["--members", *map(str, members), "--flip", "--min-recall", "0",
                              "--data", str(blurred_val), "--csv", str(csv)])
    assert rc == 0
    out = capsys.readouterr().out
    import pandas as pd

    table = pd.read_csv(csv)
    assert sorted(table["members"]) == sorted([str(members[0]), str(members[1]),
                                               f"{members[0]} + {members[1]}"])
    from training.data.folders import load_folders

    val = load_folders(blurred_val / "val", size=SIZE, channels=1, use_cache=False)
    x, y = val.x.astype(np.float32) / 255.0, val.y
    mirror = np.ascontiguousarray(x[:, :, ::-1])
    probs = [np.mean([_member_probs(m, v) for v in (x, mirror)], axis=0) for m in members]
    assert table["accuracy"].min() > 0.3 and table["accuracy"].max() < 1.0  # errs: a real test
    assert table["even_accuracy"].nunique() > 1 or table["odd_accuracy"].nunique() > 1
    even = np.arange(len(y)) % 2 == 0
    for name, subset in ((str(members[0]), [0]), (str(members[1]), [1]),
                         (f"{members[0]} + {members[1]}", [0, 1])):
        pred = np.mean([probs[i] for i in subset], axis=0).argmax(1)
        row = table[table["members"] == name].iloc[0]
        assert row["even_accuracy"] == pytest.approx((pred == y)[even].mean())
        assert row["odd_accuracy"] == pytest.approx((pred == y)[~even].mean())
        assert row["accuracy"] == pytest.approx((pred == y).mean())
    best = table.sort_values(["even_accuracy", "even_min_recall", "n"],
                             ascending=[False, False, True], kind="stable").iloc[0]
    assert f"chosen: {best['members']} " in out
    chosen_line = next(ln for ln in out.splitlines() if ln.startswith("build it:"))
    assert chosen_line.endswith("--flip --out DIR")
    assert all(m in chosen_line for m in best["members"].split(" + "))


def test_choose_members_recall_floor_and_ties():
    """The floor removes subsets whatever their accuracy; a tie in accuracy goes to the higher
    lowest recall, and then to fewer members."""
    import pandas as pd

    from training.choose_members import choose

    table = pd.DataFrame([
        {"members": "a + b", "n": 2, "even_accuracy": 0.70, "even_min_recall": 0.40, "subset": (0, 1)},
        {"members": "a", "n": 1, "even_accuracy": 0.65, "even_min_recall": 0.50, "subset": (0,)},
        {"members": "b + c", "n": 2, "even_accuracy": 0.65, "even_min_recall": 0.60, "subset": (1, 2)},
        {"members": "c", "n": 1, "even_accuracy": 0.65, "even_min_recall": 0.60, "subset": (2,)},
        {"members": "a + c", "n": 2, "even_accuracy": 0.60, "even_min_recall": 0.90, "subset": (0, 2)},
    ])
    assert choose(table, 0.45)["members"] == "c"       # b + c ties with it, with one more member
    assert choose(table, 0.0)["members"] == "a + b"
    assert choose(table.drop(index=3), 0.45)["members"] == "b + c"  # beats a on recall
    assert choose(table, 0.7)["members"] == "a + c"
    assert choose(table, 0.95) is None


def test_choose_members_bad_inputs_are_one_line(members, blurred_val, tmp_path, capsys):
    from training import choose_members

    taken = tmp_path / "taken.csv"
    taken.write_text("keep me\n")
    for argv, words in (
        (["--members", str(members[0]), "--min-recall", "1.5"], "--min-recall"),
        (["--members", str(members[0]), str(members[0])], "twice"),
        (["--members", str(members[0]), "--csv", str(taken)], "exists"),
        (["--members", str(members[0]), "--min-recall", "1", "--data", str(blurred_val)],
         "lower --min-recall"),
    ):
        assert choose_members.main(argv) == 2
        assert words in _one_error_line(capsys)
    assert taken.read_text() == "keep me\n"


def test_a_member_read_through_an_input_blur_is_not_softmaxed_twice(keras_mod, members, val_x):
    """A bundle exported with `--blur` ends in the network it wraps (a nested model), whose last
    layer is the softmax: the ensemble takes its probabilities as they are. (Until 2026-12-04
    they went through a second softmax, which squashed them towards 1/7: `models/best` answered
    0.29 for faces its members called happy at 0.9.)"""
    from app.core.classify import load_keras_file
    from training.ensemble import _ends_in_softmax, as_probabilities, build_ensemble
    from training.export import with_input_blur

    plain = load_keras_file(members[0] / "model.keras")  # ends in a softmax Dense
    logits = load_keras_file(members[1] / "model.keras")  # ends in logits
    blurred = with_input_blur(plain, 0.8)
    assert isinstance(blurred.layers[-1], keras_mod.Model)
    assert _ends_in_softmax(plain) and _ends_in_softmax(blurred) and not _ends_in_softmax(logits)
    x = val_x[0].astype(np.float32)[..., None] / 255.0
    direct = np.asarray(blurred(x, training=False), dtype=np.float64)
    np.testing.assert_allclose(np.asarray(as_probabilities(blurred, "m")(x, training=False)), direct,
                               atol=1e-6)
    z = np.asarray(logits(x, training=False), dtype=np.float64)
    soft = np.exp(z - z.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    got = np.asarray(build_ensemble([blurred, logits], flip=False)(x, training=False))
    np.testing.assert_allclose(got, (direct + soft) / 2, atol=1e-5)
    assert direct.max(1).mean() > 0.5  # confident members: a second softmax would show


def test_a_member_taken_out_of_an_ensemble_rebuilds_it(flip_bundle, members, tiny_folders,
                                                       val_x, tmp_path, capsys):
    """`--extract BUNDLE --member N`: a member whose own files were not kept (a window of a run
    trained on another machine) comes back out of the ensemble's graph as a bundle of its own,
    with its card's training provenance; the ensemble rebuilt from the extracted members gives
    the same probabilities as the original."""
    from app.core.bundle import load_bundle
    from training import ensemble

    x = val_x[0][:32].astype(np.float32) / 255.0
    got = []
    for i, m in enumerate(members):
        out = tmp_path / f"m{i}"
        assert ensemble.main(["--extract", str(flip_bundle), "--member", str(i),
                              "--out", str(out)]) == 0
        b = load_bundle(out)
        assert b.name == ("A", "B")[i] and b.labels == load_bundle(m).labels
        assert b.provenance["architecture"] == "simple_cnn" and b.provenance["epochs"] == 3
        assert str(flip_bundle) in b.provenance["extracted_from"]
        assert b.metrics["accuracy"] == 0.5
        # a member ending in logits comes out with the softmax the ensemble gave it
        assert np.allclose(_member_probs(out, x), _member_probs(m, x), atol=1e-5)
        got.append(out)
    rebuilt = tmp_path / "rebuilt"
    assert ensemble.main(["--members", *map(str, got), "--flip", "--out", str(rebuilt),
                          "--data", str(tiny_folders)]) == 0
    assert np.allclose(_member_probs(rebuilt, x), _member_probs(flip_bundle, x), atol=1e-5)
    capsys.readouterr()
    for argv, words in (
            (["--extract", str(flip_bundle), "--member", "2"], "--member must be 0-1"),
            (["--extract", str(flip_bundle)], "--member N"),
            (["--extract", str(members[0]), "--member", "0"], "not an ensemble bundle"),
            (["--extract", str(flip_bundle), "--member", "0", "--members", str(members[0])],
             "not both")):
        assert ensemble.main([*argv, "--out", str(tmp_path / "bad")]) == 2
        assert words in _one_error_line(capsys)
        assert not (tmp_path / "bad").exists()
