"""Run reports: metrics.json, classification_report.txt, confusion_matrix.png, curves.png,
top_predictions.png (matplotlib, headless)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.metrics import compute_metrics, rounded

ALL_REPORTS = ("metrics", "classification_report", "confusion_matrix", "curves", "top_predictions")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def classification_report_text(m: dict[str, Any], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for name, c in m["per_class"].items():
        lines.append(f"{name:<12}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}"
                     f"{c['support']:>10d}")
    lines.append(f"{'accuracy':<12}{'':>20}{m['accuracy']:>10.4f}{m['n']:>10d}")
    lines.append(f"{'macro f1':<12}{'':>20}{m['macro_f1']:>10.4f}{m['n']:>10d}")
    return "\n".join(lines) + "\n"


def plot_confusion_matrix(cm: Sequence[Sequence[int]], labels: Sequence[str], path: Path,
                          title: str = "") -> Path:
    plt = _plt()
    cm_arr = np.asarray(cm, dtype=np.float64)
    rows = cm_arr.sum(axis=1, keepdims=True)
    norm = np.divide(cm_arr, rows, out=np.zeros_like(cm_arr), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(labels), 0.8 + 0.8 * len(labels)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm_arr[i, j])}", ha="center", va="center",
                    fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(history: dict[str, list[float]], path: Path) -> Path | None:
    if not history.get("loss"):
        return None
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ep = np.arange(1, len(history["loss"]) + 1)
    for key, ax in (("accuracy", a1), ("loss", a2)):
        if key in history:
            ax.plot(ep, history[key], label=f"train {key}")
        if f"val_{key}" in history:
            ax.plot(ep[:len(history[f"val_{key}"])], history[f"val_{key}"], label=f"val {key}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_top_predictions(x: np.ndarray, y: np.ndarray, probs: np.ndarray, labels: Sequence[str],
                         path: Path, n: int = 24, seed: int = 0) -> Path:
    """Grid of faces (random sample) with predicted label + confidence and the true label."""
    plt = _plt()
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(n, len(x)), replace=False)
    cols = 6
    rows = int(np.ceil(len(idx) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.7, rows * 1.95))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, i in zip(np.atleast_1d(axes).ravel(), idx, strict=False):
        img = x[i]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
        p = int(probs[i].argmax())
        ok = p == int(y[i])
        ax.set_title(f"{labels[p]} {probs[i, p]:.2f}\ntrue: {labels[int(y[i])]}", fontsize=7,
                     color="green" if ok else "red")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_val_confusion(m: dict[str, Any], labels: Sequence[str], path: Path) -> Path:
    """A bundle's confusion_matrix.png: `m` is `compute_metrics` on val, its figures the title."""
    return plot_confusion_matrix(m["confusion_matrix"], labels, path,
                                 f"val: accuracy {m['accuracy']:.3f}, macro-F1 "
                                 f"{m['macro_f1']:.3f}, n={m['n']}")


def write_run_reports(out: Path, model: Any, val: Any, test: Any, labels: tuple[str, ...],
                      history: dict[str, list[float]],
                      which: Sequence[str] = ALL_REPORTS) -> dict[str, Any]:
    """Evaluate `model` on val (and test when given) and write the report files into `out`."""
    results: dict[str, Any] = {}
    probs_by_split: dict[str, np.ndarray] = {}
    for split, ds in (("val", val), ("test", test)):
        if ds is None or len(ds) == 0:
            continue
        probs = np.asarray(model.predict(ds.x.astype(np.float32) / 255.0, batch_size=256,
                                         verbose=0))
        probs_by_split[split] = probs
        results[split] = compute_metrics(ds.y, probs.argmax(-1), labels)
    if "metrics" in which:
        (out / "metrics.json").write_text(json.dumps(rounded(results), indent=2) + "\n")
    if "classification_report" in which:
        text = "".join(classification_report_text(m, f"== {s} ==") + "\n" for s, m in results.items())
        (out / "classification_report.txt").write_text(text)
    if "confusion_matrix" in which and "val" in results:
        plot_val_confusion(results["val"], labels, out / "confusion_matrix.png")
    if "curves" in which:
        plot_curves(history, out / "curves.png")
    if "top_predictions" in which:
        split = "test" if "test" in probs_by_split else "val"
        ds = test if split == "test" else val
        if ds is not None and split in probs_by_split:
            plot_top_predictions(ds.x, ds.y, probs_by_split[split], labels,
                                 out / "top_predictions.png")
    return results
