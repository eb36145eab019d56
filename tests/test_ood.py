""""None of my classes": the familiarity score, its threshold, and how runs answer with it."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlib import ood
from cnnlib.errors import DataError, RunError
from cnnlib.ood_sets import SETS, make_set
from cnnlib.runs import RunStore


def test_neighbour_score_is_one_minus_the_cosine_of_the_kth_neighbour() -> None:
    bank = ood.fit_bank(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), k=2)
    scores = bank.scores(np.array([[2.0, 0.0], [-1.0, 0.0]]))
    # (2, 0) is on the first row (cos 1) and 45 degrees from the third (cos 0.707): the 2nd neighbour decides
    np.testing.assert_allclose(scores, [1 - np.sqrt(0.5), 1 + np.sqrt(0.5)], atol=1e-3)  # (-1, 0): cosines 0, -0.71, -1
    assert ood.fit_bank(np.ones((3, 4)), k=10).k == 3  # never more neighbours than bank rows


def test_threshold_lets_the_pass_rate_through_and_auroc_orders_scores() -> None:
    scores = np.arange(1000, dtype=float)
    threshold = ood.fit_threshold(scores)
    assert np.mean(scores <= threshold) == pytest.approx(ood.PASS_RATE, abs=0.002)
    assert ood.auroc(np.zeros(5), np.ones(5)) == 1.0 and ood.auroc(np.ones(5), np.zeros(5)) == 0.0
    with pytest.raises(DataError):
        ood.fit_threshold(np.array([]))


def test_bank_sample_keeps_every_class_share() -> None:
    labels = np.r_[np.zeros(9000, int), np.ones(1000, int)]
    picked = ood.bank_sample(labels, size=500, seed=3)
    assert len(picked) == 500 and np.mean(labels[picked] == 1) == pytest.approx(0.1)
    assert (ood.bank_sample(labels[:50]) == np.arange(50)).all()


def test_logit_methods_and_mahalanobis_rank_the_obvious_case() -> None:
    confident, flat = np.array([[9.0, 0.0, 0.0]]), np.array([[0.1, 0.0, 0.0]])
    for method in ("energy", "max_logit", "msp"):
        assert ood.logit_scores(flat, method)[0] > ood.logit_scores(confident, method)[0]
    with pytest.raises(DataError, match="method must be one of"):
        ood.logit_scores(flat, "entropy")
    rng = np.random.default_rng(0)
    features = np.r_[rng.normal(0, 1, (200, 3)), rng.normal(5, 1, (200, 3))]
    density = ood.fit_density(features, np.r_[np.zeros(200, int), np.ones(200, int)], 2)
    near, far = density.scores(np.array([[0.0, 0, 0], [20.0, -20, 20]]))
    assert near < 1 < 100 < far


@pytest.mark.parametrize("name", sorted(SETS))
def test_sets_of_no_class_are_deterministic_images_of_the_model_size(name: str) -> None:
    for shape in ((32, 32, 3), (8, 8, 1)):
        images = make_set(name, 6, shape, seed=4)
        assert images.shape == (6, *shape) and images.dtype == np.uint8
        assert (images == make_set(name, 6, shape, seed=4)).all()


def _bundled():  # type: ignore[no-untyped-def]
    store = RunStore("/nonexistent-store")
    bundled = [info["id"] for info in store.list() if info.get("bundled")]
    if not bundled:
        pytest.skip("no bundled run")
    return store.get(bundled[0])


def test_the_bundled_model_flags_noise_and_stripes_and_answers_in_one_pass() -> None:
    from cnnlib.inference import load_predictor

    predictor = load_predictor(_bundled())
    assert predictor.scores_familiarity and predictor.spec.ood_threshold is not None
    for name in ("uniform_noise", "stripes"):
        answers = predictor.answer(make_set(name, 40, predictor.spec.shape, seed=7))
        assert np.mean([answer.unfamiliar for answer in answers]) >= 0.9, name
        assert all(answer.ood_score is not None for answer in answers)
    images = make_set("photo_crops", 8, predictor.spec.shape, seed=2)
    np.testing.assert_allclose(np.stack([answer.probabilities for answer in predictor.answer(images)]),
                               predictor.probabilities(images), atol=1e-5)  # the scoring pass answers alike


def test_bundled_test_images_mostly_pass(cifar_dir: Path) -> None:
    from cnnlib.images import load_image
    from cnnlib.inference import load_predictor

    predictor = load_predictor(_bundled())
    files = sorted((cifar_dir / "test").glob("*/*.jpg"))[::100][:100]
    images = np.stack([load_image(path, predictor.spec.size, predictor.spec.channels) for path in files])
    assert np.mean(predictor.ood_scores(images) <= predictor.spec.ood_threshold) >= 0.85


def test_a_damaged_familiarity_file_is_a_run_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "copy"
    shutil.copytree(_bundled().path, run_dir, ignore=shutil.ignore_patterns("*.keras", "exports", "evaluation"))
    (run_dir / "familiarity.npz").write_bytes(b"not a numpy file")
    with pytest.raises(RunError, match="familiarity.npz cannot be read"):
        RunStore(tmp_path).get(str(run_dir)).familiarity()


@pytest.mark.slow
def test_a_run_fits_its_familiarity_once_and_predict_reports_it(trained_run_store: Path, tmp_path: Path) -> None:
    from cnnlib.inference import load_predictor
    from cnnlib.operations import calibrate_run, load_run_dataset, predict_files

    root = tmp_path / "runs"
    shutil.copytree(trained_run_store, root / trained_run_store.name)
    run = RunStore(root).get(trained_run_store.name)
    for name in ("spec.json", "familiarity.npz"):
        (run.path / name).unlink(missing_ok=True)
    assert load_predictor(run).answer(np.zeros((8, 8, 1), np.uint8))[0].ood_score is None  # not fitted yet
    dataset = load_run_dataset(run)
    calibrate_run(run, None, dataset)
    spec = json.loads((run.path / "spec.json").read_text())
    predictor = load_predictor(run)
    assert predictor.scores_familiarity and spec["ood_threshold"] == predictor.spec.ood_threshold
    assert np.mean(predictor.ood_scores(dataset.val.images) <= spec["ood_threshold"]) >= ood.PASS_RATE
    noise = make_set("uniform_noise", 10, predictor.spec.shape, seed=0)
    paths = []
    for n, image in enumerate(noise):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0]).save(buffer, format="PNG")
        paths.append(tmp_path / f"noise{n}.png")
        paths[-1].write_bytes(buffer.getvalue())
    results = predict_files(run.id, [str(path) for path in paths], runs_dir=root)
    assert all(isinstance(result["ood_score"], float) for result in results)
    assert np.mean([result["unfamiliar"] for result in results]) >= 0.8


def test_airbench_runs_score_familiarity_on_the_mean_of_every_block() -> None:
    import keras

    from cnnlib.inference import Predictor, inference_model
    from cnnlib.models import ARCHITECTURES, ModelConfig, build_model
    from cnnlib.spec import SHIFTED_VIEWS, InputSpec, spec_for

    layers = ARCHITECTURES["airbench_small"].familiarity_layers
    for arch in ("airbench_small", "airbench"):  # the registry names layers both layouts have
        model = build_model(ModelConfig(arch=arch, num_classes=3, input_shape=(16, 16, 3)))
        assert set(ARCHITECTURES[arch].familiarity_layers) <= {layer.name for layer in model.layers}
    model = build_model(ModelConfig(arch="airbench_small", num_classes=3, input_shape=(16, 16, 3)))
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    single = spec_for((16, 16, 3), ["a", "b", "c"], familiarity_layers=layers)
    predictor = Predictor(spec=single, classifier=model, model=inference_model(model, single))
    means = keras.Model(model.inputs, [keras.ops.mean(model.get_layer(name).output, axis=(1, 2)) for name in layers])
    expected = np.concatenate([np.asarray(part) for part in means(images.astype("float32"))], axis=1)
    np.testing.assert_allclose(predictor.features(images), expected, rtol=1e-4, atol=1e-5)  # 32 + 64 + 128
    # With six views the features are the views' mean, and the answer is the inference model's.
    shifted = spec_for((16, 16, 3), ["a", "b", "c"], SHIFTED_VIEWS, layers)
    six = Predictor(spec=shifted, classifier=model, model=inference_model(model, shifted))
    assert six.features(images).shape == (5, 224)
    np.testing.assert_allclose(six._answer_and_features(images)[0], six.probabilities(images), atol=1e-5)
    assert InputSpec.from_dict(shifted.to_dict()) == shifted
    legacy = {key: value for key, value in shifted.to_dict().items() if key != "familiarity_layers"}
    assert InputSpec.from_dict(legacy).familiarity_layers == ()  # older runs read their penultimate features
    other = build_model(ModelConfig(arch="cifar_fast", num_classes=3, input_shape=(16, 16, 3)))
    wrong = Predictor(spec=single, classifier=other, model=other)
    with pytest.raises(DataError, match=f"has no layer '{layers[0]}'"):
        wrong.features(images)
