"""Architecture builders, one per registry entry.

Each ``build_<arch>(config)`` returns a functional ``keras.Model`` named
``config.arch`` that takes raw 0-255 pixels (first layer ``rescale``) and ends in the
float32 softmax ``predictions`` layer. Builders are reached through
``cnnlib.models.build_model``; this module imports Keras, the registry does not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from cnnlib.errors import ConfigError
from cnnlib.models import blocks
from cnnlib.models.blocks import LayerOptions, scale_filters
from cnnlib.models.config import ModelConfig
from cnnlib.models.whitened import build_airbench, build_airbench_small  # noqa: F401  (registry builders)


def _options(config: ModelConfig) -> LayerOptions:
    return LayerOptions(l2=float(config.l2), bn_momentum=float(config.bn_momentum))


def _inputs_rescaled(config: ModelConfig) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Model input plus the 0-255 -> 0-1 ``rescale`` layer every model starts with."""
    inputs = keras.Input(shape=config.input_shape, name="image")
    return inputs, layers.Rescaling(1.0 / 255, name="rescale")(inputs)


def build_simple_cnn(config: ModelConfig) -> keras.Model:
    """The TensorFlow CNN tutorial network (valid padding, no BatchNorm).

    Conv(32)-Pool, Conv(64)-Pool, Conv(64), Flatten, Dense(64), Dropout, softmax.
    Kept faithful to the tutorial (122,570 params at 32x32x3/10 classes) as the
    baseline the other architectures are compared against.
    """
    opts = _options(config)
    reg = opts.regularizer
    inputs, x = _inputs_rescaled(config)
    f32, f64 = scale_filters(32, config.width), scale_filters(64, config.width)
    x = layers.Conv2D(f32, 3, activation="relu", kernel_regularizer=reg(), name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(f64, 3, activation="relu", kernel_regularizer=reg(), name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(f64, 3, activation="relu", kernel_regularizer=reg(), name="conv3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(f64, activation="relu", kernel_regularizer=reg(), name="fc1")(x)
    if config.dropout > 0:
        x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = blocks.predictions(x, config.num_classes, opts=opts)
    return keras.Model(inputs, outputs, name=config.arch)


DWSEP_STAGES: tuple[tuple[int, int], ...] = (
    (32, 1),
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
)
"""(filters, stride) of the six depthwise-separable blocks of ``dwsep_cnn``."""


def build_dwsep_cnn(config: ModelConfig) -> keras.Model:
    """Stem conv(32) then six depthwise-separable blocks, optional SE/CBAM after each.

    Skips are identity-only (added where stride is 1 and channels match: blocks 1, 4
    and 6), MobileNetV2's choice: it keeps the parameter count at the tutorial's
    ~139k (141,322 here at 32x32x3, 10 classes); projection skips would add ~45k.
    """
    opts = _options(config)
    inputs, x = _inputs_rescaled(config)
    x = blocks.conv_bn(x, scale_filters(32, config.width), 3, name="stem", opts=opts)
    for index, (filters, strides) in enumerate(DWSEP_STAGES, start=1):
        name = f"block{index}"
        x = blocks.dwsep_block(x, scale_filters(filters, config.width), strides, name=name, opts=opts)
        x = blocks.attention_block(x, config.attention, name=name, opts=opts)
    outputs = blocks.classifier_head(x, config.num_classes, dropout=config.dropout, opts=opts)
    return keras.Model(inputs, outputs, name=config.arch)


def build_resnet_small(config: ModelConfig) -> keras.Model:
    """ResNet-20 for CIFAR (He et al. 2016, sec. 4.2) with 1x1 projection skips.

    conv3x3(16), then 3 stages x 3 basic blocks at 16/32/64 filters (stride 2 at the
    start of stages 2 and 3), GAP, softmax: 274,042 params at 32x32x3/10 classes.
    """
    opts = _options(config)
    inputs, x = _inputs_rescaled(config)
    x = blocks.conv_bn(x, scale_filters(16, config.width), 3, name="stem", opts=opts)
    for stage, filters in enumerate((16, 32, 64), start=1):
        for block in range(1, 4):
            strides = 2 if stage > 1 and block == 1 else 1
            x = blocks.residual_block(
                x,
                scale_filters(filters, config.width),
                strides,
                name=f"stage{stage}_block{block}",
                opts=opts,
                attention=config.attention,
            )
    outputs = blocks.classifier_head(x, config.num_classes, dropout=config.dropout, opts=opts)
    return keras.Model(inputs, outputs, name=config.arch)


INCEPTION_MODULES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (32, 32, 48, 8, 16, 16),  # 112 channels, at input resolution / 2
    (48, 32, 64, 8, 24, 24),  # 160
    (64, 48, 96, 16, 32, 32),  # 224, after a 2x2 max-pool
    (80, 48, 112, 16, 32, 32),  # 256
)
"""Branch widths (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) per module."""


def build_inception_small(config: ModelConfig) -> keras.Model:
    """Strided stem conv, two inception modules, max-pool, two more, GAP, softmax.

    The stem is stride 2 so the inception modules (several convs each) run at a quarter
    of the input pixels; the 5x5 branches are the expensive part on CPU.
    """
    opts = _options(config)
    inputs, x = _inputs_rescaled(config)
    x = blocks.conv_bn(x, scale_filters(48, config.width), 3, 2, name="stem", opts=opts)
    for index, widths in enumerate(INCEPTION_MODULES, start=1):
        if index == 3:
            x = layers.MaxPooling2D(2, padding="same", name="pool")(x)
        name = f"inception{index}"
        x = blocks.inception_module(x, *(scale_filters(w, config.width) for w in widths), name=name, opts=opts)
        x = blocks.attention_block(x, config.attention, name=name, opts=opts)
    outputs = blocks.classifier_head(x, config.num_classes, dropout=config.dropout, opts=opts)
    return keras.Model(inputs, outputs, name=config.arch)


@dataclass(frozen=True)
class FastStage:
    """One stage of ``cifar_fast``: conv3x3 -> maxpool2 -> BN -> ReLU, then residual pairs.

    Attributes:
        filters: Width of the stage (before the width multiplier).
        residual_pairs: How many ``x + relu(bn(conv(relu(bn(conv(x))))))`` pairs follow.
    """

    filters: int
    residual_pairs: int


# Stem filters and stages: the "r9_36" shape, chosen over three other stage widths when the
# architecture was designed (commit 96bbfbe lists them; nothing reruns them, so they are gone).
CIFAR_FAST_STEM = 16
CIFAR_FAST_STAGES = (FastStage(32, 1), FastStage(72, 1), FastStage(144, 0))


def _fast_stage_conv(x: keras.KerasTensor, filters: int, *, name: str, opts: LayerOptions) -> keras.KerasTensor:
    """conv3x3 -> maxpool -> BN -> ReLU (airbench order: BN/ReLU on 1/4 of the pixels)."""
    x = blocks.conv(x, filters, 3, name=name, opts=opts)
    x = layers.MaxPooling2D(2, padding="same", name=f"{name}_pool")(x)
    x = blocks.batch_norm(x, name=f"{name}_bn", opts=opts)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_cifar_fast(config: ModelConfig) -> keras.Model:
    """Our CPU-first CIFAR design: a ResNet-9 (Page 2018 / airbench) shrunk to <300k params.

    Why this shape: on this CPU depthwise convs are ~10x slower per FLOP than dense
    3x3 convs, and XLA is slower still, so the net is plain conv3x3-BN-ReLU. Each
    stage halves resolution right after its first conv (max-pool before BN/ReLU), so
    most FLOPs run at 16x16 and below, and residual pairs add depth where it is
    cheap.
    """
    opts = _options(config)
    inputs, x = _inputs_rescaled(config)
    x = blocks.conv_bn(x, scale_filters(CIFAR_FAST_STEM, config.width), 3, name="stem", opts=opts)
    for index, stage in enumerate(CIFAR_FAST_STAGES, start=1):
        name = f"stage{index}"
        filters = scale_filters(stage.filters, config.width)
        x = _fast_stage_conv(x, filters, name=name, opts=opts)
        for pair in range(1, stage.residual_pairs + 1):
            pair_name = f"{name}_res{pair}"
            y = blocks.conv_bn(x, filters, 3, name=f"{pair_name}_a", opts=opts)
            y = blocks.conv_bn(y, filters, 3, name=f"{pair_name}_b", opts=opts)
            y = blocks.attention_block(y, config.attention, name=pair_name, opts=opts)
            x = layers.Add(name=f"{pair_name}_add")([x, y])
        if stage.residual_pairs == 0:
            x = blocks.attention_block(x, config.attention, name=name, opts=opts)
    outputs = blocks.classifier_head(x, config.num_classes, dropout=config.dropout, opts=opts)
    return keras.Model(inputs, outputs, name=config.arch)


MOBILENET_MIN_SIZE = 32
"""Keras' MobileNetV2 rejects inputs smaller than 32x32."""

IMAGENET_DOWNLOAD_ERROR = (
    "could not download ImageNet weights (offline?); pass a local weights file or use weights=None"
)


def _mobilenet_base(config: ModelConfig, shape: tuple[int, int, int]) -> keras.Model:
    """Create the Keras MobileNetV2 base, turning every weights problem into ConfigError."""
    weights = config.weights
    if weights not in (None, "imagenet"):
        weights = os.path.expanduser(weights)
        if not os.path.isfile(weights):
            raise ConfigError(
                f"weights file not found; expected an existing .h5 or .weights.h5 file. "
                f"Received: weights={config.weights!r}"
            )
    try:
        return keras.applications.MobileNetV2(
            input_shape=shape,
            alpha=float(config.width),
            include_top=False,
            weights=weights,
            name="mobilenetv2",
        )
    except Exception as error:  # keras raises bare Exception for download failures
        if weights == "imagenet" and "fetch failure" in str(error).lower():
            raise ConfigError(IMAGENET_DOWNLOAD_ERROR) from error
        if weights == "imagenet" and isinstance(error, OSError):
            raise ConfigError(IMAGENET_DOWNLOAD_ERROR) from error
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(
            f"could not build MobileNetV2 with these weights ({first_line[:200]}). "
            f"Received: weights={config.weights!r}, width={config.width!r}"
        ) from error


def build_mobilenet_v2(config: ModelConfig) -> keras.Model:
    """Transfer learning on Keras' MobileNetV2, nested as the layer ``mobilenetv2``.

    Preprocessing lives in the model, so it takes raw 0-255 pixels like every other
    architecture: ``rescale`` maps to [-1, 1] (MobileNetV2's ``preprocess_input``),
    grayscale is repeated to 3 channels (``gray_to_rgb``), and inputs smaller than
    32x32 are bilinearly upsampled (``upsample``). With pretrained weights the base is
    frozen (``trainable=False``) and always runs its BatchNorm in inference mode, the
    Keras fine-tuning recipe: unfreeze it later with
    ``model.get_layer("mobilenetv2").trainable = True`` and a low learning rate. With
    ``weights=None`` the base trains from scratch and uses ``config.bn_momentum``.
    L2 applies to the head only.
    """
    opts = _options(config)
    inputs = keras.Input(shape=config.input_shape, name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    height, width_px, channels = config.input_shape
    if channels == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    if min(height, width_px) < MOBILENET_MIN_SIZE:
        height, width_px = max(height, MOBILENET_MIN_SIZE), max(width_px, MOBILENET_MIN_SIZE)
        x = layers.Resizing(height, width_px, interpolation="bilinear", name="upsample")(x)
    base = _mobilenet_base(config, (height, width_px, 3))
    if config.weights is None:
        # Keras applications use momentum 0.999; from scratch on small data that leaves
        # inference-mode statistics unconverged (see ModelConfig.bn_momentum).
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = float(config.bn_momentum)
        x = base(x)
    else:
        base.trainable = False
        x = base(x, training=False)
    outputs = blocks.classifier_head(x, config.num_classes, dropout=config.dropout, opts=opts)
    return keras.Model(inputs, outputs, name=config.arch)


def _source_network(run_ref: str) -> tuple[keras.Model, tuple[int, int, int]]:
    """A trained run's network up to its penultimate features, frozen, and its input shape."""
    from cnnlib.errors import CnnlibError
    from cnnlib.runs import RunStore

    try:
        run = RunStore().get(run_ref)
        source = keras.saving.load_model(run.best_model_path(), compile=False)
    except CnnlibError as error:
        raise ConfigError(f"cannot start from run {run_ref!r}: {error}") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot start from run {run_ref!r}: its model does not load ({error})") from None
    head = source.get_layer("predictions")
    features = keras.Model(source.inputs, head.input, name="base")
    features.trainable = False
    return features, tuple(int(v) for v in source.inputs[0].shape[1:])


#: The standardisation before from_run's new head, fitted by the trainer (``adapt_feature_norm``).
FEATURE_NORM_LAYER = "feature_norm"
#: Training images whose features set it: more changes a mean and a variance little.
FEATURE_NORM_IMAGES = 2000
#: The smallest variance a feature is standardised by, as a share of the mean variance.
VARIANCE_FLOOR = 0.01


def adapt_feature_norm(model: keras.Model, images: np.ndarray) -> bool:
    """Set a ``from_run`` model's feature standardisation from its training images' features.

    A few dozen photos give a new head a dozen optimizer steps. Frozen features that share a
    large common part (max-pooled ones after airbench's whitening stem) leave the differences
    between the user's classes small, and the head did not find them in time: three colour
    casts reached 72% in 6 epochs on a 60-minute airbench_small run. Standardised, each
    feature starts on an equal footing, whatever network the features come from.

    Returns:
        True when the layer was set; False (nothing changed) for a model without it.
    """
    if FEATURE_NORM_LAYER not in {layer.name for layer in model.layers}:
        return False
    layer = model.get_layer(FEATURE_NORM_LAYER)
    features = keras.Model(model.inputs, layer.input).predict(np.asarray(images[:FEATURE_NORM_IMAGES]),
                                                              batch_size=256, verbose=0)
    # A feature (nearly) constant over these images, such as a channel ReLU keeps at zero,
    # would be divided by ~0 when an augmented image moves it: its variance is floored at a
    # hundredth of the mean variance.
    variance = features.var(axis=0)
    variance = np.maximum(variance, VARIANCE_FLOOR * max(float(variance.mean()), 1e-12))
    layer.set_weights([features.mean(axis=0), variance])
    return True


def build_from_run(config: ModelConfig) -> keras.Model:
    """A new head on a trained run's frozen network: Teachable Machine's recipe, offline.

    The base (``base``) is the run's model up to the input of its ``predictions`` layer, with
    its own preprocessing inside; it always runs its BatchNorm in inference mode. Inputs of
    another size or channel count are converted inside the model (``to_base_size``,
    ``gray_to_rgb`` / ``rgb_to_gray``), so the trained model takes raw 0-255 pixels as every
    registry model does. The features are standardised (``feature_norm``, set by the trainer
    from the training images: ``adapt_feature_norm``) before the head. ``width`` and
    ``attention`` do not apply; L2 applies to the head.
    """
    from cnnlib.training.recipes import default_base_run

    base, (height, width_px, channels) = _source_network(str(config.weights or default_base_run()))
    inputs = keras.Input(shape=config.input_shape, name="image")
    x = inputs
    if config.input_shape[2] != channels:
        if channels == 3:
            x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
        else:
            # A frozen 1x1 conv with the luma weights Pillow's convert("L") uses: a built-in
            # layer, so the saved model still loads without custom objects.
            to_gray = layers.Conv2D(1, 1, use_bias=False, trainable=False, name="rgb_to_gray")
            x = to_gray(x)
            to_gray.set_weights([np.array([0.299, 0.587, 0.114], dtype="float32").reshape(1, 1, 3, 1)])
    if config.input_shape[:2] != (height, width_px):
        x = layers.Resizing(height, width_px, interpolation="bilinear", name="to_base_size")(x)
    x = base(x, training=False)
    # A frozen BatchNormalization without scale or offset is a fixed standardisation that
    # set_weights and saving carry whole (Normalization's adapted state is not re-read
    # after set_weights); mean 0 and variance 1 until the trainer sets it.
    norm = layers.BatchNormalization(center=False, scale=False, name=FEATURE_NORM_LAYER)
    norm.trainable = False
    x = norm(x)
    if config.dropout > 0:  # named apart from the base's own head_dropout: flattened graphs need unique names
        x = layers.Dropout(config.dropout, name="new_head_dropout")(x)
    outputs = blocks.predictions(x, config.num_classes, opts=_options(config))
    return keras.Model(inputs, outputs, name=config.arch)
