"""Parameter and FLOP counts, computed from layer configs and output shapes.

FLOPs here are forward-pass FLOPs for ONE image, counted as 2 x multiply-adds of the
conv, depthwise, separable, transposed-conv and dense layers (the convention of the
papers and of ``tf.profiler``'s ``flops``). BatchNorm, activations, pooling and adds
are left out: together they are a few percent and depend on fusion. Counting from
shapes (not by tracing) needs no TensorFlow graph, and it walks nested models (the
MobileNetV2 base) and shared layers (CBAM's MLP, applied twice) call by call.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


def count_params(model: keras.Model) -> int:
    """Total parameters, trainable plus non-trainable (e.g. BatchNorm moving stats)."""
    return int(model.count_params())


def _prod(values: Sequence[int | None]) -> int:
    return int(math.prod(int(v) for v in values if v is not None))


def _calls(model: keras.Model) -> Iterator[tuple[Any, tuple, tuple]]:
    """Yield ``(layer, input_shape, output_shape)`` once per call in ``model``'s graph.

    Uses the functional graph's nodes so a layer called twice counts twice, and a
    layer reused by some *other* model (e.g. a Grad-CAM sub-model) is not counted here.
    """
    graph = getattr(model, "_functional", None) or model  # Sequential wraps a Functional
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if by_depth is None:  # subclassed model: best effort, one call per layer
        for layer in model.layers:
            yield layer, tuple(layer.input.shape), tuple(layer.output.shape)
        return
    for depth in sorted(by_depth, reverse=True):  # inputs have the highest depth
        for node in by_depth[depth]:
            inputs = node.arguments.keras_tensors
            if not inputs or not node.outputs:
                continue  # an InputLayer node
            yield node.operation, tuple(inputs[0].shape), tuple(node.outputs[0].shape)


def layer_flops(layer: Any, input_shape: tuple, output_shape: tuple) -> int:
    """Forward FLOPs (2 x MACs) of one call of ``layer``; 0 for layers we do not count.

    Args:
        layer: A Keras layer.
        input_shape: Its input shape, batch axis first (channels-last).
        output_shape: Its output shape, batch axis first.
    """
    from keras import layers

    def positions(shape: tuple) -> int:
        # spatial positions of a channels-last feature map, excluding batch and channels
        return _prod(shape[1:-1])

    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        macs = (_prod(layer.depthwise_kernel.shape) + _prod(layer.pointwise_kernel.shape)) * positions(output_shape)
    elif isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        macs = _prod(layer.kernel.shape) * positions(output_shape)
    elif isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)):
        macs = _prod(layer.kernel.shape) * positions(input_shape)
    elif isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        # kernel is (kh, kw, cin / groups, cout): groups are already accounted for
        macs = _prod(layer.kernel.shape) * positions(output_shape)
    elif isinstance(layer, layers.Dense):
        macs = _prod(layer.kernel.shape) * positions(input_shape)
    else:
        return 0
    return 2 * macs


def count_flops(model: keras.Model) -> int:
    """Forward-pass FLOPs for one image: 2 x multiply-adds of conv/dense layers.

    Nested models are counted once per call, through their own graphs.

    Args:
        model: A built Keras model (functional or Sequential).

    Returns:
        FLOPs as an int (e.g. ~5.7e6 for ``simple_cnn`` at 32x32x3).
    """
    import keras

    total = 0
    for layer, input_shape, output_shape in _calls(model):
        if isinstance(layer, keras.Model):
            total += count_flops(layer)
        else:
            total += layer_flops(layer, input_shape, output_shape)
    return int(total)
