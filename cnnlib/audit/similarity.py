"""Which images are copies of each other: exact (same bytes) and near (the same picture).

Near-copies are found in two looks at each pair, both exact dot products in numpy (a 60,000
image folder takes seconds; no index needed):

1. *layout*: the 16x16 colour thumbnail, mean removed and unit length; two photos of the same
   scene agree here even after re-encoding, resizing or a brightness change;
2. *detail*: the 16x16 grey thumbnail minus its 8x8 blur, unit length; a re-encoded copy keeps
   its edges, while two different photos of, say, blue sky do not.

The thresholds were read off CIFAR-10 test/train pairs by eye (docs/BENCHMARKS.md, "Data
audit"): with layout >= 0.85, nearly every pair with detail >= 0.8 was the same photo, about
eight in ten between 0.7 and 0.8, half between 0.6 and 0.7. A perceptual-hash library
(imagehash, BSD) was considered: it hashes one PIL image at a time and thresholds a 64-bit
Hamming distance, while these dot products run on the decoded batch and give a graded score.
"""

from __future__ import annotations

import numpy as np

LAYOUT_MIN = 0.85
MIN_COMPARE_SIDE = 16
DETAIL_MIN = 0.75
_CHUNK = 512  # rows per block: 512 x 60,000 similarities is 123 MB


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # A constant image has no layout or detail to compare: it stays a zero row (never similar).
    return np.where(norms > 1e-3, matrix / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


def signatures(thumbnails: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two looks of each 32x32 RGB thumbnail: ``(layout (N, 768), detail (N, 256))``, unit rows."""
    count = len(thumbnails)
    colour16 = thumbnails.astype(np.float32).reshape(count, 16, 2, 16, 2, 3).mean(axis=(2, 4))
    layout = colour16.reshape(count, -1)
    layout = layout - layout.mean(axis=1, keepdims=True)
    grey16 = colour16 @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    blur8 = grey16.reshape(count, 8, 2, 8, 2).mean(axis=(2, 4))
    detail = (grey16 - np.repeat(np.repeat(blur8, 2, axis=1), 2, axis=2)).reshape(count, -1)
    return _unit_rows(layout), _unit_rows(detail)


def can_compare(native_sizes: np.ndarray) -> bool:
    """Whether near-copies can be told from lookalikes: images stored at 16 px or more.

    Smaller images (8x8 digits) upscale to thumbnails whose only fine detail is the
    interpolation every image shares; there, distinct digits of one writer style score
    above 0.99, so only exact copies are reported.
    """
    return len(native_sizes) > 0 and float(np.median(native_sizes.min(axis=1))) >= MIN_COMPARE_SIDE


def near_pairs(layout: np.ndarray, detail: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``i < j`` that passes both looks.

    Returns:
        ``(first, second, score)``: index arrays and the pair's detail similarity.
    """
    firsts, seconds, scores = [], [], []
    count = len(layout)
    for start in range(0, count, _CHUNK):
        stop = min(start + _CHUNK, count)
        # Only columns after each row: every pair once, never an image with itself.
        block = layout[start:stop] @ layout[start:].T
        rows, cols = np.nonzero(block >= LAYOUT_MIN)
        cols = cols + start
        upper = cols > rows + start
        rows, cols = rows[upper] + start, cols[upper]
        if not len(rows):
            continue
        agreement = np.einsum("ij,ij->i", detail[rows], detail[cols])
        keep = agreement >= DETAIL_MIN
        firsts.append(rows[keep])
        seconds.append(cols[keep])
        scores.append(agreement[keep])
    if not firsts:
        return no_pairs()
    return np.concatenate(firsts), np.concatenate(seconds), np.minimum(np.concatenate(scores), 1.0)


def no_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An empty ``(first, second, score)``."""
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty, np.zeros(0, dtype=np.float32)


def exact_pairs(digests: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(first, second)`` of identical content, each group chained to its first member."""
    first_of: dict[str, int] = {}
    firsts, seconds = [], []
    for index, digest in enumerate(digests):
        if digest in first_of:
            firsts.append(first_of[digest])
            seconds.append(index)
        else:
            first_of[digest] = index
    return np.array(firsts, dtype=np.int64), np.array(seconds, dtype=np.int64)


def groups(count: int, firsts: np.ndarray, seconds: np.ndarray) -> list[list[int]]:
    """Connected groups (size >= 2) of the pair graph, each sorted, by union-find."""
    parent = np.arange(count)

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for first, second in zip(firsts.tolist(), seconds.tolist(), strict=True):
        a, b = find(first), find(second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for node in set(firsts.tolist()) | set(seconds.tolist()):
        members.setdefault(find(node), []).append(node)
    return sorted((sorted(group) for group in members.values() if len(group) > 1), key=lambda group: group[0])
