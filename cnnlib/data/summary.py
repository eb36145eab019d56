"""The dataset summary shown by the app and saved with each run, and its fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

IMBALANCE_WARNING_RATIO = 1.5
SKIPPED_EXAMPLES = 5


def summarize(
    class_names: list[str],
    splits: Mapping[str, np.ndarray],
    image_sizes: Mapping[str, int],
    modes: Mapping[str, int],
    skipped: list[str],
) -> dict[str, Any]:
    """Build ``Dataset.summary``.

    Args:
        class_names: class names in index order.
        splits: labels of each split, keyed "train", "val", "test".
        image_sizes: native sizes found, keyed ``"WxH"``.
        modes: Pillow modes found (before normalization).
        skipped: one "path: reason" line per unreadable file.

    Returns:
        ``{"classes", "counts": {split: {class: n}}, "image_sizes", "modes",
        "skipped": {"count", "examples"}, "imbalance": {"ratio", "warning"}}``.
    """
    counts = {
        split: {name: int(np.count_nonzero(labels == index)) for index, name in enumerate(class_names)}
        for split, labels in splits.items()
    }
    totals = {name: sum(counts[split][name] for split in counts) for name in class_names}
    largest = max(totals, key=lambda name: totals[name])
    smallest = min(totals, key=lambda name: totals[name])
    ratio = totals[largest] / max(1, totals[smallest])
    warning = None
    if ratio > IMBALANCE_WARNING_RATIO:
        warning = (
            f"classes are imbalanced: {largest!r} has {totals[largest]:,} images and {smallest!r} has "
            f"{totals[smallest]:,} (ratio {ratio:.1f}); accuracy will favour the large classes - consider more "
            "images for the small ones or max_per_class"
        )
    return {
        "classes": list(class_names),
        "counts": counts,
        "image_sizes": dict(sorted(image_sizes.items(), key=lambda pair: -pair[1])),
        "modes": dict(sorted(modes.items(), key=lambda pair: -pair[1])),
        "skipped": {"count": len(skipped), "examples": skipped[:SKIPPED_EXAMPLES]},
        "imbalance": {"ratio": round(float(ratio), 4), "warning": warning},
    }


def fingerprint(class_names: list[str], splits: Mapping[str, tuple[list[str], np.ndarray]]) -> str:
    """sha256 over class names and each split's ids and labels.

    Two datasets with the same fingerprint hold the same files with the same
    labels in the same splits, so their test accuracies are comparable.
    """
    digest = hashlib.sha256()
    digest.update("\n".join(class_names).encode("utf-8"))
    for name in ("train", "val", "test"):
        ids, labels = splits[name]
        digest.update(f"\x00{name}\x00".encode())
        digest.update("\n".join(f"{item}\t{int(label)}" for item, label in zip(ids, labels.tolist(), strict=True)).encode("utf-8"))
    return digest.hexdigest()
