"""Run-level operations: a run with test-time views answers alike in predict, evaluate, the app and exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnlib.data import DataConfig, load_dataset
from cnnlib.export import TFLiteClassifier
from cnnlib.operations import export_run, open_run, predict_files
from cnnlib.predict import predict_probabilities
from cnnlib.training import TrainConfig, train


@pytest.mark.slow  # a real training
def test_mirror_view_run_exports_carry_the_view_averaging(tmp_path: Path) -> None:
    from cnnlib.inference import load_predictor

    result = train(DataConfig(source="digits"), {"arch": "cifar_fast"},
                   TrainConfig(epochs=3, test_views=("identity", "mirror"), tensorboard=False), runs_dir=tmp_path,
                   name="tta")
    run = open_run(result.run_id, tmp_path)
    assert json.loads((run.path / "spec.json").read_text())["views"] == ["identity", "mirror"]
    predictor = load_predictor(run)
    test = load_dataset(DataConfig(source="digits")).test
    app_probs = predictor.probabilities(test.images)
    plain_probs = predict_probabilities(predictor.classifier, test.images)
    assert not np.allclose(app_probs, plain_probs)  # the mirror view really changes the answers
    assert run.evaluation("test")["views"] == ["identity", "mirror"]

    report = export_run(result.run_id, "tflite-float32", runs_dir=tmp_path)
    assert report["keras_accuracy"] == pytest.approx(result.test_accuracy, abs=1e-9)
    exported = TFLiteClassifier(report["path"]).predict_probabilities(test.images)
    np.testing.assert_allclose(exported, app_probs, atol=1e-4)

    image = tmp_path / "digit.png"
    from PIL import Image

    Image.fromarray(test.images[0][..., 0]).save(image)
    top = predict_files(result.run_id, [str(image)], top_k=1, runs_dir=tmp_path)[0]["top"][0]
    assert top["confidence"] == pytest.approx(float(app_probs[0].max()), abs=1e-5)


def test_exporting_a_bundled_run_writes_to_the_store_and_says_where(tmp_path: Path) -> None:
    from cnnlib.runs import RunStore

    store = RunStore(tmp_path)
    bundled = [info for info in store.list() if info.get("bundled")]
    if not bundled:
        pytest.skip("no bundled run")
    run = store.get(bundled[0]["id"])
    before = sorted(p.name for p in run.exports_dir.iterdir()) if run.exports_dir.exists() else []
    report = export_run(run.id, "savedmodel", runs_dir=tmp_path)
    target = tmp_path / ".exports" / run.id / "savedmodel"
    assert Path(report["path"]) == target and (target / "saved_model.pb").exists()
    assert str(target) in report["note"] and "read-only" in report["note"]
    assert (tmp_path / ".exports" / run.id / "savedmodel.json").exists()
    after = sorted(p.name for p in run.exports_dir.iterdir()) if run.exports_dir.exists() else []
    assert after == before, "a bundled run must never be written"
    assert [info["id"] for info in store.list() if not info.get("bundled")] == []  # .exports is not a run
