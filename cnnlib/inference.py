"""One inference model per run: the model that answers exactly like every page and export.

A run's trained classifier sees one image. What a run *answers* can be more: the average
over its test-time views (the image, its mirror, one-pixel shifts), scaled by its calibration
temperature (later also an out-of-distribution score). ``inference_model`` builds that answer as one Keras
model from the run's ``InputSpec``; the CLI's predict/evaluate/explain, every app page,
the warm-up and every export use it, so nobody passes view flags around, and a phone
running the ``.tflite`` answers as the page did.

``Predictor`` bundles what a caller needs for one run: the spec (what the model takes),
the classifier (whose layers the explanations read) and the inference model (whose
probabilities are the answer). ``answer_uploads`` is the one path from an uploaded file to
what Classify and Compare show: decoded pixels, top classes, a confidence band and a
Grad-CAM heatmap of the answered class.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnlib.errors import CnnlibError, ConfigError, DataError
from cnnlib.runs import Run
from cnnlib.spec import DEFAULT_VIEWS, InputSpec

#: Confidence bands, highest first: (lowest top-1 confidence, words).
BANDS = ((0.90, "very confident"), (0.70, "fairly sure"), (0.50, "leaning towards it"), (0.00, "unsure"))
#: The default confidence threshold: below this top-1 confidence an answer is "not sure", a guess.
LOW_CONFIDENCE = 0.5


def accepted(confidence: float, threshold: float = LOW_CONFIDENCE) -> bool:
    """Whether an answer is sure enough to be given as a label, not only as a guess.

    Confidence only: whether the photo shows one of the classes at all is the familiarity
    score's call (``Answer.unfamiliar``), kept apart, since a model can be confidently wrong
    about something it never saw.

    Args:
        confidence: The answer's top-1 (calibrated) probability.
        threshold: The lowest accepted confidence, in [0, 1]; 0 accepts every answer.

    Raises:
        ConfigError: ``threshold`` is not a number in [0, 1].
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"the confidence threshold must be a number in [0, 1]. Received: threshold={threshold!r}")
    return float(confidence) >= threshold


def confidence_band(confidence: float) -> str:
    """The band of a top-1 confidence in words: ``0.93`` -> ``"very confident"``."""
    for lowest, words in BANDS:
        if confidence >= lowest:
            return words
    return BANDS[-1][1]


def _view(batch: Any, view: str) -> Any:
    """One test-time view (``cnnlib.spec.VIEWS``) of an ``(N, H, W, C)`` batch."""
    import keras

    x = keras.ops.flip(batch, axis=2) if view.startswith("mirror") else batch  # axis 2: the width
    if view.endswith(("down_right", "up_left")):
        height, width = batch.shape[1], batch.shape[2]
        padded = keras.ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        # The top-left window shows the content one pixel further down and right.
        start = 0 if view.endswith("down_right") else 2
        x = padded[:, start:start + height, start:start + width, :]
    return x


def _stack_views(views: tuple[str, ...]) -> Any:
    def stack(batch: Any) -> Any:
        import keras

        return keras.ops.concatenate([_view(batch, view) for view in views], axis=0)

    return stack


def _average_views(count: int) -> Any:
    def average(logits: Any) -> Any:
        import keras

        classes = logits.shape[-1]
        return keras.ops.mean(keras.ops.reshape(logits, (count, -1, classes)), axis=0)

    return average


def _softmax_head(classifier: Any) -> Any:
    """The classifier's final ``Dense(num_classes, softmax, name="predictions")`` layer.

    Raises:
        DataError: The classifier does not end in such a layer.
    """
    import keras

    try:
        head = classifier.get_layer("predictions")
    except ValueError:
        head = None
    if not isinstance(head, keras.layers.Dense) or getattr(head.activation, "__name__", "") != "softmax":
        raise DataError("the model must end in the registry's softmax Dense layer named 'predictions'. "
                        f"Received: last layer {classifier.layers[-1].name!r}")
    return head


