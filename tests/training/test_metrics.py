"""Exact metrics on a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import compute_metrics


def test_hand_computed_case():
    # true:  a a a b b c ; pred: a a b b c c
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    m = compute_metrics(y_true, y_pred, ("a", "b", "c"))
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    a, b, c = (m["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"]) == (pytest.approx(1.0), pytest.approx(2 / 3))
    assert a["f1"] == pytest.approx(0.8)
    assert (b["precision"], b["recall"], b["f1"]) == (0.5, 0.5, 0.5)
    assert (c["precision"], c["recall"]) == (pytest.approx(0.5), 1.0)
    assert c["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert a["support"] == 3


def test_absent_class_not_in_macro():
    m = compute_metrics(np.array([0, 1]), np.array([0, 1]), ("a", "b", "c"))
    assert m["macro_f1"] == 1.0 and m["per_class"]["c"]["support"] == 0
