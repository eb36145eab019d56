"""Progressive resizing: train the first part of a run on downscaled images.

Why: cifar_fast already trains at about 74% of this CPU's fp32 peak
(docs/BENCHMARKS.md, "compute efficiency"), so more epochs inside a time budget
can only come from fewer FLOPs per image. A step at 24 px costs 1/1.76 of one at
32 px (``python -m bench shapes``). The run ends at the full size, so the filters
and BatchNorm statistics match the resolution the model is tested and deployed at
(the train/test resolution discrepancy, Touvron et al. 2019); fast.ai's DAWNBench
entries and FFCV's ResNet recipes use the same low-to-high order.

A stage list such as ``((16, 0.25), (24, 0.5))`` reads: 16 px until 25% of the
training, 24 px until 50%, the model's own size after that. Progress is the share
of the time budget used, or of the epochs without one. The model keeps its fixed
input shape: the training dataset's images have an unknown spatial size, so Keras
traces the train step once for any size, and export, evaluation and the app see
the same model as without resizing. Architectures whose head needs a fixed size
(a Flatten before a Dense, as in ``simple_cnn``) are refused before training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from cnnlib.errors import ConfigError
from cnnlib.training import clock
from cnnlib.training.resize_stages import Stages, size_at, stage_shapes


def check_model_accepts(model: keras.Model, stages: Stages, full_shape: tuple[int, int], channels: int) -> None:
    """Run the model once at each stage's size; raise ConfigError if it cannot.

    Calls a ``tf.function`` with unknown spatial dims, as ``fit`` will, so a head
    that only works at one size (Flatten -> Dense) fails here with a clear message
    instead of inside the first training step.
    """
    import numpy as np
    import tensorflow as tf

    forward = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec((None, None, None, channels), tf.float32)])
    for height, width in stage_shapes(stages, full_shape):
        try:
            forward(np.zeros((1, height, width, channels), np.float32))
        except (tf.errors.InvalidArgumentError, ValueError) as exc:
            raise ConfigError(
                f"architecture {model.name!r} cannot train at {height}x{width} (its head needs the full input size); "
                f"progressive resizing needs a global-pooling head such as cifar_fast's. "
                f"Received: progressive_resize={list(stages)!r}"
            ) from exc


def resized_batches(dataset: Any, size: Any) -> Any:
    """Map a batched ``(images, labels)`` dataset to the size held in ``size``.

    Args:
        dataset: batches of float32 images (B, H, W, C) at the full size.
        size: an int32 ``tf.Variable`` of shape (2,) holding (height, width); the
            callback changes it during training and the next batches follow.

    Returns:
        The dataset with images of unknown spatial size; at the full size they pass
        through untouched, below it they are downscaled with antialiasing (an area
        average, so no aliasing from the crop augmentation's sharp borders).
    """
    import tensorflow as tf

    def resize(images: Any, labels: Any) -> tuple[Any, Any]:
        target = tf.identity(size)
        same = tf.reduce_all(tf.equal(target, tf.shape(images)[1:3]))
        images = tf.cond(same, lambda: images,
                         lambda: tf.image.resize(images, target, method="bilinear", antialias=True))
        return images, labels

    return dataset.map(resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


class ProgressiveResize(keras.callbacks.Callback):
    """Sets the training size before each batch from the share of training done.

    Args:
        size: the int32 (height, width) variable ``resized_batches`` reads.
        stages: the validated stage list.
        full_shape: the model's (height, width).
        progress: returns the share of training done; see ``time_progress`` and
            ``epoch_progress``.
    """

    def __init__(self, size: Any, stages: Stages, full_shape: tuple[int, int],
                 progress: Callable[[int, int], float]) -> None:
        super().__init__()
        self.size = size
        self.stages = stages
        self.full_shape = tuple(full_shape)
        self.progress = progress
        self._epoch = 0
        self.switches: list[tuple[int, int, tuple[int, int]]] = []
        """(epoch, batch, new size) at every change, for the run's record and tests."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        shape = size_at(self.stages, self.full_shape, self.progress(self._epoch, batch))
        if not self.switches or shape != self.switches[-1][2]:  # the last switch holds the current size
            self.size.assign(list(shape))
            self.switches.append((self._epoch, batch, shape))


def time_progress(start: float, seconds: float) -> Callable[[int, int], float]:
    """Progress as the share of ``seconds`` of training since ``start`` (a time budget)."""
    return lambda epoch, batch: (clock.now() - start) / max(1e-3, seconds)


def epoch_progress(epochs: int, steps_per_epoch: int) -> Callable[[int, int], float]:
    """Progress as the share of ``epochs`` x ``steps_per_epoch`` steps done."""
    return lambda epoch, batch: (epoch * steps_per_epoch + batch) / max(1, epochs * steps_per_epoch)
