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
