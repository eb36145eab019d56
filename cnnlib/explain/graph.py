"""Read-only views of a classifier for explanations: logits, inner feature maps.

Explanations need two things a softmax classifier does not expose: the
pre-softmax score (gradients through a saturated softmax vanish) and the
output of an inner layer, possibly inside a nested base model (a MobileNetV2
base inside the classifier) whose tensors are not connected to the outer
model's input.

Both are solved by re-tracing the model on a fresh ``keras.Input``, walking
into nested Sequential and Functional models, and calling the *same* layer
objects again. The given model is never changed: no activation is swapped,
no layer is cloned, no weight is copied. The last softmax layer is not called;
its logits are computed from its own kernel and bias. The chosen inner layer's
output is passed through a fresh ``Identity`` layer named ``TARGET_NAME`` so
that tools which look layers up by name (tf-keras-vis) find a layer whose only
output tensor lives in the view.

Layers are named by path: ``"conv2"`` for a layer of the classifier itself,
``"base/out_relu"`` for a layer inside the nested model ``base``.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlib.batch import model_input_shape, single_image
from cnnlib.errors import ConfigError

TARGET_NAME = "cnnlib_explain_target"

# Layer types whose 4-D output is not a learned feature map worth explaining.
_NOT_FEATURE_TYPES = (
    "InputLayer",
    "Rescaling",
    "Normalization",
    "Resizing",
    "CenterCrop",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "RandomCrop",
    "Identity",
)
# Layers that only move or shrink the grid; a CAM on their output is the CAM of the layer before.
_SPATIAL_OPS = ("MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "Cropping2D", "UpSampling2D")


@dataclass(frozen=True)
class LayerInfo:
    """One layer of the flattened classifier."""

    path: str
    class_name: str
    output_shape: tuple[int | None, ...]


def _is_sequential(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Sequential)


def _is_functional(layer: Any) -> bool:
    import keras

    # Functional is the class behind keras.Model(inputs, outputs); Sequential is handled apart.
    return isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph") and not _is_sequential(layer)


def _final_layer(model: Any) -> Any:
    """The model's output layer, looking inside a nested model that ends the classifier."""
    layer = model.layers[-1]
    while _is_sequential(layer) or _is_functional(layer):
        layer = layer.layers[-1]
    return layer


def _logits_fn(layer: Any) -> Any:
    """A function computing the pre-softmax output of ``layer`` from its input."""
    from keras import ops

    class_name = type(layer).__name__
    if class_name == "Dense":
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        if activation not in ("softmax", "linear"):
            raise ConfigError(
                f"the classifier must end in a softmax or linear Dense layer. "
                f"Received: activation={activation!r} on layer {layer.name!r}"
            )

        def dense_logits(x: Any) -> Any:
            # Read the layer's own variables; mixed-precision inputs are cast to the kernel dtype.
            x = ops.cast(x, layer.kernel.dtype)
            y = ops.matmul(x, layer.kernel)
            return y + layer.bias if layer.use_bias else y

        return dense_logits
    if class_name in ("Softmax", "Activation"):
        # A separate softmax layer: its input already is the logits.
        return lambda x: ops.cast(x, "float32")
    raise ConfigError(
        f"the classifier must end in a softmax Dense layer named 'predictions'. "
        f"Received: last layer {layer.name!r} of type {class_name}"
    )


class _Tracer:
    """Walks a model graph on new tensors, recording every layer's output by path."""

    def __init__(self, final_layer: Any, target_path: str | None) -> None:
        self.final_layer = final_layer
        self.target_path = target_path
        self.outputs: dict[str, Any] = {}
        self.infos: list[LayerInfo] = []
        self.logits: Any = None

    def _call(self, layer: Any, path: str, args: tuple, kwargs: dict) -> Any:
        if layer is self.final_layer:
            self.logits = _logits_fn(layer)(args[0])
        if _is_sequential(layer) or _is_functional(layer):
            return self.trace(layer, args[0], prefix=f"{path}/")
        kwargs = {key: value for key, value in kwargs.items() if key != "training"}
        out = layer(*args, **kwargs)
        self.infos.append(LayerInfo(path, type(layer).__name__, tuple(getattr(out, "shape", ()))))
        if path == self.target_path:
            import keras

            out = keras.layers.Identity(name=TARGET_NAME)(out)
        self.outputs[path] = out
        return out

    def trace(self, model: Any, x: Any, prefix: str = "") -> Any:
        if _is_sequential(model):
            for layer in model.layers:
                x = self._call(layer, prefix + layer.name, (x,), {})
            return x
        if _is_functional(model):

            def operation_fn(op: Any) -> Any:
                return lambda *args, **kwargs: self._call(op, prefix + op.name, args, kwargs)

            return model._run_through_graph(x, operation_fn=operation_fn)  # noqa: SLF001
        raise ConfigError(f"explanations need a Sequential or Functional Keras model. Received: {type(model).__name__}")


@dataclass
class View:
    """A functional model sharing the classifier's layers.

    ``model`` maps float32 pixels to ``[logits, target output]`` (just logits when no
    target was chosen); ``logits_model`` and ``softmax_model`` have the single output
    tf-keras-vis expects (logits; probabilities for Score-CAM) and still contain the
    ``TARGET_NAME`` layer on their path.
    """

    model: Any
    logits_model: Any
    softmax_model: Any
    target_path: str | None
    layers: list[LayerInfo]


