"""Cached heavy objects: predictors and datasets, shared by every session of the server.

Predictors are keyed by the run directory and the modification times of its model file and
input spec, so a run that finishes (``model.keras`` replaces ``checkpoint.keras``) is reloaded,
never served stale. Cached objects are shared across sessions and threads: callers must never
change them in place (the explain code only reads the classifier, through views of its layers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from cnnlib.runs import SPEC_FILE, Run, RunStore


def _mtime(run: Run, name: str) -> float:
    path = run.path / name
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _load_predictor(run_path: str, model_path: str, model_mtime: float, spec_mtime: float) -> Any:
    del model_path, model_mtime, spec_mtime  # part of the cache key only
    from cnnlib.inference import load_predictor

    return load_predictor(RunStore().get(run_path))


def load_predictor(run: Run) -> Any:
    """The run's ``cnnlib.inference.Predictor`` (spec, classifier, inference model), loaded once per file version.

    A finished run trained before calibration existed fits its temperature first (once; it is
    saved in its spec, whose modification time is part of the cache key).
    """
    if run.status != "running" and not run.read_only and run.input_spec().temperature is None:
        from cnnlib.operations import ensure_calibrated

        with st.spinner("Calibrating this model's confidence on its validation images (once)…"):
            ensure_calibrated(run)
    path = run.best_model_path()
    return _load_predictor(str(run.path), str(path), path.stat().st_mtime, _mtime(run, SPEC_FILE))



@st.cache_resource(max_entries=3, show_spinner="Loading the run's dataset…")
def _run_dataset(run_path: str, fingerprint: str) -> Any:
    del fingerprint
    from cnnlib.operations import load_run_dataset

    return load_run_dataset(RunStore().get(run_path))


def run_dataset(run: Run) -> Any:
    """The run's dataset at its input size, with its own split (cached; shared by all sessions)."""
    return _run_dataset(str(run.path), str(run.data_info().get("fingerprint", "")))


@st.cache_resource(max_entries=3, show_spinner=False)
def _load_dataset(config_json: str, source_stamp: tuple[int, ...]) -> Any:
    del source_stamp  # part of the cache key only
    import json

    from cnnlib.data import DataConfig, load_dataset

    return load_dataset(DataConfig.from_dict(json.loads(config_json)))


def _source_stamp(source: str) -> tuple[int, ...]:
    """Modification times of a folder source and its folders two levels down (a zip: its own).

    Adding or removing a file changes its folder's time, so a folder that gained photos since
    it was loaded (camera capture, a copy) is read again, not served from the cache. A few
    dozen ``stat`` calls even for a train/test layout of many classes; built-in names: empty.
    """
    from cnnlib.data import SOURCES_BUILTIN

    path = Path(source).expanduser()
    if source in SOURCES_BUILTIN or not path.exists():
        return ()
    try:
        stamps = [path.stat().st_mtime_ns]
        level = [path] if path.is_dir() else []
        for _depth in range(2):
            level = sorted(child for folder in level for child in folder.iterdir() if child.is_dir())
            stamps += [child.stat().st_mtime_ns for child in level]
    except OSError:
        return ()  # the loader says what is wrong with the folder
    return tuple(stamps)


def load_dataset_cached(config_json: str) -> Any:
    """``cnnlib.data.load_dataset`` for a JSON-encoded ``DataConfig``, cached while its folder is unchanged."""
    import json

    return _load_dataset(config_json, _source_stamp(str(json.loads(config_json)["source"])))


@st.cache_resource(max_entries=6, show_spinner="Evaluating on the test split…")
def _evaluation(run_path: str, model_mtime: float, spec_mtime: float) -> dict[str, Any]:
    del model_mtime, spec_mtime
    from cnnlib.errors import DataError
    from cnnlib.operations import test_evaluation

    run = RunStore().get(run_path)
    try:
        dataset = run_dataset(run)
    except DataError:
        dataset = None  # the core falls back to the saved evaluation, without pictures
    return test_evaluation(run, load_predictor(run).classifier, dataset)


def run_evaluation(run: Run) -> dict[str, Any]:
    """Test-split evaluation of a run: ``evaluation`` dict, ``probs``, ``labels``, ``dataset``
    (None, with ``missing_images``, when the run's data is not on this machine).

    The core's ``test_evaluation``, cached per model file and input spec (a newly fitted
    temperature changes the answer). The result is shared: never modify it.
    """
    load_predictor(run)  # calibrates a finished run first, so the spec time below is final
    return _evaluation(str(run.path), run.best_model_path().stat().st_mtime, _mtime(run, SPEC_FILE))
