""""None of my classes": how unlike its training images a photo is, for one run.

A classifier spreads its probability over the classes it knows, whatever it is shown, so
confidence alone cannot say "this is none of them". The scores here measure distance from
the training data instead; each is higher for images less like the training split:

- ``energy``: ``-logsumexp(logits)`` (Liu et al., "Energy-based Out-of-distribution
  Detection", 2020), from the answer's logits alone.
- ``max_logit``: minus the largest logit (Hendrycks et al., 2022).
- ``msp``: minus the top softmax probability, the baseline (Hendrycks & Gimpel, 2017).
- ``mahalanobis``: the smallest squared Mahalanobis distance of the penultimate features
  to a class mean, with one covariance shared by the classes (Lee et al., 2018).
- ``knn``: one minus the cosine similarity of the penultimate features to their k-th
  nearest neighbour among a sample of training images (Sun et al., "Out-of-Distribution
  Detection with Deep Nearest Neighbors", 2022).

``docs/BENCHMARKS.md`` ("none of my classes") measures them against sets of images from
no class (noise, flat colours, stripes, digits, photo crops): ``knn`` was the only one above
0.90 AUROC on every set for the bundled model, so it is what runs answer with. Its
threshold is the score that ``PASS_RATE`` of the validation images stay under, so about 5%
of familiar photos get the warning.

This module is numpy only; ``cnnlib.inference`` computes the features and logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlib.errors import DataError

METHODS = ("knn", "mahalanobis", "energy", "max_logit", "msp")
#: Training images kept as neighbours: 2,000 scored as well as all 45,000 CIFAR-10 ones.
BANK_SIZE = 2000
#: The neighbour whose similarity is the score (k = 10 as in Sun et al.; 5 to 20 measured alike).
NEIGHBOUR = 10
#: Share of validation images whose score stays under the threshold.
PASS_RATE = 0.95
#: Shrinkage of the shared covariance towards its diagonal mean, so few images per
#: feature still give an invertible, stable matrix (Ledoit-Wolf style, fixed weight).
SHRINKAGE = 0.05


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    peak = logits.max(axis=-1, keepdims=True)
    return (peak + np.log(np.exp(logits - peak).sum(axis=-1, keepdims=True)))[..., 0]


def logit_scores(logits: np.ndarray, method: str) -> np.ndarray:
    """Scores of ``(N, K)`` answer logits by a logit method (``energy``, ``max_logit``, ``msp``)."""
    values = np.asarray(logits, dtype=np.float64)
    if method == "energy":
        return -_logsumexp(values)
    if method == "max_logit":
        return -values.max(axis=-1)
    if method == "msp":
        return -np.exp(values.max(axis=-1) - _logsumexp(values))
    raise DataError(f"method must be one of: {', '.join(METHODS)}. Received: method={method!r}")


@dataclass(frozen=True)
class FeatureDensity:
    """Class means and the shared precision matrix of penultimate features."""

    means: np.ndarray  # (K, D)
    precision: np.ndarray  # (D, D)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Smallest squared Mahalanobis distance of each ``(N, D)`` feature row to a class mean."""
        rows = np.asarray(features, dtype=np.float64)
        projected = rows @ self.precision  # (N, D)
        # ||x - m||_P^2 = x'Px - 2 x'Pm + m'Pm, for every class at once
        own = np.einsum("nd,nd->n", projected, rows)[:, None]
        cross = projected @ self.means.T
        centre = np.einsum("kd,de,ke->k", self.means, self.precision, self.means)[None, :]
        return (own - 2 * cross + centre).min(axis=1)


