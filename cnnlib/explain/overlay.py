"""Drawing a heatmap over an image, in numpy only (matplotlib is not a dependency)."""

from __future__ import annotations

import numpy as np

from cnnlib.errors import ConfigError, DataError

# Piecewise-linear colormaps as (position, value) control points per channel, the same
# segments matplotlib uses for "jet" and "hot".
_COLORMAPS: dict[str, tuple[tuple[tuple[float, float], ...], ...]] = {
    "jet": (
        ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
        ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
        ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
    ),
    "hot": (
        ((0.0, 0.0416), (0.365079, 1.0), (1.0, 1.0)),
        ((0.0, 0.0), (0.365079, 0.0), (0.746032, 1.0), (1.0, 1.0)),
        ((0.0, 0.0), (0.746032, 0.0), (1.0, 1.0)),
    ),
    "gray": (((0.0, 0.0), (1.0, 1.0)),) * 3,
}
COLORMAPS = tuple(_COLORMAPS)


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Map a [0, 1] heatmap to uint8 RGB with a 256-entry lookup table.

    Raises:
        ConfigError: Unknown colormap.
    """
    if colormap not in _COLORMAPS:
        raise ConfigError(f"unknown colormap; expected one of: {', '.join(COLORMAPS)}. Received: colormap={colormap!r}")
    positions = np.linspace(0.0, 1.0, 256)
    lut = np.stack(
        [np.interp(positions, [p for p, _ in points], [v for _, v in points]) for points in _COLORMAPS[colormap]],
        axis=-1,
    )
    lut = np.round(lut * 255).astype(np.uint8)
    values = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
    index = np.clip(np.round(values * 255), 0, 255).astype(np.int64)
    return lut[index]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Return a uint8 ``(H, W, 3)`` copy of an ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` image."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3):
        raise DataError(f"expected an image shaped (H, W, 1) or (H, W, 3). Received: shape={array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.round(array.astype(np.float32)), 0, 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array


def resize_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float heatmap to ``size=(height, width)``."""
    from PIL import Image

    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.shape == tuple(size):
        return heatmap
    resized = Image.fromarray(heatmap).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Blend a colorized heatmap over an image.

    Args:
        image: ``(H, W, C)`` uint8 image (gray images become RGB). It may be larger than the
            heatmap, for example the original photo; the heatmap is resized to it.
        heatmap: ``(h, w)`` values in [0, 1].
        alpha: Weight of the heatmap, in [0, 1].
        colormap: One of ``COLORMAPS``.

    Returns:
        ``(H, W, 3)`` uint8 RGB image.

    Raises:
        ConfigError: ``alpha`` out of range or unknown colormap.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1]. Received: alpha={alpha}")
    rgb = to_rgb(image)
    colored = colorize(resize_heatmap(heatmap, rgb.shape[:2]), colormap)
    blended = (1.0 - alpha) * rgb.astype(np.float32) + alpha * colored.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
