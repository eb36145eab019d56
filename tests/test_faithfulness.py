"""The deletion test: a map that points at what the model uses scores lower than chance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlib.errors import DataError
from cnnlib.explain.faithfulness import STEPS, deletion, random_block_order


def _centre_detector(batch: np.ndarray) -> np.ndarray:
    """A 'model' whose class-0 probability is the brightness of the image's central 4x4 square."""
    centre = np.asarray(batch, dtype=np.float64)[:, 6:10, 6:10].mean(axis=(1, 2, 3)) / 255
    return np.stack([centre, 1 - centre], axis=1)


def _image() -> np.ndarray:
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[6:10, 6:10] = 255  # a bright square in the middle: class 0 at probability 1
    return image


def test_the_map_the_model_follows_scores_below_chance_and_the_inverse_above() -> None:
    true_map = np.zeros((16, 16))
    true_map[6:10, 6:10] = 1.0
    followed = deletion(_centre_detector, _image(), true_map, target_class=0)
    inverse = deletion(_centre_detector, _image(), 1 - true_map, target_class=0)
    assert followed.probabilities[0] == pytest.approx(1.0)
    assert followed.fractions.shape == followed.probabilities.shape == (STEPS + 1,)
    assert followed.score < followed.random_score < inverse.score
    # the square is 1/16 of the pixels: after the first step it is all blurred away, and stays so
    assert followed.probabilities[1] < 0.6 and np.allclose(followed.probabilities[1:], followed.probabilities[1])
    assert inverse.probabilities[STEPS - 1] == pytest.approx(1.0)  # the square is the last to go


def test_the_chance_level_blurs_one_whole_block_a_step() -> None:
    order = random_block_order(16, 16, seed=3)
    assert sorted(order) == list(range(256))  # every pixel once
    for step in range(STEPS):
        rows, cols = np.divmod(order[step * 16:(step + 1) * 16], 16)
        assert len(set(rows // 4)) == 1 and len(set(cols // 4)) == 1, f"step {step} spans blocks"
    assert not np.array_equal(order, random_block_order(16, 16, seed=4))  # the seed picks the order
    uneven = random_block_order(10, 7, seed=0)  # a grid that does not divide the size still covers it
    assert sorted(uneven) == list(range(70))


def test_a_heatmap_of_another_size_is_refused() -> None:
    with pytest.raises(DataError, match="the image's size"):
        deletion(_centre_detector, _image(), np.zeros((8, 8)), target_class=0)


def test_grad_cam_of_the_bundled_model_beats_chance_on_test_photos(cifar_dir: Path) -> None:
    from cnnlib.explain import explain
    from cnnlib.images import load_image
    from cnnlib.inference import load_predictor
    from cnnlib.runs import RunStore

    store = RunStore("/nonexistent-store")
    bundled = [info["id"] for info in store.list() if info.get("bundled")]
    if not bundled:
        pytest.skip("no bundled run")
    predictor = load_predictor(store.get(bundled[0]))
    files = sorted((cifar_dir / "test").glob("*/*.jpg"))[::500][:20]
    images = [load_image(path, predictor.spec.size, predictor.spec.channels) for path in files]
    results = []
    for image in images:
        target = int(predictor.probabilities(image).argmax())
        heatmap = explain(predictor.classifier, image, "gradcam", target_class=target).heatmap
        results.append(deletion(predictor.probabilities, image, heatmap, target))
    assert np.mean([r.score for r in results]) < np.mean([r.random_score for r in results])
