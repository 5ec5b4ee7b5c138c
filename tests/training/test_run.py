"""End-to-end on tiny generated data: `training.run` writes a bundle the app loads, `--resume`
continues from the saved epoch, `training.evaluate` scores it; CLI errors are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core import EmotionLensError
from tests.training.conftest import ROOT_DIR, make_folder_dataset
from training import evaluate as evaluate_mod
from training import run as run_mod

QUICK = ["--model", "simple_cnn", "--epochs", "1", "--batch-size", "16", "--no-tensorboard",
         "--calib-samples", "20", "--seed", "1"]


@pytest.fixture(scope="module")
def tiny_run(tiny_folders: Path, tmp_path_factory: pytest.TempPathFactory, keras_mod) -> Path:
    out = tmp_path_factory.mktemp("run") / "simple"
    rc = run_mod.main([*QUICK, "--data", str(tiny_folders), "--out", str(out), "--max-samples", "70"])
    assert rc == 0
    return out


def test_run_writes_bundle_and_reports(tiny_run: Path):
    for name in ("model.json", "model.keras", "model_int8.tflite", "model_fp16.tflite",
                 "metrics.json", "confusion_matrix.png", "classification_report.txt", "curves.png",
                 "top_predictions.png", "config.json", "train_state.json"):
        assert (tiny_run / name).is_file(), name
    meta = json.loads((tiny_run / "model.json").read_text())
    assert meta["files"]["int8"] == "model_int8.tflite"
    assert {"accuracy", "macro_f1", "int8_accuracy", "per_class", "confusion_matrix"} <= set(
        meta["metrics"])
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert {"val", "test", "val_int8"} <= set(metrics)
    assert json.loads((tiny_run / "config.json").read_text())["model"] == "simple_cnn"


def test_bundle_loads_in_app_runtime(tiny_run: Path):
    from app.core.classify import Classifier

    for backend in ("int8", "float16", "keras"):
        clf = Classifier(tiny_run, backend=backend)
        probs = clf.predict(np.full((3, 48, 48, 1), 128, np.uint8))
        assert probs.shape == (3, 7)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.02)


def test_resume_continues_from_saved_epoch(tiny_run: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]):
    import shutil

    from training.inputs import stream_seed

    out = tmp_path / "resumed"
    shutil.copytree(tiny_run, out)
    assert json.loads((out / "train_state.json").read_text())["epoch"] == 1
    capsys.readouterr()
    assert run_mod.main(["--out", str(out), "--resume", "--epochs", "2", "--no-export"]) == 0
    state = json.loads((out / "train_state.json").read_text())
    assert state["epoch"] == 2
    assert len(state["history"]["loss"]) == 2  # epoch 1 from the first run, epoch 2 from resume
    seed = stream_seed(json.loads((out / "config.json").read_text())["seed"], 1)
    assert (f"shuffling and augmentation seeded for epoch 2 (seed {seed}): no replay of earlier "
            "epochs' draws") in capsys.readouterr().out  # not epoch 1's draws again


def test_evaluate_json_maps_names_and_reports_unscored(tiny_run: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]):
    data = make_folder_dataset(tmp_path / "other", 2, splits=("",),
                               names=("anger", "happiness", "sadness", "neutral"))
    make_folder_dataset(tmp_path / "other", 3, splits=("",), names=("contempt",))
    rc = evaluate_mod.main(["--model", str(tiny_run), "--data", str(data), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 8
    assert set(res) >= {"n", "accuracy", "macro_f1", "per_class", "confusion_matrix", "unscored"}
    assert res["unscored"] == {"contempt": 3}
    assert res["class_folders"]["anger"] == "angry"
    cm = np.array(res["confusion_matrix"])
    assert cm.sum() == 8 and cm.shape == (7, 7)
    assert res["accuracy"] == pytest.approx(np.trace(cm) / 8)


@pytest.mark.parametrize("args,needle", [
    (["--model", "alexnet", "--data", "x"], "unknown model"),
    (["--epochs", "0", "--data", "x"], "epochs must be at least 1"),
    (["--data", "/nonexistent/data", "--out", "{tmp}/o"], "dataset not found"),
    (["--config", "/nonexistent.toml"], "config file not found"),
    (["--resume", "--out", "{tmp}/empty"], "nothing to resume"),
    (["--batch-size", "many"], "invalid int value"),
])
def test_cli_errors_are_one_line(args: list[str], needle: str, tmp_path: Path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run([sys.executable, "-m", "training.run", *args], capture_output=True,
                          text=True, cwd=ROOT_DIR, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], proc.stderr[-800:]
    assert "Traceback" not in proc.stderr


def test_resume_finds_the_run_folder_named_by_the_config(tmp_path: Path):
    """`--config X.toml --resume` continues the run in X's `out`, not in the default folder."""
    from training.run import build_parser, config_from_args

    run = tmp_path / "run"
    conf = tmp_path / "c.toml"
    conf.write_text(f'out = "{run}"\nepochs = 9\n')
    with pytest.raises(EmotionLensError, match=f"nothing to resume in {run}"):
        config_from_args(build_parser().parse_args(["--config", str(conf), "--resume"]))
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"out": str(run), "epochs": 5, "lr": 0.1}))
    cfg = config_from_args(build_parser().parse_args(["--config", str(conf), "--resume"]))
    assert (cfg.out, cfg.epochs, cfg.lr) == (str(run), 9, 0.1)


