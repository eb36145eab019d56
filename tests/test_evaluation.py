"""Metrics, McNemar's test, and the compiled prediction path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from cnnlib.errors import CnnlibError, DataError
from cnnlib.evaluation import evaluate_probabilities, mcnemar, mcnemar_in_words, reliability, scores_from_confusion
from cnnlib.predict import predict_probabilities, top_k

CLASSES = ["cat", "dog", "fox", "owl"]  # "owl" never appears in the labels below


@pytest.fixture()
def scored() -> tuple[np.ndarray, np.ndarray]:
    probs = np.array(
        [
            [0.90, 0.05, 0.03, 0.02],  # cat, right
            [0.10, 0.80, 0.05, 0.05],  # dog, right
            [0.60, 0.30, 0.05, 0.05],  # dog -> cat, wrong (0.60)
            [0.20, 0.25, 0.50, 0.05],  # fox, right
            [0.05, 0.15, 0.10, 0.70],  # fox -> owl, wrong (0.70); fox is 3rd
            [0.40, 0.35, 0.20, 0.05],  # fox -> cat, wrong (0.40); fox is 3rd
        ]
    )
    labels = np.array([0, 1, 1, 2, 2, 2], dtype=np.int64)
    return probs, labels


def test_evaluate_probabilities_metrics(scored: tuple[np.ndarray, np.ndarray]) -> None:
    probs, labels = scored
    result = evaluate_probabilities(probs, labels, CLASSES, top_k=2, n_bins=10)

    assert result["accuracy"] == pytest.approx(3 / 6)
    assert result["top_k"] == 2
    # Top-2 adds the dog->cat row (dog second); the two fox rows have fox third.
    assert result["top_k_accuracy"] == pytest.approx(4 / 6)
    assert result["confusion"] == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 0]]
    assert result["confusion_normalized"][1] == pytest.approx([0.5, 0.5, 0.0, 0.0])
    assert result["confusion_normalized"][3] == [0.0, 0.0, 0.0, 0.0]
    assert result["per_class"]["cat"] == pytest.approx({"precision": 1 / 3, "recall": 1.0, "f1": 0.5, "support": 1})
    assert result["per_class"]["owl"]["support"] == 0
    assert set(result["per_class"]) == set(CLASSES)
    assert 0.0 <= result["macro_f1"] <= 1.0 and 0.0 <= result["weighted_f1"] <= 1.0
    assert "owl" in result["report_text"]

    wrong = result["misclassified"]
    assert [m["index"] for m in wrong] == [4, 2, 5]  # by confidence, highest first
    assert wrong[0] == {
        "index": 4,
        "true": "fox",
        "predicted": "owl",
        "confidence": pytest.approx(0.70),
        "top": [
            {"label": "owl", "confidence": pytest.approx(0.70)},
            {"label": "dog", "confidence": pytest.approx(0.15)},
        ],
    }
    json.dumps(result)  # only JSON types


def test_ece_and_reliability_bins(scored: tuple[np.ndarray, np.ndarray]) -> None:
    probs, labels = scored
    result = evaluate_probabilities(probs, labels, CLASSES, n_bins=10)
    bins = result["reliability"]["bins"]
    assert len(bins) == 10 and sum(b["count"] for b in bins) == len(labels)
    assert bins[0]["lower"] == 0.0 and bins[-1]["upper"] == 1.0

    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    # Hand-computed ECE with (lower, upper] bins of width 0.1.
    expected = 0.0
    for low in np.arange(10) / 10:
        members = (confidence > low) & (confidence <= low + 0.1 + 1e-12)
        if members.any():
            expected += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    assert result["ece"] == pytest.approx(expected)


def test_perfectly_calibrated_has_zero_ece() -> None:
    ece, bins = reliability(np.array([1.0, 1.0, 0.0]), np.array([True, True, False]), n_bins=5)
    assert ece == pytest.approx(0.0)
    assert bins[0]["count"] == 1 and bins[-1]["count"] == 2


@pytest.mark.parametrize(
    ("probs", "labels"),
    [
        (np.ones((3, 3)) / 3, np.array([0, 1, 2])),  # 3 columns for 4 classes
        (np.ones((3, 4)) / 4, np.array([0, 1])),  # one label missing
        (np.ones((2, 4)) / 4, np.array([0, 4])),  # label out of range
        (np.ones((2, 4)) / 4, np.array([0.0, 1.0])),  # float labels
    ],
)
def test_evaluate_rejects_inconsistent_inputs(probs: np.ndarray, labels: np.ndarray) -> None:
    with pytest.raises(DataError, match="Received"):
        evaluate_probabilities(probs, labels, CLASSES)


def test_live_report_from_a_confusion_matrix_matches_the_classification_report() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 4, 300))
    predicted[predicted == 3] = 2  # class 3 is never predicted: precision 0 (zero_division=0), not NaN
    names = ["a", "b", "c", "d"]
    probs = np.eye(4)[predicted] * 0.9 + 0.025
    expected = evaluate_probabilities(probs, labels, names)
    live = scores_from_confusion(expected["confusion"], names)
    for row in live:
        for key in ("precision", "recall", "f1", "support"):
            assert row[key] == pytest.approx(expected["per_class"][row["class"]][key])
    assert live[3]["precision"] == 0.0
    with pytest.raises(ValueError, match="4x4"):
        scores_from_confusion([[1, 2], [3, 4]], names)


def test_mcnemar_exact_for_few_discordant_pairs() -> None:
    a = np.array([True] * 10 + [False] * 2 + [True] * 30)
    b = np.array([False] * 10 + [True] * 2 + [True] * 30)
    result = mcnemar(a, b)
    assert (result["b"], result["c"], result["method"]) == (10, 2, "exact")
    assert result["p_value"] == pytest.approx(2 * stats.binom.cdf(2, 12, 0.5))
    sentence = mcnemar_in_words(result, "resnet", "cnn")
    assert "resnet" in sentence and "cnn" in sentence and "10" in sentence
    assert "resnet is better" in sentence
    json.dumps(result)


def test_mcnemar_chi_square_for_many_discordant_pairs() -> None:
    a = np.array([True] * 20 + [False] * 15 + [True] * 5)
    b = np.array([False] * 20 + [True] * 15 + [True] * 5)
    result = mcnemar(a, b)
    assert result["method"] == "chi2"
    assert result["statistic"] == pytest.approx((abs(20 - 15) - 1) ** 2 / 35)
    assert result["p_value"] == pytest.approx(stats.chi2.sf(result["statistic"], 1))
    assert "could well be chance" in mcnemar_in_words(result, "A", "B")


def test_mcnemar_identical_models() -> None:
    same = np.array([True, False, True])
    result = mcnemar(same, same)
    assert result["p_value"] == 1.0
    assert "same mistakes" in mcnemar_in_words(result, "A", "B")
    with pytest.raises(DataError):
        mcnemar(same, same[:2])


def test_top_k_orders_and_caps() -> None:
    assert top_k(np.array([0.1, 0.6, 0.3]), ["a", "b", "c"], k=5) == [
        {"label": "b", "confidence": pytest.approx(0.6)},
        {"label": "c", "confidence": pytest.approx(0.3)},
        {"label": "a", "confidence": pytest.approx(0.1)},
    ]
    with pytest.raises(CnnlibError):
        top_k(np.array([0.5, 0.5]), ["a", "b", "c"], k=1)


def test_predict_probabilities_matches_model_call() -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax", name="predictions"),
        ]
    )
    images = np.random.default_rng(0).integers(0, 256, size=(5, 6, 6, 1), dtype=np.uint8)
    expected = np.asarray(model(images.astype("float32"), training=False))

    probs = predict_probabilities(model, images, batch_size=2)  # uneven last batch
    assert probs.dtype == np.float32 and probs.shape == (5, 3)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_probabilities(model, images[0]), expected[:1], rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match=r"Received: shape=\(5, 6, 6, 3\)"):
        predict_probabilities(model, np.zeros((5, 6, 6, 3), np.uint8))
