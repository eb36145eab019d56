"""The frozen whitening stem: its kernel and bias fitted from the training images in numpy.

A model built with a ``whiten`` layer (``cnnlib.models.whitened``) gets, before training
(when ``TrainConfig.whiten`` is on, the default),
a 2x2 conv whose filters are the eigenvectors of the training images' 2x2-patch covariance,
each scaled by ``1 / sqrt(eigenvalue + eps)``, and their negatives (airbench, Jordan 2024:
45 -> 21 epochs to 94% on CIFAR-10). Its output is decorrelated with unit variance per
filter; the bias starts at minus the filtered mean patch, so the output is also centred.
The kernel is frozen (a variable-level flag, set again whenever the trainer builds the
model); the bias trains for ``TrainConfig.whiten_bias_epochs`` epochs, then the optimizer's
``whiten_bias`` group is switched off (``cnnlib.training.optimizers``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlib.models.whitened import STEM_LAYER

#: airbench fits on the first 5,000 training images; more changes the estimate very little.
FIT_IMAGES = 5000
#: airbench's eps, in units of the normalised image's variance (scaled to ours below).
EPS = 5e-4
_CHUNK = 500


def patch_moments(images: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of every ``patch`` x ``patch`` window of ``images`` scaled to 0-1.

    Windows are flattened as Keras lays out a conv kernel: (row, column, channel).

    Args:
        images: ``(N, H, W, C)`` uint8 pixels.
        patch: Window side.

    Returns:
        ``(mean (D,), covariance (D, D))`` in float64, ``D = patch * patch * C``.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    total, count = None, 0
    outer = None
    for start in range(0, len(images), _CHUNK):
        chunk = images[start:start + _CHUNK].astype(np.float32) / 255.0
        windows = sliding_window_view(chunk, (patch, patch), axis=(1, 2))  # (n, h', w', C, p, p)
        flat = np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3)).reshape(-1, patch * patch * chunk.shape[3])
        flat64 = flat.astype(np.float64)
        total = flat64.sum(0) if total is None else total + flat64.sum(0)
        outer = flat64.T @ flat64 if outer is None else outer + flat64.T @ flat64
        count += len(flat)
    mean = total / count
    return mean, outer / count - np.outer(mean, mean)


def whitening_weights(images: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """The whitening conv's ``(kernel (p, p, C, 2D), bias (2D,))`` for these training images."""
    channels = int(images.shape[3])
    mean, covariance = patch_moments(images[:FIT_IMAGES], patch)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    # airbench's eps is relative to a normalised image (per-pixel variance ~1); ours is 0-1.
    eps = EPS * float(np.mean(np.diag(covariance)))
    scaled = eigenvectors / np.sqrt(np.clip(eigenvalues, 0.0, None) + eps)
    filters = np.concatenate([scaled, -scaled], axis=1)  # (D, 2D)
    kernel = filters.reshape(patch, patch, channels, filters.shape[1])
    return kernel.astype(np.float32), (-(mean @ filters)).astype(np.float32)


def prepare_whitening(model: Any, images: np.ndarray) -> bool:
    """Fit and freeze ``model``'s whitening kernel from ``images``; False if it has no such layer.

    Args:
        model: A Keras model, possibly with a ``whiten`` Conv2D layer.
        images: The training split's ``(N, H, W, C)`` uint8 images.
    """
    try:
        layer = model.get_layer(STEM_LAYER)
    except ValueError:
        return False
    kernel, bias = whitening_weights(np.asarray(images), int(layer.kernel_size[0]))
    layer.set_weights([kernel, bias])
    freeze_whitening_kernel(model)
    return True


def freeze_whitening_kernel(model: Any) -> None:
    """Keep the whitening kernel out of training (its bias stays trainable)."""
    try:
        model.get_layer(STEM_LAYER).kernel.trainable = False
    except ValueError:
        pass
