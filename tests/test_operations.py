"""Run-level operations: exports of a test-time-flip run predict what the app predicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlib.data import DataConfig, load_dataset
from cnnlib.export import TFLiteClassifier
from cnnlib.operations import export_run, open_run, predict_files
from cnnlib.predict import predict_probabilities
from cnnlib.training import TrainConfig, train


def test_tta_flip_run_exports_carry_the_flip_averaging(tmp_path: Path) -> None:
    result = train(DataConfig(source="digits"), {"arch": "cifar_fast"},
                   TrainConfig(epochs=3, tta_flip=True, tensorboard=False), runs_dir=tmp_path, name="tta")
    run = open_run(result.run_id, tmp_path)
    model = run.load_model()
    test = load_dataset(DataConfig(source="digits")).test
    app_probs = predict_probabilities(model, test.images, tta_flip=True)
    plain_probs = predict_probabilities(model, test.images)
    assert not np.allclose(app_probs, plain_probs)  # the flip really changes the answers

    report = export_run(result.run_id, "tflite-float32", runs_dir=tmp_path)
    assert report["keras_accuracy"] == pytest.approx(result.test_accuracy, abs=1e-9)
    exported = TFLiteClassifier(report["path"]).predict_probabilities(test.images)
    np.testing.assert_allclose(exported, app_probs, atol=1e-4)

    image = tmp_path / "digit.png"
    from PIL import Image

    Image.fromarray(test.images[0][..., 0]).save(image)
    top = predict_files(result.run_id, [str(image)], top_k=1, runs_dir=tmp_path)[0]["top"][0]
    assert top["confidence"] == pytest.approx(float(app_probs[0].max()), abs=1e-5)
