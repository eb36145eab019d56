"""Model configuration: one frozen dataclass, checked on construction.

A ``ModelConfig`` is saved with every run (``config.json``), so a run directory can
rebuild its own model. It is validated in ``__post_init__`` so that a bad value is a
one-line ``ConfigError`` at the form or CLI boundary, not a TensorFlow shape error
minutes later. This module imports neither TensorFlow nor Keras: the app can show and
validate configs without paying for a TF import.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from cnnlib.errors import ConfigError, reject_unknown_keys
from cnnlib.models.registry import ARCHITECTURES, ATTENTIONS, IMAGENET_ALPHAS, ArchSpec, get_spec


def _is_number(value: Any) -> bool:
    # bool is an int subclass; ``width=True`` is a bug, not 1.0.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model from the registry.

    Attributes:
        arch: Registered architecture name (see ``list_architectures()``).
        num_classes: Number of output classes (>= 2; softmax over them).
        input_shape: ``(height, width, channels)`` of the raw 0-255 input, channels 1 or 3.
        width: Width multiplier for every layer's filter count (> 0). For
            ``mobilenet_v2`` it is MobileNetV2's ``alpha``.
        dropout: Dropout rate before the classifier, in [0, 1).
        l2: L2 weight decay on conv/dense kernels (0 disables it).
        attention: ``None``, ``"se"`` (squeeze-excitation) or ``"cbam"``; only for
            architectures whose spec says they support attention.
        bn_momentum: BatchNorm moving-average momentum. 0.9 rather than Keras' 0.99:
            with small datasets (few hundred steps) 0.99 leaves the moving statistics
            unconverged, and a model at 100% train accuracy scored 10-40% in inference
            mode on digits.
        weights: ``mobilenet_v2``: ``None`` (random init), ``"imagenet"``, or a path to a
            local ``.h5`` / ``.weights.h5`` file for the base network. ``from_run``: the
            run (id or directory) whose trained network becomes the frozen base (None:
            ``recipes.default_base_run()``, the bundled demo).
    """

    arch: str
    num_classes: int
    input_shape: tuple[int, int, int]
    width: float = 1.0
    dropout: float = 0.2
    l2: float = 0.0
    attention: str | None = None
    bn_momentum: float = 0.9
    weights: str | None = None

    def __post_init__(self) -> None:
        spec = get_spec(self.arch)  # unknown arch -> ConfigError listing known names

        if not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool) or (self.num_classes < 2):
            raise ConfigError(f"num_classes must be an integer >= 2. Received: num_classes={self.num_classes!r}")

        shape = self.input_shape
        if (
            not isinstance(shape, (tuple, list))
            or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
        ):
            raise ConfigError(
                f"input_shape must be (height, width, channels) integers. Received: input_shape={shape!r}"
            )
        # JSON gives lists; normalize so configs compare and hash equal after a round trip.
        object.__setattr__(self, "input_shape", tuple(shape))
        height, width_px, channels = self.input_shape
        if channels not in (1, 3):
            raise ConfigError(f"input channels must be 1 (grayscale) or 3 (RGB). Received: input_shape={shape!r}")
        if min(height, width_px) < spec.min_input_size:
            raise ConfigError(
                f"input {height}x{width_px} is too small for {self.arch}; it needs at least "
                f"{spec.min_input_size}x{spec.min_input_size}. Received: input_shape={shape!r}"
            )

        if not _is_number(self.width) or not math.isfinite(self.width) or self.width <= 0:
            raise ConfigError(f"width must be a number > 0. Received: width={self.width!r}")
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1). Received: dropout={self.dropout!r}")
        if not _is_number(self.l2) or not math.isfinite(self.l2) or self.l2 < 0:
            raise ConfigError(f"l2 must be a number >= 0. Received: l2={self.l2!r}")
        if not _is_number(self.bn_momentum) or not 0.0 <= self.bn_momentum < 1.0:
            raise ConfigError(f"bn_momentum must be in [0, 1). Received: bn_momentum={self.bn_momentum!r}")

        if self.attention not in ATTENTIONS:
            raise ConfigError(f"attention must be one of: None, 'se', 'cbam'. Received: attention={self.attention!r}")
        if self.attention is not None and not spec.supports_attention:
            supported = ", ".join(_attention_archs())
            raise ConfigError(
                f"{self.arch} does not support attention; use one of: {supported}. "
                f"Received: attention={self.attention!r}"
            )

        self._check_weights(spec)

    def _check_weights(self, spec: ArchSpec) -> None:
        """Pretrained weights: only where the spec allows them, and only at a published alpha."""
        if self.weights is None:
            return  # random init; for from_run, the bundled demo run
        if not spec.supports_weights:
            raise ConfigError(
                f"pretrained weights are only available for mobilenet_v2 and from_run, not {self.arch}. "
                f"Received: weights={self.weights!r}"
            )
        if not isinstance(self.weights, str) or not self.weights.strip():
            raise ConfigError(
                f"weights must be None, 'imagenet' or a path to a weights file. Received: weights={self.weights!r}"
            )
        if self.arch == "from_run":
            return  # a run, found when the model is built
        # Pretrained files exist only for these alphas; any other width cannot load them.
        if float(self.width) not in IMAGENET_ALPHAS:
            allowed = ", ".join(str(a) for a in IMAGENET_ALPHAS)
            raise ConfigError(
                f"with pretrained weights, width (MobileNetV2 alpha) must be one of: "
                f"{allowed}. Received: width={self.width!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``input_shape`` as a list) for ``config.json``."""
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild a config saved by ``to_dict``; unknown or missing keys are ConfigErrors."""
        if not isinstance(data, dict):
            raise ConfigError(f"model config must be a dict. Received: {type(data).__name__}")
        reject_unknown_keys(data, (f.name for f in dataclasses.fields(cls)), "model config")
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ConfigError(
                f"model config is missing required keys: {', '.join(missing)}. "
                f"Received keys: {', '.join(sorted(data)) or 'none'}"
            )
        return cls(**data)


def _attention_archs() -> list[str]:
    return [name for name, spec in ARCHITECTURES.items() if spec.supports_attention]
