"""Keep widget values across page changes.

Streamlit forgets a widget's value when a rerun does not draw that widget, which is what
happens on every page change in a multipage app. Widgets whose key starts with ``keep_``
are re-assigned at the top of every run by the router, which is the documented way to make
Streamlit keep them.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

PREFIX = "keep_"


def keep_widget_state() -> None:
    """Re-assign every ``keep_*`` key so Streamlit does not drop it on a page change."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(PREFIX):
            st.session_state[key] = st.session_state[key]


def default(key: str, value: Any) -> str:
    """Give the ``keep_`` widget ``key`` a starting value once and return the key.

    Widgets then take ``key=`` only (no ``value=``/``index=``), so Streamlit never warns that
    a value was set both ways.
    """
    if key not in st.session_state:
        st.session_state[key] = value
    return key


def choose(key: str, options: list[Any], fallback: Any = None) -> str:
    """Like :func:`default` for a selectbox: drop a remembered value that is no longer offered."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = fallback if fallback in options else (options[0] if options else None)
    return key
