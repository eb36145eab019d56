"""Grad-CAM, Grad-CAM++, Score-CAM and saliency computed by tf-keras-vis.

tf-keras-vis is the reference implementation. It is given our read-only view
of the classifier (``graph.get_view``), never the classifier itself, and no
model modifier, so it neither clones nor changes anything: its
``ReplaceToLinear`` would set the shared model's activation in place, and
crashes on Keras 3 Sequential models anyway. The layer is passed by the view's
target name with ``seek_penultimate_conv_layer=False``, because the default
search jumps back to the last ``Conv2D`` even when a later layer is named.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

import numpy as np

from cnnlib.explain.graph import TARGET_NAME, get_view

_IMPORT_LOCK = threading.Lock()
# Score-CAM runs the model once per channel; the highest-variance channels carry the map.
SCORECAM_MAX_CHANNELS = 64


def _import_tf_keras_vis() -> Any:
    # Importing tf-keras-vis may set KERAS_BACKEND; undo that so the import has no side effect.
    with _IMPORT_LOCK:
        saved = os.environ.get("KERAS_BACKEND")
        try:
            with warnings.catch_warnings():
                # It imports zoom from the deprecated scipy.ndimage.interpolation; not our warning.
                warnings.simplefilter("ignore", DeprecationWarning)
                import tf_keras_vis.gradcam
                import tf_keras_vis.gradcam_plus_plus
                import tf_keras_vis.saliency
                import tf_keras_vis.scorecam
        finally:
            if saved is None:
                os.environ.pop("KERAS_BACKEND", None)
            else:
                os.environ["KERAS_BACKEND"] = saved
        return tf_keras_vis


def reference_heatmap(
    model: Any, batch: np.ndarray, method: str, target_class: int, layer_path: str | None
) -> np.ndarray:
    """Heatmap of one image by tf-keras-vis.

    Args:
        model: The classifier (only read).
        batch: ``(1, H, W, C)`` float32 pixels.
        method: ``gradcam``, ``gradcam++``, ``scorecam`` or ``saliency``.
        target_class: Class whose score is explained.
        layer_path: Layer path for the CAM methods; ignored by saliency.

    Returns:
        ``(H, W)`` float32 map in [0, 1].
    """
    import tensorflow as tf

    vis = _import_tf_keras_vis()
    seed = tf.constant(batch, dtype=tf.float32)
    with warnings.catch_warnings():
        # tf-keras-vis feeds inputs as a list to our single-input view; Keras warns, harmlessly.
        warnings.filterwarnings("ignore", message="The structure of `inputs`", category=UserWarning)
        heatmap = _run(vis, model, seed, method, target_class, layer_path)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    return np.nan_to_num(heatmap[0] if heatmap.ndim == 3 else heatmap, nan=0.0)


def _run(vis: Any, model: Any, seed: Any, method: str, target_class: int, layer_path: str | None) -> Any:
    def score(output: Any) -> Any:
        return output[:, target_class]

    if method == "saliency":
        view = get_view(model, None)
        saliency = vis.saliency.Saliency(view.logits_model, model_modifier=None, clone=False)
        heatmap = saliency(score, seed)
    else:
        view = get_view(model, layer_path)
        layer = {"penultimate_layer": TARGET_NAME, "seek_penultimate_conv_layer": False}
        if method == "gradcam":
            heatmap = vis.gradcam.Gradcam(view.logits_model, model_modifier=None, clone=False)(score, seed, **layer)
        elif method == "gradcam++":
            cam = vis.gradcam_plus_plus.GradcamPlusPlus(view.logits_model, model_modifier=None, clone=False)
            heatmap = cam(score, seed, **layer)
        elif method == "scorecam":
            channels = int(view.model.outputs[1].shape[-1])
            cam = vis.scorecam.Scorecam(view.softmax_model, model_modifier=None, clone=False)
            heatmap = cam(score, seed, max_N=min(channels, SCORECAM_MAX_CHANNELS), **layer)
        else:  # explain() validates the method; this guards direct callers.
            raise ValueError(f"unknown method {method!r}")
    return heatmap
