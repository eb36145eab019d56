"""The input contract of a run: what its model takes and how its answer is formed.

``InputSpec`` is the one owner of a run's input size, channels, class names, pixel value
range, resize filter, test-time views and calibration temperature. The trainer derives it from the model and train
configs and saves it once, as ``spec.json`` in the run; predict, explain, export, the
app's upload decoding and every page read it through ``Run.input_spec()`` and nothing
else, and so do the facts fitted on held-out images after training (the calibration
temperature and the familiarity threshold).

This module imports neither TensorFlow nor Keras: the app and the CLI read specs instantly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cnnlib.errors import ConfigError, reject_unknown_keys

#: Smallest and largest model input side, in pixels, for every caller (CLI, pages, DataConfig).
MIN_IMAGE_SIDE = 4
MAX_IMAGE_SIDE = 1024

#: Test-time views the inference model can average: the image as it is, its mirror, and each
#: of those moved one pixel down-right or up-left with the edge reflected (airbench's 6 views).
VIEWS = ("identity", "mirror", "down_right", "up_left", "mirror_down_right", "mirror_up_left")
DEFAULT_VIEWS = ("identity",)
MIRRORED_VIEWS = ("identity", "mirror")
SHIFTED_VIEWS = VIEWS
#: Each view in words (the mirror flips the width axis: ``cnnlib.inference``).
VIEW_WORDS = {
    "identity": "the image as it is",
    "mirror": "the image mirrored left to right",
    "down_right": "the image moved 1 pixel down and right, the edge reflected",
    "up_left": "the image moved 1 pixel up and left, the edge reflected",
    "mirror_down_right": "the mirror moved 1 pixel down and right, the edge reflected",
    "mirror_up_left": "the mirror moved 1 pixel up and left, the edge reflected",
}

#: Models take raw pixels in this range; scaling is a layer inside the model.
VALUE_RANGE = (0, 255)
#: The one resampling filter of ``cnnlib.images`` (Pillow, antialiased when shrinking).
RESIZE_FILTER = "bilinear"


def check_image_size(size: Any, name: str = "image_size") -> tuple[int, int]:
    """Return ``size`` as ``(height, width)`` ints within the project's limits.

    Args:
        size: An int (square) or a ``(height, width)`` pair.
        name: The field name used in the error message.

    Raises:
        ConfigError: Not two integers, or a side outside ``MIN_IMAGE_SIDE..MAX_IMAGE_SIDE``.
    """
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else size
    try:
        height, width = (int(side) for side in pair)
        if any(isinstance(side, bool) or int(side) != side for side in pair):
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be (height, width) in pixels. Received: {name}={size!r}") from None
    if not (MIN_IMAGE_SIDE <= height <= MAX_IMAGE_SIDE and MIN_IMAGE_SIDE <= width <= MAX_IMAGE_SIDE):
        raise ConfigError(
            f"{name} must be {MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE} pixels per side. Received: {name}={size!r}"
        )
    return height, width


def check_views(views: Any) -> tuple[str, ...]:
    """Return ``views`` as a tuple of known view names, ``identity`` first.

    Raises:
        ConfigError: An unknown or repeated view, or no ``identity`` view.
    """
    values = (views,) if isinstance(views, str) else tuple(views or ())
    unknown = [view for view in values if view not in VIEWS]
    if unknown or len(set(values)) != len(values) or not values or values[0] != "identity":
        raise ConfigError(
            f"test-time views must start with 'identity' and name each of {', '.join(VIEWS)} at most once. "
            f"Received: views={list(values)!r}"
        )
    return values


@dataclass(frozen=True)
class InputSpec:
    """What a run's model takes, and how its answer is formed.

    Attributes:
        height: Model input height in pixels.
        width: Model input width in pixels.
        channels: 1 (grayscale) or 3 (RGB).
        class_names: Output classes, in the model's output order.
        views: Test-time views whose logits are averaged before the softmax (``VIEWS``).
        temperature: The calibration temperature applied to the averaged answer
            (``cnnlib.calibration``); None until it is fitted on the validation split.
        ood_threshold: The familiarity score (``cnnlib.ood``) above which an image is
            called unfamiliar ("may show none of the classes"); None until fitted.
        value_range: The raw pixel range the model takes (scaling is inside it).
        resize_filter: How images are resized to the input (``cnnlib.images``' one filter).
        familiarity_layers: Layers whose spatial means, concatenated and averaged over the
            views, are the features the familiarity score reads; empty (and in runs saved
            before this field): the penultimate features, the head's input.
    """

    height: int
    width: int
    channels: int
    class_names: tuple[str, ...]
    views: tuple[str, ...] = DEFAULT_VIEWS
    temperature: float | None = None
    ood_threshold: float | None = None
    value_range: tuple[int, int] = VALUE_RANGE
    resize_filter: str = RESIZE_FILTER
    familiarity_layers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        height, width = check_image_size((self.height, self.width), "input size")
        object.__setattr__(self, "height", height)
        object.__setattr__(self, "width", width)
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ConfigError(f"channels must be 1 or 3. Received: channels={self.channels!r}")
        names = tuple(str(name) for name in self.class_names)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ConfigError(f"a model needs at least 2 distinct class names. Received: class_names={list(names)!r}")
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "views", check_views(self.views))
        if self.temperature is not None:
            value = self.temperature
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.01 <= value <= 100:
                raise ConfigError(f"temperature must be a number in [0.01, 100] or None. Received: temperature={value!r}")
            object.__setattr__(self, "temperature", float(value))
        if self.ood_threshold is not None:
            value = self.ood_threshold
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 2:
                raise ConfigError(f"ood_threshold must be a number in [0, 2] or None. Received: ood_threshold={value!r}")
            object.__setattr__(self, "ood_threshold", float(value))
        object.__setattr__(self, "value_range", tuple(int(v) for v in self.value_range))
        object.__setattr__(self, "familiarity_layers", tuple(str(name) for name in self.familiarity_layers))
        if self.resize_filter != RESIZE_FILTER:
            raise ConfigError(f"resize_filter must be {RESIZE_FILTER!r}. Received: resize_filter={self.resize_filter!r}")

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``, as ``cnnlib.images.load_image`` takes it."""
        return self.height, self.width

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)``, the model's input shape without the batch axis."""
        return self.height, self.width, self.channels

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def with_temperature(self, temperature: float | None) -> InputSpec:
        """This spec with a (newly fitted) calibration temperature."""
        return dataclasses.replace(self, temperature=temperature)

    def with_ood_threshold(self, threshold: float | None) -> InputSpec:
        """This spec with a (newly fitted) familiarity threshold."""
        return dataclasses.replace(self, ood_threshold=threshold)

    def describe(self) -> str:
        """What the model can see, in words: ``"10 classes of 32×32 colour images"``."""
        kind = "grey" if self.channels == 1 else "colour"
        return f"{self.num_classes} classes of {self.height}×{self.width} {kind} images"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for ``spec.json``."""
        data = dataclasses.asdict(self)
        for key in ("class_names", "views", "value_range", "familiarity_layers"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        """Inverse of ``to_dict``; unknown keys are a ``ConfigError``."""
        reject_unknown_keys(data, (field.name for field in dataclasses.fields(cls)), "input spec")
        values = dict(data)
        for key in ("class_names", "views", "value_range", "familiarity_layers"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def spec_for(input_shape: tuple[int, int, int] | list[int], class_names: list[str] | tuple[str, ...],
             views: tuple[str, ...] | list[str] = DEFAULT_VIEWS,
             familiarity_layers: tuple[str, ...] | list[str] = ()) -> InputSpec:
    """The spec of a model built with ``input_shape`` for ``class_names``, answering with ``views``."""
    height, width, channels = (int(value) for value in input_shape)
    return InputSpec(height=height, width=width, channels=channels, class_names=tuple(class_names),
                     views=tuple(views), familiarity_layers=tuple(familiarity_layers))