def _linear_copy(head: Any, features: Any) -> Any:
    """``head`` without its softmax, applied to ``features``: the logits, in float32."""
    import keras

    linear = keras.layers.Dense(head.units, name="logits", dtype="float32")
    logits = linear(features)
    linear.set_weights(head.get_weights())
    return logits


def logits_model(classifier: Any) -> Any:
    """The classifier up to its logits: its final softmax ``predictions`` layer, made linear.

    Every registry model ends in ``Dense(num_classes, softmax, name="predictions")``; the
    copy here has the same weights and no activation, and shares every other layer.

    Raises:
        DataError: The classifier does not end in such a layer.
    """
    import keras

    head = _softmax_head(classifier)
    return keras.Model(classifier.inputs, _linear_copy(head, head.input), name=f"{classifier.name}_logits")


def _views_logits_model(classifier: Any, spec: InputSpec) -> tuple[Any, Any]:
    """``(inputs, logits of every view stacked on the batch axis)``, symbolic."""
    import keras

    inputs = keras.Input(spec.shape, name="image")
    stacked = inputs
    if spec.views != DEFAULT_VIEWS:
        stacked = keras.layers.Lambda(_stack_views(spec.views), name="test_time_views")(inputs)
    return inputs, logits_model(classifier)(stacked)


def _feature_network(classifier: Any, head: Any, spec: InputSpec, familiarity: bool) -> Any:
    """The classifier up to its penultimate features, and (``familiarity``) the score's features.

    The score's features are the spatial means of ``spec.familiarity_layers``' outputs,
    concatenated; without such layers they are the penultimate features themselves.
    """
    import keras

    outputs = [head.input]
    if familiarity and spec.familiarity_layers:
        known = {layer.name for layer in classifier.layers}
        missing = [name for name in spec.familiarity_layers if name not in known]
        if missing:
            raise DataError(f"the model has no layer {missing[0]!r}, which its run's familiarity score reads; "
                            "the model file does not belong to this run")
        means = [keras.layers.GlobalAveragePooling2D(dtype="float32", name=f"familiarity_mean_{index}")(
            classifier.get_layer(name).output) for index, name in enumerate(spec.familiarity_layers)]
        outputs.append(means[0] if len(means) == 1 else
                       keras.layers.Concatenate(dtype="float32", name="familiarity_features")(means))
    return keras.Model(classifier.inputs, outputs, name=f"{classifier.name}_features")


def _answer_graph(classifier: Any, spec: InputSpec, calibrated: bool,
                  familiarity: bool = False) -> tuple[Any, Any, Any]:
    """``(inputs, answer probabilities, view-averaged familiarity features)``, symbolic.

    The penultimate features are averaged over the views before the (linear) head, which
    gives exactly the mean of the views' logits. The familiarity features (``familiarity``;
    else None) are averaged over the views the same way.
    """
    import keras

    head = _softmax_head(classifier)
    inputs = keras.Input(spec.shape, name="image")
    stacked = inputs
    if spec.views != DEFAULT_VIEWS:
        stacked = keras.layers.Lambda(_stack_views(spec.views), name="test_time_views")(inputs)
    outputs = _feature_network(classifier, head, spec, familiarity)(stacked)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if spec.views != DEFAULT_VIEWS:
        names = ("view_average", "familiarity_view_average")
        outputs = [keras.layers.Lambda(_average_views(len(spec.views)), name=name)(output)
                   for name, output in zip(names, outputs, strict=False)]
    features = outputs[0]
    logits = _linear_copy(head, features)
    if calibrated and spec.temperature is not None:
        logits = keras.layers.Rescaling(1.0 / spec.temperature, name="calibration")(logits)
    # Without familiarity layers the network's only output is the penultimate features.
    familiar = outputs[-1] if familiarity else None
    return inputs, keras.layers.Softmax(name="answer")(logits), familiar


