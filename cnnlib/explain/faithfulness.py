"""How faithful a heatmap is: does the model's answer fall when its hottest pixels go?

A heatmap can look plausible and still not be what the model uses. The deletion test
(Petsiuk et al., "RISE", 2018) blurs away pixels in the order the heatmap ranks them, most
attributed first, and follows the answered probability of the explained class. If the map
points at what the model uses, the probability falls fast and the area under the curve is
small. The same test in a seeded random order of blocks is the yardstick: a map no better
than chance scores about what the random blocks score.

The chance level blurs whole blocks (a ``CHANCE_GRID`` x ``CHANCE_GRID`` grid, one block a
step), not scattered pixels, because every CAM map is contiguous: what the test should ask is
whether the map picks the right region, not whether regions hurt less than specks. Specks hurt
a whitened-stem network most (its first layer reads 2x2 patches): on the bundled airbench_small
demo, Grad-CAM at each of four layers scored 0.41-0.51 against 0.36 for a random pixel order
(20 test images), worse than that "chance" at every layer.

Pixels are replaced by the same pixels of a blurred copy of the image (Gaussian, radius
1/8 of its width): that removes the detail the model could use without adding the sharp
specks a flat fill makes, which on the bundled model made a random order nearly as
destructive as any map (docs/BENCHMARKS.md, "Explanations: deletion score per method"). The probabilities come from the run's answer (``cnnlib.inference.Predictor``),
test-time views and temperature included, in one batched call per curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnlib.errors import DataError

#: Points of each curve after the unchanged image: 1/16 of the pixels more at each step.
STEPS = 16
#: The chance level's grid: 4 x 4 = STEPS blocks, so each step of its curve blurs one block.
CHANCE_GRID = math.isqrt(STEPS)
#: What pages, plots and benchmarks call the chance level.
CHANCE_NAME = "random blocks"


@dataclass(frozen=True)
class Deletion:
    """A deletion curve and its summary.

    Attributes:
        fractions: ``(STEPS + 1,)`` share of pixels blurred away, 0 to 1.
        probabilities: The explained class's answered probability at each fraction.
        score: Area under the curve, 0 to 1; lower means the model follows the map more.
        random_probabilities: The curve of a seeded random order of blocks (the chance level).
        random_score: Its area.
    """

    fractions: np.ndarray
    probabilities: np.ndarray
    score: float
    random_probabilities: np.ndarray
    random_score: float


def _deleted(image: np.ndarray, order: np.ndarray, steps: int) -> np.ndarray:
    """``(steps + 1, H, W, C)``: the image with the first ``k/steps`` of ``order`` taken from its blurred copy."""
    from PIL import Image, ImageFilter

    height, width, channels = image.shape
    pixels = np.asarray(image, dtype=np.uint8)
    picture = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    blurred = np.asarray(picture.filter(ImageFilter.GaussianBlur(radius=width / 8)), dtype=np.float32)
    blurred = blurred.reshape(height * width, channels)
    batch = np.repeat(pixels[None].astype(np.float32), steps + 1, axis=0).reshape(steps + 1, height * width, channels)
    for step in range(1, steps + 1):
        chosen = order[: round(step * height * width / steps)]
        batch[step, chosen] = blurred[chosen]
    return batch.reshape(steps + 1, height, width, channels)


def random_block_order(height: int, width: int, seed: int) -> np.ndarray:
    """Flat pixel indices, block by block of a ``CHANCE_GRID`` grid in a seeded random order.

    Within a block the pixels come in random order too (it matters only when a step ends
    inside a block, for sizes the grid does not divide).
    """
    rng = np.random.default_rng(seed)
    block_rank = rng.permutation(CHANCE_GRID * CHANCE_GRID)
    rows = np.minimum(np.arange(height) * CHANCE_GRID // height, CHANCE_GRID - 1)
    cols = np.minimum(np.arange(width) * CHANCE_GRID // width, CHANCE_GRID - 1)
    blocks = block_rank[rows[:, None] * CHANCE_GRID + cols[None, :]].ravel()
    return np.lexsort((rng.random(height * width), blocks))


def _area(probabilities: np.ndarray, fractions: np.ndarray) -> float:
    widths = np.diff(fractions)
    return float(np.sum(widths * (probabilities[1:] + probabilities[:-1]) / 2))


def deletion(probabilities_of: Callable[[np.ndarray], np.ndarray], image: np.ndarray, heatmap: np.ndarray,
             target_class: int, steps: int = STEPS, seed: int = 0) -> Deletion:
    """The deletion curve of ``heatmap`` for ``target_class`` on one image.

    Args:
        probabilities_of: ``(N, H, W, C)`` pixels -> ``(N, num_classes)`` probabilities
            (``Predictor.probabilities``).
        image: ``(H, W, C)`` pixels, as the model takes them.
        heatmap: ``(H, W)`` attribution at the image's size (``Explanation.heatmap``).
        target_class: The explained class.
        steps: Points of the curve after the unchanged image.
        seed: Seeds the random block order of the chance level.

    Raises:
        DataError: The heatmap's size is not the image's.
    """
    pixels = np.asarray(image)
    heat = np.asarray(heatmap, dtype=np.float64)
    if pixels.ndim != 3 or heat.shape != pixels.shape[:2]:
        raise DataError(f"the heatmap must be the image's size {pixels.shape[:2]}. Received: shape={heat.shape}")
    order = np.argsort(-heat.ravel(), kind="stable")
    shuffled = random_block_order(*heat.shape, seed=seed)
    batch = np.concatenate([_deleted(pixels, order, steps), _deleted(pixels, shuffled, steps)])
    scores = np.asarray(probabilities_of(batch))[:, target_class]
    fractions = np.linspace(0.0, 1.0, steps + 1)
    followed, chance = scores[: steps + 1], scores[steps + 1 :]
    return Deletion(fractions=fractions, probabilities=followed, score=_area(followed, fractions),
                    random_probabilities=chance, random_score=_area(chance, fractions))
