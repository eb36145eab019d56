"""Images in, float32 batch out: the shape checks every model call shares.

Predict, explain and export all feed a Keras classifier raw 0-255 pixels shaped like
its input. These helpers read that shape from the model and check images against it,
so each caller gets the same one-line ``DataError``. They import neither TensorFlow nor
any other cnnlib module, so anything may import them without forming a circle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlib.errors import DataError


def model_input_shape(model: Any) -> tuple[int, int, int]:
    """Return the model's ``(H, W, C)`` input shape.

    Args:
        model: A built single-input Keras image classifier.

    Returns:
        The input shape without the batch axis.
    """
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    return tuple(int(d) for d in shape[1:])  # type: ignore[return-value]


def as_image_batch(model: Any, images: np.ndarray) -> np.ndarray:
    """Check ``images`` against the model's input and return a float32 batch.

    A single ``(H, W, C)`` image becomes a batch of one.

    Raises:
        DataError: The images do not match the model's input shape.
    """
    array = np.asarray(images)
    expected = model_input_shape(model)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or tuple(array.shape[1:]) != expected:
        raise DataError(
            f"images must be shaped (N, {expected[0]}, {expected[1]}, {expected[2]}) "
            f"or one ({expected[0]}, {expected[1]}, {expected[2]}) image to match the model. "
            f"Received: shape={tuple(array.shape)}"
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(f"images must be numeric pixel arrays. Received: dtype={array.dtype}")
    return array.astype(np.float32, copy=False)


def single_image(model: Any, image: np.ndarray) -> np.ndarray:
    """Check one ``(H, W, C)`` image against the model and return a float32 batch of one.

    Raises:
        DataError: The image is not one image of the model's input shape.
    """
    array = np.asarray(image)
    expected = model_input_shape(model)
    if array.ndim != 3 or tuple(array.shape) != expected:
        raise DataError(f"expected one image shaped {expected} for this model. Received: shape={tuple(array.shape)}")
    return as_image_batch(model, array)
