"""Metrics from predicted probabilities, and a paired test to compare two models.

Everything here works on plain arrays (probabilities and labels), never on a
model, so a saved ``evaluation/<split>.npz`` can be re-scored without
TensorFlow. Results contain only JSON types (python floats, ints, lists,
dicts, strings) so they can be written with ``atomic_write_json`` as is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnlib.errors import DataError


def _check_inputs(probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if probs.ndim != 2:
        raise DataError(f"probs must be shaped (N, num_classes). Received: shape={probs.shape}")
    if probs.shape[1] != len(class_names):
        raise DataError(f"probs must have one column per class ({len(class_names)}). Received: shape={probs.shape}")
    if len(labels) != len(probs):
        raise DataError(
            f"labels must have one entry per row of probs ({len(probs)}). Received: len(labels)={len(labels)}"
        )
    if len(labels) == 0:
        raise DataError("cannot evaluate zero examples. Received: len(labels)=0")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"labels must be integer class indices. Received: dtype={labels.dtype}")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise DataError(
            f"labels must be in [0, {len(class_names) - 1}]. Received: min={int(labels.min())}, max={int(labels.max())}"
        )
    return probs, labels.astype(np.int64)


def reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error and reliability bins on top-1 confidence.

    Equal-width bins over [0, 1]; a confidence exactly on an edge goes to the
    lower bin (``(lower, upper]``), with 0 in the first bin.

    Args:
        confidence: ``(N,)`` top-1 probabilities.
        correct: ``(N,)`` booleans, top-1 prediction equals the label.
        n_bins: Number of bins.

    Returns:
        ``(ece, bins)`` where ``bins`` is a list of ``{lower, upper, count, accuracy,
        confidence}``; empty bins have ``count`` 0 and accuracy/confidence 0.0.
    """
    if n_bins < 1:
        raise DataError(f"n_bins must be at least 1. Received: n_bins={n_bins}")
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    bins = []
    ece = 0.0
    total = len(confidence)
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        accuracy = float(correct[members].mean()) if count else 0.0
        mean_conf = float(confidence[members].mean()) if count else 0.0
        ece += (count / total) * abs(accuracy - mean_conf) if total else 0.0
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "accuracy": accuracy,
                "confidence": mean_conf,
            }
        )
    return float(ece), bins


