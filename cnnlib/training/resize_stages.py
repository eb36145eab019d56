"""Progressive-resizing stage lists: parsing, validation and the size at a point of training.

Kept free of TensorFlow so ``TrainConfig`` can validate a stage list cheaply (the
app imports the config without TensorFlow). ``cnnlib.training.progressive`` does
the resizing; its docstring says why.
"""

from __future__ import annotations

from typing import Any

from cnnlib.errors import ConfigError

Stages = tuple[tuple[int, float], ...]

MIN_SIZE = 8
"""Smallest side a stage may ask for: below it the 3-stage nets pool to nothing."""


def parse_stages(text: str) -> Stages:
    """``"16:0.25,24:0.5"`` (or ``"none"``) to ``((16, 0.25), (24, 0.5))``; raises ConfigError."""
    if text.strip().lower() in ("", "none"):
        return ()
    stages = []
    for part in text.split(","):
        size, sep, until = part.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            stages.append((int(size), float(until)))
        except ValueError:
            raise ConfigError(
                f"progressive resize stages must look like SIZE:UNTIL[,SIZE:UNTIL...], e.g. 24:0.5. "
                f"Received: {text!r}"
            ) from None
    return check_stages(stages)


def check_stages(stages: Any) -> Stages:
    """Validate the structure of a stage list (sizes against the model come later).

    Raises:
        ConfigError: unless sizes are integers >= ``MIN_SIZE`` that grow, and the
            ``until`` fractions grow strictly inside (0, 1).
    """
    try:
        pairs = tuple((size, until) for size, until in stages or ())
    except (TypeError, ValueError):
        raise ConfigError(f"progressive_resize must be (size, until) pairs. Received: {stages!r}") from None
    previous_size, previous_until = 0, 0.0
    for size, until in pairs:
        if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
            raise ConfigError(f"progressive resize sizes must be integers >= {MIN_SIZE}. Received: {stages!r}")
        if isinstance(until, bool) or not isinstance(until, (int, float)) or not 0.0 < until < 1.0:
            raise ConfigError(
                f"progressive resize stages must end at a fraction of training in (0, 1). Received: {stages!r}"
            )
        if size <= previous_size or until <= previous_until:
            raise ConfigError(
                f"progressive resize stages must grow in size and in their end fraction. Received: {stages!r}"
            )
        previous_size, previous_until = size, float(until)
    return tuple((int(size), float(until)) for size, until in pairs)


def stage_shapes(stages: Stages, full_shape: tuple[int, int]) -> list[tuple[int, int]]:
    """Each stage's (height, width): ``size`` is the height, the width keeps the aspect ratio.

    Raises:
        ConfigError: when a stage is not smaller than the model's input height.
    """
    height, width = full_shape
    shapes = []
    for size, _ in stages:
        if size >= height:
            raise ConfigError(
                f"progressive resize sizes must be below the model's input height {height}. Received: size={size}"
            )
        shapes.append((size, max(1, round(width * size / height))))
    return shapes


def size_at(stages: Stages, full_shape: tuple[int, int], progress: float) -> tuple[int, int]:
    """The (height, width) to train at after ``progress`` (0..1) of the training."""
    for (_, until), shape in zip(stages, stage_shapes(stages, full_shape), strict=True):
        if progress < until:
            return shape
    return tuple(full_shape)  # type: ignore[return-value]