def inference_model(classifier: Any, spec: InputSpec, calibrated: bool = True) -> Any:
    """The run's answer as one Keras model: ``softmax(mean over views of logits / T)``.

    All views go through the classifier as one batch (one call, not one per view),
    which is what a one-photo request on the app pays for. Their logits are averaged, and
    the spec's temperature, when fitted, scales that average before the softmax
    (``cnnlib.calibration``), so calibration never changes which class is answered. Every
    op is linear up to the softmax, which int8 exports quantize well. With the single
    ``identity`` view and no temperature the classifier itself is the inference model.

    Args:
        classifier: The trained Keras classifier (raw 0-255 pixels in, softmax out).
        spec: The run's input spec; its shape must match the classifier's input.
        calibrated: Apply the spec's temperature (False gives the uncalibrated answer).

    Returns:
        A Keras model from ``(N, H, W, C)`` pixels to ``(N, num_classes)`` probabilities.

    Raises:
        DataError: The classifier's input or output does not match the spec.
    """
    import keras

    _check_matches(classifier, spec)
    if spec.views == DEFAULT_VIEWS and (spec.temperature is None or not calibrated):
        return classifier
    inputs, answer, _ = _answer_graph(classifier, spec, calibrated)
    return keras.Model(inputs, answer, name=f"{classifier.name}_inference")


def _scoring_model(classifier: Any, spec: InputSpec) -> Any:
    """The answer and the familiarity score's features in one call: ``(N, num_classes + D)`` float32."""
    import keras

    inputs, answer, features = _answer_graph(classifier, spec, calibrated=True, familiarity=True)
    joined = keras.layers.Concatenate(dtype="float32", name="answer_and_features")([answer, features])
    return keras.Model(inputs, joined, name=f"{classifier.name}_scoring")


def _check_matches(classifier: Any, spec: InputSpec) -> None:
    from cnnlib.batch import model_input_shape

    if model_input_shape(classifier) != spec.shape or int(classifier.output_shape[-1]) != spec.num_classes:
        raise DataError(
            f"the model does not match its run's input spec ({spec.describe()}). "
            f"Received: input={model_input_shape(classifier)}, classes={int(classifier.output_shape[-1])}"
        )


@dataclass
class Answer:
    """What a run answers for one image.

    Attributes:
        probabilities: ``(num_classes,)`` answer probabilities (test-time views included).
        top: ``[{"label", "confidence"}, ...]`` highest first.
        band: ``confidence_band`` of the top-1 confidence.
        heatmap: Grad-CAM ``(H, W)`` in [0, 1] of the answered class, when asked for.
        ood_score: How unlike the training images it is (``cnnlib.ood``; higher is less
            like them), or None for a run without a fitted familiarity score.
        unfamiliar: The score is above the run's threshold: the image may show none of
            the classes the model knows, however confident the answer.
    """

    probabilities: np.ndarray
    top: list[dict[str, Any]]
    band: str
    heatmap: np.ndarray | None = None
    ood_score: float | None = None
    unfamiliar: bool = False

    @property
    def label(self) -> str:
        return str(self.top[0]["label"])

    @property
    def confidence(self) -> float:
        return float(self.top[0]["confidence"])


