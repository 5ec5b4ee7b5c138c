"""The report's plots (matplotlib, Agg backend, no display), each returned as a PNG data URI to
embed in the HTML: a face's probability timelines, expressions over time, faces per frame."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.core.render import color_for

MAX_POINTS = 2000  # per line: longer series are averaged into this many bins before plotting
DPI = 96


def plot_color(label: str) -> str:
    """The overlay's colour of `label` as #rrggbb (its BGR turned RGB); neutral darker than on
    video so that it shows on white."""
    if label == "neutral":
        return "#8a8a8a"
    b, g, r = color_for(label)
    return f"#{r:02x}{g:02x}{b:02x}"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _data_uri(fig: object) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def decimate(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """`t`, `y` (rows, ...) averaged over consecutive bins to at most `max_points` rows."""
    n = len(t)
    if n <= max_points:
        return t, y
    edges = np.linspace(0, n, max_points + 1).astype(int)
    tt = np.add.reduceat(t, edges[:-1]) / np.diff(edges)
    yy = np.add.reduceat(y, edges[:-1], axis=0) / np.diff(edges)[:, None]
    return tt, yy


def face_timeline(t: np.ndarray, raw: np.ndarray, smoothed: np.ndarray, labels: Sequence[str],
                  calibrated: np.ndarray | None, shown_labels: np.ndarray, xlabel: str) -> str:
    """A face's 7 probabilities over time, raw (thin, faint) and smoothed (bold); with a
    baseline, a second panel with the calibrated smoothed ones; under them a band coloured by
    the label shown in each frame."""
    plt = _pyplot()
    panels = 2 if calibrated is not None else 1
    fig = plt.figure(figsize=(10.4, 1.9 * panels + 0.75))
    grid = fig.add_gridspec(panels + 1, 1, height_ratios=[*([6] * panels), 1], hspace=0.12,
                            left=0.06, right=0.86, top=0.95, bottom=0.16 if panels == 1 else 0.1)
    axes = [fig.add_subplot(grid[i]) for i in range(panels + 1)]
    tr, rr = decimate(t, raw)
    ts, ss = decimate(t, smoothed)
    for k, name in enumerate(labels):
        color = plot_color(name)
        axes[0].plot(tr, rr[:, k], color=color, lw=0.7, alpha=0.3)
        axes[0].plot(ts, ss[:, k], color=color, lw=1.7, label=name)
    axes[0].set_ylabel("model")
    if calibrated is not None:
        tc, cc = decimate(t, calibrated)
        for k, name in enumerate(labels):
            axes[1].plot(tc, cc[:, k], color=plot_color(name), lw=1.7)
        axes[1].set_ylabel("calibrated")
    for ax in axes[:-1]:
        ax.set_ylim(0, 1)
        ax.set_yticks([0, 0.5, 1])
        ax.grid(alpha=0.25)
        ax.tick_params(labelbottom=False, labelsize=8)
        ax.margins(x=0)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                   title="thin: raw\nbold: smoothed", title_fontsize=7)
    band = axes[-1]
    _label_band(band, t, shown_labels, labels)
    band.set_xlabel(xlabel, fontsize=8)
    band.tick_params(labelsize=8)
    lo, hi = (float(t.min()), float(t.max())) if len(t) else (0.0, 1.0)
    for ax in axes:
        ax.set_xlim(lo, hi if hi > lo else lo + 1.0)
    return _data_uri(fig)


def _label_band(ax: object, t: np.ndarray, shown: np.ndarray, labels: Sequence[str]) -> None:
    """Runs of one label as coloured spans."""
    ax.set_yticks([])  # type: ignore[attr-defined]
    ax.set_ylabel("label", rotation=0, ha="right", va="center", fontsize=8)  # type: ignore[attr-defined]
    if not len(t):
        return
    step = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    starts = np.flatnonzero(np.r_[True, shown[1:] != shown[:-1]])
    ends = np.r_[starts[1:], len(t)]
    for a, b in zip(starts, ends, strict=True):
        right = t[b] if b < len(t) else t[-1] + step
        ax.axvspan(t[a], right, color=plot_color(labels[int(shown[a])]), lw=0)  # type: ignore[attr-defined]


def expressions_over_time(edges: np.ndarray, shares: np.ndarray, labels: Sequence[str],
                          xlabel: str) -> str:
    """The share of face rows showing each label in each time bin (stacked; bins without a
    face left blank)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.4, 2.6))
    fig.subplots_adjust(left=0.06, right=0.86, top=0.95, bottom=0.2)
    # one step-shaped band per label (a polygon each: far cheaper to draw than a bar per bin)
    bottom = np.zeros(len(edges))
    for k, name in enumerate(labels):
        top = bottom + np.r_[shares[:, k], shares[-1, k]]
        ax.fill_between(edges, bottom, top, step="post", color=plot_color(name), label=name, lw=0)
        bottom = top
    ax.set_ylim(0, 1)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel("share of faces", fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _data_uri(fig)


def faces_per_frame(t: np.ndarray, counts: np.ndarray, gaps: Sequence[tuple[float, float]],
                    xlabel: str) -> str:
    """Faces found in each frame (a step line), frames with none shaded red."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.4, 1.8))
    fig.subplots_adjust(left=0.06, right=0.86, top=0.93, bottom=0.28)
    for a, b in gaps:
        ax.axvspan(a, b, color="#d62728", alpha=0.25, lw=0)
    td, cd = decimate(t, counts.astype(float)[:, None])
    ax.step(td, cd[:, 0], where="post", color="#333333", lw=1.2)
    top = max(1, int(counts.max()) if len(counts) else 1)
    ax.set_ylim(-0.05, top + 0.3)
    ax.set_yticks(range(0, top + 1, max(1, top // 4)))
    lo, hi = (float(t.min()), float(t.max())) if len(t) else (0.0, 1.0)
    ax.set_xlim(lo, hi if hi > lo else lo + 1.0)
    ax.set_ylabel("faces", fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.25, axis="y")
    return _data_uri(fig)


__all__ = ["decimate", "expressions_over_time", "face_timeline", "faces_per_frame", "plot_color"]
