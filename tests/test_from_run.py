"""Own photos on the bundled demo's network: a new head trained on frozen features, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from cnnlib.cli import main
from cnnlib.errors import ConfigError
from cnnlib.images import load_image
from cnnlib.runs import RunStore
from cnnlib.training.request import resolve_defaults

pytestmark = pytest.mark.slow  # trains for real


def _bundled_id() -> str:
    ids = [info["id"] for info in RunStore().list() if info.get("bundled")]
    if not ids:
        pytest.skip("no bundled run installed")
    return ids[0]


def _photos(root: Path) -> Path:
    """Three classes of 64x48 photos: warm, cool and green scenes with random texture."""
    rng = np.random.default_rng(0)
    tints = {"sunset": (200, 90, 40), "sea": (40, 90, 200), "meadow": (60, 170, 60)}
    for split, count in (("train", 12), ("test", 6)):
        for name, tint in tints.items():
            (root / split / name).mkdir(parents=True)
            for number in range(count):
                noise = rng.normal(0, 35, (48, 64, 3))
                pixels = np.clip(np.array(tint)[None, None, :] + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{number}.jpg")
    return root


def test_a_request_starts_from_the_bundled_demo_at_its_input_size() -> None:
    request = resolve_defaults({"source": "digits"}, {"arch": "from_run"})
    assert request.model["weights"] == _bundled_id()
    assert request.data.image_size == (32, 32) and request.data.channels == 3
    assert request.train.epochs == 40 and request.train.augment == ("flip",)  # the from_run recipe
    chosen = resolve_defaults({"source": "digits", "image_size": [16, 16]}, {"arch": "from_run"},
                              {"epochs": 3})
    assert chosen.data.image_size == (16, 16) and chosen.train.epochs == 3  # the user's choice wins


def test_a_missing_base_run_is_refused_in_words() -> None:
    with pytest.raises(ConfigError, match="cannot start from run 'no-such-run'"):
        resolve_defaults({"source": "digits"}, {"arch": "from_run", "weights": "no-such-run"})


def test_own_photos_train_a_head_on_the_frozen_demo_network(tmp_path: Path, capsys) -> None:
    data = _photos(tmp_path / "photos")
    runs = tmp_path / "runs"
    code = main(["train", "--data", str(data), "--arch", "from_run", "--epochs", "6", "--runs", str(runs)])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and result["status"] == "completed", result
    assert result["test_accuracy"] >= 0.9  # three colour casts: the frozen features separate them
    run = RunStore(runs).get(result["run_id"])
    assert run.config()["model"]["weights"] == _bundled_id()
    model = keras.saving.load_model(run.best_model_path())  # no custom objects
    base = keras.saving.load_model(RunStore().get(_bundled_id()).best_model_path())
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == model.get_layer("predictions").count_params(), "only the new head learns"
    np.testing.assert_array_equal(model.get_layer("base").get_weights()[0], base.get_weights()[0])
    # decoded as predict and the app decode it (the training decoder): a head on the whitened
    # features answers Pillow's default bicubic resize of these noisy photos differently
    spec = run.input_spec()
    photo = load_image(data / "test" / "sea" / "0.jpg", spec.size, spec.channels).astype(np.float32)
    assert int(np.argmax(model(photo[None], training=False))) == spec.class_names.index("sea")
