"""Why did the model predict that? Heatmaps over the input image.

``explain(model, image, method)`` returns an ``Explanation``: a [0, 1] heatmap
at the model's input size, the explained class, the predicted class and its
confidence, and ``overlay()`` to draw it. Methods:

- ``gradcam``: Grad-CAM through the compiled fast path (``fast.py``), which
  tests/test_explain.py checks against tf-keras-vis;
- ``gradcam++``, ``scorecam``, ``saliency``: by tf-keras-vis (``reference.py``).

``METHODS`` lists those four, the ones the CLI and the pages offer. ``explain`` also
takes ``REFERENCE_METHOD`` (``gradcam-reference``: Grad-CAM computed by tf-keras-vis),
which exists only so tests can check the fast path against it.

The classifier is only read, through a view that shares its layers
(``graph.py``); it may be cached and shared by every app session.

Modules: ``graph`` (views, layer choice, feature maps), ``fast`` (compiled
Grad-CAM), ``reference`` (tf-keras-vis), ``overlay`` (colormaps).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlib.batch import single_image
from cnnlib.errors import ConfigError
from cnnlib.explain.fast import _check_target, fast_gradcam
from cnnlib.explain.graph import conv_layer_names, feature_maps, resolve_layer
from cnnlib.explain.overlay import COLORMAPS, overlay_heatmap

METHODS = ("gradcam", "gradcam++", "scorecam", "saliency")
REFERENCE_METHOD = "gradcam-reference"
# Methods that read an inner layer; saliency differentiates the input pixels directly.
_CAM_METHODS = ("gradcam", "gradcam++", "scorecam", REFERENCE_METHOD)

__all__ = [
    "COLORMAPS",
    "METHODS",
    "REFERENCE_METHOD",
    "Explanation",
    "conv_layer_names",
    "explain",
    "explain_all",
    "fast_gradcam",
    "feature_maps",
    "is_flat",
]


FLAT_SPREAD = 1e-3  # heatmaps are in [0, 1]; a spread below this draws as one colour


def is_flat(heatmap: np.ndarray) -> bool:
    """True when a heatmap shows nothing: the same value everywhere (e.g. Grad-CAM's ReLU of a
    class score no region raises), which an overlay draws as a blank tint."""
    values = np.asarray(heatmap, dtype=np.float32)
    return bool(values.size == 0 or float(values.max() - values.min()) < FLAT_SPREAD)


@dataclass
class Explanation:
    """One heatmap explaining one prediction.

    Attributes:
        heatmap: ``(H, W)`` float32 in [0, 1] at the model's input size.
        target_class: The class whose score was explained.
        label: The predicted class index.
        confidence: The predicted class's probability.
        method: One of ``METHODS`` (or ``REFERENCE_METHOD``).
        layer_name: Path of the explained layer (``None`` for saliency).
        image: The explained ``(H, W, C)`` uint8 image, the default canvas of ``overlay``.
    """

    heatmap: np.ndarray
    target_class: int
    label: int
    confidence: float
    method: str
    layer_name: str | None
    image: np.ndarray | None = None

    def overlay(self, image: np.ndarray | float | None = None, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
        """Draw the heatmap over an image as uint8 RGB (gray images become RGB).

        Args:
            image: Image to draw on, of any size (the heatmap is resized to it), e.g. the
                original photo; ``None`` draws on the explained image. A number here is
                taken as ``alpha``, so ``overlay(0.5)`` works as in docs/DESIGN.md.
            alpha: Weight of the heatmap, in [0, 1].
            colormap: One of ``COLORMAPS``.
        """
        if isinstance(image, (int, float, np.floating)):
            image, alpha = None, float(image)
        canvas = self.image if image is None else image
        if canvas is None:
            raise ConfigError("overlay needs an image: this explanation does not carry one. Received: image=None")
        return overlay_heatmap(canvas, self.heatmap, alpha=alpha, colormap=colormap)


def explain(
    model: Any,
    image: np.ndarray,
    method: str = "gradcam",
    target_class: int | None = None,
    layer_name: str | None = None,
) -> Explanation:
    """Explain one prediction of a classifier with a heatmap.

    Args:
        model: A Keras classifier (Sequential or Functional, possibly with a nested base model)
            taking raw 0-255 pixels and ending in a softmax Dense layer. It is not modified.
        image: ``(H, W, C)`` uint8 image at the model's input size.
        method: One of ``METHODS``.
        target_class: Class to explain; ``None`` for the predicted class.
        layer_name: Layer path for CAM methods (see ``conv_layer_names``); ``None`` picks the
            last feature map.

    Returns:
        An ``Explanation``.

    Raises:
        ConfigError: Unknown method or layer.
        DataError: The image does not fit the model, or ``target_class`` is out of range.
    """
    from scipy.special import softmax

    from cnnlib.explain.fast import gradcam_raw, upsample_and_normalize
    from cnnlib.explain.reference import reference_heatmap

    if method not in (*METHODS, REFERENCE_METHOD):
        raise ConfigError(
            f"unknown explanation method; expected one of: {', '.join(METHODS)}. Received: method={method!r}"
        )
    batch = single_image(model, image)
    _check_target(model, target_class)
    path = resolve_layer(model, layer_name) if method in _CAM_METHODS else None
    # One compiled call gives the logits (hence label and confidence) and, for Grad-CAM, the map.
    cam, logits, chosen = gradcam_raw(model, image, target_class, path or resolve_layer(model, None))
    probabilities = softmax(logits.astype(np.float64))
    label = int(np.argmax(probabilities))
    if method == "gradcam":
        heatmap = upsample_and_normalize(cam, batch.shape[1:3])
    else:
        heatmap = reference_heatmap(model, batch, "gradcam" if method == REFERENCE_METHOD else method, chosen, path)
    return Explanation(
        heatmap=np.asarray(heatmap, dtype=np.float32),
        target_class=int(chosen),
        label=label,
        confidence=float(probabilities[label]),
        method=method,
        layer_name=path,
        image=np.array(image),  # a copy: the caller may reuse its buffer
    )


def explain_all(
    model: Any,
    image: np.ndarray,
    methods: Iterable[str] = METHODS,
    target_class: int | None = None,
    layer_name: str | None = None,
) -> dict[str, Explanation]:
    """Run several methods on one image: ``{method: Explanation}`` in the given order."""
    return {method: explain(model, image, method, target_class, layer_name) for method in methods}