@dataclass
class Predictor:
    """A run's model, ready to answer.

    Attributes:
        spec: What the model takes (size, channels, classes, views, temperature).
        classifier: The trained model; explanations read its layers.
        model: The inference model (``inference_model``); its probabilities are the answer.
        familiarity: The run's ``cnnlib.ood.NeighbourBank``, or None before it is fitted.
    """

    spec: InputSpec
    classifier: Any
    model: Any
    familiarity: Any = None
    _views_logits: Any = field(default=None, repr=False)
    _scoring: Any = field(default=None, repr=False)

    @property
    def scores_familiarity(self) -> bool:
        """Whether answers carry an ``ood_score`` (a neighbour bank and a threshold were fitted)."""
        return self.familiarity is not None and self.spec.ood_threshold is not None

    def features(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``(N, D)`` view-averaged features the familiarity score reads (``InputSpec.familiarity_layers``)."""
        return self._answer_and_features(images, batch_size)[1]

    def _answer_and_features(self, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        from cnnlib.predict import predict_probabilities

        if self._scoring is None:
            self._scoring = _scoring_model(self.classifier, self.spec)
        joined = predict_probabilities(self._scoring, images, batch_size=batch_size)
        return joined[:, : self.spec.num_classes], joined[:, self.spec.num_classes :]

    def ood_scores(self, images: np.ndarray) -> np.ndarray | None:
        """Familiarity scores of ``(N, H, W, C)`` images, or None for a run without them."""
        if not self.scores_familiarity:
            return None
        return self.familiarity.scores(self.features(images))

    @property
    def calibrated(self) -> bool:
        """Whether the answer's confidence is calibrated (a temperature was fitted)."""
        return self.spec.temperature is not None

    def probabilities(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``(N, num_classes)`` answer probabilities of ``(N, H, W, C)`` images (or one image)."""
        from cnnlib.predict import predict_probabilities

        return predict_probabilities(self.model, images, batch_size=batch_size)

    def view_logits(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``(views, N, num_classes)`` logits of each test-time view (what calibration is fitted on)."""
        import keras

        from cnnlib.predict import predict_probabilities

        if self._views_logits is None:
            _check_matches(self.classifier, self.spec)
            self._views_logits = keras.Model(*_views_logits_model(self.classifier, self.spec))
        views = len(self.spec.views)
        batch = np.asarray(images)
        batch = batch[None] if batch.ndim == 3 else batch
        # predict_probabilities is the compiled forward pass; here it returns the logits. Each
        # chunk must be one call: its output stacks the views of that call's images, so a
        # chunk split again inside would interleave the views of different images.
        parts = [predict_probabilities(self._views_logits, batch[start : start + batch_size], batch_size=batch_size)
                 for start in range(0, len(batch), batch_size)]
        rows = [part.reshape(views, -1, self.spec.num_classes) for part in parts]
        return np.concatenate(rows, axis=1) if rows else np.zeros((views, 0, self.spec.num_classes), np.float32)

    def answer(self, images: np.ndarray, k: int = 3, heatmaps: bool = False) -> list[Answer]:
        """Top ``k`` classes, band and (optionally) a Grad-CAM heatmap for each image."""
        from cnnlib.predict import top_k

        batch = np.asarray(images)
        batch = batch[None] if batch.ndim == 3 else batch
        if self.scores_familiarity:  # one forward pass gives the answer and the features it scores
            probabilities, features = self._answer_and_features(batch)
            scores: list[float | None] = [float(score) for score in self.familiarity.scores(features)]
        else:
            probabilities, scores = self.probabilities(batch), [None] * len(batch)
        answers = []
        for image, row, score in zip(batch, probabilities, scores, strict=True):
            top = top_k(row, list(self.spec.class_names), min(k, self.spec.num_classes))
            heatmap = self.heatmap(image, self.spec.class_names.index(top[0]["label"])) if heatmaps else None
            answers.append(Answer(probabilities=row, top=top, band=confidence_band(top[0]["confidence"]),
                                  heatmap=heatmap, ood_score=score,
                                  unfamiliar=score is not None and score > float(self.spec.ood_threshold)))
        return answers

    def heatmap(self, image: np.ndarray, target_class: int) -> np.ndarray:
        """Grad-CAM of ``target_class`` on one image, through the classifier's layers."""
        from cnnlib.explain import explain

        return explain(self.classifier, image, "gradcam", target_class=target_class).heatmap


def predictor_for(run: Run, classifier: Any) -> Predictor:
    """The ``Predictor`` of ``run`` around an already loaded classifier."""
    spec = run.input_spec()
    return Predictor(spec=spec, classifier=classifier, model=inference_model(classifier, spec),
                     familiarity=run.familiarity())


def load_predictor(run: Run) -> Predictor:
    """Load ``run``'s best model and wrap it as the run answers."""
    return predictor_for(run, run.load_model())


@dataclass
class UploadAnswer:
    """One uploaded file as Classify and Compare show it.

    Attributes:
        name: The file's name.
        pixels: The model's view: ``(H, W, C)`` uint8 at the spec's size.
        preview: A display copy of the photo, at most ``preview_side`` on its long side.
        original_size: ``(width, height)`` of the decoded photo.
        answer: The run's answer (with the Grad-CAM heatmap when asked for).
        mismatch: A sentence when the photo is far from what the model sees (a colour photo
            for a grey model, a big photo for a tiny input), else None.
    """

    name: str
    pixels: np.ndarray
    preview: np.ndarray
    original_size: tuple[int, int]
    answer: Answer
    mismatch: str | None = None


#: Mean spread between a pixel's colour channels above which a photo counts as colourful.
COLOURFUL = 24
#: A model input side at or under this many pixels sees a photo as a few blurry blobs.
TINY_SIDE = 16


def input_mismatch(spec: InputSpec, preview: np.ndarray, original_size: tuple[int, int]) -> str | None:
    """Say when an upload is far from what the model sees, or None when it fits.

    A grey-digit model shown a colour photo still answers, but with a meaning nobody should
    trust; the page says why before the answer is read.
    """
    pixels = np.asarray(preview, dtype=np.int16)
    colourful = pixels.ndim == 3 and pixels.shape[-1] == 3 and float((pixels.max(-1) - pixels.min(-1)).mean()) > COLOURFUL
    notes = []
    if spec.channels == 1 and colourful:
        notes.append("this model only knows grey images, so the photo's colours are dropped")
    if max(spec.height, spec.width) <= TINY_SIDE and max(original_size) >= 10 * max(spec.height, spec.width):
        notes.append(f"it sees the {original_size[0]}×{original_size[1]} photo as {spec.width}×{spec.height} pixels")
    if not notes:
        return None
    return (f"This photo is far from what the model was trained on ({spec.describe()}): " + "; ".join(notes) + ".")


def decode_upload(data: bytes, name: str, spec: InputSpec, preview_side: int = 384) -> tuple[np.ndarray, np.ndarray,
                                                                                               tuple[int, int]]:
    """Decode an uploaded file as training did: ``(pixels, preview, (width, height))``.

    Raises:
        DataError: Empty, corrupt, truncated, not an image, or too many pixels (names the file).
    """
    from cnnlib.images import load_image_with_preview

    if not data:
        raise DataError(f"{name!r} is empty; expected an image file (jpg, png, webp, bmp, gif). Received: 0 bytes")
    stream = io.BytesIO(data)
    stream.name = name  # the decoder names the file in its error messages
    decoded = load_image_with_preview(stream, spec.size, spec.channels, preview_side)
    return decoded.pixels, np.asarray(decoded.preview), (decoded.info.width, decoded.info.height)


def answer_uploads(predictor: Predictor, files: list[tuple[str, bytes]], k: int = 3, heatmaps: bool = True,
                   preview_side: int = 384) -> tuple[list[UploadAnswer], list[str]]:
    """Decode, answer and explain uploaded files; a file that cannot be read becomes an error line.

    Args:
        predictor: The run's ``Predictor``.
        files: ``(name, bytes)`` per upload.
        k: How many classes each answer lists.
        heatmaps: Add the Grad-CAM heatmap of each answered class.
        preview_side: Longest side of the display copies.

    Returns:
        The answers of the readable files, in order, and one error sentence per unreadable file.
    """
    decoded, errors = [], []
    for name, data in files:
        try:
            decoded.append((name, *decode_upload(data, name, predictor.spec, preview_side)))
        except CnnlibError as exc:
            errors.append(str(exc))
    if not decoded:
        return [], errors
    answers = predictor.answer(np.stack([item[1] for item in decoded]), k=k, heatmaps=heatmaps)
    return [UploadAnswer(name=name, pixels=pixels, preview=preview, original_size=size, answer=answer,
                         mismatch=input_mismatch(predictor.spec, preview, size))
            for (name, pixels, preview, size), answer in zip(decoded, answers, strict=True)], errors
