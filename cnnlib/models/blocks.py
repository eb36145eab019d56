"""Building blocks: functional helpers over built-in Keras layers only.

Every helper takes a ``name`` prefix and names each layer it creates
``f"{name}_<part>"``, so layer names are deterministic (Grad-CAM, feature maps and
the app's summary find layers by name) and the same config always gives the same
names. No custom layer classes are used on purpose: a saved ``.keras`` model then
loads with plain ``keras.saving.load_model(path)`` in any process, without
``custom_objects`` and without first importing ``cnnlib``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers


@dataclass(frozen=True)
class LayerOptions:
    """Settings shared by every layer of a model.

    Attributes:
        l2: L2 penalty on conv/dense kernels (0 = no regularizer, so none is saved).
        bn_momentum: BatchNorm momentum (see ``ModelConfig.bn_momentum``).
    """

    l2: float = 0.0
    bn_momentum: float = 0.9

    def regularizer(self) -> keras.regularizers.Regularizer | None:
        """A fresh L2 regularizer, or None when weight decay is off."""
        return keras.regularizers.L2(self.l2) if self.l2 > 0 else None


def scale_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a filter count by the width multiplier, rounded to a multiple of ``divisor``.

    Multiples of 8 keep the channel dimension friendly to SIMD kernels (AVX-512 holds
    16 floats), and never rounding down by more than 10% mirrors MobileNet's
    ``_make_divisible``, so small widths do not collapse a layer.
    """
    value = filters * width
    scaled = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if scaled < 0.9 * value:
        scaled += divisor
    return scaled


def batch_norm(x: keras.KerasTensor, *, name: str, opts: LayerOptions) -> keras.KerasTensor:
    """BatchNormalization with the configured momentum."""
    return layers.BatchNormalization(momentum=opts.bn_momentum, name=name)(x)


def conv(x: keras.KerasTensor, filters: int, kernel_size: int = 3, strides: int = 1, *, name: str,
         opts: LayerOptions, initializer: str | keras.initializers.Initializer = "he_normal") -> keras.KerasTensor:
    """The one plain convolution of our blocks: "same" padding, He init unless told, no bias (a BN follows).

    L2 from ``opts``. Layer: ``{name}_conv``.
    """
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=initializer,
        kernel_regularizer=opts.regularizer(),
        name=f"{name}_conv",
    )(x)


