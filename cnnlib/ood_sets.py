"""Image sets from none of a model's classes, made offline at any input size.

They stand in for what a demo meets ("a photo of nothing it knows"): far sets that share
nothing with natural photos (noise, flat colours, stripes), hand-written digits, and crops
of the two photos scikit-learn ships (a temple and a flower), which are natural images of
no CIFAR-10 class. Every set is deterministic for its seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SetMaker = Callable[[int, tuple[int, int, int], np.random.Generator], np.ndarray]


def _resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR)) for image in images])


def _channels(images: np.ndarray, channels: int) -> np.ndarray:
    if images.ndim == 3:
        images = images[..., None]
    if channels == 3 and images.shape[-1] == 1:
        return np.repeat(images, 3, axis=-1)
    if channels == 1 and images.shape[-1] == 3:
        return images.mean(axis=-1, keepdims=True).round().astype(np.uint8)
    return images


def uniform_noise(count: int, shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (count, *shape), dtype=np.uint8)


def smooth_noise(count: int, shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Colour blobs: 4x4 noise upscaled, the texture of an out-of-focus nothing."""
    small = rng.integers(0, 256, (count, 4, 4, 3), dtype=np.uint8)
    return _channels(_resize(small, shape[0], shape[1]), shape[2])


def flat_colour(count: int, shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    colours = rng.integers(0, 256, (count, 1, 1, shape[2]), dtype=np.uint8)
    return np.broadcast_to(colours, (count, *shape)).copy()


def stripes(count: int, shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Stripes and checkerboards of random period, angle and two random colours."""
    height, width, channels = shape
    y, x = np.mgrid[0:height, 0:width]
    out = np.empty((count, height, width, channels), dtype=np.uint8)
    for n in range(count):
        angle, period = rng.uniform(0, np.pi), rng.uniform(2, max(3, width / 3))
        wave = np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period) > 0
        if n % 2:
            wave ^= np.sin((-x * np.sin(angle) + y * np.cos(angle)) * 2 * np.pi / period) > 0
        a, b = rng.integers(0, 256, (2, channels))
        out[n] = np.where(wave[..., None], a, b)
    return out


def digits(count: int, shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """scikit-learn's hand-written digits, white on black, at the model's size."""
    from sklearn.datasets import load_digits

    images = (load_digits().images * (255 / 16)).round().astype(np.uint8)
    picked = images[rng.choice(len(images), count, replace=count > len(images))]
    return _channels(_resize(picked, shape[0], shape[1]), shape[2])


def photo_crops(count: int, shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Random square crops (1/8 to 1/2 of the short side) of scikit-learn's two sample photos."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.uniform(1 / 8, 1 / 2) * min(photo.shape[:2]))
        top, left = rng.integers(0, photo.shape[0] - side), rng.integers(0, photo.shape[1] - side)
        crops.append(photo[top : top + side, left : left + side])
    resized = np.stack([_resize(crop[None], shape[0], shape[1])[0] for crop in crops])
    return _channels(resized, shape[2])


#: name -> (maker, "far" or "near").
SETS: dict[str, tuple[SetMaker, str]] = {
    "uniform_noise": (uniform_noise, "far"),
    "smooth_noise": (smooth_noise, "far"),
    "flat_colour": (flat_colour, "far"),
    "stripes": (stripes, "far"),
    "digits": (digits, "far"),
    "photo_crops": (photo_crops, "near"),
}


def make_set(name: str, count: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """``count`` uint8 images of set ``name`` shaped ``(count, *shape)``."""
    maker, _ = SETS[name]
    return maker(count, tuple(shape), np.random.default_rng(seed))  # type: ignore[arg-type]