def evaluate_probabilities(
    probs: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    top_k: int = 3,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Score predicted probabilities against true labels.

    Args:
        probs: ``(N, num_classes)`` probabilities.
        labels: ``(N,)`` integer class indices.
        class_names: Names indexed by class.
        top_k: ``k`` of the top-k accuracy and of each misclassified example's top list
            (capped at the number of classes).
        n_bins: Bins of the reliability diagram and the ECE.

    Returns:
        A JSON-serializable dict with ``accuracy, top_k, top_k_accuracy, per_class,
        macro_f1, weighted_f1, report_text, confusion, confusion_normalized,
        misclassified, ece, reliability`` (see docs/DESIGN.md).

    Raises:
        DataError: Shapes or labels are inconsistent.
    """
    probs, labels = _check_inputs(probs, labels, class_names)
    if top_k < 1:
        raise DataError(f"top_k must be at least 1. Received: top_k={top_k}")
    names = [str(name) for name in class_names]
    k = min(top_k, len(names))
    predicted = probs.argmax(axis=1)
    confidence = probs[np.arange(len(probs)), predicted]
    correct = predicted == labels
    # Stable ordering so that ties rank classes by index, the same way argmax does.
    ranking = np.argsort(-probs, axis=1, kind="stable")
    in_top_k = (ranking[:, :k] == labels[:, None]).any(axis=1)
    scores = _class_scores(labels, predicted, names)
    confusion, normalized = _confusion(labels, predicted, len(names))
    ece, bins = reliability(confidence, correct, n_bins)
    return {
        "accuracy": float(correct.mean()),
        "top_k": int(k),
        "top_k_accuracy": float(in_top_k.mean()),
        **scores,
        "confusion": confusion.astype(int).tolist(),
        "confusion_normalized": normalized.tolist(),
        "misclassified": _misclassified(probs, labels, ranking[:, :k], names),
        "ece": ece,
        "reliability": {"bins": bins},
    }


def _class_scores(labels: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict[str, Any]:
    """``per_class`` precision/recall/F1/support, ``macro_f1``, ``weighted_f1`` and ``report_text``."""
    from sklearn.metrics import classification_report

    options = {"labels": list(range(len(names))), "target_names": names, "zero_division": 0}
    report = classification_report(labels, predicted, output_dict=True, **options)
    per_class = {
        name: {
            "precision": float(report[name]["precision"]),
            "recall": float(report[name]["recall"]),
            "f1": float(report[name]["f1-score"]),
            "support": int(report[name]["support"]),
        }
        for name in names
    }
    return {
        "per_class": per_class,
        "macro_f1": float(report["macro avg"]["f1-score"]),
        "weighted_f1": float(report["weighted avg"]["f1-score"]),
        "report_text": classification_report(labels, predicted, digits=4, **options),
    }


def scores_from_confusion(confusion: Any, names: list[str]) -> list[dict[str, Any]]:
    """Per-class precision, recall, F1 and support from a confusion matrix (rows: true class).

    The live panel has the matrix of every validation pass but not its labels; these are the
    classification report's numbers, with 0 where a class has no prediction or no example
    (scikit-learn's ``zero_division=0``).

    Args:
        confusion: a square matrix of counts, ``confusion[true][predicted]``.
        names: the class names, in matrix order.

    Returns:
        One dict per class: ``class, precision, recall, f1, support``.
    """
    matrix = np.asarray(confusion, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape != (len(names), len(names)):
        raise ValueError(f"confusion must be {len(names)}x{len(names)} for {len(names)} classes. Received shape {matrix.shape}")
    hits, predicted, support = np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return [{"class": name, "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
             "support": int(support[i])} for i, name in enumerate(names)]


def _confusion(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The confusion matrix (rows: true class) and its row-normalized copy."""
    from sklearn.metrics import confusion_matrix

    confusion = confusion_matrix(labels, predicted, labels=list(range(num_classes)))
    support = confusion.sum(axis=1, keepdims=True)
    # Rows of classes absent from the labels stay zeros instead of 0/0.
    normalized = np.divide(confusion, support, out=np.zeros(confusion.shape, dtype=np.float64), where=support > 0)
    return confusion, normalized


def _misclassified(probs: np.ndarray, labels: np.ndarray, top: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Every wrong prediction, most confident first, with its ``top`` ranked classes."""
    predicted = top[:, 0]
    confidence = probs[np.arange(len(probs)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    return [
        {
            "index": int(i),
            "true": names[int(labels[i])],
            "predicted": names[int(predicted[i])],
            "confidence": float(confidence[i]),
            "top": [{"label": names[int(c)], "confidence": float(probs[i, c])} for c in top[i]],
        }
        for i in wrong
    ]


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """McNemar's test: do two models, scored on the same examples, differ in accuracy?

    Only the discordant pairs count: ``b`` = examples A got right and B got wrong,
    ``c`` = the reverse. With fewer than 25 discordant pairs the exact two-sided
    binomial test is used (the chi-square approximation is poor there); otherwise
    the chi-square statistic with continuity correction, ``(|b - c| - 1)^2 / (b + c)``.

    Args:
        correct_a: ``(N,)`` booleans, model A's top-1 is right.
        correct_b: ``(N,)`` booleans, model B's top-1 is right, same examples in the same order.

    Returns:
        ``{"b", "c", "statistic", "p_value", "method"}`` with method ``"exact"`` (statistic
        is ``min(b, c)``) or ``"chi2"``.

    Raises:
        DataError: The two arrays differ in length.
    """
    from scipy import stats

    a = np.asarray(correct_a, dtype=bool).reshape(-1)
    b_arr = np.asarray(correct_b, dtype=bool).reshape(-1)
    if len(a) != len(b_arr):
        raise DataError(
            f"both models must be scored on the same examples. "
            f"Received: len(correct_a)={len(a)}, len(correct_b)={len(b_arr)}"
        )
    b = int(np.sum(a & ~b_arr))
    c = int(np.sum(~a & b_arr))
    n = b + c
    if n < 25:
        statistic = float(min(b, c))
        p_value = 1.0 if n == 0 else float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5)))
        method = "exact"
    else:
        statistic = float((abs(b - c) - 1) ** 2 / n)
        p_value = float(stats.chi2.sf(statistic, df=1))
        method = "chi2"
    return {"b": b, "c": c, "statistic": statistic, "p_value": p_value, "method": method}


def mcnemar_in_words(result: dict[str, Any], name_a: str, name_b: str, alpha: float = 0.05) -> str:
    """Say what a ``mcnemar`` result means in one plain sentence.

    Args:
        result: The dict returned by ``mcnemar``.
        name_a: Name of model A.
        name_b: Name of model B.
        alpha: Significance level.

    Returns:
        A sentence such as "Model A was right on 12 examples where model B was wrong, and
        model B on 3 where model A was wrong; p = 0.035 (exact binomial test), so the
        difference is unlikely to be chance at the 5% level."
    """
    b, c, p = int(result["b"]), int(result["c"]), float(result["p_value"])
    test = "exact binomial test" if result["method"] == "exact" else "chi-square test with continuity correction"
    p_text = f"{p:.3g}" if p >= 0.001 else "< 0.001"
    level = f"{alpha * 100:g}%"
    head = (
        f"{name_a} was right on {b} example{'s' if b != 1 else ''} where {name_b} was wrong, "
        f"and {name_b} on {c} where {name_a} was wrong"
    )
    if b + c == 0:
        return f"{head}: the two models make the same mistakes, so there is no evidence that either is better."
    p_part = f"p = {p_text}" if p >= 0.001 else f"p {p_text}"
    if p < alpha:
        better = name_a if b > c else name_b
        verdict = f"so {better} is better and the difference is unlikely to be chance at the {level} level"
    else:
        verdict = f"so the difference could well be chance at the {level} level"
    if math.isnan(p):
        verdict = "so no conclusion can be drawn"
    return f"{head}; {p_part} ({test}), {verdict}."
