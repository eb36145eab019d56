"""Warm the server in the background once the first page has been drawn.

``import tensorflow`` takes 6-13 s here, and the first prediction with a model also pays for
loading it and tracing its compiled forward pass. Home needs no model, so it must not wait
for any of that; but the first upload on Classify should not pay for it either. One daemon
thread per server process imports the heavy modules a moment after the first page run, then
loads the model that Classify opens on (the first usable run) into the shared model cache and
runs one prediction and one Grad-CAM on a blank image, so both are compiled. A page that needs
them earlier simply waits on Python's import lock or the cache. Set ``CNNLIB_APP_WARMUP=0``
to turn it off.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import streamlit as st

_LOG = logging.getLogger(__name__)


def _import_heavy_modules() -> None:
    import keras  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import tensorflow  # noqa: F401

    import cnnlib.explain  # noqa: F401
    import cnnlib.predict  # noqa: F401


def _warm_default_model() -> None:
    """Load and compile the model Classify selects first; skip quietly if there is none."""
    import numpy as np

    from app.cache import load_predictor
    from app.ui import store, usable_runs

    runs = usable_runs()
    if not runs:
        return
    predictor = load_predictor(store().get(runs[0]["path"]))
    blank = np.zeros((1, *predictor.spec.shape), dtype=np.uint8)
    predictor.answer(blank, heatmaps=True)  # compiles the answer and the Grad-CAM path


def _warm_up() -> None:
    time.sleep(1.0)  # let the page that triggered us finish drawing first
    _import_heavy_modules()
    try:
        _warm_default_model()
    except Exception as error:  # a warm-up must never take the server down
        _LOG.info("model warm-up skipped: %s", error)


@st.cache_resource(show_spinner=False)
def _start() -> threading.Thread:
    thread = threading.Thread(target=_warm_up, name="cnnlib-warmup", daemon=True)
    thread.start()
    return thread


def start_background_imports() -> None:
    """Start the warm-up thread (once per server process)."""
    if os.environ.get("CNNLIB_APP_WARMUP", "1") != "0":
        _start()
