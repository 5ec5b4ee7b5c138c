"""`training.run --search`: a KerasTuner grid on tiny generated data, resumed after an interruption,
writing the sorted results table and a best config the config loader accepts; bad input is one
`error:` line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.core import EmotionLensError
from tests.training.conftest import make_folder_dataset
from training import config as config_mod
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
    fits: list[dict] = []
    real_trial_config = search_mod.trial_config

    def counting(cfg, values, max_epochs=None):
        if max_epochs is not None:  # the hypermodel's build and fit: one trial = build + fit
            fits.append(dict(values))
        return real_trial_config(cfg, values, max_epochs)

    monkeypatch.setattr(search_mod, "trial_config", counting)
    # "interrupted" after 2 of the 4 grid points
    assert run_mod.main(_args(tiny16, out, space, 2)) == 0
    first = {tuple(sorted(v.items())) for v in fits}
    assert len(first) == 2
    fits.clear()
    assert run_mod.main(_args(tiny16, out, space, 4)) == 0
    second = {tuple(sorted(v.items())) for v in fits}
    assert len(second) == 2 and not (first & second)  # only the 2 new grid points ran

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
    with pytest.raises(EmotionLensError, match="same length"):
        search_mod.parse_space({"ippm_scales": [[1, 2]]}, "s", "resnet50_ippm")
    with pytest.raises(EmotionLensError, match="divide"):
        search_mod.parse_space({"ippm_scales": [[1, 3, 4]]}, "s", "resnet50_ippm")
