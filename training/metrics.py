"""Classification metrics from predictions (exact; no sampling)."""

from __future__ import annotations

from typing import Any

import numpy as np


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...] | list[str],
                    ) -> dict[str, Any]:
    """`{"n", "accuracy", "macro_f1", "per_class": {name: {precision, recall, f1, support}},
    "confusion_matrix"}`; rows of the confusion matrix are true classes, columns predictions."""
    n_cls = len(labels)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cm = np.zeros((n_cls, n_cls), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(np.float64)
    pred_count = cm.sum(axis=0).astype(np.float64)
    true_count = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred_count, out=np.zeros(n_cls), where=pred_count > 0)
    recall = np.divide(tp, true_count, out=np.zeros(n_cls), where=true_count > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n_cls), where=denom > 0)
    present = true_count > 0
    n = len(y_true)
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        # macro-F1 over the classes present in the data (sklearn's 'macro' over y_true∪y_pred
        # would count a never-present, never-predicted class as 0; we count present ones only)
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(true_count[i])}
            for i, name in enumerate(labels)
        },
        "confusion_matrix": cm.tolist(),
    }


def rounded(m: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """A copy with floats rounded (for model.json)."""
    if isinstance(m, dict):
        return {k: rounded(v, digits) for k, v in m.items()}
    if isinstance(m, list):
        return [rounded(v, digits) for v in m]
    if isinstance(m, float):
        return round(m, digits)
    return m