def conv_bn(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    *,
    name: str,
    opts: LayerOptions,
    activation: bool = True,
) -> keras.KerasTensor:
    """Conv2D (no bias: BN's beta replaces it) -> BN -> optional ReLU.

    Layers: ``{name}_conv``, ``{name}_bn``, ``{name}_relu``.
    """
    x = conv(x, filters, kernel_size, strides, name=name, opts=opts)
    x = batch_norm(x, name=f"{name}_bn", opts=opts)
    if activation:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def dwsep_block(
    x: keras.KerasTensor,
    filters: int,
    strides: int = 1,
    *,
    name: str,
    opts: LayerOptions,
) -> keras.KerasTensor:
    """Depthwise-separable conv with a residual skip (MobileNet style).

    DW3x3 -> BN -> ReLU -> PW1x1 -> BN -> ReLU, plus ``x`` added back when the shapes
    match (stride 1, same channels). When they do not there is no skip: MobileNetV2's
    choice, which keeps the tutorial's ~139k parameters for ``dwsep_cnn``.

    Layers: ``{name}_dw``, ``{name}_dw_bn``, ``{name}_dw_relu``, ``{name}_pw_conv``,
    ``{name}_pw_bn``, ``{name}_pw_relu``, and ``{name}_add`` when there is a skip.
    """
    shortcut = x
    in_channels = x.shape[-1]
    x = layers.DepthwiseConv2D(
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        depthwise_initializer="he_normal",
        depthwise_regularizer=opts.regularizer(),
        name=f"{name}_dw",
    )(x)
    x = batch_norm(x, name=f"{name}_dw_bn", opts=opts)
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    x = conv_bn(x, filters, 1, name=f"{name}_pw", opts=opts)
    if strides == 1 and in_channels == filters:
        return layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def squeeze_excite(x: keras.KerasTensor, *, name: str, opts: LayerOptions, reduction: int = 8) -> keras.KerasTensor:
    """Squeeze-and-excitation: reweight channels by a gate computed from their means.

    GAP -> Dense(C/r, ReLU) -> Dense(C, sigmoid) -> multiply. ``r=8`` with at least 8
    hidden units (rather than the paper's 16) because our nets are narrow.

    Layers: ``{name}_squeeze``, ``{name}_reduce``, ``{name}_expand``, ``{name}_scale``.
    """
    channels = x.shape[-1]
    hidden = max(8, channels // reduction)
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Dense(hidden, activation="relu", kernel_regularizer=opts.regularizer(), name=f"{name}_reduce")(s)
    s = layers.Dense(
        channels,
        activation="sigmoid",
        kernel_regularizer=opts.regularizer(),
        name=f"{name}_expand",
    )(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def _channel_pool(x: keras.KerasTensor, mode: str, name: str) -> keras.KerasTensor:
    """Mean or max over channels -> (H, W, 1), with built-in layers only.

    Keras has no channel-pooling layer and a ``Lambda`` would not load under safe
    mode, so flatten space to (H*W, C) and pool with ``channels_first`` 1D pooling,
    which reduces the last axis (C).
    """
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    pool_cls = layers.GlobalAveragePooling1D if mode == "avg" else layers.GlobalMaxPooling1D
    flat = layers.Reshape((height * width, channels), name=f"{name}_flat")(x)
    pooled = pool_cls(data_format="channels_first", keepdims=True, name=f"{name}_pool")(flat)
    return layers.Reshape((height, width, 1), name=f"{name}_map")(pooled)


def cbam(
    x: keras.KerasTensor,
    *,
    name: str,
    opts: LayerOptions,
    reduction: int = 8,
    spatial_kernel: int = 7,
) -> keras.KerasTensor:
    """Convolutional Block Attention Module (Woo et al. 2018): channel then spatial.

    Channel attention: avg- and max-pooled descriptors through one shared MLP, summed,
    sigmoid, multiply. Spatial attention: per-pixel channel mean and max concatenated,
    7x7 conv, sigmoid, multiply.

    Layers: ``{name}_ca_avg``, ``{name}_ca_max``, ``{name}_ca_fc1``, ``{name}_ca_fc2``
    (shared between both descriptors), ``{name}_ca_add``, ``{name}_ca_sigmoid``,
    ``{name}_ca_scale``, ``{name}_sa_avg_*``, ``{name}_sa_max_*``, ``{name}_sa_concat``,
    ``{name}_sa_conv``, ``{name}_sa_scale``.
    """
    channels = x.shape[-1]
    hidden = max(8, channels // reduction)
    fc1 = layers.Dense(hidden, activation="relu", kernel_regularizer=opts.regularizer(), name=f"{name}_ca_fc1")
    fc2 = layers.Dense(channels, kernel_regularizer=opts.regularizer(), name=f"{name}_ca_fc2")
    avg = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_ca_avg")(x)
    mx = layers.GlobalMaxPooling2D(keepdims=True, name=f"{name}_ca_max")(x)
    gate = layers.Add(name=f"{name}_ca_add")([fc2(fc1(avg)), fc2(fc1(mx))])
    gate = layers.Activation("sigmoid", name=f"{name}_ca_sigmoid")(gate)
    x = layers.Multiply(name=f"{name}_ca_scale")([x, gate])

    pooled = layers.Concatenate(name=f"{name}_sa_concat")(
        [_channel_pool(x, "avg", f"{name}_sa_avg"), _channel_pool(x, "max", f"{name}_sa_max")]
    )
    spatial = layers.Conv2D(
        1,
        spatial_kernel,
        padding="same",
        activation="sigmoid",
        kernel_regularizer=opts.regularizer(),
        name=f"{name}_sa_conv",
    )(pooled)
    return layers.Multiply(name=f"{name}_sa_scale")([x, spatial])


def attention_block(x: keras.KerasTensor, kind: str | None, *, name: str, opts: LayerOptions) -> keras.KerasTensor:
    """Apply ``"se"``, ``"cbam"`` or nothing (``None``), named ``{name}_se``/``{name}_cbam``."""
    if kind is None:
        return x
    if kind == "se":
        return squeeze_excite(x, name=f"{name}_se", opts=opts)
    if kind == "cbam":
        return cbam(x, name=f"{name}_cbam", opts=opts)
    raise ValueError(f"attention must be None, 'se' or 'cbam'. Received: attention={kind!r}")


def inception_module(
    x: keras.KerasTensor,
    filters_1x1: int,
    filters_3x3_reduce: int,
    filters_3x3: int,
    filters_5x5_reduce: int,
    filters_5x5: int,
    filters_pool: int,
    *,
    name: str,
    opts: LayerOptions,
) -> keras.KerasTensor:
    """GoogLeNet inception module: 1x1, 1x1->3x3, 1x1->5x5, maxpool->1x1, concatenated.

    Every conv is conv-BN-ReLU (Inception-v2 style) so the module trains without
    auxiliary heads. Output channels: the sum of the four branch widths.

    Layers: ``{name}_b1``, ``{name}_b3r``/``{name}_b3``, ``{name}_b5r``/``{name}_b5``,
    ``{name}_pool``/``{name}_poolproj`` (each conv as ``*_conv/_bn/_relu``),
    ``{name}_concat``.
    """
    b1 = conv_bn(x, filters_1x1, 1, name=f"{name}_b1", opts=opts)
    b3 = conv_bn(x, filters_3x3_reduce, 1, name=f"{name}_b3r", opts=opts)
    b3 = conv_bn(b3, filters_3x3, 3, name=f"{name}_b3", opts=opts)
    b5 = conv_bn(x, filters_5x5_reduce, 1, name=f"{name}_b5r", opts=opts)
    b5 = conv_bn(b5, filters_5x5, 5, name=f"{name}_b5", opts=opts)
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = conv_bn(bp, filters_pool, 1, name=f"{name}_poolproj", opts=opts)
    return layers.Concatenate(name=f"{name}_concat")([b1, b3, b5, bp])


def residual_block(
    x: keras.KerasTensor,
    filters: int,
    strides: int = 1,
    *,
    name: str,
    opts: LayerOptions,
    attention: str | None = None,
) -> keras.KerasTensor:
    """ResNet basic block: conv3x3-BN-ReLU, conv3x3-BN, (+attention), add skip, ReLU.

    The skip is the identity when shape is kept, else a 1x1 conv + BN projection
    (ResNet option B), which trains better than zero-padding on small nets.
    Attention, if any, reweights the residual branch before the add (SE-ResNet).

    Layers: ``{name}_conv1_*``, ``{name}_conv2_*``, ``{name}_proj_*``, ``{name}_add``,
    ``{name}_out``.
    """
    shortcut = x
    y = conv_bn(x, filters, 3, strides, name=f"{name}_conv1", opts=opts)
    y = conv_bn(y, filters, 3, name=f"{name}_conv2", opts=opts, activation=False)
    y = attention_block(y, attention, name=name, opts=opts)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, strides, name=f"{name}_proj", opts=opts, activation=False)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def classifier_head(x: keras.KerasTensor, num_classes: int, *, dropout: float, opts: LayerOptions) -> keras.KerasTensor:
    """GAP -> Dropout -> float32 softmax ``predictions``.

    ``dtype="float32"`` on the last layer keeps the softmax in float32 under a
    ``mixed_float16`` policy, where float16 probabilities would underflow.

    Layers: ``gap``, ``head_dropout`` (if ``dropout > 0``), ``predictions``.
    """
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return predictions(x, num_classes, opts=opts)


def predictions(x: keras.KerasTensor, num_classes: int, *, opts: LayerOptions) -> keras.KerasTensor:
    """The final ``Dense(num_classes, softmax, dtype="float32", name="predictions")``."""
    return layers.Dense(
        num_classes,
        activation="softmax",
        dtype="float32",
        kernel_regularizer=opts.regularizer(),
        name="predictions",
    )(x)
