"""Turn uploads into what the model sees, and predictions into plain words.

Decoding goes through ``cnnlib.images`` (the same path as training), so a photo gives the
same pixels here as in the dataset.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlib.runs import Run

LOW_CONFIDENCE = 0.5
DISPLAY_SIDE = 384

BANDS = (  # (lowest top-1 confidence, words, emoji)
    (0.90, "very confident", "😀"),
    (0.70, "fairly sure", "🙂"),
    (0.50, "leaning towards it", "🤔"),
    (0.00, "unsure", "😕"),
)


@dataclass
class Upload:
    """One decoded upload: a display copy of the photo and the model's input."""

    name: str
    display: np.ndarray  # uint8 (h, w, 3|1), at most DISPLAY_SIDE on its long side
    model_input: np.ndarray  # uint8 (H, W, C) at the model's input size
    original_size: tuple[int, int]  # (width, height) of the decoded photo


def input_spec(run: Run) -> tuple[tuple[int, int], int]:
    """The run's input ``(height, width)`` and channels (from the core)."""
    from cnnlib.operations import input_spec as core_input_spec

    return core_input_spec(run)


def decode_upload(data: bytes, name: str, size: tuple[int, int], channels: int) -> Upload:
    """Decode an uploaded file with the core.

    Raises:
        cnnlib.errors.DataError: empty, corrupt, truncated, not an image, or too many pixels.
    """
    from cnnlib.errors import DataError
    from cnnlib.images import load_image_with_preview

    if not data:
        raise DataError(f"{name!r} is empty; expected an image file (jpg, png, webp, bmp, gif). Received: 0 bytes")
    stream = io.BytesIO(data)
    stream.name = name  # the core names the file in its error messages
    # The model input comes from the one decoding path the training data went through
    # (exactly load_image's pixels), so the page, `cnnlib predict` and the exports see the
    # same pixels; the preview is cut from the same decode when it is big enough.
    decoded = load_image_with_preview(stream, size, channels, DISPLAY_SIDE)
    return Upload(name=name, display=np.asarray(decoded.preview), model_input=decoded.pixels,
                  original_size=(decoded.info.width, decoded.info.height))


def confidence_band(confidence: float) -> tuple[str, str]:
    """``0.93`` -> ``("very confident", "😀")``."""
    for lowest, words, emoji in BANDS:
        if confidence >= lowest:
            return words, emoji
    return BANDS[-1][1], BANDS[-1][2]


def explain_overlay(model: Any, image: np.ndarray, method: str = "gradcam", alpha: float = 0.45,
                    target_class: int | None = None, layer_name: str | None = None) -> np.ndarray:
    """A heatmap overlay (uint8 RGB at the input size) from the core's explainer."""
    from cnnlib.explain import explain

    return explain(model, image, method, target_class=target_class, layer_name=layer_name).overlay(alpha)
