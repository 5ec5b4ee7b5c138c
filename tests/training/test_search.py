"""`training.run --search`: a KerasTuner grid on tiny generated data, resumed after an interruption,
writing the sorted results table and a best config the config loader accepts; bad input is one
`error:` line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from app.core import EmotionLensError
from tests.training.conftest import make_folder_dataset
from training import config as config_mod
from training import fit as fit_mod
from training import inputs as inputs_mod
from training import resume as resume_mod
from training import run as run_mod
from training import search as search_mod

SPACE = "[space]\nlr = [0.001, 0.0003]\nbatch_size = [8, 16]\n"


@pytest.fixture(scope="module")
def tiny16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder_dataset(tmp_path_factory.mktemp("tiny16"), 4, size=16,
                               names=("angry", "happy", "sad"), splits=("train", "val"))


def _args(data: Path, out: Path, space: Path, trials: int) -> list[str]:
    return ["--model", "simple_cnn", "--data", str(data), "--out", str(out), "--input-size", "16",
            "--no-tensorboard", "--seed", "1", "--exclude", "disgust,fear,surprise,neutral",
            "--search", "grid", "--space", str(space), "--trials", str(trials),
            "--max-epochs", "1"]


def test_grid_search_resumes_and_writes_results(tiny16: Path, tmp_path: Path, keras_mod,
                                                monkeypatch: pytest.MonkeyPatch):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "search_run"
    fits: list[tuple[float, int]] = []
    real_make_datasets = inputs_mod.make_datasets

    def counting(cfg, data):  # called once per trial, by the hypermodel's fit
        fits.append((cfg.lr, cfg.batch_size))
        return real_make_datasets(cfg, data)

    monkeypatch.setattr(inputs_mod, "make_datasets", counting)
    # "interrupted" after 2 of the 4 grid points
    assert run_mod.main(_args(tiny16, out, space, 2)) == 0
    first = set(fits)
    assert len(fits) == len(first) == 2
    fits.clear()
    assert run_mod.main(_args(tiny16, out, space, 4)) == 0
    second = set(fits)
    assert len(fits) == len(second) == 2 and not (first & second)  # only the 2 new points ran

    rows = list(csv.DictReader((out / "search_results.csv").open()))
    assert len(rows) == 4
    scores = [float(r["val_accuracy"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert {(float(r["lr"]), int(r["batch_size"])) for r in rows} == {
        (0.001, 8), (0.001, 16), (0.0003, 8), (0.0003, 16)}
    md = (out / "search_results.md").read_text()
    assert "| rank |" in md and md.count("\n| ") == 5

    best = config_mod.apply(config_mod.TrainConfig(),
                            config_mod.load_toml(out / "best_config.toml"), "best")
    assert best.model == "simple_cnn" and best.input_size == 16
    assert (best.lr, best.batch_size) == (float(rows[0]["lr"]), int(rows[0]["batch_size"]))


def test_search_table_in_config(tmp_path: Path):
    cfg_file = tmp_path / "cfg.toml"
    cfg_file.write_text('model = "simple_cnn"\n[search]\nmethod = "random"\ntrials = 3\n'
                        '[search.space]\noptimizer = ["adam", "sgd"]\n')
    args = run_mod.build_parser().parse_args(["--config", str(cfg_file)])
    cfg = run_mod.config_from_args(args)
    opts = search_mod.options_from(args, cfg)
    assert opts is not None and (opts.method, opts.trials) == ("random", 3)
    assert opts.space == {"optimizer": ["adam", "sgd"]}


@pytest.mark.parametrize("text, msg", [
    (None, "config file not found"),
    ("[space\nlr = 1", "not valid TOML"),
    ("[space]\nmomentum = [0.9]\n", "unknown hyperparameter 'momentum'"),
    ("[space]\n", "search space is empty"),
    ("lr = [0.1]\n", "no [space] table"),
    ("[space]\nlr = []\n", "non-empty list"),
    ("[space]\nlr = [-1.0]\n", "bad value in lr"),
    ("[space]\noptimizer = [\"rmsprop\"]\n", "bad value in optimizer"),
    ("[space]\nfine_tune_layers = [1]\n", "needs a pretrained backbone"),
    ("[space]\nippm_scales = [[1, 2]]\n", "resnet50_ippm"),
    ("[space]\nbatch_size = [8, 8]\n", "lists a value twice"),
])
def test_bad_space_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture, text, msg):
    space = tmp_path / "space.toml"
    if text is not None:
        space.write_text(text)
    rc = run_mod.main(["--model", "simple_cnn", "--data", str(tmp_path), "--out",
                       str(tmp_path / "o"), "--search", "grid", "--space", str(space)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and msg in err, err
    with pytest.raises(EmotionLensError):
        search_mod.options_from(run_mod.build_parser().parse_args(
            ["--search", "grid", "--space", str(space)]), config_mod.TrainConfig(model="simple_cnn"))


def test_ippm_space_checks():
    space = search_mod.parse_space({"ippm_scales": [[1, 2, 4], [1, 3, 6]],
                                    "ippm_kernels": [[1, 3, 5], [3, 3, 3]]}, "s", "resnet50_ippm")
    assert space["ippm_scales"] == ["1,2,4", "1,3,6"]
    with pytest.raises(EmotionLensError, match="one kernel per scale"):
        search_mod.parse_space({"ippm_scales": [[1, 2]]}, "s", "resnet50_ippm")
    with pytest.raises(EmotionLensError, match="divide"):
        search_mod.parse_space({"ippm_scales": [[1, 3, 4]]}, "s", "resnet50_ippm")


@pytest.fixture
def op_determinism_restored(keras_mod):
    """`deterministic = true` turns TF op determinism on process-wide: off again afterwards."""
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    yield
    if not was:
        tf_config.disable_op_determinism()


def test_best_config_reproduces_the_trial(tiny16: Path, tmp_path: Path, op_determinism_restored,
                                         monkeypatch: pytest.MonkeyPatch):
    """Retraining with best_config.toml sees the same data, seed, epochs, augmentation and
    callbacks as the trial: the same per-epoch history and the same best val accuracy."""
    histories: list[dict[str, list[float]]] = []
    real_fit = fit_mod.fit_model

    def recording(cfg, model, train_tf, val_tf, callbacks, state, strategy=None):
        real_fit(cfg, model, train_tf, val_tf, callbacks, state, strategy)
        histories.append({k: v for k, v in state.history.items() if k != "seconds"})

    monkeypatch.setattr(fit_mod, "fit_model", recording)
    space = tmp_path / "space.toml"
    space.write_text("[space]\nlr = [0.003, 0.001]\n")
    base = tmp_path / "base.toml"
    base.write_text("early_stopping = 2\nplateau_patience = 1\ndeterministic = true\n")
    out = tmp_path / "search_run"
    args = _args(tiny16, out, space, 2)
    args[args.index("--max-epochs") + 1] = "2"
    assert run_mod.main([*args, "--config", str(base)]) == 0
    best = config_mod.apply(config_mod.TrainConfig(), config_mod.load_toml(out / "best_config.toml"),
                            "best")
    assert best.epochs == 2 and (best.early_stopping, best.plateau_patience) == (2, 1)
    assert best.deterministic
    rows = list(csv.DictReader((out / "search_results.csv").open()))
    trial = min(histories, key=lambda h: abs(h["lr"][0] - best.lr))  # the winner's history

    assert run_mod.main(["--config", str(out / "best_config.toml"), "--no-export"]) == 0
    state = json.loads((Path(best.out) / resume_mod.STATE_FILE).read_text())
    assert state["best_val_accuracy"] == pytest.approx(float(rows[0]["val_accuracy"]), abs=1e-6)
    assert histories[-1] == trial  # bit for bit


def test_best_config_carries_ippm_levels(tmp_path: Path):
    cfg = config_mod.TrainConfig(model="resnet50_ippm", data="d", out=str(tmp_path), epochs=40)
    opts = search_mod.SearchOptions("grid", {"ippm_scales": ["1,2"], "ippm_kernels": ["3,1"]},
                                    max_epochs=4)
    best = {"trial": "0", "score": 0.5, "values": {"ippm_scales": "1,2", "ippm_kernels": "3,1"}}
    search_mod.write_best_config(tmp_path / "best.toml", cfg, best, opts)
    got = config_mod.apply(config_mod.TrainConfig(), config_mod.load_toml(tmp_path / "best.toml"),
                           "best")
    assert (got.ippm_scales, got.ippm_kernels, got.epochs) == ([1, 2], [3, 1], 4)
    assert got.out == str(tmp_path / "best")


def test_ippm_space_checked_against_the_base_config():
    base = config_mod.TrainConfig(model="resnet50_ippm", ippm_kernels=[1, 3])
    assert search_mod.parse_space({"ippm_scales": [[1, 2], [1, 4]]}, "s", "resnet50_ippm", base)
    with pytest.raises(EmotionLensError, match="one kernel per scale"):
        search_mod.parse_space({"ippm_scales": [[1, 2, 4]]}, "s", "resnet50_ippm", base)


def test_shipped_search_config_is_valid():
    cfg_file = Path(__file__).resolve().parents[2] / "training/configs/search/fer2013_small.toml"
    args = run_mod.build_parser().parse_args(["--config", str(cfg_file)])
    cfg = run_mod.config_from_args(args)
    opts = search_mod.options_from(args, cfg)
    assert opts is not None and opts.method == "grid" and opts.trials == 4
    assert cfg.max_samples and cfg.max_val_samples == 0
