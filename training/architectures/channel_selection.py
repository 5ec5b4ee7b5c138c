"""Start a narrower network from a trained wider one of the same layout (structured pruning).

Each convolution keeps the output channels that matter most in the trained network, scored as
the L1 norm of the filter (over the input channels kept upstream) times the scale its
BatchNormalization gives it (|gamma| / sqrt(var + eps)), as in "Pruning Filters for Efficient
ConvNets" (Li et al., 2017) and "Network Slimming" (Liu et al., 2017). The kept weights are
copied and the network is then fine-tuned: a pruned network recovers in a few epochs what a
network of its size trained from scratch needs many more for.

Works for plain chains of Conv2D / BatchNormalization / Dense layers with parameter-free layers in
between (pooling, activations, dropout), matched by layer name: `vgg_small`, `simple_cnn`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from app.core.classify import load_keras_file

WEIGHTED = ("Conv2D", "BatchNormalization", "Dense")


def _weighted_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if layer.weights]


def _score(kernel: np.ndarray, kept_in: np.ndarray, bn: Any | None) -> np.ndarray:
    score = np.abs(kernel[:, :, kept_in, :]).sum(axis=(0, 1, 2))
    if bn is not None:
        gamma, _beta, _mean, var = bn.get_weights()
        score = score * np.abs(gamma) / np.sqrt(var + bn.epsilon)
    return score


def init_from_wider(student: Any, source: Any) -> dict[str, int]:
    """Copy into `student` the strongest channels of `source` (same layer names and layer types,
    each layer at most as wide). Returns the kept output channels per convolution."""
    s_layers, t_layers = _weighted_layers(student), _weighted_layers(source)
    s_names, t_names = [layer.name for layer in s_layers], [layer.name for layer in t_layers]
    if s_names != t_names:
        raise EmotionLensError(f"init_from: {source.name} does not have {student.name}'s layers "
                               f"({', '.join(t_names[:4])}... vs {', '.join(s_names[:4])}...)")
    kept = np.arange(student.input_shape[-1])
    if source.input_shape[-1] != len(kept):
        raise EmotionLensError(f"init_from: {source.name} takes {source.input_shape[-1]} channels, "
                               f"{student.name} {len(kept)}")
    widths: dict[str, int] = {}
    for i, (s, t) in enumerate(zip(s_layers, t_layers, strict=True)):
        kind = type(t).__name__
        if kind not in WEIGHTED or type(s).__name__ != kind:
            raise EmotionLensError(f"init_from: layer {t.name} ({kind}) cannot be narrowed; "
                                   f"only chains of {', '.join(WEIGHTED)} can")
        weights = t.get_weights()
        if kind == "BatchNormalization":
            s.set_weights([w[kept] for w in weights])
            continue
        if kind == "Dense":
            if i != len(s_layers) - 1:
                raise EmotionLensError(f"init_from: only the last Dense layer can follow the "
                                       f"convolutions ({t.name} is not last)")
            if s.units != t.units:
                raise EmotionLensError(f"init_from: {source.name} has {t.units} outputs, "
                                       f"{student.name} {s.units}")
            s.set_weights([weights[0][kept], *weights[1:]])
            continue
        kernel = weights[0]
        width = s.filters
        if width > kernel.shape[-1]:
            raise EmotionLensError(f"init_from: {t.name} has {kernel.shape[-1]} filters, fewer "
                                   f"than the {width} wanted")
        nxt = t_layers[i + 1] if i + 1 < len(t_layers) else None
        bn = nxt if type(nxt).__name__ == "BatchNormalization" else None
        out = np.sort(np.argsort(-_score(kernel, kept, bn), kind="stable")[:width])
        s.set_weights([kernel[:, :, kept, :][..., out], *(w[out] for w in weights[1:])])
        kept = out
        widths[s.name] = width
    return widths


def init_from_file(student: Any, path: str | Path) -> dict[str, int]:
    """`init_from_wider` with the source loaded from a `.keras` file (safe mode)."""
    p = Path(path)
    if not p.is_file():
        raise EmotionLensError(f"init_from: model file not found: {p}")
    return init_from_wider(student, load_keras_file(p, "init_from"))
