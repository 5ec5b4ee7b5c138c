"""Training and validation batches from uint8 arrays, on any Keras 3 backend.

TensorFlow runs the input pipeline on `tf.data` (parallel map, prefetch). JAX and PyTorch, as on the
GPU machines, have no TensorFlow: there `ArrayBatches`, a `keras.utils.PyDataset`, does the same work
(shuffle each epoch, float [0, 1] images, the Keras augmentation layers, one-hot labels and
per-sample class weights) with NumPy and the backend's own ops.

With `soft` (N, classes), e.g. distillation's targets (training/distill.py), each image's target
is its row instead of its one-hot label; the class weights still follow the label.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def backend_has_tf_data() -> bool:
    """True when `tf.data` can feed the model: Keras runs on TensorFlow."""
    import keras

    return keras.backend.backend() == "tensorflow"


def make_batches(x: np.ndarray, y: np.ndarray, num_classes: int, *, batch_size: int,
                 shuffle: bool, seed: int, augmenter: Any = None,
                 weights: np.ndarray | None = None, pipeline: str = "auto",
                 soft: np.ndarray | None = None) -> Any:
    """Batches for `model.fit` / `evaluate`: `tf.data` on TensorFlow, `ArrayBatches` elsewhere
    (`pipeline` = "tf" or "arrays" forces one)."""
    from app.core import EmotionLensError

    if pipeline not in ("auto", "tf", "arrays"):
        raise EmotionLensError(f"unknown input pipeline {pipeline!r} (auto, tf or arrays)")
    if soft is not None and soft.shape != (len(y), num_classes):
        raise EmotionLensError(f"soft targets of shape {soft.shape} for {len(y)} images of "
                               f"{num_classes} classes")
    if pipeline == "tf" or (pipeline == "auto" and backend_has_tf_data()):
        return tf_dataset(x, y, num_classes, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          augmenter=augmenter, weights=weights, soft=soft)
    return array_batches_class()(x, y, num_classes, batch_size=batch_size, shuffle=shuffle,
                                 seed=seed, augmenter=augmenter, weights=weights, soft=soft)


def tf_dataset(x: np.ndarray, y: np.ndarray, num_classes: int, *, batch_size: int,
               shuffle: bool, seed: int, augmenter: Any = None,
               weights: np.ndarray | None = None, soft: np.ndarray | None = None) -> Any:
    """uint8 images -> batches of float [0, 1] images, one-hot labels or the `soft` rows (and
    per-sample weights)."""
    import tensorflow as tf

    columns = (x, y.astype(np.int32)) + ((soft.astype(np.float32),) if soft is not None else ())
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    w_table = tf.constant(weights, dtype=tf.float32) if weights is not None else None

    def prep(img: Any, label: Any, target: Any = None) -> Any:
        img = tf.cast(img, tf.float32) / 255.0
        if augmenter is not None:
            img = augmenter(img, training=True)
            img = tf.clip_by_value(img, 0.0, 1.0)
        onehot = target if target is not None else tf.one_hot(label, num_classes)
        if w_table is not None:
            return img, onehot, tf.gather(w_table, label)
        return img, onehot

    ds = ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


_ARRAY_BATCHES: Any = None


def array_batches_class() -> Any:
    """`ArrayBatches`, defined on first use so that importing this module needs no Keras."""
    global _ARRAY_BATCHES
    if _ARRAY_BATCHES is not None:
        return _ARRAY_BATCHES
    import keras

    class ArrayBatches(keras.utils.PyDataset):  # type: ignore[misc]
        """The `tf.data` pipeline's batches without TensorFlow: reshuffled every epoch (seeded),
        augmented by the Keras layers on the running backend."""

        def __init__(self, x: np.ndarray, y: np.ndarray, num_classes: int, *, batch_size: int,
                     shuffle: bool, seed: int, augmenter: Any = None,
                     weights: np.ndarray | None = None, soft: np.ndarray | None = None) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            if len(x) != len(y) or len(y) == 0:
                from app.core import EmotionLensError

                raise EmotionLensError(f"{len(x)} images for {len(y)} labels: nothing to batch")
            self.x, self.y = x, y.astype(np.int64)
            self.num_classes, self.batch_size = num_classes, batch_size
            self.shuffle, self.augmenter = shuffle, augmenter
            self.weights = None if weights is None else np.asarray(weights, np.float32)
            self.soft = None if soft is None else np.asarray(soft, np.float32)
            self._rng = np.random.default_rng(seed)
            self._order = self._rng.permutation(len(y)) if shuffle else np.arange(len(y))

        def __len__(self) -> int:
            return math.ceil(len(self.y) / self.batch_size)

        def __getitem__(self, index: int) -> tuple[Any, ...]:
            idx = self._order[index * self.batch_size:(index + 1) * self.batch_size]
            img = self.x[idx].astype(np.float32) / 255.0
            if self.augmenter is not None:
                out = self.augmenter(img, training=True)
                img = np.clip(keras.ops.convert_to_numpy(out), 0.0, 1.0)
            labels = self.y[idx]
            onehot = (self.soft[idx] if self.soft is not None
                      else np.eye(self.num_classes, dtype=np.float32)[labels])
            if self.weights is not None:
                return img, onehot, self.weights[labels]
            return img, onehot

        def on_epoch_end(self) -> None:
            if self.shuffle:
                self._order = self._rng.permutation(len(self.y))

    _ARRAY_BATCHES = ArrayBatches
    return ArrayBatches
