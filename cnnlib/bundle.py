"""The TFLite bundle: one zip that explains itself, as Edge Impulse and Teachable Machine ship.

``cnnlib.operations.export_run`` writes one beside every ``.tflite`` file (``<format>.zip``):

- ``model.tflite``: the run's inference model, as exported (``cnnlib.export``).
- ``labels.txt``: the class names, one a line, in the model's output order.
- ``PREPROCESSING.md``: what the model takes, and how a file becomes its input.
- ``predict.py``: a short script (LiteRT, Pillow and numpy; no cnnlib) that decodes an image
  the way ``cnnlib.images`` does and prints the top classes as ``python -m cnnlib predict`` does.

No fact in the two generated files is typed here as prose that could drift from the code:
size, channels, value range, views and temperature come from the run's ``InputSpec``; the
resize filter, the transparency background, the alpha modes and the JPEG draft factor from
``cnnlib.images``; the input dtype and quantization from the exported file itself; the
"not sure" threshold from ``cnnlib.inference``. The tests run ``predict.py`` on real files
and hold it to cnnlib's own answer.

This module imports neither TensorFlow nor Keras (reading the file's tensors needs LiteRT).
"""

from __future__ import annotations

import io
import os
import string
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnlib.errors import ConfigError, DataError
from cnnlib.io import atomic_write_bytes
from cnnlib.spec import VIEW_WORDS, InputSpec

#: The bundle's files, in the order they are zipped.
BUNDLE_MEMBERS = ("model.tflite", "labels.txt", "PREPROCESSING.md", "predict.py")
#: Every entry gets this timestamp, so one export always zips to the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def bundle_path(tflite_path: str | os.PathLike[str]) -> Path:
    """Where the bundle of the ``.tflite`` file at ``tflite_path`` goes: beside it, as ``.zip``.

    Raises:
        ConfigError: ``tflite_path`` already ends in ``.zip`` (the two would be one file).
    """
    path = Path(tflite_path)
    if path.suffix.lower() == ".zip":
        raise ConfigError(f"the export path is the .tflite file; its bundle goes beside it as .zip. "
                          f"Received: out={str(path)!r}")
    return path.with_suffix(".zip")


@dataclass(frozen=True)
class InputTensor:
    """What the exported file's input tensor takes, read from the file.

    Attributes:
        dtype: numpy name of the input dtype: ``"float32"``, or ``"uint8"`` for int8 exports.
        scale: Input quantization scale (0.0 for a float input).
        zero_point: Input quantization zero point.
    """

    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.integer)


def read_input_tensor(flatbuffer: bytes, spec: InputSpec) -> InputTensor:
    """The input tensor of a ``.tflite`` file, checked against the run's spec.

    Raises:
        DataError: The file's input shape is not the spec's, or its output is not float32
            (``predict.py`` reads probabilities as they come out).
    """
    from cnnlib.export import TFLiteClassifier

    classifier = TFLiteClassifier(flatbuffer)
    if classifier.input_shape != spec.shape or classifier.output_dtype != np.float32:
        raise DataError(f"the .tflite file does not take the run's input ({spec.describe()}, float32 out). "
                        f"Received: input={classifier.input_shape}, output dtype={classifier.output_dtype}")
    return InputTensor(classifier.input_dtype.name, *classifier.input_quantization)


def labels_text(spec: InputSpec) -> str:
    """``labels.txt``: the class names, one a line, in the model's output order."""
    return "".join(f"{name}\n" for name in spec.class_names)


def _input_lines(spec: InputSpec, tensor: InputTensor) -> list[str]:
    from cnnlib.images import channel_mode

    low, high = spec.value_range
    kind = "grey" if spec.channels == 1 else "colour, R G B order"
    lines = [
        f"- Shape `(1, {spec.height}, {spec.width}, {spec.channels})`: one image, {spec.height} pixels high, "
        f"{spec.width} wide, {spec.channels} channel{'s' if spec.channels > 1 else ''} ({kind}; Pillow mode "
        f"`{channel_mode(spec.channels)}`), channels last.",
        f"- Raw pixel values {low} to {high}: not divided by {high}, no mean subtracted. "
        "Scaling is a layer inside the model.",
    ]
    if not tensor.quantized:
        lines.append(f"- dtype `{tensor.dtype}`: the {low}-{high} pixel values as floats.")
    elif (tensor.scale, tensor.zero_point) == (1.0, 0):
        lines.append(f"- dtype `{tensor.dtype}`, quantization scale 1 and zero point 0: feed the {low}-{high} "
                     "pixels as they are.")
    else:
        lines.append(f"- dtype `{tensor.dtype}`, quantization scale {tensor.scale:g} and zero point "
                     f"{tensor.zero_point}: feed `round(pixel / {tensor.scale:g} + {tensor.zero_point})`.")
    return lines


