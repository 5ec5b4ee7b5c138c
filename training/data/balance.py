"""Class imbalance: class weights (balanced or sqrt-softened), random oversampling, SMOTE."""

from __future__ import annotations

import numpy as np

from app.core import EmotionLensError


def class_weights(y: np.ndarray, num_classes: int, mode: str) -> np.ndarray:
    """Per-class weights (sklearn 'balanced', or its square root), normalised to mean 1 per sample."""
    if mode == "none":
        return np.ones(num_classes, dtype=np.float32)
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    w = np.ones(num_classes, dtype=np.float64)
    w[present] = compute_class_weight("balanced", classes=present, y=y)
    if mode == "sqrt":
        w = np.sqrt(w)
    elif mode != "balanced":
        raise EmotionLensError(f"class_weights must be none, balanced or sqrt, got {mode!r}")
    w /= np.mean(w[y])  # mean weight over the samples is 1: the loss scale (and lr) is unchanged
    return w.astype(np.float32)


def oversample(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random oversampling of every class up to the largest one."""
    from imblearn.over_sampling import RandomOverSampler

    n = len(y)
    idx, y2 = RandomOverSampler(random_state=seed).fit_resample(np.arange(n)[:, None], y)
    idx = idx[:, 0]
    return x[idx], y2


def smote(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SMOTE on flattened pixels (synthetic images are interpolations of same-class neighbours)."""
    from imblearn.over_sampling import SMOTE

    counts = np.bincount(y)
    smallest = counts[counts > 0].min()
    if smallest < 2:
        raise EmotionLensError("SMOTE needs at least 2 images in every class")
    k = int(min(5, smallest - 1))
    shape = x.shape[1:]
    flat = x.reshape(len(x), -1).astype(np.float32)
    fx, fy = SMOTE(random_state=seed, k_neighbors=k).fit_resample(flat, y)
    return np.clip(np.rint(fx), 0, 255).astype(np.uint8).reshape((-1, *shape)), fy
