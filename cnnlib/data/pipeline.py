"""``make_tf_dataset``: in-memory uint8 arrays to a fast ``tf.data`` pipeline.

Training on two CPU cores is compute bound, so the input pipeline must cost
next to nothing: the arrays stay uint8 in one tensor, shuffling permutes
indices (no shuffle buffer of images), each block of batches is one ``tf.gather``,
and augmentation runs once per block with vectorized ops (each image still gets
its own random parameters). Randomness is stateless and derived from the
seed and a per-epoch random stream, so a seed reproduces a run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnlib.data.config import Split
from cnnlib.errors import ConfigError, DataError

AUGMENTATIONS = ("flip", "alternating_flip", "rotation", "zoom", "translation", "contrast", "brightness", "crop",
                 "cutout")
ROTATION_DEGREES = 15.0
ZOOM_RANGE = 0.1
TRANSLATION_FRACTION = 0.1
CONTRAST_RANGE = 0.2
BRIGHTNESS_DELTA = 0.1 * 255.0
CROP_PADDING = 4
CUTOUT_FRACTION = 0.25
#: Training images gathered and augmented in one call before being cut into batches. Each
#: call has a fixed cost that small batches paid once a batch (simple_cnn at batch 64 steps
#: in 20 ms); one call per 1,024 images took the pipeline / cached-batch ratio of simple_cnn
#: from 0.88 to 0.93, dwsep_cnn 0.95 -> 0.97, from_run 0.93 -> 1.00; 4,096 gave simple_cnn
#: no more (docs/BENCHMARKS.md, "Input pipeline ratio", 2026-12-07).
BLOCK_IMAGES = 1024


def check_augment(augment: Any) -> tuple[str, ...]:
    """Normalize ``"flip,crop"`` / lists to a tuple and reject unknown names."""
    if isinstance(augment, str):
        augment = [part.strip() for part in augment.split(",") if part.strip()]
    names = tuple(augment or ())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(
            f"unknown augmentation {unknown[0]!r}; expected any of: {', '.join(AUGMENTATIONS)}. Received: augment={list(names)!r}"
        )
    if "flip" in names and "alternating_flip" in names:
        raise ConfigError("choose one of flip (random) and alternating_flip (every other epoch); "
                          f"Received: augment={list(names)!r}")
    return names


def make_tf_dataset(
    split: Split,
    batch_size: int,
    training: bool,
    seed: int,
    augment: tuple[str, ...] = (),
    num_classes: int | None = None,
    crop_padding: int = CROP_PADDING,
) -> Any:
    """Build the batched ``tf.data.Dataset`` for one split.

    Args:
        split: the in-memory split.
        batch_size: examples per batch (the last batch may be smaller).
        training: shuffle (each epoch anew) and augment only when True.
        seed: seeds the shuffle and the augmentation.
        augment: names from ``AUGMENTATIONS``; applied in the fixed order flip,
            crop, rotation/zoom/translation (one resample), contrast,
            brightness, cutout, whatever order they are given in.
            ``alternating_flip`` mirrors a random half of the images in even epochs and
            the other half in odd ones (airbench: 10.8 -> 9.9 epochs to 94%); its
            dataset never ends, so each batch knows its epoch.
        num_classes: when given, labels are checked to be below it.
        crop_padding: the most pixels ``crop`` shifts an image by (reflect padding).

    Returns:
        A dataset of ``(float32 images (B, H, W, C) in 0..255, int64 labels (B,))``.
    """
    import tensorflow as tf

    names = check_augment(augment)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    images_np = np.asarray(split.images)
    labels_np = np.asarray(split.labels, dtype=np.int64)
    if images_np.ndim != 4 or images_np.dtype != np.uint8 or len(images_np) != len(labels_np):
        raise DataError(
            f"split images must be uint8 (N, H, W, C) with one label each. Received: {images_np.dtype} "
            f"{images_np.shape} and {labels_np.shape[0]} labels"
        )
    if num_classes is not None and len(labels_np) and (labels_np.min() < 0 or labels_np.max() >= num_classes):
        raise DataError(f"labels must be in [0, {num_classes}). Received: {labels_np.min()}..{labels_np.max()}")

    count = len(labels_np)
    images = tf.constant(images_np)
    labels = tf.constant(labels_np)
    if training and "alternating_flip" in names:
        return _alternating_flip_batches(images, labels, batch_size, seed, names, crop_padding)
    indices = tf.data.Dataset.range(count)
    if training:
        indices = indices.shuffle(max(1, count), seed=seed, reshuffle_each_iteration=True)
    # Training gathers (and augments) whole blocks of batches, then cuts them: see BLOCK_IMAGES.
    block = batch_size * max(1, BLOCK_IMAGES // batch_size) if training else batch_size
    gathered = indices.batch(block).map(
        lambda idx: (tf.gather(images, idx), tf.gather(labels, idx)), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if not training:
        # Evaluation batches never change: keep the gathered uint8 batches.
        return gathered.cache().map(_to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    if not names:
        blocks = gathered.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        augmenter = _augmenter(names, crop_padding)
        blocks = tf.data.Dataset.zip((gathered, seeds)).map(
            lambda xy, pair: augmenter(xy[0], xy[1], pair), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    # rebatch cuts with one copy, and keeps the epoch's last, smaller batch.
    return (blocks.rebatch(batch_size) if block > batch_size else blocks).prefetch(tf.data.AUTOTUNE)


#: Epochs an ``alternating_flip`` dataset holds (it is repeated by nobody: this is "forever").
_ENDLESS_EPOCHS = 2**31 - 1


def _alternating_flip_batches(images: Any, labels: Any, batch_size: int, seed: int, names: tuple[str, ...],
                              crop_padding: int) -> Any:
    """Endless training batches whose mirror flips with the epoch: image i is mirrored in
    epoch e when ``half[i] != e % 2``, with ``half`` a fixed random half of the images."""
    import tensorflow as tf

    count = int(labels.shape[0])
    half = tf.constant(np.random.default_rng(seed).random(count) < 0.5)

    def epoch_batches(epoch: Any) -> Any:
        order = tf.argsort(tf.random.stateless_uniform([count], seed=tf.stack([tf.constant(seed, tf.int64), epoch])))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size).map(lambda idx: (idx, epoch))

    def gather(idx: Any, epoch: Any) -> Any:
        mirrored = tf.not_equal(tf.gather(half, idx), tf.equal(epoch % 2, 1))
        return tf.gather(images, idx), tf.gather(labels, idx), mirrored

    augmenter = _augmenter(names, crop_padding)
    batches = tf.data.Dataset.range(_ENDLESS_EPOCHS).flat_map(epoch_batches).map(
        gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    return tf.data.Dataset.zip((batches, seeds)).map(
        lambda batch, pair: augmenter(batch[0], batch[1], pair, batch[2]), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).prefetch(tf.data.AUTOTUNE)


def _to_float(images: Any, labels: Any) -> tuple[Any, Any]:
    import tensorflow as tf

    return tf.cast(images, tf.float32), labels


def _augmenter(names: tuple[str, ...], crop_padding: int = CROP_PADDING) -> Any:
    import tensorflow as tf

    geometric = {name for name in ("rotation", "zoom", "translation") if name in names}

    def apply(images: Any, labels: Any, pair: Any, mirrored: Any = None) -> tuple[Any, Any]:
        seed = tf.cast(pair, tf.int64) % (2**31 - 1)  # stateless ops take a 2-element seed

        def step_seed(step: int) -> Any:
            return tf.stack([seed[0], seed[1] + step])

        x = images
        if mirrored is not None or "flip" in names or "crop" in names:  # one gather on uint8 does both
            x = _flip_crop(x, step_seed(0), "flip" in names, "crop" in names, crop_padding, mirrored)
        x = tf.cast(x, tf.float32)
        if geometric:  # one resample for all three, not three blurs
            x = _affine(x, step_seed(2), ROTATION_DEGREES if "rotation" in geometric else 0.0,
                        ZOOM_RANGE if "zoom" in geometric else 0.0,
                        TRANSLATION_FRACTION if "translation" in geometric else 0.0)
        if "contrast" in names:
            x = _contrast(x, step_seed(3))
        if "brightness" in names:
            x = _brightness(x, step_seed(4))
        if "cutout" in names:
            x = _cutout(x, step_seed(5))
        return tf.clip_by_value(x, 0.0, 255.0), labels

    return apply


def _uniform(seed: Any, shape: Any, low: float, high: float) -> Any:
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def _affine(x: Any, seed: Any, rotation: float, zoom: float, translation: float) -> Any:
    """Rotate / zoom / shift each image about its centre in one bilinear resample."""
    import tensorflow as tf

    batch = tf.shape(x)[0]
    height = tf.cast(tf.shape(x)[1], tf.float32)
    width = tf.cast(tf.shape(x)[2], tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, 4)
    angle = _uniform(seeds[0], [batch], -rotation, rotation) * (math.pi / 180.0)
    scale = _uniform(seeds[1], [batch], 1.0 - zoom, 1.0 + zoom)  # >1 zooms in
    shift_x = _uniform(seeds[2], [batch], -translation, translation) * width
    shift_y = _uniform(seeds[3], [batch], -translation, translation) * height
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    # Output pixel p reads input A (p - c) + c - shift.
    transforms = tf.stack([
        cos, -sin, cx - cos * cx + sin * cy - shift_x,
        sin, cos, cy - sin * cx - cos * cy - shift_y,
        tf.zeros_like(cos), tf.zeros_like(cos),
    ], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=tf.shape(x)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT",
    )


def _contrast(x: Any, seed: Any) -> Any:
    import tensorflow as tf

    factor = _uniform(seed, [tf.shape(x)[0], 1, 1, 1], 1.0 - CONTRAST_RANGE, 1.0 + CONTRAST_RANGE)
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return tf.clip_by_value((x - mean) * factor + mean, 0.0, 255.0)


def _brightness(x: Any, seed: Any) -> Any:
    import tensorflow as tf

    delta = _uniform(seed, [tf.shape(x)[0], 1, 1, 1], -BRIGHTNESS_DELTA, BRIGHTNESS_DELTA)
    return tf.clip_by_value(x + delta, 0.0, 255.0)


def _flip_crop(x: Any, seed: Any, flip: bool, crop: bool, padding: int = CROP_PADDING, mirrored: Any = None) -> Any:
    """Random horizontal flip and/or CIFAR-style crop (reflect-pad, random crop) in one gather.

    ``mirrored`` (a ``(B,)`` bool tensor) says which images to mirror, instead of a coin flip.

    Both only move pixels, so they are done on the uint8 batch as a single
    gather of precomputed source indices - far cheaper than pad + two
    batched gathers + a select on float32.
    """
    import tensorflow as tf

    shape = tf.shape(x)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    rows = tf.broadcast_to(tf.range(height)[None, :], [batch, height])
    cols = tf.broadcast_to(tf.range(width)[None, :], [batch, width])
    padded_h, padded_w = height, width
    if crop:
        pad_h = tf.minimum(padding, height - 1)  # reflect padding needs pad < side
        pad_w = tf.minimum(padding, width - 1)
        x = tf.pad(x, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], mode="REFLECT")
        padded_h, padded_w = height + 2 * pad_h, width + 2 * pad_w
        dy = tf.random.stateless_uniform([batch, 1], seed=seeds[0], minval=0, maxval=2 * pad_h + 1, dtype=tf.int32)
        dx = tf.random.stateless_uniform([batch, 1], seed=seeds[1], minval=0, maxval=2 * pad_w + 1, dtype=tf.int32)
        rows, cols = rows + dy, cols + dx
    if flip or mirrored is not None:
        flipped_cols = tf.reduce_min(cols, axis=1, keepdims=True) + tf.reduce_max(cols, axis=1, keepdims=True) - cols
        flipped = (tf.random.stateless_uniform([batch, 1], seed=seeds[2]) < 0.5) if mirrored is None \
            else tf.reshape(mirrored, [batch, 1])
        cols = tf.where(flipped, flipped_cols, cols)
    images = tf.range(batch)[:, None, None]
    flat = (images * padded_h + rows[:, :, None]) * padded_w + cols[:, None, :]
    return tf.gather(tf.reshape(x, [-1, channels]), flat)


def _cutout(x: Any, seed: Any) -> Any:
    """Erase one random square per image (side = 1/4 of the short side) with mid-gray."""
    import tensorflow as tf

    shape = tf.shape(x)
    batch, height, width = shape[0], shape[1], shape[2]
    side = tf.maximum(1, tf.cast(tf.cast(tf.minimum(height, width), tf.float32) * CUTOUT_FRACTION, tf.int32))
    seeds = tf.random.experimental.stateless_split(seed, 2)
    cy = tf.random.stateless_uniform([batch, 1, 1], seed=seeds[0], minval=0, maxval=height, dtype=tf.int32)
    cx = tf.random.stateless_uniform([batch, 1, 1], seed=seeds[1], minval=0, maxval=width, dtype=tf.int32)
    ys = tf.range(height)[None, :, None]
    xs = tf.range(width)[None, None, :]
    top, left = cy - side // 2, cx - side // 2
    inside = (ys >= top) & (ys < top + side) & (xs >= left) & (xs < left + side)
    return tf.where(inside[:, :, :, None], tf.constant(127.5, tf.float32), x)
