"""Temperature scaling: the fit recovers a known temperature, and a real run is calibrated once, everywhere."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cnnlib.calibration import TEMPERATURE_RANGE, answer_from_logits, fit_temperature, negative_log_likelihood
from cnnlib.errors import DataError


def _sampled(temperature: float, count: int = 4000, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits / temperature): a model whose true temperature is known."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (1, count, classes))
    probabilities = answer_from_logits(logits, temperature).astype(np.float64)
    labels = np.array([rng.choice(classes, p=row / row.sum()) for row in probabilities])
    return logits, labels


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_recovers_the_temperature_that_generated_the_labels(true_temperature: float) -> None:
    logits, labels = _sampled(true_temperature)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.1)
    # the fit is the minimum of the likelihood: both neighbours are worse
    nll = negative_log_likelihood(answer_from_logits(logits, fitted), labels)
    for other in (fitted * 0.8, fitted * 1.25):
        assert nll < negative_log_likelihood(answer_from_logits(logits, other), labels)


def test_views_are_averaged_in_logit_space_before_the_temperature() -> None:
    view_logits = np.array([[[2.0, 0.0]], [[0.0, 0.0]]])  # two views of one image
    answer = answer_from_logits(view_logits, 0.5)  # mean logits (1, 0), divided by 0.5 -> (2, 0)
    np.testing.assert_allclose(answer, [[np.exp(2) / (np.exp(2) + 1), 1 / (np.exp(2) + 1)]], rtol=1e-6)


def test_bad_fitting_input_is_a_data_error() -> None:
    with pytest.raises(DataError):
        fit_temperature(np.zeros((1, 0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(DataError):
        fit_temperature(np.zeros((1, 4, 3)), np.zeros(3, dtype=int))
    low, high = TEMPERATURE_RANGE
    assert low < 1 < high


@pytest.mark.slow
def test_a_finished_run_is_calibrated_once_and_its_exports_answer_alike(trained_run_store: Path,
                                                                         tmp_path: Path) -> None:
    from cnnlib.calibration import fit_temperature as fit
    from cnnlib.inference import load_predictor
    from cnnlib.operations import calibrate_run, ensure_calibrated, export_run, load_run_dataset
    from cnnlib.runs import RunStore

    run_dir = tmp_path / "runs" / trained_run_store.name
    shutil.copytree(trained_run_store, run_dir)
    (run_dir / "spec.json").unlink(missing_ok=True)
    run = RunStore(tmp_path / "runs").get(run_dir.name)
    assert run.input_spec().temperature is None
    dataset = load_run_dataset(run)
    temperature = calibrate_run(run, None, dataset)
    assert temperature is not None and run.input_spec().temperature == temperature
    predictor = load_predictor(run)
    assert predictor.calibrated
    # the saved temperature is the likelihood fit on the validation split
    assert temperature == pytest.approx(fit(predictor.view_logits(dataset.val.images), dataset.val.labels), rel=1e-4)
    assert ensure_calibrated(run) is True and run.input_spec().temperature == temperature  # not refitted
    report = export_run(run.id, "tflite-float32", runs_dir=tmp_path / "runs", max_test=64)
    assert report["agreement"] == 1.0
    from cnnlib.export import TFLiteClassifier  # the exported file answers with the calibrated confidence

    images = dataset.test.images[:16]
    np.testing.assert_allclose(TFLiteClassifier(report["path"]).predict_probabilities(images),
                               predictor.probabilities(images), atol=2e-3)
