"""training.choose_prior: a decision prior scored on the even half of val, the smallest factor
that brings every class recall to the floor chosen; real bundles, real val faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import EmotionLensError
from training.choose_prior import choose, factor_range, main, score_factors, with_prior

LABELS = ("a", "b", "c")


def test_with_prior_scales_one_column_and_renormalizes() -> None:
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    out = with_prior(probs, 1, 2.0)
    np.testing.assert_allclose(out.sum(1), 1.0)
    np.testing.assert_allclose(out[0], np.array([0.5, 0.6, 0.2]) / 1.3)
    np.testing.assert_array_equal(with_prior(probs, 1, 1.0), probs)
    assert probs[0, 1] == 0.3  # the input is left alone


def test_factor_range_includes_both_ends_and_rejects_nonsense() -> None:
    assert factor_range(1.0, 1.6, 0.1) == [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]
    assert factor_range(1.4, 1.4, 0.1) == [1.4]
    for bad in ((0.0, 1.0, 0.1), (1.6, 1.0, 0.1), (1.0, 1.6, 0.0)):
        with pytest.raises(EmotionLensError, match="factors"):
            factor_range(*bad)


def _shy_class() -> tuple[np.ndarray, np.ndarray]:
    """Class b's faces score b a little under a: found only once its prior lifts it."""
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], 40)
    probs = np.full((len(y), 3), 0.05)
    for i, c in enumerate(y):
        margin = rng.uniform(0.0, 0.3)
        if c == 1:
            probs[i, 0], probs[i, 1] = 0.5, 0.5 - margin * 0.5  # b needs a factor of up to 1.43
        else:
            probs[i, c] = 0.8
    return probs / probs.sum(1, keepdims=True), y


def test_the_smallest_factor_reaching_the_floor_on_the_even_half_is_chosen() -> None:
    probs, y = _shy_class()
    table = score_factors(probs, y, LABELS, "b", factor_range(1.0, 1.4, 0.05))
    assert table.loc[0, "even_recall_b"] == 0.0 and table.loc[0, "even_min_recall"] == 0.0
    assert table["even_recall_b"].is_monotonic_increasing
    best = choose(table, 0.45)
    assert 1.0 < best["factor"] < 1.4
    smaller = table[table["factor"] < best["factor"]]
    assert (smaller["even_min_recall"] < 0.45).all() and best["even_min_recall"] >= 0.45
    even = np.arange(len(y)) % 2 == 0
    pred = with_prior(probs, 1, best["factor"]).argmax(1)
    assert best["even_accuracy"] == pytest.approx((pred == y)[even].mean())
    assert best["odd_accuracy"] == pytest.approx((pred == y)[~even].mean())
    assert best["b_recall"] == pytest.approx((pred[y == 1] == 1).mean())
    assert choose(table, 1.01) is None


def test_on_the_shipped_default_and_real_val_faces(default_model: Path, fer_val: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--model", str(default_model), "--factors", "0.8-1.2", "--step", "0.2",
               "--min-recall", "0.3", "--data", str(fer_val.parent)])
    out = capsys.readouterr().out
    assert rc == 0
    rows = [ln.split() for ln in out.splitlines() if ln.strip()[:3] in ("0.8", "1.0", "1.2")]
    assert [r[0] for r in rows] == ["0.8000", "1.0000", "1.2000"]
    fear = [float(r[-1]) for r in rows]  # the label's recall on all of val rises with its prior
    assert fear[0] < fear[1] < fear[2] and 0.3 < fear[1] < 0.8
    assert "export with: --class-prior fear=" in out
    assert float(rows[1][4]) > 0.6  # odd-half accuracy of the shipped model as it is


def test_bad_input_gives_one_line(default_model: Path, fer_val: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(default_model), "--label", "joy", "--data", str(fer_val.parent)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no label 'joy'" in err
    assert main(["--model", str(default_model), "--factors", "1.0-1.1", "--min-recall", "0.99",
                 "--data", str(fer_val.parent)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no factor in 1.0-1.1" in err and "widen --factors" in err