def _build_view(model: Any, target_path: str | None) -> View:
    import keras

    final_layer = _final_layer(model)
    tracer = _Tracer(final_layer, target_path)
    inputs = keras.Input(shape=model_input_shape(model), dtype="float32", name="cnnlib_explain_input")
    tracer.trace(model, inputs)
    if tracer.logits is None:
        raise ConfigError(f"could not reach the output layer {final_layer.name!r} while tracing the model")
    logits = keras.layers.Activation("linear", dtype="float32", name="cnnlib_logits")(tracer.logits)
    probabilities = keras.layers.Softmax(name="cnnlib_probabilities")(logits)
    outputs = [logits]
    if target_path is not None:
        if target_path not in tracer.outputs:
            raise _unknown_layer(target_path, tracer.infos)
        outputs.append(tracer.outputs[target_path])
    view = keras.Model(inputs, outputs if len(outputs) > 1 else logits, name="cnnlib_explain_view")
    logits_model = keras.Model(inputs, logits, name="cnnlib_explain_logits_view")
    softmax_model = keras.Model(inputs, probabilities, name="cnnlib_explain_softmax_view")
    return View(view, logits_model, softmax_model, target_path, tracer.infos)


def _feature_infos(infos: list[LayerInfo]) -> list[LayerInfo]:
    return [info for info in infos if len(info.output_shape) == 4 and info.class_name not in _NOT_FEATURE_TYPES]


def _unknown_layer(name: str, infos: list[LayerInfo]) -> ConfigError:
    candidates = [info.path for info in _feature_infos(infos)]
    shown = ", ".join(candidates[-12:]) + (" (last 12 shown)" if len(candidates) > 12 else "")
    return ConfigError(f"no feature-map layer named {name!r}; expected one of: {shown}. Received: layer_name={name!r}")


_VIEW_CACHE: weakref.WeakKeyDictionary[Any, dict[Any, View]] = weakref.WeakKeyDictionary()
_VIEW_LOCK = threading.RLock()


def get_view(model: Any, target_path: str | None) -> View:
    """Return the cached view of ``model`` with ``target_path`` as its second output."""
    with _VIEW_LOCK:
        per_model = _VIEW_CACHE.setdefault(model, {})
        if target_path not in per_model:
            per_model[target_path] = _build_view(model, target_path)
        return per_model[target_path]


def layer_infos(model: Any) -> list[LayerInfo]:
    """Every layer of the flattened model in call order, with its output shape."""
    return get_view(model, None).layers


def conv_layer_names(model: Any) -> list[str]:
    """Paths of the layers whose output is a feature map (N, H, W, C), in call order.

    Input, preprocessing, augmentation and dropout layers are left out. Layers of a
    nested model are named ``"<nested model>/<layer>"``.
    """
    return [info.path for info in _feature_infos(layer_infos(model))]


def resolve_layer(model: Any, layer_name: str | None) -> str:
    """Turn a user's layer choice into a layer path, choosing one when ``None``.

    Without a name, the choice is the last feature map before the model leaves the
    spatial domain: the last conv/activation/normalization/attention output, skipping
    pooling and padding, preferring maps larger than 1x1.

    A bare inner name (``"out_relu"``) matches a nested layer when it is unique.

    Raises:
        ConfigError: No layer with that name, or the model has no feature maps.
    """
    infos = _feature_infos(layer_infos(model))
    if layer_name is None:
        candidates = [info for info in infos if info.class_name not in _SPATIAL_OPS]
        spatial = [info for info in candidates if (info.output_shape[1] or 2) * (info.output_shape[2] or 2) > 1]
        chosen = spatial or candidates
        if not chosen:
            raise ConfigError(f"the model has no convolutional feature maps to explain. Received: model {model.name!r}")
        return chosen[-1].path
    paths = [info.path for info in infos]
    if layer_name in paths:
        return layer_name
    matches = [path for path in paths if path.rsplit("/", 1)[-1] == layer_name]
    if len(matches) == 1:
        return matches[0]
    raise _unknown_layer(layer_name, layer_infos(model))


def feature_maps(model: Any, image: np.ndarray, layer_name: str | None = None) -> np.ndarray:
    """Return one image's activations at a layer.

    Args:
        model: The classifier.
        image: ``(H, W, C)`` uint8 image at the model's input size.
        layer_name: Layer path (see ``conv_layer_names``); ``None`` for the last feature map.

    Returns:
        ``(h, w, channels)`` float32 activations.

    Raises:
        ConfigError: Unknown layer.
        DataError: The image does not match the model's input.
    """
    batch = single_image(model, image)
    path = resolve_layer(model, layer_name)
    view = get_view(model, path)
    _, activations = _compiled_view(view)(batch)
    return np.asarray(activations[0], dtype=np.float32)


def _compiled_view(view: View) -> Any:
    with _VIEW_LOCK:
        fn = getattr(view, "_compiled", None)
        if fn is None:
            import tensorflow as tf

            view_model = view.model
            fn = tf.function(lambda x: view_model(x, training=False), reduce_retracing=True)
            view._compiled = fn  # type: ignore[attr-defined]
        return fn
