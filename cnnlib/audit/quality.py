"""Images too poor to learn from: tiny, nearly constant, very dark or very bright."""

from __future__ import annotations

import numpy as np

#: Grey-level thresholds on the 0-255 scale of the 32x32 thumbnail.
CONSTANT_STD = 4.0  # a flat field (a blank frame, a lens cap) varies less than this
DARK_MEAN = 25.0
BRIGHT_MEAN = 230.0
#: An image whose shorter side is under this share of the source's median is "tiny".
TINY_SHARE = 0.5


def low_quality(thumbnails: np.ndarray, native_sizes: np.ndarray) -> list[tuple[int, str, float]]:
    """Each poor image once, with its worst reason.

    Args:
        thumbnails: ``uint8 (N, 32, 32, 3)``.
        native_sizes: ``(N, 2)`` stored ``(height, width)``.

    Returns:
        ``(index, reason, severity in [0, 1])`` per flagged image.
    """
    grey = thumbnails.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    mean = grey.mean(axis=(1, 2))
    spread = grey.std(axis=(1, 2))
    shorter = native_sizes.min(axis=1).astype(np.float32)
    tiny_below = TINY_SHARE * float(np.median(shorter)) if len(shorter) else 0.0
    found: list[tuple[int, str, float]] = []
    for index in range(len(thumbnails)):
        height, width = (int(value) for value in native_sizes[index])
        if shorter[index] < tiny_below:
            found.append((index, f"tiny: {width}x{height} px, where most are {tiny_below / TINY_SHARE:.0f} px or more",
                          1.0 - shorter[index] / tiny_below))
        elif spread[index] < CONSTANT_STD:
            found.append((index, f"nearly constant (grey-level spread {spread[index]:.1f} of 255)",
                          1.0 - spread[index] / CONSTANT_STD))
        elif mean[index] < DARK_MEAN:
            found.append((index, f"very dark (mean grey level {mean[index]:.0f} of 255)",
                          1.0 - mean[index] / DARK_MEAN))
        elif mean[index] > BRIGHT_MEAN:
            found.append((index, f"very bright (mean grey level {mean[index]:.0f} of 255)",
                          (mean[index] - BRIGHT_MEAN) / (255.0 - BRIGHT_MEAN)))
    return found
