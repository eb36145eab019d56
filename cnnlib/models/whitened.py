"""Whitened-stem networks shaped after airbench (Jordan 2024, arXiv 2404.00498), in built-in layers.

Layout: ``rescale`` -> ``whiten`` (a 2x2 valid conv whose kernel the trainer sets from the
training images' patch covariance and keeps frozen; ``cnnlib.training.whitening``) -> act,
then three blocks of ``conv3x3 -> maxpool2 -> BN -> act -> conv3x3 -> BN -> act``, a global
max-pool, the logits scaled by 1/9 and the float32 softmax ``predictions``. The activation is
GELU in the tier-1 net and ReLU in the tier-2 net (``SMALL_ACTIVATION``, ``WIDE_ACTIVATION``).

Tier 1 uses GELU, as airbench (the exact, erf form). On two AVX2 cores in float32 one training step of
airbench_small at batch 1024 ran 913 img/s with GELU against 1,066 with ReLU (0.86x), so a
60-minute budget trains 62 epochs against 77; with GELU, BatchNorm's epsilon at 1e-5,
PyTorch's conv init and 48,000 training images instead of 45,000 (``--val-fraction 0.04``),
the 60-minute runs scored 89.72% (seed 1) and 89.23% (seed 0) against ReLU's 89.14% and 89.02%
(docs/BENCHMARKS.md, "tiers"; the four changes are not separated). Before that measurement the layout used ReLU: on two Xeon cores with bfloat16 units
GELU ran 410 img/s against ReLU's 1,270-1,362 (mixed_bfloat16), a cost that machine still pays.
Tier 2 uses ReLU because its budgets are short of epochs: on a 2-core EPYC with bfloat16 units,
15 minutes trained the wide net 11 epochs with ReLU against 9 with GELU, 90.16% against 89.66%
test accuracy (seed 0 each), and every tier-2 60-minute figure was measured with ReLU.

Why this shape: max-pooling right after each block's first conv runs the BN, the activation and
the second conv on a quarter of the pixels; the frozen whitening makes the first layer free
to train; BatchNorm keeps no scale (airbench freezes it at 1, so it is left out); and the
trainer starts each conv's first input channels as an identity (Dirac) kernel
(``set_identity_kernels``), so the untrained network passes its input through. The 1/9
logit scale sits before the head (``head_scale``): a linear map commutes with it, so the
logits are exactly airbench's, and ``predictions`` stays the registry's softmax Dense layer
every reader of a model relies on.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from cnnlib.models import blocks
from cnnlib.models.blocks import LayerOptions
from cnnlib.models.config import ModelConfig

#: Block widths of the tier-1 model (<= 300k parameters: 295,554 at 32x32x3, 10 classes).
SMALL_WIDTHS = (32, 64, 128)
#: Block widths of airbench94's network (1.97M parameters at 32x32x3, 10 classes).
WIDE_WIDTHS = (64, 256, 256)
#: The whitening patch side (airbench: 2x2 patches of the normalised image).
WHITEN_PATCH = 2
#: airbench's logit scale.
LOGIT_SCALE = 1.0 / 9.0
#: The tier-1 net's activation after the stem and every BatchNorm: airbench's GELU (exact, erf form).
SMALL_ACTIVATION = "gelu"
#: The tier-2 net's: ReLU, cheaper in bfloat16 (module docstring), where 15 minutes hold ~10 epochs.
WIDE_ACTIVATION = "relu"
#: BatchNorm's epsilon. Keras' default 1e-3 was 10-20% of the variance reaching block3_b_bn
#: in a 60-minute run (moving variance 0.005-0.015), so it damped that layer's output and broke
#: the scale invariance the frozen-scale BN relies on; airbench uses 1e-12, PyTorch 1e-5.
BN_EPSILON = 1e-5


def conv_initializer() -> keras.initializers.Initializer:
    """The block convs' initial kernels: PyTorch's default, which airbench's rates are tuned with.

    Uniform in +-1/sqrt(fan_in) (variance 1 / (3 fan_in)), a sixth of He-normal's variance: behind
    a scale-free BatchNorm a smaller kernel takes larger effective steps, and the identity
    filters (``set_identity_kernels``) keep their share of the signal.
    """
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


#: The whitening stem's layer name: the trainer fits it (``cnnlib.training.whitening``), the
#: optimizer groups its bias, and the int8 export keeps it in float.
STEM_LAYER = "whiten"


#: Layer names (regular expressions a whole name must match) that an int8 export keeps in
#: float32 (``cnnlib.export``). The whitening stem: on the 60-minute airbench_small run of
#: docs/BENCHMARKS.md ("int8"), quantizing it took 1.5 quantization steps of error against ~0.29
#: for every other layer (TFLite's quantization debugger); in float it raised top-1 agreement
#: with Keras from 98.07% to 99.37% on 3,000 test images, and the BatchNorm after each pool
#: (``blockN_a_bn``) then to 99.63%. Together about 1,000 float weights.
INT8_FLOAT_LAYERS = (STEM_LAYER, r"block\d+_a_bn")


def whiten_filters(channels: int) -> int:
    """Output channels of the whitening conv: each patch eigenvector and its negative."""
    return 2 * channels * WHITEN_PATCH * WHITEN_PATCH


def _act(x: keras.KerasTensor, name: str, activation: str) -> keras.KerasTensor:
    return layers.Activation(activation, name=name)(x)


def _bn(x: keras.KerasTensor, name: str, opts: LayerOptions) -> keras.KerasTensor:
    return layers.BatchNormalization(momentum=opts.bn_momentum, epsilon=BN_EPSILON, scale=False, name=name)(x)


def _block(x: keras.KerasTensor, filters: int, name: str, opts: LayerOptions, activation: str) -> keras.KerasTensor:
    x = blocks.conv(x, filters, 3, name=f"{name}_a", opts=opts, initializer=conv_initializer())
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = _act(_bn(x, f"{name}_a_bn", opts), f"{name}_a_act", activation)
    x = blocks.conv(x, filters, 3, name=f"{name}_b", opts=opts, initializer=conv_initializer())
    return _act(_bn(x, f"{name}_b_bn", opts), f"{name}_b_act", activation)


def set_identity_kernels(model: keras.Model) -> bool:
    """Start each block 3x3 conv's first ``min(in, out)`` filters as the identity (Dirac) kernel.

    airbench's initialisation (``TrainConfig.identity_init``): the untrained blocks pass their
    input through. Applied by the trainer, on weights, so the saved model keeps only built-in
    objects and a model built for loading weights does not pay for it.

    Args:
        model: A built Keras model.

    Returns:
        True when the kernels were set; False (and nothing changed) for a model without a
        ``whiten`` stem: other architectures name their convs ``block...`` too, and their
        recipes were measured without it.
    """
    if STEM_LAYER not in {layer.name for layer in model.layers}:
        return False
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D) and layer.name.startswith("block") and layer.kernel_size == (3, 3):
            kernel = np.array(layer.get_weights()[0])
            shared = min(kernel.shape[2], kernel.shape[3])
            kernel[:, :, :, :shared] = 0.0
            kernel[1, 1, np.arange(shared), np.arange(shared)] = 1.0
            layer.set_weights([kernel])
    return True


def _build(config: ModelConfig, widths: tuple[int, ...], activation: str) -> keras.Model:
    opts = LayerOptions(l2=float(config.l2), bn_momentum=float(config.bn_momentum))
    inputs = keras.Input(shape=config.input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    channels = int(config.input_shape[2])
    # Placeholder weights until the trainer fits them from data (cnnlib.training.whitening).
    x = layers.Conv2D(whiten_filters(channels), WHITEN_PATCH, padding="valid", name=STEM_LAYER)(x)
    x = _act(x, "whiten_act", activation)
    for index, width in enumerate(widths, start=1):
        x = _block(x, blocks.scale_filters(width, config.width), f"block{index}", opts, activation)
    x = layers.GlobalMaxPooling2D(name="pool")(x)
    if config.dropout > 0:
        x = layers.Dropout(config.dropout, name="head_dropout")(x)
    x = layers.Rescaling(LOGIT_SCALE, name="head_scale")(x)
    return keras.Model(inputs, blocks.predictions(x, config.num_classes, opts=opts), name=config.arch)


def build_airbench_small(config: ModelConfig) -> keras.Model:
    """Tier 1: the whitened airbench layout at widths 32/64/128 (295,554 params at 32x32x3, 10 classes)."""
    return _build(config, SMALL_WIDTHS, SMALL_ACTIVATION)


def build_airbench(config: ModelConfig) -> keras.Model:
    """Tier 2: airbench94's widths 64/256/256 with ReLU (1,973,954 params at 32x32x3, 10 classes)."""
    return _build(config, WIDE_WIDTHS, WIDE_ACTIVATION)
