"""Deterministic stratified splitting and per-class subsampling.

Each class is shuffled with its own generator derived from ``(seed, class
index)``, so a class's split does not change when another class gains files,
and the same seed always gives the same split on any machine.
"""

from __future__ import annotations

import numpy as np

#: A class with fewer examples than this keeps them all for training: one for training, one
#: for validation and one for test is the least that lets every part see the class.
MIN_TO_HOLD_OUT = 3


def _class_rng(seed: int, class_index: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, class_index, purpose])


def subsample(labels: np.ndarray, max_per_class: int | None, seed: int) -> np.ndarray:
    """Indices keeping at most ``max_per_class`` examples of each class (sorted)."""
    if max_per_class is None:
        return np.arange(len(labels))
    keep: list[np.ndarray] = []
    for class_index in np.unique(labels):
        members = np.flatnonzero(labels == class_index)
        if len(members) > max_per_class:
            members = np.sort(_class_rng(seed, int(class_index), 1).permutation(members)[:max_per_class])
        keep.append(members)
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def _holdout(count: int, fraction: float) -> int:
    if fraction <= 0.0 or count < MIN_TO_HOLD_OUT:
        return 0
    return max(1, int(round(count * fraction)))


def stratified_split(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Split indices per class into ``"train"`` plus the named held-out parts.

    Args:
        labels: class index per example.
        fractions: e.g. ``{"val": 0.1, "test": 0.1}``; every class with at
            least ``MIN_TO_HOLD_OUT`` examples gets at least one example in each part with a
            positive fraction, and always keeps one for training.
        seed: the split seed.

    Returns:
        ``{"train": idx, **{name: idx}}``, each sorted.
    """
    parts: dict[str, list[np.ndarray]] = {"train": [], **{name: [] for name in fractions}}
    for class_index in np.unique(labels):
        members = _class_rng(seed, int(class_index), 0).permutation(np.flatnonzero(labels == class_index))
        start = 0
        for name, fraction in fractions.items():
            take = min(_holdout(len(members), fraction), max(0, len(members) - start - 1))
            parts[name].append(members[start:start + take])
            start += take
        parts["train"].append(members[start:])
    return {name: np.sort(np.concatenate(chunks)) if chunks else np.arange(0) for name, chunks in parts.items()}
