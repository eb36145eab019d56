"""Small page-level helpers: the run store, run pickers, errors shown as sentences."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from app import state
from app.datasources import source_label
from cnnlib.errors import CnnlibError
from cnnlib.runs import Run, RunStore, run_name

STATUS_ICONS = {
    "running": "🟢",
    "completed": "✅",
    "stopped": "⏹️",
    "failed": "❌",
    "interrupted": "⚠️",
    "damaged": "🛑",
}


def store() -> RunStore:
    """The run store (``$CNNLIB_RUNS`` plus the bundled read-only runs)."""
    return RunStore()


@contextlib.contextmanager
def user_errors(stop: bool = True) -> Iterator[None]:
    """Show a ``CnnlibError`` as one ``st.error`` sentence instead of a traceback.

    Args:
        stop: end this script run after the message, so nothing below draws on bad input.
    """
    try:
        yield
    except CnnlibError as exc:
        st.error(str(exc), icon="🚫")
        if stop:
            st.stop()


def run_label(info: dict[str, Any]) -> str:
    """A one-line name for a run in pickers: icon, name (``cnnlib.runs.run_name``), arch, data, accuracy."""
    icon = STATUS_ICONS.get(str(info.get("status")), "•")
    parts = [f"{icon} {run_name(info)}"]
    details = [str(info["arch"])] if info.get("arch") else []
    if info.get("data_source"):
        details.append(source_label(info["data_source"]))
    if details:
        parts.append(" · ".join(details))
    accuracy = info.get("test_accuracy")
    if isinstance(accuracy, (int, float)):
        parts.append(f"{accuracy:.1%}")
    if info.get("bundled"):
        parts.append("bundled")
    return " — ".join(parts)


def usable_runs() -> list[dict[str, Any]]:
    """Runs that have a model to evaluate, explain, classify with or compare."""
    return [info for info in store().list() if info.get("has_model") and info.get("status") != "damaged"]


def _sees_photos(info: dict[str, Any]) -> bool:
    try:
        spec = store().get(info["path"]).input_spec()
    except CnnlibError:
        return False
    return spec.channels == 3 and min(spec.height, spec.width) >= 32


def demo_default(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run a page opens on before anyone picks one: one that can be shown photos.

    The bundled demo run first, else the most accurate completed run of colour images at
    32 px or more, else the newest: a presenter who just trained the digits demo must not
    open Classify on a model of 8x8 grey digits.
    """
    completed = [info for info in runs if info.get("status") == "completed"]
    for info in completed:
        if info.get("bundled"):
            return info
    photos = [info for info in completed if _sees_photos(info)]
    if photos:
        return max(photos, key=lambda info: info.get("test_accuracy") or 0.0)
    return runs[0]


def compare_default(runs: list[dict[str, Any]]) -> list[str]:
    """Two run paths to compare before anyone picks: ``demo_default`` and a run of the same classes if any."""
    first = demo_default(runs)["path"]
    others = [info["path"] for info in runs if info["path"] != first]

    def classes(path: str) -> tuple[str, ...] | None:
        try:
            return tuple(store().get(path).class_names())
        except CnnlibError:
            return None

    wanted = classes(first)
    same = [path for path in others if classes(path) == wanted]
    return [first, (same or others)[0]]


def pick_run(key: str, label: str = "Run", help: str | None = None) -> Run:
    """A selectbox of usable runs, remembered across pages.

    With no usable run the page says how to get one and stops here, so every page that
    needs a run starts with this one call. With no choice made yet it opens on
    ``demo_default``; the caption under it says what the chosen model can see.
    """
    runs = usable_runs()
    if not runs:
        st.info("No trained model yet. Train one on the **Train** page, or use the one-click demo on **Home**.")
        st.stop()
    by_path = {info["path"]: info for info in runs}
    options = list(by_path)
    st.selectbox(label, options, key=state.choose(key, options, demo_default(runs)["path"]),
                 format_func=lambda p: run_label(by_path[p]), help=help)
    with user_errors():
        run = store().get(st.session_state[key])
        st.caption(f"This model sees {run.input_spec().describe()}: {', '.join(run.class_names()[:10])}"
                   + ("…" if len(run.class_names()) > 10 else "") + ".")
        return run


def display_image(image: np.ndarray, min_side: int = 112) -> np.ndarray:
    """Enlarge a tiny uint8 image with nearest-neighbour so pixels stay crisp in the browser."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    side = min(array.shape[0], array.shape[1])
    if side >= min_side:
        return array
    factor = int(np.ceil(min_side / max(side, 1)))
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def class_set_words(classes: Sequence[str], shown: int = 4) -> str:
    """'10 classes: airplane, automobile, bird, cat, …': enough to tell two class sets apart."""
    names = [str(name) for name in classes]
    listed = ", ".join(names[:shown]) + (", …" if len(names) > shown else "")
    return f"{len(names)} classes: {listed}"


def human_bytes(size: float | None) -> str:
    """``1234567`` -> ``1.2 MB``."""
    if size is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def human_count(value: float | None) -> str:
    """``1234567`` -> ``1.23M``."""
    if value is None:
        return "—"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}"


def human_seconds(seconds: float | None) -> str:
    """``75`` -> ``1m 15s``."""
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def page_link(page: str, label: str, icon: str | None = None) -> None:
    """``st.page_link`` under the router; a plain hint when the page runs alone (tests)."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(page, label=label, icon=icon)
    except (StreamlitAPIException, KeyError):
        st.caption(f"{label.rstrip(' →')}: open the **{Path(page).stem.title()}** page.")
