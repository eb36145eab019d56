"""Export a classifier to TensorFlow Lite and SavedModel, and prove each export works.

Every ``.tflite`` file is run in the LiteRT interpreter (``ai_edge_litert``;
``tf.lite.Interpreter`` only when it is missing) on held-out images right
after conversion, and the report says how far it drifts from the Keras
model: accuracy of both, top-1 agreement, single-image latency of both.

Formats (``EXPORT_FORMATS``, one spelling everywhere: CLI, app, reports, file names):
- ``tflite-float32``: plain conversion.
- ``tflite-float16``: weights stored as float16 (half the size), computed in float32.
- ``tflite-dynamic``: weights int8, activations quantized on the fly.
- ``tflite-int8``: integer body, calibrated on representative training images. The
  input is uint8 so the app feeds raw 0-255 pixels (the model's own scaling
  layer is inside the graph). The view average and the softmax stay float32
  (no weights: two classes whose int8 probabilities would round to the same
  step cannot swap the top-1 class), and so do the few layers an architecture
  marks as sensitive (``cnnlib.models.whitened.INT8_FLOAT_LAYERS``); the output
  is float32.
- ``savedmodel``: a TF Serving SavedModel directory (``export_savedmodel``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cnnlib.errors import ConfigError, DataError
from cnnlib.io import atomic_write_bytes, atomic_write_json

TFLITE_FORMATS = ("tflite-float32", "tflite-float16", "tflite-dynamic", "tflite-int8")
SAVEDMODEL = "savedmodel"
EXPORT_FORMATS = (*TFLITE_FORMATS, SAVEDMODEL)
# Calibration needs a few hundred images; more only slows conversion.
MAX_REPRESENTATIVE = 300
LATENCY_RUNS = 50


def export_filename(fmt: str) -> str:
    """The file (or directory) name an export of ``fmt`` gets by default: ``tflite-int8.tflite``, ``savedmodel``."""
    return fmt if fmt == SAVEDMODEL else f"{fmt}.tflite"


def report_filename(fmt: str) -> str:
    """The verification report an export of ``fmt`` writes beside its file: ``tflite-int8.json``."""
    return f"{fmt}.json"


def _check_tflite_format(fmt: str) -> None:
    if fmt not in TFLITE_FORMATS:
        raise ConfigError(f"unknown TFLite format; expected one of: {', '.join(TFLITE_FORMATS)}. Received: fmt={fmt!r}")


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # LiteRT is the supported runtime; tf.lite.Interpreter is deprecated.
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    return Interpreter


def convert_tflite(model: Any, fmt: str, representative_images: np.ndarray | None = None,
                   float_layers: bool = True) -> bytes:
    """Convert a Keras classifier to a ``.tflite`` flatbuffer.

    Args:
        model: A Keras classifier taking raw 0-255 pixels.
        fmt: One of ``TFLITE_FORMATS``.
        representative_images: ``(N, H, W, C)`` training images; required for ``tflite-int8``
            (the first ``MAX_REPRESENTATIVE`` are used).
        float_layers: ``tflite-int8`` only: keep the view average, the softmax and the
            layers the architecture marks (``_float_tensor_names``) in float32; False
            quantizes every op, as exports before 2026-12 did (for measuring).

    Returns:
        The flatbuffer bytes.

    Raises:
        ConfigError: Unknown format.
        DataError: ``tflite-int8`` without representative images, or images of the wrong shape.
    """
    import tensorflow as tf

    from cnnlib.batch import as_image_batch

    _check_tflite_format(fmt)
    # from_keras_model works with Keras 3 in TF 2.21 (it exports a SavedModel internally);
    # from_concrete_functions leaves READ_VARIABLE ops the interpreter cannot run.
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fmt == "tflite-float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "tflite-dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif fmt == "tflite-int8":
        if representative_images is None or len(representative_images) == 0:
            raise DataError("tflite-int8 export needs representative training images. Received: representative_images=None")
        calibration = as_image_batch(model, np.asarray(representative_images)[:MAX_REPRESENTATIVE])

        def representative_dataset() -> Iterator[list[np.ndarray]]:
            for image in calibration:
                yield [image[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
    from cnnlib.quiet import native_output_captured

    with warnings.catch_warnings(), native_output_captured():  # the converter dumps every TensorSpec
        # The converter warns that uint8 input statistics were not given: they come from calibration.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs", category=UserWarning)
        if fmt == "tflite-int8" and float_layers:
            return _int8_with_float_layers(converter)
        return converter.convert()


#: The inference model's view average (``cnnlib.inference``): in float it costs no weights,
#: and the softmax after the logits is kept in float by op type. The logits' Dense stays
#: int8: in float32 it held a flattening net's export at 40% of float32's size.
_HEAD_LAYERS = ("view_average",)


def _layer_names(tensor_name: str) -> set[str]:
    """The layer names in a TFLite tensor name, Keras's call suffix dropped.

    ``"m_1/block1_a_bn_1/batchnorm/mul;m_1/whiten_1/conv"`` ->
    ``{"m", "block1_a_bn", "batchnorm", "mul", "whiten", "conv"}``.
    """
    return {re.sub(r"_\d+$", "", part) for fused in tensor_name.split(";") for part in fused.split("/")}


def tflite_op_outputs(flatbuffer: bytes) -> list[tuple[str, str, str]]:
    """``(op kind, output tensor name, output dtype)`` for each output of each op of a ``.tflite`` file.

    ``("CONV_2D", "m_1/whiten_1/convolution", "float32")``: which layers a conversion left in float.
    """
    interpreter = _interpreter_class()(model_content=flatbuffer)
    tensors = {tensor["index"]: tensor for tensor in interpreter.get_tensor_details()}
    return [(op["op_name"], tensors[index]["name"], np.dtype(tensors[index]["dtype"]).name)
            for op in interpreter._get_ops_details() for index in op["outputs"]]  # noqa: SLF001


def _float_tensor_names(flatbuffer: bytes) -> list[str]:
    """Output tensor names of the ops an int8 export keeps in float32: the view average and
    the layers the architectures name (``cnnlib.models.whitened.INT8_FLOAT_LAYERS``)."""
    from cnnlib.models.whitened import INT8_FLOAT_LAYERS

    patterns = [re.compile(pattern) for pattern in (*_HEAD_LAYERS, *INT8_FLOAT_LAYERS)]
    return sorted({name for _, name, _ in tflite_op_outputs(flatbuffer)
                   if any(pattern.fullmatch(layer) for layer in _layer_names(name) for pattern in patterns)})


def _int8_with_float_layers(converter: Any) -> bytes:
    """Calibrate, then quantize everything but ``_float_tensor_names`` and the softmax.

    This is what ``converter.convert()`` does for int8, split in its two steps so the
    quantizer can be told which ops to leave in float (the route TFLite's quantization
    debugger takes; its own shortcut would give the model a float32 input). Measured on the
    60-minute airbench_small run (docs/BENCHMARKS.md, "int8"): the head alone changed nothing,
    the whitening stem and the BatchNorms after the pools took agreement from 98% to 99.6%,
    and the size grew by a few kilobytes.
    """
    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    converter._experimental_calibrate_only = True  # noqa: SLF001 - the documented debugger route
    calibrated = converter.convert()
    return mlir_quantize(calibrated, input_data_type=tf.uint8, output_data_type=tf.float32,
                         denylisted_ops=["SOFTMAX"], denylisted_nodes=_float_tensor_names(calibrated))


class TFLiteClassifier:
    """Runs a ``.tflite`` classifier on uint8 images.

    Handles input quantization (uint8/int8 inputs with any scale and zero point),
    output dequantization, and batches by resizing the input tensor (or by looping
    when the batch axis is fixed).

    Args:
        source: Path of a ``.tflite`` file, or its bytes.
        num_threads: Interpreter threads; ``None`` for the runtime default.
    """

    def __init__(self, source: str | os.PathLike[str] | bytes, num_threads: int | None = None) -> None:
        interpreter_class = _interpreter_class()
        if isinstance(source, bytes):
            self.path: Path | None = None
            self._interpreter = interpreter_class(model_content=source, num_threads=num_threads)
        else:
            self.path = Path(source)
            if not self.path.is_file():
                raise DataError(f"TFLite model file not found. Received: path={str(self.path)!r}")
            self._interpreter = interpreter_class(model_path=str(self.path), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_shape: tuple[int, int, int] = tuple(int(d) for d in self._input["shape"][1:])  # type: ignore[assignment]
        self.input_dtype = np.dtype(self._input["dtype"])
        signature = self._input.get("shape_signature", self._input["shape"])
        self._dynamic_batch = int(signature[0]) == -1
        self._batch = int(self._input["shape"][0])

    @property
    def input_quantization(self) -> tuple[float, int]:
        """``(scale, zero_point)`` of the input tensor; ``(0.0, 0)`` for a float input."""
        scale, zero_point = self._input["quantization"]
        return float(scale), int(zero_point)

    @property
    def output_dtype(self) -> np.dtype:
        """The dtype of the output tensor (float32 for every cnnlib export, int8 included)."""
        return np.dtype(self._output["dtype"])

    def _quantize(self, batch: np.ndarray) -> np.ndarray:
        scale, zero_point = self._input["quantization"]
        if self.input_dtype in (np.dtype(np.uint8), np.dtype(np.int8)) and scale:
            info = np.iinfo(self.input_dtype)
            if scale == 1.0 and zero_point == 0 and self.input_dtype == np.uint8:
                return np.clip(np.round(batch), info.min, info.max).astype(np.uint8)
            quantized = np.round(batch.astype(np.float32) / scale + zero_point)
            return np.clip(quantized, info.min, info.max).astype(self.input_dtype)
        return batch.astype(self.input_dtype)

    def _dequantize(self, values: np.ndarray) -> np.ndarray:
        scale, zero_point = self._output["quantization"]
        if np.issubdtype(values.dtype, np.integer) and scale:
            return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
        return values.astype(np.float32)

    def _resize(self, batch_size: int) -> None:
        if batch_size != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [batch_size, *self.input_shape])
            self._interpreter.allocate_tensors()
            self._batch = batch_size

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._input["index"], batch)
        self._interpreter.invoke()
        return self._dequantize(self._interpreter.get_tensor(self._output["index"]))

    def predict_probabilities(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities for ``(N, H, W, C)`` (or one ``(H, W, C)``) 0-255 images.

        Raises:
            DataError: The images do not match the model's input shape.
        """
        array = np.asarray(images)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or tuple(array.shape[1:]) != self.input_shape:
            raise DataError(
                f"images must be shaped (N, {', '.join(map(str, self.input_shape))}) for this TFLite model. "
                f"Received: shape={tuple(array.shape)}"
            )
        quantized = self._quantize(array)
        parts = []
        step = batch_size if self._dynamic_batch else self._batch
        for start in range(0, len(quantized), step):
            chunk = quantized[start : start + step]
            if self._dynamic_batch:
                self._resize(len(chunk))
                parts.append(self._run(chunk))
            else:
                parts.extend(self._run(image[None]) for image in chunk)
        if not parts:
            return np.zeros((0, int(self._output["shape"][-1])), dtype=np.float32)
        return np.concatenate(parts, axis=0)


