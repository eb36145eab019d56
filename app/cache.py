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
    from cnnlib.operations import load_run_dataset

    return load_run_dataset(RunStore().get(run_path))


def run_dataset(run: Run) -> Any:
    """The run's dataset at its input size, with its own split (cached; shared by all sessions)."""
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
    from cnnlib.operations import evaluate_loaded, saved_predictions

    run = RunStore().get(run_path)
    dataset = run_dataset(run)
    test = dataset.split("test")
    report = run.evaluation("test")
    saved = saved_predictions(run, "test") if report is not None else None
    if saved is None or len(saved.get("probabilities", ())) != len(test.labels):
        # Not evaluated yet (or on another split): evaluate once; the core saves it in the run.
        report = evaluate_loaded(run, load_model(run), dataset, "test")
        saved = saved_predictions(run, "test")
    if saved is None or len(saved.get("probabilities", ())) != len(test.labels):
        # A read-only (bundled) run cannot store its predictions: recompute them here.
        from cnnlib.operations import run_tta_flip
        from cnnlib.predict import predict_probabilities

        probs = predict_probabilities(load_model(run), test.images, tta_flip=run_tta_flip(run))
    else:
        probs = saved["probabilities"].astype("float32")
    return {"evaluation": report, "probs": probs, "labels": test.labels, "dataset": dataset}


def run_evaluation(run: Run) -> dict[str, Any]:
    """Test-split evaluation of a run: ``evaluation`` dict, ``probs``, ``labels``, ``dataset``.

    Uses the run's saved ``evaluation/test.*`` when they match the rebuilt split, otherwise
    scores the model through the core. The result is shared: never modify it.
    """
    return _evaluation(str(run.path), run.best_model_path().stat().st_mtime)
