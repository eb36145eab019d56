"""The one model factory: ``build_model`` builds what a ``ModelConfig`` describes, from the registry's spec.

Keras is imported (through ``cnnlib.models.architectures``) only when a model is built,
so importing ``cnnlib.models`` stays TensorFlow-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnlib.errors import ConfigError
from cnnlib.models.config import ModelConfig
from cnnlib.models.registry import get_spec

if TYPE_CHECKING:
    import keras


def build_model(config: ModelConfig) -> keras.Model:
    """Build the (uncompiled) model described by ``config``.

    The model is named ``config.arch``, takes raw 0-255 pixels shaped
    ``config.input_shape`` (its first layer rescales them), and ends in
    ``Dense(num_classes, softmax, dtype="float32", name="predictions")`` so that a
    ``mixed_float16`` policy still yields float32 probabilities. Only built-in Keras
    layers are used, so ``keras.saving.load_model(path)`` needs no custom objects.

    Args:
        config: A validated ``ModelConfig``.

    Returns:
        A functional ``keras.Model``.

    Raises:
        ConfigError: for an unknown architecture or unusable ``weights``.
    """
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"build_model expects a ModelConfig. Received: {type(config).__name__}")
    from cnnlib.models import architectures  # Keras-heavy: only when a model is built

    return getattr(architectures, get_spec(config.arch).builder)(config)