def _median_latency_ms(run: Any, image: np.ndarray, runs: int = LATENCY_RUNS) -> float:
    for _ in range(5):  # warm-up: first calls allocate and trace
        run(image)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        run(image)
        timings.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(timings))


def export_tflite(
    model: Any,
    fmt: str,
    out_path: str | os.PathLike[str],
    representative_images: np.ndarray | None,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    max_test: int | None = None,
    write_report: bool = False,
    float_layers: bool = True,
) -> dict[str, Any]:
    """Convert, write atomically, and verify a ``.tflite`` export against the Keras model.

    Args:
        model: A Keras classifier taking raw 0-255 pixels.
        fmt: One of ``TFLITE_FORMATS``.
        out_path: Where to write the ``.tflite`` file.
        representative_images: Training images for int8 calibration (ignored otherwise).
        test_images: ``(N, H, W, C)`` uint8 held-out images for verification.
        test_labels: ``(N,)`` class indices.
        max_test: Verify on at most this many test images (``None`` for all).
        write_report: Also write the report as JSON next to the file (``<name>.json``).
        float_layers: ``tflite-int8``: keep a few layers in float32 (see ``convert_tflite``).

    Returns:
        ``{path, bytes, format, keras_accuracy, tflite_accuracy, agreement,
        keras_latency_ms, tflite_latency_ms, convert_seconds, test_count}``.

    Raises:
        ConfigError: Unknown format.
        DataError: Missing or mis-shaped images or labels.
    """
    _check_tflite_format(fmt)
    images = np.asarray(test_images)
    labels = np.asarray(test_labels).reshape(-1)
    if max_test is not None:
        images, labels = images[:max_test], labels[:max_test]
    if len(images) == 0 or len(images) != len(labels):
        raise DataError(
            f"verification needs test images with one label each. Received: {len(images)} images, {len(labels)} labels"
        )
    start = time.perf_counter()
    flatbuffer = convert_tflite(model, fmt, representative_images, float_layers=float_layers)
    convert_seconds = time.perf_counter() - start
    path = atomic_write_bytes(out_path, flatbuffer)
    report = {
        "path": str(path),
        "bytes": len(flatbuffer),
        "format": fmt,
        **_compare_with_keras(model, TFLiteClassifier(path), images, labels),
        "convert_seconds": float(convert_seconds),
        "test_count": int(len(labels)),
    }
    if write_report:
        atomic_write_json(Path(path).with_suffix(".json"), report)
    return report


