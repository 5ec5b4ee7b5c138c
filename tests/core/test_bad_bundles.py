"""Malformed and damaged model bundles: one line "invalid model bundle ...", rc 2, in the CLI and in
the desktop app, which still starts and lists the bad bundle as unusable with its reason."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core import EmotionLensError
from app.core.bundle import find_bundles, load_bundle

ROOT = Path(__file__).resolve().parents[2]


def copy_bundle(default_model: Path, dest: Path, mutate: Callable[[dict[str, Any]], None] | None = None,
                text: str | None = None) -> Path:
    """A real copy of the default bundle (its model files too) with model.json changed."""
    dest.mkdir(parents=True)
    card = json.loads((default_model / "model.json").read_text())
    for name in card["files"].values():
        shutil.copy(default_model / name, dest / name)
    if mutate is not None:
        mutate(card)
    (dest / "model.json").write_text(text if text is not None else json.dumps(card))
    return dest


def _crop(card: dict[str, Any]) -> dict[str, Any]:
    return next(iter(card["input"]["crop"].values()))


MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "std_infinity": lambda c: c["input"]["normalization"].update(std=float("inf")),
    "std_tiny": lambda c: c["input"]["normalization"].update(std=1e-300),
    "mean_nan": lambda c: c["input"]["normalization"].update(mean=float("nan")),
    "offset_abc": lambda c: _crop(c).update(offset_x="abc"),
    "offset_nan": lambda c: _crop(c).update(offset_x=float("nan")),
    "offset_huge": lambda c: _crop(c).update(offset_y=1e308),
    "scale_bool": lambda c: _crop(c).update(scale=True),
    "rotate_string": lambda c: _crop(c).update(rotate="yes"),
    "channels_true": lambda c: c["input"].update(channels=True),
    "provenance_list": lambda c: c.update(provenance=[1, 2]),
    "metrics_string": lambda c: c.update(metrics="good"),
    "name_number": lambda c: c.update(name=5),
    "file_name_nul": lambda c: c["files"].update(int8="model\x00.tflite"),
    "sha256_not_hex": lambda c: c.update(sha256={c["files"]["int8"]: "xyz"}),
}
FRAGMENTS = {"std_infinity": "normalization.std", "std_tiny": "normalization.std",
             "mean_nan": "normalization.mean", "offset_abc": "offset_x", "offset_nan": "offset_x",
             "offset_huge": "offset_y", "scale_bool": "scale", "rotate_string": "rotate",
             "channels_true": "channels", "provenance_list": "provenance",
             "metrics_string": "metrics", "name_number": "name", "file_name_nul": "plain file name",
             "sha256_not_hex": "sha256"}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_card_is_one_clear_error(default_model: Path, tmp_path: Path, kind: str) -> None:
    bundle = copy_bundle(default_model, tmp_path / kind, MALFORMED[kind])
    with pytest.raises(EmotionLensError, match=FRAGMENTS[kind]) as info:
        load_bundle(bundle)
    assert str(info.value).startswith(f"invalid model bundle {bundle}: ")


def test_deeply_nested_and_oversized_cards(default_model: Path, tmp_path: Path) -> None:
    deep = copy_bundle(default_model, tmp_path / "deep", text="[" * 200_000 + "]" * 200_000)
    with pytest.raises(EmotionLensError, match="nested too deeply"):
        load_bundle(deep)
    big = copy_bundle(default_model, tmp_path / "big", text='{"x": "' + "a" * (2 << 20) + '"}')
    with pytest.raises(EmotionLensError, match="over 1 MB"):
        load_bundle(big)


def _flip(path: Path, pos: int, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= 1 << bit
    path.write_bytes(bytes(data))


def test_bit_flipped_model_file_is_refused_by_its_checksum(default_model: Path, tmp_path: Path) -> None:
    """The shipped card records each model file's sha256: any flipped bit is caught before the
    runtime sees the file (a flip in a weight would otherwise run and give wrong answers)."""
    from app.core.classify import Classifier

    card = json.loads((default_model / "model.json").read_text())
    assert set(card["sha256"]) == set(card["files"].values())
    for kind, name in card["files"].items():
        bundle = copy_bundle(default_model, tmp_path / kind)
        size = (bundle / name).stat().st_size
        _flip(bundle / name, size // 2, 3)  # the middle of the weights: a file that would still load
        with pytest.raises(EmotionLensError, match=f"invalid model bundle .*cannot load {name}: "
                                                   f"it does not match the sha256"):
            Classifier(bundle, backend=kind)
        shutil.copy(default_model / name, bundle / name)
        assert Classifier(bundle, backend=kind).backend == kind  # the intact file loads


def test_bit_flips_without_checksum_are_one_line_or_load(default_model: Path, tmp_path: Path) -> None:
    """A card without checksums (an older export): a flip in the tensors' metadata that LiteRT
    parses but cannot run (bad quantization, shapes, buffers) is "invalid model bundle", never a
    RuntimeError from deep inside the interpreter."""
    from app.core.classify import Classifier

    def no_sums(card: dict[str, Any]) -> None:
        card.pop("sha256", None)
        card["files"] = {"int8": card["files"]["int8"]}

    bundle = copy_bundle(default_model, tmp_path / "b", no_sums)
    name = json.loads((bundle / "model.json").read_text())["files"]["int8"]
    intact = (bundle / name).read_bytes()
    rng = random.Random(0)
    refused = 0
    for _ in range(40):
        (bundle / name).write_bytes(intact)
        _flip(bundle / name, rng.randrange(len(intact) - 40_000, len(intact)), rng.randrange(8))
        try:
            Classifier(bundle, backend="int8")
        except EmotionLensError as exc:
            message = str(exc)
            assert message.startswith(f"invalid model bundle {bundle}: cannot load {name}")
            assert "\n" not in message
            refused += 1
    assert refused >= 3  # the test means something: flips that LiteRT cannot run were tried


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=240, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("kind", ["offset_abc", "provenance_list", "std_tiny", "channels_true"])
def test_annotate_with_a_malformed_bundle_is_rc2_one_line(media: Path, default_model: Path,
                                                          tmp_path: Path, kind: str) -> None:
    bundle = copy_bundle(default_model, tmp_path / kind, MALFORMED[kind])
    out = run_cli("annotate", str(media / "single_face.jpg"), "--csv", str(tmp_path / "x.csv"),
                  "--model", str(bundle))
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert out.stderr.startswith(f"error: invalid model bundle {bundle}: ")
    assert FRAGMENTS[kind] in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x.csv").exists()


def test_annotate_with_a_bit_flipped_model_is_rc2_one_line(media: Path, default_model: Path,
                                                           tmp_path: Path) -> None:
    bundle = copy_bundle(default_model, tmp_path / "flipped")
    name = json.loads((bundle / "model.json").read_text())["files"]["int8"]
    _flip(bundle / name, (bundle / name).stat().st_size // 2, 5)
    out = run_cli("annotate", str(media / "single_face.jpg"), "--csv", str(tmp_path / "x.csv"),
                  "--model", str(bundle))
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "invalid model bundle" in out.stderr and "sha256" in out.stderr


# ----------------------------------------------------------------------------- the desktop app

def test_find_bundles_lists_a_malformed_bundle_with_its_reason(default_model: Path,
                                                               tmp_path: Path) -> None:
    folder = tmp_path / "models"
    shutil.copytree(default_model, folder / "good")
    copy_bundle(default_model, folder / "abc", MALFORMED["offset_abc"])
    copy_bundle(default_model, folder / "listy", MALFORMED["provenance_list"])
    found = {path.name: (bundle, error) for path, bundle, error in
             find_bundles([str(folder)], include_models_dir=False)}
    assert set(found) == {"good", "abc", "listy"}
    assert found["good"][0] is not None and found["good"][1] == ""
    assert found["abc"][0] is None and "offset_x" in found["abc"][1]
    assert found["listy"][0] is None and "provenance" in found["listy"][1]


GUI_WITH_MODELS_DIR = """
import sys
from pathlib import Path
import app.core.bundle as bundle
bundle.MODELS_DIR = Path(sys.argv[1])  # the app's models/ folder, here a test copy
from app.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_gui(models: Path, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "EMOTION_LENS_LOG_DIR": str(tmp_path / "logs")}
    return subprocess.run([sys.executable, "-c", GUI_WITH_MODELS_DIR, str(models), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=240, env=env)


def test_desktop_app_starts_with_a_malformed_bundle_in_models(media: Path, default_model: Path,
                                                              tmp_path: Path) -> None:
    """The real app (smoke mode, offscreen) with `models/` holding the default bundle and two
    malformed ones: it starts, runs frames with the good model, and lists the bad ones."""
    models = tmp_path / "models"
    shutil.copytree(default_model, models / "default")
    copy_bundle(default_model, models / "abc", MALFORMED["offset_abc"])
    copy_bundle(default_model, models / "listy", MALFORMED["provenance_list"])
    out = run_gui(models, "--source", str(media / "single_face.jpg"), "--quit-after-frames", "2",
                  tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "smoke: " in out.stdout and "unexpected" not in out.stderr


def test_desktop_app_with_a_malformed_model_says_so_in_one_line(media: Path, default_model: Path,
                                                                tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    bad = copy_bundle(default_model, tmp_path / "abc", MALFORMED["offset_abc"])
    out = run_gui(models, "--source", str(media / "single_face.jpg"), "--quit-after-frames", "2",
                  "--model", str(bad), tmp_path=tmp_path)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: invalid model bundle {bad}: crop."), \
        out.stderr
    assert "offset_x must be a number" in errors[0]
    assert "Traceback" not in out.stderr and "unexpected" not in out.stderr
