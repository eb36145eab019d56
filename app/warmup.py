"""Import TensorFlow in the background once the first page has been drawn.

``import tensorflow`` takes 6-13 s here. Home needs no model, so it must not wait for it; but
the first upload on Classify should not pay for it either. One daemon thread per server
process imports the heavy modules a moment after the first page run. A page that needs them
earlier simply waits on Python's import lock. Set ``CNNLIB_APP_WARMUP=0`` to turn it off.
"""

from __future__ import annotations

import os
import threading
import time

import streamlit as st


def _import_heavy_modules() -> None:
    time.sleep(1.0)  # let the page that triggered us finish drawing first
    import keras  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import tensorflow  # noqa: F401

    import cnnlib.explain  # noqa: F401
    import cnnlib.predict  # noqa: F401


@st.cache_resource(show_spinner=False)
def _start() -> threading.Thread:
    thread = threading.Thread(target=_import_heavy_modules, name="cnnlib-warmup", daemon=True)
    thread.start()
    return thread


def start_background_imports() -> None:
    """Start the warm-up thread (once per server process)."""
    if os.environ.get("CNNLIB_APP_WARMUP", "1") != "0":
        _start()