def _decoding_lines(spec: InputSpec) -> list[str]:
    from cnnlib.images import ALPHA_BACKGROUND, ALPHA_MODES, DRAFT_FACTOR, channel_mode

    mode = channel_mode(spec.channels)
    colour = "white" if ALPHA_BACKGROUND[:3] == (255, 255, 255) else f"RGB {ALPHA_BACKGROUND[:3]}"
    into = ("grey with Pillow's `convert(\"L\")` (ITU-R 601-2 luma); a colour photo loses its colours"
            if mode == "L" else "colour with Pillow's `convert(\"RGB\")`; a grey image's value fills all three channels")
    return [
        "1. Take the first frame of an animated file (GIF, WebP).",
        f"2. JPEGs much larger than the input are decoded at reduced size by libjpeg (Pillow's `draft`), to no "
        f"less than {DRAFT_FACTOR * spec.width}x{DRAFT_FACTOR * spec.height} pixels ({DRAFT_FACTOR}x the input); "
        "training and the app do this too, so skipping it changes the pixels slightly.",
        "3. Apply the EXIF orientation: a photo a phone stored sideways is turned upright first.",
        f"4. Transparency (modes {', '.join(ALPHA_MODES)}, and palette images with a transparent colour) is "
        f"composited on {colour} {ALPHA_BACKGROUND[:3]}.",
        f"5. Convert to {into}.",
        f"6. Resize to {spec.width}x{spec.height} with the {spec.resize_filter} filter (Pillow's `resize`, which "
        "antialiases when shrinking). The whole image is squeezed to that size: no crop, no padding, the aspect "
        "ratio is not kept.",
        f"7. Take the pixels as `uint8`, shape `({spec.height}, {spec.width}, {spec.channels})`, and add the "
        "batch axis.",
        "",
        "`predict.py` is exact for 8-bit files; 16-bit and float greyscale files go through `cnnlib.images`' "
        "own scaling to 8 bits, which it leaves out.",
    ]


def _graph_lines(spec: InputSpec) -> list[str]:
    views = " and ".join(f"`{view}` ({VIEW_WORDS[view]})" for view in spec.views)
    lines = ["`model.tflite` is the run's inference model (`cnnlib.inference.inference_model`), so do not "
             "apply any of these again:", ""]
    if len(spec.views) > 1:
        lines.append(f"- Test-time views: {views}. The model makes them itself and averages their logits: "
                     "feed one image.")
    else:
        lines.append(f"- Test-time views: {views} only.")
    if spec.temperature is not None:
        lines.append(f"- Calibration: the logits are divided by the temperature {spec.temperature:g} before the "
                     "softmax, so the confidence is calibrated (the top class does not change).")
    else:
        lines.append("- Calibration: none was fitted for this run; the confidence is the raw softmax.")
    lines.append(f"- Softmax: the output is `(1, {spec.num_classes})` float32 probabilities summing to 1, in "
                 "the order of `labels.txt`.")
    return lines


def _outside_lines(spec: InputSpec) -> list[str]:
    from cnnlib.inference import LOW_CONFIDENCE

    lines = [f"- The app's \"not sure\": below {LOW_CONFIDENCE:.0%} top-1 probability (its default confidence "
             "threshold, adjustable on the Classify page) it shows the top class as a guess, not an answer."]
    if spec.ood_threshold is not None:
        lines.append("- \"None of my classes\": the app's familiarity score (nearest training images in the "
                     "model's feature space, `cnnlib.ood`) is computed by cnnlib and is not in this bundle; "
                     "the model answers one of its classes for any image.")
    return lines


def _verified_lines(report: dict[str, Any] | None) -> list[str]:
    if not report or report.get("agreement") is None:
        return []
    return ["", "## Verified", "",
            f"Run in LiteRT on {report.get('test_count', 0):,} held-out test images when it was exported: accuracy "
            f"{report['tflite_accuracy']:.2%} (the Keras model: {report['keras_accuracy']:.2%}), the same top "
            f"class as the Keras model for {report['agreement']:.2%} of them."]


def preprocessing_markdown(spec: InputSpec, fmt: str, tensor: InputTensor, title: str,
                           report: dict[str, Any] | None = None) -> str:
    """``PREPROCESSING.md``: what the exported model takes, and how cnnlib makes it from a file.

    Args:
        spec: The run's input spec (the one the exported model was built from).
        fmt: The export format, e.g. ``tflite-int8``.
        tensor: The file's input tensor (``read_input_tensor``).
        title: What the bundle is of, e.g. the run id.
        report: The export's verification report, if any (adds a "Verified" section).
    """
    lines = [
        f"# {title}: {fmt}", "",
        f"{spec.describe()[0].upper()}{spec.describe()[1:]}. Generated by cnnlib from the run's input spec and the "
        "exported file; `predict.py` does every step below (`python predict.py photo.jpg`).", "",
        "## The input tensor", "", *_input_lines(spec, tensor), "",
        "## From a file to the input (cnnlib.images, the one path training and the app use)", "",
        *_decoding_lines(spec), "",
        "## Inside the model", "", *_graph_lines(spec), "",
        "## Outside the model", "", *_outside_lines(spec),
        *_verified_lines(report),
    ]
    return "\n".join(lines) + "\n"