def _compare_with_keras(model: Any, classifier: TFLiteClassifier, images: np.ndarray,
                        labels: np.ndarray) -> dict[str, float]:
    """Accuracy of both, their top-1 agreement, and single-image latency of both."""
    from cnnlib.predict import predict_probabilities

    keras_predicted = predict_probabilities(model, images).argmax(axis=1)
    tflite_predicted = classifier.predict_probabilities(images).argmax(axis=1)
    single = images[:1]
    return {
        "keras_accuracy": float(np.mean(keras_predicted == labels)),
        "tflite_accuracy": float(np.mean(tflite_predicted == labels)),
        "agreement": float(np.mean(keras_predicted == tflite_predicted)),
        "keras_latency_ms": _median_latency_ms(lambda x: predict_probabilities(model, x), single),
        "tflite_latency_ms": _median_latency_ms(classifier.predict_probabilities, single),
    }


def export_savedmodel(model: Any, out_dir: str | os.PathLike[str]) -> Path:
    """Export a SavedModel for TF Serving (``model.export``), replacing ``out_dir`` whole.

    The export goes to a temporary sibling directory that is renamed into place, so a
    crash never leaves a half-written SavedModel at ``out_dir``.

    Returns:
        The path of the SavedModel directory.
    """
    target = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    old = None
    try:
        export_dir = staging / "savedmodel"
        model.export(str(export_dir), format="tf_saved_model", verbose=False)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        try:
            os.replace(export_dir, target)
        except BaseException:
            if old is not None:  # put the previous export back
                os.replace(old, target)
                old = None
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target
