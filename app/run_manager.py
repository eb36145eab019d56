"""Home's "Manage runs" panel: rename a run, or delete it after a confirmation.

The rules (what a name may be, which runs can go, stopping a running job first) are
``cnnlib.run_admin``'s; this module only draws the widgets and shows its sentences.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import state, ui
from cnnlib.run_admin import MAX_NAME_LENGTH, delete_refusal, delete_run, rename_run
from cnnlib.runs import run_name

_FLASH = "home_manage_flash"  # the last change's sentence, shown after the rerun that lists its result


def manage_runs(runs: list[dict[str, Any]]) -> None:
    """An expander to pick one of ``runs`` (infos from the store's listing), rename it or delete it."""
    # on_change="rerun" keeps it open across the reruns a rename or delete makes, and leaves
    # its body (which reads every run's config) unrun while it is closed.
    panel = st.expander("🗂️ Manage runs: rename or delete", key="home_manage", on_change="rerun")
    if panel.open is False:
        return
    with panel:
        flash = st.session_state.pop(_FLASH, None)
        if flash:
            st.success(flash)
        by_path = {str(info["path"]): info for info in runs}
        options = list(by_path)
        chosen = st.selectbox("Run to manage", options, key=state.choose("home_manage_run", options),
                              format_func=lambda path: ui.run_label(by_path[path]))
        info = by_path[chosen]
        if info.get("bundled"):
            st.info(f"“{run_name(info)}” ships with cnnlib and is read-only: it cannot be renamed or deleted, "
                    "and every page can fall back on it.", icon="🔒")
            return
        if info.get("status") != "damaged":
            _rename_form(info)
        _delete_controls(info)


def _rename_form(info: dict[str, Any]) -> None:
    with st.form(key=f"home_rename_{info['id']}", border=False):
        new_name = st.text_input("Name", value=run_name(info), max_chars=MAX_NAME_LENGTH,
                                 help=f"What the run is called on every page; its id `{info['id']}` stays.")
        if st.form_submit_button("Save name"):
            with ui.user_errors(stop=False):
                renamed = rename_run(info["path"], new_name)
                st.session_state[_FLASH] = f"Renamed to “{run_name(renamed)}”."
                st.rerun()


def _delete_controls(info: dict[str, Any]) -> None:
    name = run_name(info)
    with ui.user_errors(stop=False):
        refusal = delete_refusal(info["path"])
        if refusal:
            st.info(refusal[0].upper() + refusal[1:] + ".", icon="🔒")
            return
        running = info.get("status") == "running"
        what = "stops its training job and deletes" if running else "deletes"
        sure = st.checkbox(f"I understand this {what} “{name}” and all its files, for good",
                           key=f"home_delete_sure_{info['id']}")
        if st.button("🗑️ Delete run", key=f"home_delete_{info['id']}", disabled=not sure):
            with st.spinner("Stopping the job, then deleting…" if running else "Deleting…"):
                delete_run(info["path"])
            st.session_state[_FLASH] = f"Deleted “{name}”."
            st.rerun()
