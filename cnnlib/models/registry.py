"""The one registry of architectures: plain data, no TensorFlow, no other models module.

Specs are data so the app can list architectures (and ``ModelConfig`` can validate
against them) without importing TensorFlow. Each spec names its builder function in
``cnnlib.models.architectures``; ``cnnlib.models.factory.build_model`` calls it. This
module imports nothing from ``cnnlib.models``, so config -> registry and
factory -> registry/config/architectures never loop back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnlib.errors import ConfigError

ATTENTIONS: tuple[str | None, ...] = (None, "se", "cbam")
"""Allowed values of ``ModelConfig.attention``."""

IMAGENET_ALPHAS: tuple[float, ...] = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
"""MobileNetV2 alphas for which Keras publishes ImageNet weights."""


@dataclass(frozen=True)
class ArchSpec:
    """Registry entry for one architecture.

    Attributes:
        name: Registry key; also the built model's name.
        description: One line for the app's architecture picker.
        default_batch_size: A batch size that trains well on CPU for this model.
        min_input_size: Smallest height/width the architecture accepts (its pooling
            and strides would otherwise shrink the feature map below 1x1).
        builder: Name of the function in ``cnnlib.models.architectures`` that builds it,
            ``builder(config) -> keras.Model``.
        supports_attention: Whether ``attention="se"|"cbam"`` is honoured.
        supports_weights: Whether ``weights`` (pretrained base) is honoured.
        model_defaults: ``ModelConfig`` fields this architecture is designed with, used when
            the request does not set them (``(field, value)`` pairs).
        familiarity_layers: Layers whose spatial means, concatenated, are the features the
            run's familiarity score reads (``InputSpec.familiarity_layers``); empty: the
            penultimate features.
    """

    name: str
    description: str
    default_batch_size: int
    min_input_size: int
    builder: str
    supports_attention: bool = False
    supports_weights: bool = False
    model_defaults: tuple[tuple[str, Any], ...] = ()
    familiarity_layers: tuple[str, ...] = ()


#: airbench trains without dropout, with BatchNorm momentum 0.6 in PyTorch's convention,
#: which is Keras' 0.4 (the weight of the old statistics).
AIRBENCH_MODEL_DEFAULTS: tuple[tuple[str, Any], ...] = (("dropout", 0.0), ("bn_momentum", 0.4))
#: Each block's first activation, after its pool (``cnnlib.models.whitened``). The max-pooled
#: penultimate features after a whitening stem told noise from photos badly (a 60-minute
#: airbench_small run flagged 36% of uniform noise with them). The mean of each block's output
#: flagged all uniform noise but only 43% of smooth colour noise and 37% of digits on the GELU
#: demo; its first activations flagged 100% of both, and more of the near set (docs/BENCHMARKS.md,
#: "Which layers the familiarity score reads").
AIRBENCH_FAMILIARITY_LAYERS: tuple[str, ...] = ("block1_a_act", "block2_a_act", "block3_a_act")

ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec(
            name="simple_cnn",
            description="TensorFlow CNN tutorial: 3 convs (32-64-64, valid padding), dense 64, softmax. A baseline.",
            default_batch_size=64,
            # valid 3x3 convs and two 2x2 pools: 18 -> 16 -> 8 -> 6 -> 3 -> 1
            min_input_size=18,
            builder="build_simple_cnn",
        ),
        ArchSpec(
            name="dwsep_cnn",
            description="MobileNet-style depthwise-separable blocks 32-64-128-128-256-256 "
            "with residual skips; optional SE/CBAM attention. Small but slow on CPU.",
            default_batch_size=64,
            min_input_size=8,
            builder="build_dwsep_cnn",
            supports_attention=True,
        ),
        ArchSpec(
            name="resnet_small",
            description="ResNet-20 for CIFAR: 3 stages of 3 residual blocks (16/32/64), ~0.27M params.",
            default_batch_size=128,
            min_input_size=8,
            builder="build_resnet_small",
            supports_attention=True,
        ),
        ArchSpec(
            name="inception_small",
            description="Stem conv and four small inception modules (1x1/3x3/5x5/pool branches), GAP head.",
            default_batch_size=64,
            min_input_size=8,
            builder="build_inception_small",
            supports_attention=True,
        ),
        ArchSpec(
            name="cifar_fast",
            description="Fastest to train on CPU: plain 3x3 conv-BN-ReLU with early "
            "max-pooling and residual pairs (ResNet-9-like, <300k params).",
            default_batch_size=256,
            # three 2x2 max-pools: 8 -> 4 -> 2 -> 1
            min_input_size=8,
            builder="build_cifar_fast",
            supports_attention=True,
        ),
        ArchSpec(
            name="airbench_small",
            description="Most accurate per minute under 300k params: a frozen whitening stem and three "
            "conv-pool-BN-GELU blocks (32/64/128), airbench's design. Best with a time budget.",
            default_batch_size=1024,
            # 2x2 valid whitening then three floor 2x2 max-pools: 9 -> 8 -> 4 -> 2 -> 1
            min_input_size=9,
            builder="build_airbench_small",
            model_defaults=AIRBENCH_MODEL_DEFAULTS,
            familiarity_layers=AIRBENCH_FAMILIARITY_LAYERS,
        ),
        ArchSpec(
            name="airbench",
            description="airbench94's network (64/256/256, ~2M params, ReLU): the same design, wider; "
            "about 10 epochs in 15 minutes on 2 CPU cores with bfloat16 units.",
            default_batch_size=1024,
            min_input_size=9,
            builder="build_airbench",
            model_defaults=AIRBENCH_MODEL_DEFAULTS,
            familiarity_layers=AIRBENCH_FAMILIARITY_LAYERS,
        ),
        ArchSpec(
            name="mobilenet_v2",
            description="Transfer learning: Keras MobileNetV2 base (ImageNet or local "
            "weights, or random init), GAP + softmax head.",
            default_batch_size=32,
            # smaller inputs are upsampled to 32x32 inside the model
            min_input_size=8,
            builder="build_mobilenet_v2",
            supports_weights=True,
        ),
        ArchSpec(
            name="from_run",
            description="Your photos on a trained run's network: its layers frozen, a new head for your "
            "classes (weights = the run; default: the bundled CIFAR-10 demo). Trains in seconds.",
            default_batch_size=32,
            # the inputs are resized to the source run's input size inside the model
            min_input_size=4,
            builder="build_from_run",
            supports_weights=True,
        ),
    )
}
"""All architectures by name, in the order the app lists them."""


def get_spec(arch: str) -> ArchSpec:
    """Return the spec for ``arch``, or raise ConfigError listing the known names."""
    spec = ARCHITECTURES.get(arch) if isinstance(arch, str) else None
    if spec is None:
        raise ConfigError(
            f"unknown architecture {arch!r}; expected one of: {', '.join(ARCHITECTURES)}. Received: arch={arch!r}"
        )
    return spec


def list_architectures() -> list[dict[str, Any]]:
    """Describe every registered architecture for pickers and ``--help`` text.

    Returns:
        One dict per architecture with ``name``, ``description``, ``default_batch_size``,
        ``min_input_size``, ``supports_attention`` and ``supports_weights``.
    """
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "default_batch_size": spec.default_batch_size,
            "min_input_size": spec.min_input_size,
            "supports_attention": spec.supports_attention,
            "supports_weights": spec.supports_weights,
        }
        for spec in ARCHITECTURES.values()
    ]