_PREDICT_TEMPLATE = string.Template('''\
"""Classify images with model.tflite as cnnlib does: python predict.py IMAGE [IMAGE ...]

Generated by cnnlib for $title ($fmt); PREPROCESSING.md explains each step.
Needs only: pip install ai-edge-litert pillow numpy
"""
import json
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT, MODE = $width, $height, $mode
BACKGROUND = $background  # transparency is composited on this RGBA colour
ALPHA_MODES = $alpha_modes
DRAFT = $draft  # big JPEGs are decoded at >= DRAFT x the input size, as cnnlib decodes them
TOP = 3


def pixels(path):
    """The model's input for one file: (1, HEIGHT, WIDTH, channels) uint8, 0-255."""
    image = Image.open(path)  # an animation's first frame
    sideways = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # stored turned by 90 degrees
    image.draft(None, (DRAFT * HEIGHT, DRAFT * WIDTH) if sideways else (DRAFT * WIDTH, DRAFT * HEIGHT))
    image = ImageOps.exif_transpose(image)
    if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        image = Image.alpha_composite(Image.new("RGBA", image.size, BACKGROUND), image.convert("RGBA"))
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    image = image.convert(MODE).resize((WIDTH, HEIGHT), Image.Resampling.$resampling)
    return np.asarray(image, dtype=np.uint8).reshape(1, HEIGHT, WIDTH, -1)


def main(paths):
    interpreter = Interpreter(model_path=str(HERE / "model.tflite"))
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    labels = (HERE / "labels.txt").read_text(encoding="utf-8").splitlines()
    for path in paths:
        x = pixels(path).astype(np.float32)  # raw pixels: the model scales them itself
        if np.issubdtype(source["dtype"], np.integer):  # an int8 export takes quantized pixels
            scale, zero = source["quantization"]
            info = np.iinfo(source["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        interpreter.set_tensor(source["index"], x.astype(source["dtype"]))
        interpreter.invoke()
        probs = interpreter.get_tensor(target["index"])[0].astype(np.float64)  # softmax, views, temperature inside
        top = np.argsort(-probs, kind="stable")[:TOP]  # ties keep the label order, as cnnlib does
        print(json.dumps({"image": path, "top": [{"label": labels[i], "confidence": float(probs[i])} for i in top]}))


if __name__ == "__main__":
    main(sys.argv[1:])
''')


def predict_script(spec: InputSpec, fmt: str, title: str) -> str:
    """``predict.py``: decode images as ``cnnlib.images`` does, run ``model.tflite``, print the top classes.

    One JSON line per image, ``{"image", "top": [{"label", "confidence"}, ...]}``, as
    ``python -m cnnlib predict`` prints them.
    """
    from cnnlib.images import ALPHA_BACKGROUND, ALPHA_MODES, DRAFT_FACTOR, RESAMPLING, channel_mode

    def literal(value: Any) -> str:  # the script's own quotes: double
        return repr(value).replace("'", '"')

    return _PREDICT_TEMPLATE.substitute(
        title=title, fmt=fmt, width=spec.width, height=spec.height, mode=literal(channel_mode(spec.channels)),
        background=literal(tuple(ALPHA_BACKGROUND)), alpha_modes=literal(tuple(ALPHA_MODES)), draft=DRAFT_FACTOR,
        resampling=RESAMPLING.name)


def bundle_bytes(flatbuffer: bytes, spec: InputSpec, fmt: str, title: str,
                 report: dict[str, Any] | None = None) -> bytes:
    """The bundle zip of one exported ``.tflite`` file, in memory.

    Args:
        flatbuffer: The ``.tflite`` file's bytes.
        spec: The input spec the exported model was built from.
        fmt: The export format (one of ``cnnlib.export.TFLITE_FORMATS``).
        title: What the bundle is of (the run id), named in the generated files.
        report: The export's verification report, quoted in ``PREPROCESSING.md``.

    Raises:
        DataError: The file does not take the spec's input (``read_input_tensor``).
    """
    tensor = read_input_tensor(flatbuffer, spec)
    contents = {
        "model.tflite": flatbuffer,
        "labels.txt": labels_text(spec).encode("utf-8"),
        "PREPROCESSING.md": preprocessing_markdown(spec, fmt, tensor, title, report).encode("utf-8"),
        "predict.py": predict_script(spec, fmt, title).encode("utf-8"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in BUNDLE_MEMBERS:
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), contents[name],
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def write_bundle(tflite_path: str | os.PathLike[str], spec: InputSpec, fmt: str, title: str,
                 report: dict[str, Any] | None = None) -> Path:
    """Write the bundle of the ``.tflite`` file at ``tflite_path`` beside it (``bundle_path``), atomically.

    Returns:
        The zip's path.
    """
    target = bundle_path(tflite_path)
    return atomic_write_bytes(target, bundle_bytes(Path(tflite_path).read_bytes(), spec, fmt, title, report))
