"""Looking inside built models: the app's layer table.

The Grad-CAM and feature-map layer choice has one owner, ``cnnlib.explain.graph.resolve_layer``.
Named ``introspect`` rather than ``inspect`` so it never shadows the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


def _is_model(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model)


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