def test_evaluate_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert evaluate_mod.main(["--model", str(tmp_path / "none"), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: model bundle not found")


def test_help_lists_every_architecture(capsys: pytest.CaptureFixture[str]):
    from training.architectures import registry

    with pytest.raises(SystemExit):
        run_mod.main(["--help"])
    text = capsys.readouterr().out
    for name in registry.names():
        assert name in text
    for opt in ("--model", "--data", "--epochs", "--batch-size", "--lr", "--max-samples", "--out",
                "--resume", "--seed", "--weights", "--qat", "--prune", "--suite"):
        assert opt in text


def test_export_with_input_blur(tiny_run: Path, tiny_folders: Path, tmp_path: Path, capsys):
    """`training.export --blur SIGMA`: the bundle's model is the run's model on OpenCV's Gaussian
    blur of the face (in Keras and, full int8, on LiteRT), and its card says so."""
    import cv2

    from app.core.bundle import load_bundle
    from app.core.classify import Classifier, load_keras_file
    from app.core.layers import GaussianBlur
    from training import export as export_mod
    from training.data.folders import load_folders

    out = tmp_path / "blurred"
    assert export_mod.main(["--run", str(tiny_run), "--out", str(out), "--kinds", "keras,int8",
                            "--blur", "0.8"]) == 0
    card = load_bundle(out).raw
    assert card["provenance"]["test_time"] == {"input_blur_sigma": 0.8}
    cost = card["cost"]  # the card says what the files weigh and what int8 costs, and where
    assert cost["file_bytes"] == {n: (out / n).stat().st_size
                                  for n in ("model.keras", "model_int8.tflite")}
    assert 0 < cost["int8"]["ms_per_face"] <= cost["int8"]["ms_per_4_faces"] < 1000
    assert cost["int8"]["runtime"] == "LiteRT" and cost["int8"]["machine"]["logical_cpus"] >= 1
    assert {"accuracy", "int8_accuracy", "int8_argmax_agreement"} <= set(card["metrics"])
    faces = load_folders(tiny_folders / "val", size=48, channels=1, use_cache=False).x[:40]
    k = len(GaussianBlur(0.8)._taps)
    blurred = np.stack([cv2.GaussianBlur(f[..., 0].astype(np.float32), (k, k), 0.8)
                        for f in faces])[..., None] / 255.0
    plain = load_keras_file(tiny_run / "model.keras")
    want = np.asarray(plain(blurred, training=False))
    got = Classifier(out, backend="keras").predict(faces)
    assert np.allclose(got, want, atol=1e-4)
    assert not np.allclose(np.asarray(plain(faces / 255.0, training=False)), want, atol=1e-3)
    q = Classifier(out, backend="int8")
    assert q.model.quantized
    assert np.abs(q.predict(faces) - got).mean() < 0.03
    from ai_edge_litert.interpreter import Interpreter

    ops = {o["op_name"] for o in Interpreter(model_path=str(out / "model_int8.tflite"))
           ._get_ops_details()}
    assert "DEPTHWISE_CONV_2D" in ops and "MIRROR_PAD" not in ops  # MIRROR_PAD: 10× the time
    assert export_mod.main(["--run", str(tiny_run), "--out", str(tmp_path / "x"), "--blur", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --blur must be 0 or more (got -1)"]
    # an existing bundle is never replaced silently
    before = (out / "model_int8.tflite").read_bytes()
    assert export_mod.main(["--run", str(tiny_run), "--out", str(out), "--kinds", "int8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --out {out} exists and is not empty (add --overwrite to replace it)"]
    assert (out / "model_int8.tflite").read_bytes() == before
    assert export_mod.main(["--run", str(tiny_run), "--out", str(out), "--kinds", "keras,int8",
                            "--overwrite"]) == 0
    assert "test_time" not in load_bundle(out).raw["provenance"]  # replaced: no blur this time


def test_export_int8_dynamic_is_on_the_card_and_a_bad_scheme_is_one_line(
        tiny_run: Path, tmp_path: Path, capsys):
    from app.core.bundle import load_bundle
    from app.core.classify import Classifier
    from training import export as export_mod

    out = tmp_path / "dynamic"
    assert export_mod.main(["--run", str(tiny_run), "--out", str(out), "--kinds", "keras,int8",
                            "--int8", "dynamic"]) == 0
    card = load_bundle(out).raw
    assert card["quantization"]["int8"].startswith("dynamic range: int8 weights")
    assert {"int8_accuracy", "int8_argmax_agreement"} <= set(card["metrics"])
    assert not Classifier(out, backend="int8").model.quantized  # float input and output
    plain = tmp_path / "static"  # the run's own config says static (the default)
    assert export_mod.main(["--run", str(tiny_run), "--out", str(plain), "--kinds", "int8"]) == 0
    assert load_bundle(plain).raw["quantization"]["int8"].startswith("full integer")
    assert Classifier(plain, backend="int8").model.quantized
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        export_mod.main(["--run", str(tiny_run), "--out", str(tmp_path / "x"), "--int8", "fast"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--int8" in err[0] and "'fast'" in err[0], err
    assert not (tmp_path / "x").exists()


def test_export_of_a_run_with_only_its_checkpoint_leaves_the_optimizer_out(
        tiny_run: Path, tiny_folders: Path, tmp_path: Path):
    """A run copied without best.weights.h5 (a fresh clone holds only the tracked last.keras):
    the bundle's model is last.keras's weights, in a file without its optimizer's state."""
    import shutil

    import keras

    from app.core.classify import Classifier
    from training import export as export_mod
    from training.data.folders import load_folders

    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "train_state.json", "last.keras"):
        shutil.copy(tiny_run / name, run / name)
    out = tmp_path / "from_last"
    assert export_mod.main(["--run", str(run), "--out", str(out), "--kinds", "keras"]) == 0
    last = keras.models.load_model(str(run / "last.keras"))
    assert last.optimizer is not None and len(last.optimizer.variables) > 2
    assert (out / "model.keras").stat().st_size < 0.7 * (run / "last.keras").stat().st_size
    faces = load_folders(tiny_folders / "val", size=48, channels=1, use_cache=False).x[:16]
    want = np.asarray(last.predict(faces.astype(np.float32) / 255.0, verbose=0))
    np.testing.assert_allclose(Classifier(out, backend="keras").predict(faces), want, atol=1e-5)


def test_export_with_a_class_prior(tiny_run: Path, tiny_folders: Path, tmp_path: Path, capsys):
    """`training.export --class-prior fear=1.5`: the bundle's probabilities are the run's with
    fear's multiplied by 1.5 and renormalized (the factor in the final layer's bias: no new
    layer), in Keras and int8; the card records it; a bad value is one line."""
    from app.core.bundle import load_bundle
    from app.core.classify import Classifier, load_keras_file
    from training import export as export_mod
    from training.data.folders import load_folders

    out = tmp_path / "prior"
    assert export_mod.main(["--run", str(tiny_run), "--out", str(out), "--kinds", "keras,int8",
                            "--class-prior", "fear=1.5,sad=0.8", "--blur", "0.8"]) == 0
    card = load_bundle(out).raw
    assert card["provenance"]["test_time"] == {"input_blur_sigma": 0.8,
                                               "class_prior": {"fear": 1.5, "sad": 0.8}}
    labels = tuple(card["labels"])
    plain_out = tmp_path / "plain"
    assert export_mod.main(["--run", str(tiny_run), "--out", str(plain_out), "--kinds", "keras",
                            "--blur", "0.8"]) == 0
    faces = load_folders(tiny_folders / "val", size=48, channels=1, use_cache=False).x[:40]
    plain = Classifier(plain_out, backend="keras").predict(faces)
    w = np.ones(len(labels))
    w[labels.index("fear")], w[labels.index("sad")] = 1.5, 0.8
    want = plain * w / (plain * w).sum(axis=1, keepdims=True)
    got = Classifier(out, backend="keras").predict(faces)
    assert np.allclose(got, want, atol=1e-5)
    assert not np.allclose(got, plain, atol=1e-3)
    assert len(load_keras_file(out / "model.keras").layers) == \
        len(load_keras_file(plain_out / "model.keras").layers)  # no layer added
    assert np.abs(Classifier(out, backend="int8").predict(faces) - got).mean() < 0.03
    capsys.readouterr()
    for bad, says in [("fear=0", "give LABEL=FACTOR with a factor above 0 (e.g. fear=1.4), not 'fear=0'"),
                      ("fear", "give LABEL=FACTOR with a factor above 0 (e.g. fear=1.4), not 'fear'"),
                      ("fear=x", "give LABEL=FACTOR with a factor above 0 (e.g. fear=1.4), not 'fear=x'"),
                      ("calm=2", f"no label 'calm' (labels: {', '.join(labels)})")]:
        assert export_mod.main(["--run", str(tiny_run), "--out", str(tmp_path / "x"),
                                "--class-prior", bad]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"error: --class-prior {bad}: {says}"]
    assert not (tmp_path / "x").exists()  # refused before anything is written


def test_a_malformed_class_prior_fails_before_the_data_loads(tiny_run: Path, tmp_path: Path,
                                                            capsys):
    """The form of `--class-prior` is checked first: with the run's dataset gone, a bad factor
    is still the one-line prior error, not the dataset's (a label name needs the data)."""
    import json
    import shutil

    from training import export as export_mod

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"] = str(tmp_path / "gone")
    (run / "config.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    assert export_mod.main(["--run", str(run), "--out", str(tmp_path / "x"),
                            "--class-prior", "fear=-1"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --class-prior fear=-1: give LABEL=FACTOR with a factor above 0 (e.g. fear=1.4), "
        "not 'fear=-1'"]
    assert export_mod.main(["--run", str(run), "--out", str(tmp_path / "x"),
                            "--class-prior", "fear=1.4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gone" in err[0] and "class-prior" not in err[0]
    assert not (tmp_path / "x").exists()


def test_a_class_prior_needs_a_softmax_layer(keras_mod):
    from training.export import with_class_prior

    inp = keras_mod.Input((4,))
    model = keras_mod.Model(inp, keras_mod.layers.Dense(3)(inp), name="logits")
    with pytest.raises(EmotionLensError, match="needs a model ending in a softmax Dense layer"):
        with_class_prior(model, {"b": 2.0}, ("a", "b", "c"))


def test_keep_epochs_and_export_of_one_epoch(tiny_folders: Path, tmp_path: Path, capsys):
    """`--keep-epochs` keeps each epoch's weights; `training.export --epoch N` bundles epoch N
    with a card that describes that epoch (its val accuracy, 1 epoch, as of then)."""
    from app.core.bundle import load_bundle
    from training import export as export_mod

    out = tmp_path / "run"
    assert run_mod.main([*QUICK, "--epochs", "2", "--keep-epochs", "--no-export", "--data",
                         str(tiny_folders), "--out", str(out), "--max-samples", "70"]) == 0
    kept = sorted(p.name for p in (out / "epochs").iterdir())
    assert kept == ["epoch_001.weights.h5", "epoch_002.weights.h5"]
    state = json.loads((out / "train_state.json").read_text())
    # the run records what trained each epoch; the card carries it, cut at the bundled epoch
    from app.core.machine import machine_info

    here = {"cpu": machine_info()["cpu"], "logical_cpus": os.cpu_count(), "backend": "tensorflow",
            "accelerator": "none"}
    assert state["hardware"] == [{**here, "epochs": [1, 2]}]
    for epoch in (1, 2):
        bundle = tmp_path / f"epoch{epoch}"
        assert export_mod.main(["--run", str(out), "--epoch", str(epoch), "--out", str(bundle),
                                "--kinds", "keras,int8"]) == 0
        card = load_bundle(bundle).raw
        prov = card["provenance"]
        assert prov["epochs"] == prov["best_epoch"] == epoch
        assert card["metrics"]["accuracy"] == pytest.approx(
            state["history"]["val_accuracy"][epoch - 1], abs=1e-4)
        assert prov["train_minutes"] == round(sum(state["history"]["seconds"][:epoch]) / 60, 1)
        assert prov["hardware"] == [{**here, "epochs": [1, epoch]}]
    # several epochs: the mean of their weights (stochastic weight averaging), one model
    from app.core.classify import load_keras_file

    assert export_mod.main(["--run", str(out), "--epoch", "1-2", "--out", str(tmp_path / "avg"),
                            "--kinds", "keras,int8"]) == 0
    card = load_bundle(tmp_path / "avg").raw
    assert card["provenance"]["averaged_epochs"] == [1, 2] and card["provenance"]["epochs"] == 2
    one, two, avg = (load_keras_file(tmp_path / d / "model.keras").get_weights()
                     for d in ("epoch1", "epoch2", "avg"))
    assert len(avg) == len(one) and all(np.allclose(a, (b + c) / 2, atol=1e-6)
                                        for a, b, c in zip(avg, one, two, strict=True))
    assert not all(np.allclose(b, c) for b, c in zip(one, two, strict=True))
    capsys.readouterr()
    for bad in ("2-1", "x", "0"):
        assert export_mod.main(["--run", str(out), "--epoch", bad, "--out", str(tmp_path / "x")]) == 2
        assert capsys.readouterr().err.strip().startswith(f"error: --epoch {bad}: ")
    assert export_mod.main(["--run", str(out), "--epoch", "5", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == "error: epoch 5 is not in this run (epochs 1-2 done)"
    (out / "epochs" / "epoch_001.weights.h5").unlink()
    assert export_mod.main(["--run", str(out), "--epoch", "1", "--out", str(tmp_path / "y")]) == 2
    assert "kept no weights of epoch 1" in capsys.readouterr().err


def test_swa_epochs_keep_the_running_mean_in_the_checkpoint(tiny_folders: Path, tmp_path: Path,
                                                            capsys):
    """`--swa-epochs N`: the checkpoint holds the mean of the last N epochs' weights (swa.npz,
    named by the manifest like the model), equal to the mean of those epochs' own weights;
    `training.export --swa` bundles it with a card naming the epochs."""
    from app.core.bundle import load_bundle
    from app.core.classify import load_keras_file
    from training import export as export_mod

    out = tmp_path / "run"
    assert run_mod.main([*QUICK, "--epochs", "3", "--keep-epochs", "--swa-epochs", "2",
                         "--no-export", "--data", str(tiny_folders), "--out", str(out),
                         "--max-samples", "70"]) == 0
    state = json.loads((out / "train_state.json").read_text())
    assert state["swa"] == [2, 3]
    assert f"training.export --run {out} --swa" in capsys.readouterr().out  # the run says how
    assert "swa.npz" in json.loads((out / "checkpoint.json").read_text())["files"]
    for args, name in ((["--epoch", "2-3"], "kept"), (["--swa"], "swa")):
        assert export_mod.main(["--run", str(out), *args, "--out", str(tmp_path / name),
                                "--kinds", "keras"]) == 0
    card = load_bundle(tmp_path / "swa").raw
    assert card["provenance"]["averaged_epochs"] == [2, 3] and card["provenance"]["epochs"] == 3
    kept, mean = (load_keras_file(tmp_path / d / "model.keras").get_weights() for d in ("kept", "swa"))
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(kept, mean, strict=True))
    # a resumed run goes on from the checkpoint, the mean named by its manifest
    assert run_mod.main([*QUICK, "--epochs", "3", "--swa-epochs", "2", "--no-export", "--resume",
                         "--data", str(tiny_folders), "--out", str(out), "--max-samples", "70"]) == 0
    (out / "swa.npz").write_bytes(b"damaged")
    capsys.readouterr()
    assert run_mod.main([*QUICK, "--epochs", "3", "--swa-epochs", "2", "--no-export", "--resume",
                         "--data", str(tiny_folders), "--out", str(out), "--max-samples", "70"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "swa.npz" in err and "\n" not in err
    # bad input: one line each
    assert export_mod.main(["--run", str(out), "--swa", "--epoch", "2", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == "error: give --epoch or --swa, not both"
    other = tmp_path / "plain"
    assert run_mod.main([*QUICK, "--no-export", "--data", str(tiny_folders), "--out", str(other),
                         "--max-samples", "70"]) == 0
    assert export_mod.main(["--run", str(other), "--swa", "--out", str(tmp_path / "y")]) == 2
    assert "kept no SWA mean" in capsys.readouterr().err
    assert run_mod.main([*QUICK, "--swa-epochs", "5", "--data", str(tiny_folders), "--out",
                         str(tmp_path / "z")]) == 2
    assert "swa_epochs must be in 0..epochs (1), got 5" in capsys.readouterr().err


def test_swa_set_on_a_resumed_run_starts_at_the_next_epoch(tiny_folders: Path, tmp_path: Path):
    """swa_epochs given when a run is resumed inside its window: the mean starts at that epoch
    (the epochs before it are gone); a window moved by a longer run starts anew."""
    out = tmp_path / "run"
    assert run_mod.main([*QUICK, "--epochs", "2", "--no-export", "--data", str(tiny_folders),
                         "--out", str(out), "--max-samples", "70"]) == 0
    assert run_mod.main([*QUICK, "--epochs", "3", "--swa-epochs", "3", "--no-export", "--resume",
                         "--data", str(tiny_folders), "--out", str(out), "--max-samples", "70"]) == 0
    assert json.loads((out / "train_state.json").read_text())["swa"] == [3, 3]
    # the window moves (more epochs): the mean starts anew inside it, never spanning epochs
    # outside it
    assert run_mod.main([*QUICK, "--epochs", "5", "--swa-epochs", "2", "--no-export", "--resume",
                         "--data", str(tiny_folders), "--out", str(out), "--max-samples", "70"]) == 0
    assert json.loads((out / "train_state.json").read_text())["swa"] == [4, 5]


def test_bfloat16_mixed_precision_trains_and_exports_float32(tiny_folders: Path, tmp_path: Path,
                                                            capsys):
    """`--mixed-precision bfloat16` (CPUs with AMX or AVX512-BF16): the layers compute in
    bfloat16 with float32 variables, and the bundle is float32 and int8 as always; a float32 run
    resumed with it keeps float32 and says so."""
    import keras

    from app.core.classify import Classifier, load_keras_file

    out = tmp_path / "bf16"
    try:
        assert run_mod.main([*QUICK, "--mixed-precision", "bfloat16", "--data", str(tiny_folders),
                             "--out", str(out), "--max-samples", "70"]) == 0
        assert "mixed precision on" in capsys.readouterr().out
        last = keras.models.load_model(out / "last.keras", compile=False)
        convs = [layer for layer in last.layers if isinstance(layer, keras.layers.Conv2D)]
        assert convs and all(c.dtype_policy.name == "mixed_bfloat16" for c in convs)
        assert all(w.dtype == "float32" for w in last.weights)
        exported = load_keras_file(out / "model.keras")
        assert all(c.dtype_policy.name == "float32" for c in exported.layers
                   if isinstance(c, keras.layers.Conv2D))
        probs = Classifier(out, backend="int8").predict(np.full((2, 48, 48, 1), 128, np.uint8))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.02)
        plain = tmp_path / "plain"
        assert run_mod.main([*QUICK, "--no-export", "--data", str(tiny_folders), "--out", str(plain),
                             "--max-samples", "70"]) == 0
        capsys.readouterr()
        assert run_mod.main([*QUICK, "--epochs", "2", "--no-export", "--resume",
                             "--mixed-precision", "bfloat16", "--data", str(tiny_folders),
                             "--out", str(plain), "--max-samples", "70"]) == 0
        assert "the resumed model computes in float32" in capsys.readouterr().out
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_the_swa_mean_is_tracked_with_the_checkpoint() -> None:
    """A tracked run folder (training/checkpoints/NAME) keeps its SWA mean in git like the rest
    of its resumable state; the best weights and the per-epoch files stay out."""
    import shutil

    if shutil.which("git") is None or not (ROOT_DIR / ".git").exists():
        pytest.skip("not a git checkout")

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT_DIR).returncode == 0

    base = "training/checkpoints/some-run"
    for name in ("swa.npz", "last.keras", "train_state.json", "config.json", "checkpoint.json"):
        assert not ignored(f"{base}/{name}"), name
    assert ignored(f"{base}/best.weights.h5") and ignored(f"{base}/epochs/epoch_001.weights.h5")