def fit_density(features: np.ndarray, labels: np.ndarray, num_classes: int) -> FeatureDensity:
    """Fit class means and one shrunk, shared covariance on training features.

    Raises:
        DataError: No features, or a class with no training image.
    """
    rows = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if rows.ndim != 2 or len(rows) != len(labels) or len(rows) == 0:
        raise DataError(f"features must be (N, D) with one label per row. Received: shape={rows.shape}, "
                        f"labels={len(labels)}")
    counts = np.bincount(labels, minlength=num_classes)
    if (counts == 0).any():
        raise DataError(f"every class needs a training image to fit the familiarity score. "
                        f"Received: no image of class {int(np.flatnonzero(counts == 0)[0])}")
    means = np.stack([rows[labels == k].mean(axis=0) for k in range(num_classes)])
    centred = rows - means[labels]
    covariance = centred.T @ centred / len(rows)
    dim = covariance.shape[0]
    shrunk = (1 - SHRINKAGE) * covariance + SHRINKAGE * np.trace(covariance) / dim * np.eye(dim)
    return FeatureDensity(means=means.astype(np.float32), precision=np.linalg.pinv(shrunk).astype(np.float32))


def _unit_rows(features: np.ndarray) -> np.ndarray:
    rows = np.asarray(features, dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class NeighbourBank:
    """Unit-length penultimate features of sampled training images, and which neighbour scores."""

    features: np.ndarray  # (M, D) unit rows
    k: int

    def scores(self, features: np.ndarray) -> np.ndarray:
        """``1 - cos`` to the ``k``-th most similar bank row, per ``(N, D)`` feature row (0 to 2)."""
        similarities = _unit_rows(features) @ self.features.astype(np.float32).T
        kth = -np.partition(-similarities, self.k - 1, axis=1)[:, self.k - 1]
        # float16 bank rows can make a cosine a hair above 1: keep scores in their range
        return np.clip(1.0 - kth, 0.0, 2.0).astype(np.float32)

    def to_bytes(self) -> bytes:
        """The bank as a compressed ``.npz`` file's bytes (``load_bank`` reads them back)."""
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, features=self.features, k=np.int64(self.k))
        return buffer.getvalue()


def load_bank(file: Any) -> NeighbourBank:
    """The ``NeighbourBank`` saved by ``NeighbourBank.to_bytes`` in ``file`` (a path or a binary file).

    Raises:
        OSError, ValueError, KeyError: The file is missing, damaged or not a bank.
    """
    with np.load(file) as saved:
        return NeighbourBank(features=saved["features"], k=int(saved["k"]))


def bank_sample(labels: np.ndarray, size: int = BANK_SIZE, seed: int = 0) -> np.ndarray:
    """Indices of at most ``size`` training images, the same share of every class, sorted."""
    labels = np.asarray(labels)
    if len(labels) <= size:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == k), max(1, round(size * np.mean(labels == k))), replace=False)
              for k in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def fit_bank(features: np.ndarray, k: int = NEIGHBOUR) -> NeighbourBank:
    """A ``NeighbourBank`` of training features (float16 keeps the file small; scores agree to 1e-3).

    Raises:
        DataError: Fewer training images than the neighbour asked for.
    """
    rows = np.asarray(features)
    if rows.ndim != 2 or len(rows) < 1:
        raise DataError(f"features must be (N, D) with N >= 1. Received: shape={rows.shape}")
    return NeighbourBank(features=_unit_rows(rows).astype(np.float16), k=min(k, len(rows)))


def fit_threshold(scores: np.ndarray, pass_rate: float = PASS_RATE) -> float:
    """The smallest score that at least ``pass_rate`` of the (validation) ``scores`` stay at or under.

    It is rounded up to 6 decimals (as saved in ``spec.json``), so rounding never fails an image.
    """
    values = np.asarray(scores, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise DataError("cannot fit a familiarity threshold on zero images (or on scores that are not finite)")
    return math.ceil(float(np.quantile(values, pass_rate, method="higher")) * 1e6) / 1e6


def auroc(familiar: np.ndarray, unfamiliar: np.ndarray) -> float:
    """Area under the ROC curve of telling ``unfamiliar`` scores (positives) from ``familiar`` ones.

    1.0 separates them perfectly, 0.5 is chance.
    """
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(len(familiar)), np.ones(len(unfamiliar))]
    return float(roc_auc_score(labels, np.r_[np.asarray(familiar, float), np.asarray(unfamiliar, float)]))
