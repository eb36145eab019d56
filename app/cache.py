"""Cached heavy objects: models and datasets, shared by every session of the server.

Models are keyed by the run directory and the model file's modification time, so a run
that finishes (``model.keras`` replaces ``checkpoint.keras``) is reloaded, never served
stale. Cached models are shared across sessions and threads: callers must never change them
in place (the explain code in the core clones before modifying).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from cnnlib.runs import Run, RunStore


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _load_model(run_path: str, model_path: str, mtime: float) -> Any:
    del model_path, mtime  # part of the cache key only
    return RunStore().get(run_path).load_model()


def load_model(run: Run) -> Any:
    """The run's best model, loaded once per file version."""
    path = run.best_model_path()
    return _load_model(str(run.path), str(path), path.stat().st_mtime)


@st.cache_resource(max_entries=3, show_spinner="Loading the run's dataset…")
def _run_dataset(run_path: str, fingerprint: str) -> Any:
    del fingerprint
    return RunStore().get(run_path).dataset()


def run_dataset(run: Run) -> Any:
    """The run's dataset rebuilt with its own split (cached; the same for every session)."""
    return _run_dataset(str(run.path), str(run.data_info().get("fingerprint", "")))


@st.cache_resource(max_entries=3, show_spinner=False)
def load_dataset_cached(config_json: str) -> Any:
    """``cnnlib.data.load_dataset`` for a JSON-encoded ``DataConfig`` (cached)."""
    import json

    from cnnlib.data import DataConfig, load_dataset

    return load_dataset(DataConfig.from_dict(json.loads(config_json)))


@st.cache_resource(max_entries=6, show_spinner="Evaluating on the test split…")
def _evaluation(run_path: str, model_mtime: float) -> dict[str, Any]:
    del model_mtime
    import numpy as np

    from cnnlib.evaluation import evaluate_probabilities
    from cnnlib.predict import predict_probabilities

    run = RunStore().get(run_path)
    dataset = run_dataset(run)
    test = dataset.split("test")
    saved = run.evaluation("test")
    npz_path = run.evaluation_dir / "test.npz"
    probs = None
    if saved is not None and npz_path.exists():
        with np.load(npz_path) as arrays:
            if "probabilities" in arrays and len(arrays["probabilities"]) == len(test.labels):
                probs = arrays["probabilities"]
    if probs is None:
        # No saved evaluation matching the rebuilt split: score the model here, once.
        probs = predict_probabilities(load_model(run), test.images)
        saved = None
    if saved is None:
        saved = evaluate_probabilities(probs, test.labels, list(dataset.class_names))
    return {"evaluation": saved, "probs": probs, "labels": test.labels, "dataset": dataset}


def run_evaluation(run: Run) -> dict[str, Any]:
    """Test-split evaluation of a run: ``evaluation`` dict, ``probs``, ``labels``, ``dataset``.

    Uses the run's saved ``evaluation/test.*`` when they match the rebuilt split, otherwise
    scores the model through the core. The result is shared: never modify it.
    """
    return _evaluation(str(run.path), run.best_model_path().stat().st_mtime)
