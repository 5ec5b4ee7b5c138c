"""Stochastic weight averaging (SWA): a model holding the mean of a run's weights over epochs.

Two ways to it:
- `keep_epochs = true` keeps every epoch's weights in `epochs/` (git-ignored), and
  `training.export --epoch 106-120` bundles the mean of any of them;
- `swa_epochs = N` keeps the running mean of the last N epochs' weights inside the checkpoint
  (`swa.npz`, committed with it every epoch and tracked like it), so the mean survives a run
  spread over several machines or fresh clones, where `epochs/` does not;
  `training.export --swa` bundles it.

The mean covers every weight the model has, batch-norm statistics included (they are means
too); the optimizer's state is not part of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training.resume import SWA_WEIGHTS

__all__ = ["SWA_WEIGHTS", "accumulate", "as_model_weights", "average_weights", "in_window",
           "load_mean", "parse_epochs"]


def parse_epochs(text: str) -> list[int]:
    """"54" -> [54]; "52,54-56" -> [52, 54, 55, 56] (sorted, no repeats); one line when bad."""
    epochs: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        first, dash, last = part.partition("-")
        try:
            a, b = int(first), int(last) if dash else int(first)
        except ValueError:
            raise EmotionLensError(f"--epoch {text}: give epochs as N, N,M or N-M") from None
        if a < 1 or b < a:
            raise EmotionLensError(f"--epoch {text}: epochs count from 1, ranges go upwards")
        epochs.update(range(a, b + 1))
    return sorted(epochs)


def average_weights(models: list[Any]) -> Any:
    """The first of `models` holding the mean of all their weights (batch-norm statistics
    included): stochastic weight averaging of epochs of one run."""
    weights = [m.get_weights() for m in models]
    models[0].set_weights([np.mean([w[i] for w in weights], axis=0)
                           for i in range(len(weights[0]))])
    return models[0]


def in_window(epoch: int, epochs: int, swa_epochs: int) -> bool:
    """Whether epoch `epoch` (1-based) of a run of `epochs` is one of the last `swa_epochs`."""
    return swa_epochs > 0 and epoch > epochs - swa_epochs


def accumulate(previous: Path | None, weights: list[np.ndarray], count: int, staged: Path) -> None:
    """Write to `staged` the running mean after adding `weights` as the `count`-th epoch (1: the
    mean is `weights`), reading the mean of the `count - 1` before from `previous`."""
    if count == 1:
        mean = [np.asarray(w, dtype=np.float64) for w in weights]
    else:
        if previous is None:
            raise EmotionLensError("the SWA mean of the earlier epochs is missing")
        mean = load_mean(previous, len(weights))
        mean = [m + (np.asarray(w, dtype=np.float64) - m) / count
                for m, w in zip(mean, weights, strict=True)]
    with staged.open("wb") as f:  # a file object: numpy adds no suffix of its own
        np.savez(f, *mean)


def load_mean(path: Path, count: int | None = None) -> list[np.ndarray]:
    """The weights in an SWA file, in the model's order (`count`: how many the model has)."""
    try:
        with np.load(path) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    except (OSError, ValueError, KeyError) as exc:
        raise EmotionLensError(f"{path}: not a readable SWA file ({exc})") from None
    if count is not None and len(arrays) != count:
        raise EmotionLensError(f"{path} holds {len(arrays)} weights, the model {count}: not this "
                               f"run's SWA mean")
    return arrays


def as_model_weights(mean: list[np.ndarray], model: Any) -> list[np.ndarray]:
    """`mean` in the dtypes and shapes of `model`'s weights (one line when they do not fit)."""
    current = model.get_weights()
    if len(current) != len(mean) or any(a.shape != b.shape for a, b in zip(current, mean, strict=True)):
        raise EmotionLensError("the SWA mean does not fit this run's model (another architecture?)")
    return [m.astype(c.dtype) for m, c in zip(mean, current, strict=True)]
