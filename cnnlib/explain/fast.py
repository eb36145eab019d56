"""Grad-CAM in one compiled call, for the app's interactive use.

tf-keras-vis builds a new model and runs eagerly on every call (~44 ms here
for one image). This computes the same map with a cached ``tf.function``:
the gradient of the target class's logit with respect to the chosen layer's
output, averaged over space as channel weights, the weighted sum of the
channels, ReLU, then the same upsampling (``scipy.ndimage.zoom``, order 1)
and min-max normalization tf-keras-vis uses. tests/test_explain.py checks the
two agree on a trained model.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from cnnlib.batch import single_image
from cnnlib.errors import DataError

# Same epsilon as keras.backend.epsilon(), which tf-keras-vis' normalize() uses.
_EPSILON = 1e-7
_LOCK = threading.Lock()


def upsample_and_normalize(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a ``(h, w)`` map to ``size`` like tf-keras-vis and scale it to [0, 1]."""
    from scipy.ndimage import zoom

    cam = np.asarray(cam, dtype=np.float32)
    factors = (size[0] / cam.shape[0], size[1] / cam.shape[1])
    resized = zoom(cam, factors, order=1)
    low, high = float(resized.min()), float(resized.max())
    return ((resized - low) / (high - low + _EPSILON)).astype(np.float32)


def _gradcam_fn(view: Any) -> Any:
    with _LOCK:
        fn = getattr(view, "_gradcam_fn", None)
        if fn is not None:
            return fn
        import tensorflow as tf

        view_model = view.model

        @tf.function(reduce_retracing=True)
        def gradcam(batch, target):  # type: ignore[no-untyped-def]
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                # Watching the input records every op downstream of it, so the gradient with
                # respect to the inner layer's output is defined (as in tf-keras-vis).
                tape.watch(batch)
                logits, activations = view_model(batch, training=False)
                chosen = tf.where(target < 0, tf.argmax(logits[0], output_type=tf.int32), target)
                score = logits[0, chosen]
            grads = tape.gradient(score, activations)
            activations = tf.cast(activations, tf.float32)
            grads = tf.cast(grads, tf.float32)
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            cam = tf.nn.relu(tf.reduce_sum(activations * weights, axis=-1))
            return cam[0], logits[0], chosen

        view._gradcam_fn = gradcam  # type: ignore[attr-defined]
        return gradcam


def gradcam_raw(
    model: Any, image: np.ndarray, target_class: int | None, layer_path: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Grad-CAM before upsampling: ``(cam (h, w), logits (K,), target class)``."""
    import tensorflow as tf

    from cnnlib.explain.graph import get_view

    batch = single_image(model, image)
    view = get_view(model, layer_path)
    target = -1 if target_class is None else int(target_class)
    cam, logits, chosen = _gradcam_fn(view)(tf.constant(batch), tf.constant(target, tf.int32))
    return cam.numpy(), logits.numpy(), int(chosen.numpy())


def fast_gradcam(
    model: Any, image: np.ndarray, target_class: int | None = None, layer_name: str | None = None
) -> np.ndarray:
    """Grad-CAM heatmap of one image from a cached compiled call.

    Args:
        model: A Keras classifier taking raw 0-255 pixels and ending in softmax.
        image: ``(H, W, C)`` uint8 image at the model's input size.
        target_class: Class to explain; ``None`` for the predicted class.
        layer_name: Layer path (see ``conv_layer_names``); ``None`` for the last feature map.

    Returns:
        ``(H, W)`` float32 heatmap in [0, 1] at the model's input size.
    """
    from cnnlib.explain.graph import resolve_layer

    path = resolve_layer(model, layer_name)
    _check_target(model, target_class)
    cam, _, _ = gradcam_raw(model, image, target_class, path)
    height, width = np.asarray(image).shape[:2]
    return upsample_and_normalize(cam, (height, width))


def _check_target(model: Any, target_class: int | None) -> None:
    if target_class is None:
        return
    num_classes = int(model.output_shape[-1])
    if not isinstance(target_class, (int, np.integer)) or not 0 <= int(target_class) < num_classes:
        raise DataError(
            f"target_class must be a class index in [0, {num_classes - 1}]. Received: target_class={target_class!r}"
        )
