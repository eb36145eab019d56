"""One inference model per run: test-time views inside, the same answer everywhere."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlib.errors import ConfigError, DataError, RunError
from cnnlib.inference import Predictor, answer_uploads, confidence_band, decode_upload, inference_model
from cnnlib.predict import predict_probabilities
from cnnlib.runs import RunStore, bundled_runs_dir
from cnnlib.spec import InputSpec, check_image_size, spec_for

CLASSES = ("a", "b", "c")


def _tiny_model():  # type: ignore[no-untyped-def]
    from cnnlib.models import ModelConfig, build_model

    return build_model(ModelConfig(arch="simple_cnn", num_classes=3, input_shape=(18, 18, 3)))


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_views_model_averages_the_logits_of_image_and_mirror() -> None:
    from cnnlib.calibration import answer_from_logits
    from cnnlib.inference import logits_model

    classifier = _tiny_model()
    model = inference_model(classifier, spec_for((18, 18, 3), CLASSES, ("identity", "mirror")))
    images = np.random.default_rng(0).integers(0, 256, (5, 18, 18, 3), dtype=np.uint8)
    to_logits = logits_model(classifier)
    views = np.stack([predict_probabilities(to_logits, images), predict_probabilities(to_logits, images[:, :, ::-1])])
    # the logits copy answers like the classifier once its softmax is put back
    np.testing.assert_allclose(answer_from_logits(views[:1]), predict_probabilities(classifier, images), atol=1e-5)
    both = predict_probabilities(model, images, batch_size=2)
    np.testing.assert_allclose(both, answer_from_logits(views), atol=1e-5)
    np.testing.assert_allclose(both.sum(axis=1), 1.0, atol=1e-5)
    # a mirror-symmetric input gives the same answer with or without the mirror view
    symmetric = np.concatenate([images[:, :, :9], images[:, :, :9][:, :, ::-1]], axis=2)
    np.testing.assert_allclose(predict_probabilities(model, symmetric), predict_probabilities(classifier, symmetric),
                               atol=1e-5)


def test_the_graph_applies_the_temperature_exactly_like_the_numpy_answer() -> None:
    from cnnlib.calibration import answer_from_logits

    classifier = _tiny_model()
    images = np.random.default_rng(1).integers(0, 256, (6, 18, 18, 3), dtype=np.uint8)
    for views in (("identity",), ("identity", "mirror")):
        spec = spec_for((18, 18, 3), CLASSES, views).with_temperature(2.5)
        predictor = Predictor(spec, classifier, inference_model(classifier, spec))
        expected = answer_from_logits(predictor.view_logits(images), 2.5)
        np.testing.assert_allclose(predictor.probabilities(images), expected, atol=1e-5)
        uncalibrated = Predictor(spec, classifier, inference_model(classifier, spec, calibrated=False))
        np.testing.assert_allclose(uncalibrated.probabilities(images), answer_from_logits(predictor.view_logits(images)),
                                   atol=1e-5)
        # a temperature above 1 softens the answer and never changes the answered class
        assert (expected.max(axis=1) <= uncalibrated.probabilities(images).max(axis=1) + 1e-6).all()
        assert (expected.argmax(axis=1) == uncalibrated.probabilities(images).argmax(axis=1)).all()


def test_view_logits_are_each_images_own_views_at_any_chunk_size() -> None:
    """Chunks larger than predict_probabilities' default batch once interleaved images' views."""
    from cnnlib.inference import _view, logits_model

    classifier = _tiny_model()
    views = ("identity", "mirror", "down_right")
    spec = spec_for((18, 18, 3), CLASSES, views)
    predictor = Predictor(spec, classifier, inference_model(classifier, spec))
    images = np.random.default_rng(3).integers(0, 256, (300, 18, 18, 3), dtype=np.uint8)
    to_logits = logits_model(classifier)
    expected = np.stack([predict_probabilities(to_logits, np.asarray(_view(images.astype("float32"), view)))
                         for view in views])
    for chunk in (7, 256, 300, 1000):
        np.testing.assert_allclose(predictor.view_logits(images, batch_size=chunk), expected, atol=1e-4)

def test_single_view_is_the_classifier_and_a_mismatch_is_refused() -> None:
    classifier = _tiny_model()
    assert inference_model(classifier, spec_for((18, 18, 3), CLASSES)) is classifier
    with pytest.raises(DataError, match="does not match its run's input spec"):
        inference_model(classifier, spec_for((32, 32, 3), CLASSES))
    with pytest.raises(DataError, match="classes=3"):
        inference_model(classifier, spec_for((18, 18, 3), ("a", "b")))


def test_an_answer_is_accepted_from_the_threshold_up() -> None:
    from cnnlib.inference import LOW_CONFIDENCE, accepted

    assert accepted(LOW_CONFIDENCE) and not accepted(LOW_CONFIDENCE - 1e-6)  # the default: the page's first value
    assert accepted(0.41, 0.4) and not accepted(0.41, 0.99)
    assert accepted(0.0, 0.0) and accepted(1.0, 1.0) and accepted(0.99, 0.99)
    for bad in (-0.1, 1.5, True, "0.5", float("nan"), None):
        with pytest.raises(ConfigError, match="confidence threshold"):
            accepted(0.5, bad)  # type: ignore[arg-type]


def test_input_spec_validates_and_round_trips() -> None:
    spec = spec_for((32, 24, 1), CLASSES, ("identity", "mirror"))
    assert InputSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.size == (32, 24) and spec.shape == (32, 24, 1)
    assert spec.describe() == "3 classes of 32×24 grey images"
    with pytest.raises(ConfigError, match="unknown input spec keys"):
        InputSpec.from_dict({**spec.to_dict(), "tta": True})
    with pytest.raises(ConfigError, match="must start with 'identity'"):
        spec_for((32, 32, 3), CLASSES, ("mirror",))
    with pytest.raises(ConfigError, match="4 to 1024 pixels"):
        check_image_size((2, 32))
    with pytest.raises(ConfigError, match="Received: image_size='big'"):
        check_image_size("big")
    assert check_image_size(64) == (64, 64)


def test_answers_bands_and_uploads() -> None:
    classifier = _tiny_model()
    spec = spec_for((18, 18, 3), CLASSES, ("identity", "mirror"))
    predictor = Predictor(spec=spec, classifier=classifier, model=inference_model(classifier, spec))
    photo = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    answers, errors = answer_uploads(predictor, [("ok.png", _png(photo)), ("bad.png", b"not a picture"),
                                                 ("empty.png", b"")], k=2)
    assert len(answers) == 1 and len(errors) == 2
    assert any("bad.png" in message for message in errors) and any("empty.png" in message for message in errors)
    shown = answers[0]
    pixels, preview, size = decode_upload(_png(photo), "ok.png", spec)
    np.testing.assert_array_equal(shown.pixels, pixels)
    assert shown.original_size == size == (60, 40) and preview.shape == shown.preview.shape
    expected = predict_probabilities(predictor.model, pixels)[0]
    np.testing.assert_allclose(shown.answer.probabilities, expected, atol=1e-6)
    assert shown.answer.label == CLASSES[int(expected.argmax())] and len(shown.answer.top) == 2
    assert shown.answer.band == confidence_band(float(expected.max()))
    assert shown.answer.heatmap.shape == (18, 18)
    assert (confidence_band(0.95), confidence_band(0.75), confidence_band(0.55), confidence_band(0.1)) == (
        "very confident", "fairly sure", "leaning towards it", "unsure")


def _bundled_run():  # type: ignore[no-untyped-def]
    runs = [info for info in RunStore("/nonexistent-store").list() if info.get("bundled")]
    if not runs:
        pytest.skip(f"no bundled run in {bundled_runs_dir()}")
    return RunStore("/nonexistent-store").get(runs[0]["id"])


def test_old_runs_migrate_their_spec_on_read(tmp_path: Path) -> None:
    # The bundled run as a run saved before spec.json and test_views existed: its config said
    # only ``tta_flip: true`` (the image and its mirror).
    run_dir = tmp_path / "old-run"
    shutil.copytree(_bundled_run().path, run_dir, ignore=shutil.ignore_patterns("exports", "evaluation", "spec.json"))
    config = json.loads((run_dir / "config.json").read_text())
    config["train"].pop("test_views", None)
    config["train"]["tta_flip"] = True
    (run_dir / "config.json").write_text(json.dumps(config))
    run = RunStore(tmp_path).get(str(run_dir))
    spec = run.input_spec()
    assert spec.views == ("identity", "mirror") and spec.shape == (32, 32, 3) and spec.temperature is None
    assert spec.class_names == tuple(run.data_info()["class_names"])
    from cnnlib.inference import load_predictor

    predictor = load_predictor(run)
    images = np.random.default_rng(2).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    logits = predictor.view_logits(images)
    mean = logits.mean(axis=0)
    expected = np.exp(mean - mean.max(axis=1, keepdims=True))
    np.testing.assert_allclose(predictor.probabilities(images), expected / expected.sum(axis=1, keepdims=True),
                               atol=1e-5)


def test_a_damaged_spec_is_a_run_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "copy"
    shutil.copytree(_bundled_run().path, run_dir, ignore=shutil.ignore_patterns("*.keras", "exports", "evaluation"))
    (run_dir / "spec.json").write_text('{"height": 32, "width": 32, "channels": 5, "class_names": ["a", "b"]}')
    with pytest.raises(RunError, match="damaged"):
        RunStore(tmp_path).get(str(run_dir)).input_spec()


def _phone_photo(path: Path) -> bytes:
    """A large JPEG stored sideways with EXIF orientation 6, as phones write them."""
    rng = np.random.default_rng(0)
    pixels = (rng.random((1500, 2000, 3)) * 255).astype(np.uint8)
    pixels[:, :1000] = [200, 30, 30]  # a left half that must end up on top after rotation
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, exif=exif)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_upload_pixels_equal_the_training_decode(tmp_path: Path) -> None:
    from cnnlib.images import load_image

    path = tmp_path / "phone.jpg"
    data = _phone_photo(path)
    for shape in ((32, 32, 3), (64, 48, 1)):
        pixels, preview, size = decode_upload(data, "phone.jpg", spec_for(shape, CLASSES), preview_side=384)
        np.testing.assert_array_equal(pixels, load_image(path, shape[:2], shape[2]))
    assert size == (1500, 2000)  # width, height after the EXIF rotation
    assert max(preview.shape[:2]) <= 384
    assert preview.shape[0] > preview.shape[1]  # portrait, as the phone showed it


def test_an_upload_far_from_what_the_model_sees_is_named() -> None:
    from cnnlib.inference import input_mismatch

    grey_digits = spec_for((8, 8, 1), [str(n) for n in range(10)])
    colour = np.zeros((300, 400, 3), np.uint8)
    colour[..., 0] = 220  # a red photo
    note = input_mismatch(grey_digits, colour, (400, 300))
    assert note is not None and "8×8 grey" in note and "colours are dropped" in note and "400×300" in note
    grey_photo = np.repeat(colour[..., :1], 3, axis=-1)  # the same photo in grey: only the size is far
    assert "colours" not in input_mismatch(grey_digits, grey_photo, (400, 300))
    assert input_mismatch(grey_digits, grey_photo[:60, :60], (60, 60)) is None
    photos = spec_for((32, 32, 3), CLASSES)
    assert input_mismatch(photos, colour, (4000, 3000)) is None  # a colour photo model takes any photo
