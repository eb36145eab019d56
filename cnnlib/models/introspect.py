"""Looking inside built models: the Grad-CAM target layer and the app's layer table.

Named ``introspect`` rather than ``inspect`` so it never shadows the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

_CONV_TYPES = (
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "Conv2DTranspose",
)


def _is_model(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def _is_conv(layer: Any) -> bool:
    from keras import layers

    return isinstance(layer, tuple(getattr(layers, name) for name in _CONV_TYPES))


def _contains_conv(layer: Any) -> bool:
    if _is_model(layer):
        return any(_contains_conv(inner) for inner in layer.layers)
    return _is_conv(layer)


def _output_rank(layer: Any) -> int | None:
    try:
        output = layer.output  # first call's output for shared layers
    except (AttributeError, ValueError):
        return None
    shape = getattr(output, "shape", None)
    return None if shape is None else len(shape)


def last_conv_layer_name(model: keras.Model) -> str:
    """Name of the last spatial feature layer: the output of the last conv block.

    Grad-CAM wants the final feature map before global pooling, and for our blocks
    that is the last conv's activation, residual add or attention multiply, not the
    raw conv output (which would skip BN/ReLU and the skip connection). So this
    returns the last layer (in graph order) with a rank-4 output that comes at or
    after the last convolution. If that layer is a nested model (the MobileNetV2
    base), the search continues inside it and the name is returned as a path
    ``"outer/inner"`` (e.g. ``"mobilenetv2/out_relu"``); resolve it with
    ``find_layer``.

    Args:
        model: A built Keras model.

    Returns:
        The layer name or nested path.

    Raises:
        ValueError: if the model has no convolution.
    """
    model_layers = list(model.layers)
    conv_indices = [i for i, layer in enumerate(model_layers) if _contains_conv(layer)]
    if not conv_indices:
        raise ValueError(f"model {model.name!r} has no convolutional layer")
    for layer in reversed(model_layers[conv_indices[-1] :]):
        if _output_rank(layer) != 4:
            continue
        if _is_model(layer):
            return f"{layer.name}/{last_conv_layer_name(layer)}"
        return layer.name
    raise ValueError(f"model {model.name!r} has no rank-4 feature map after its last conv")


def find_layer(model: keras.Model, path: str) -> keras.layers.Layer:
    """Resolve a layer name or an ``"outer/inner"`` path from ``last_conv_layer_name``.

    Raises:
        ValueError: if a part of the path names no layer.
    """
    layer: Any = model
    for part in path.split("/"):
        if not _is_model(layer):
            raise ValueError(f"{layer.name!r} is not a model; cannot find {part!r} in it")
        layer = layer.get_layer(part)  # raises ValueError naming the missing layer
    return layer


def layer_table(model: keras.Model, expand_nested: bool = False) -> list[dict[str, Any]]:
    """One row per layer for the app's model summary.

    Args:
        model: A built Keras model.
        expand_nested: Also list the layers inside nested models, named
            ``"outer/inner"`` (MobileNetV2 has ~150).

    Returns:
        Dicts with ``name``, ``type`` (class name), ``output_shape`` (a string such
        as ``"(None, 16, 16, 32)"``, a string so a dataframe column has one type),
        ``params`` (int) and ``trainable`` (bool).
    """
    rows: list[dict[str, Any]] = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            shape = "?"
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": shape,
                "params": int(layer.count_params()) if layer.built else 0,
                "trainable": bool(layer.trainable),
            }
        )
        if expand_nested and _is_model(layer):
            for row in layer_table(layer, expand_nested=True):
                rows.append({**row, "name": f"{layer.name}/{row['name']}"})
    return rows
