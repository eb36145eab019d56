"""Calibrated confidence: one temperature per run, fitted on its validation split.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017) divides
a classifier's logits by one scalar ``T`` before the softmax: the answered class never
changes, only how sure the answer says it is. A run with several test-time views answers
with ``softmax(mean over views of logits / T)``; ``T = 1`` is the uncalibrated answer. The
temperature is fitted on that whole answer, so what it calibrates is exactly what every
page and export shows.

``fit_temperature`` minimises the negative log-likelihood on held-out images;
``answer_from_logits`` is the numpy form for evaluation and fitting, and the inference
model (``cnnlib.inference``) computes the same in its graph, so every export carries it.
A test keeps the two equal.
"""

from __future__ import annotations

import numpy as np

from cnnlib.errors import DataError

#: Probabilities are clipped here before a log, so an exact 0 stays finite.
_EPSILON = 1e-7
#: The search range of the temperature; outside it a model is broken, not miscalibrated.
TEMPERATURE_RANGE = (0.05, 20.0)


def answer_from_logits(view_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The answer of ``(V, N, K)`` per-view logits: ``softmax(mean_v logits_v / T)`` as ``(N, K)`` float32."""
    scaled = np.asarray(view_logits, dtype=np.float64).mean(axis=0) / float(temperature)
    scaled -= scaled.max(axis=-1, keepdims=True)
    probabilities = np.exp(scaled)
    return (probabilities / probabilities.sum(axis=-1, keepdims=True)).astype(np.float32)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean ``-log p[label]`` of the rows (an exact 0 is clipped to stay finite)."""
    rows = np.asarray(probabilities, dtype=np.float64)
    picked = np.clip(rows[np.arange(len(rows)), np.asarray(labels, dtype=np.int64)], _EPSILON, 1.0)
    return float(-np.log(picked).mean())


def fit_temperature(view_logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels``.

    Args:
        view_logits: ``(V, N, K)`` logits of held-out images, one slice per test-time view.
        labels: ``(N,)`` their true classes.

    Returns:
        ``T`` in ``TEMPERATURE_RANGE`` (above 1 softens an over-confident model).

    Raises:
        DataError: No images, or logits and labels that do not line up.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(view_logits)
    if logits.ndim != 3 or logits.shape[1] == 0 or logits.shape[1] != len(labels):
        raise DataError(
            f"calibration needs (views, N, K) logits with one label per image. "
            f"Received: logits={logits.shape}, labels={len(labels)}"
        )
    low, high = np.log(TEMPERATURE_RANGE)
    # Search log T: the likelihood is smooth and unimodal in it, and the bounds stay symmetric.
    result = minimize_scalar(lambda log_t: negative_log_likelihood(answer_from_logits(logits, np.exp(log_t)), labels),
                             bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))
