"""The Data page's audit panel: findings with thumbnails, chosen for exclusion from training.

The audit itself is ``cnnlib.audit``; this module only shows it and keeps the user's choice
(``st.session_state["data_config"]["exclude"]``), which the Train page's request carries.
Nothing here touches the user's files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from app import ui
from cnnlib.audit import KIND_TITLES, KINDS, AuditReport, Finding

PAGE_SIZE = 8
_SELECTED = "audit_selected"  # ids chosen for exclusion, kept outside widget state (pages come and go)


@st.cache_resource(max_entries=2, show_spinner=False)
def _audit(source: str) -> AuditReport:
    from cnnlib.audit import audit_source

    return audit_source(source)


def _selected() -> set[str]:
    return st.session_state.setdefault(_SELECTED, set())


def _preview(report: AuditReport, example_id: str) -> np.ndarray:
    """A crisp preview: the original file when it is a photo, else the enlarged thumbnail."""
    path = report.image_path(example_id)
    if path is not None and path.is_file():
        from PIL import Image

        try:
            with Image.open(path) as image:
                if min(image.size) >= 64:
                    image.thumbnail((128, 128))
                    return np.asarray(image.convert("RGB"))
        except OSError:
            pass  # the thumbnail the audit decoded is still there
    return ui.display_image(report.thumbnails[example_id], 64)


def _toggle(example_ids: tuple[str, ...], key: str) -> None:
    chosen = _selected()
    if st.session_state[key]:
        chosen.update(example_ids)
    else:
        chosen.difference_update(example_ids)


def _finding_row(report: AuditReport, finding: Finding, key: str) -> None:
    left, right = st.columns([5, 2])
    shown = finding.paths[:6]
    left.image([_preview(report, path) for path in shown], width=72,
               caption=[path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1] if "/" in path else path
                        for path in shown])
    more = f" (+{len(finding.paths) - len(shown)} more)" if len(finding.paths) > len(shown) else ""
    right.markdown(f"{finding.note}{more}  \nscore {finding.score:.2f}")
    st.session_state[key] = set(finding.exclude) <= _selected()
    right.checkbox(f"Leave out {len(finding.exclude):,} image(s)", key=key, on_change=_toggle,
                   args=(finding.exclude, key), help="Excluded images stay on disk; training skips them.")


def _kind_section(report: AuditReport, kind: str) -> None:
    findings = report.of_kind(kind)
    with st.expander(f"{KIND_TITLES[kind]}: {len(findings):,}", expanded=False):
        if not findings:
            st.caption("None found.")
            return
        pages = (len(findings) + PAGE_SIZE - 1) // PAGE_SIZE
        page = st.number_input(f"Page (of {pages:,})", 1, pages, 1, key=f"audit_page_{kind}") if pages > 1 else 1
        start = (int(page) - 1) * PAGE_SIZE
        st.caption(f"Showing {start + 1:,}-{min(start + PAGE_SIZE, len(findings)):,} of {len(findings):,}, "
                   "most certain first.")
        for offset, finding in enumerate(findings[start:start + PAGE_SIZE]):
            _finding_row(report, finding, f"audit_pick_{kind}_{start + offset}")
        every = {path for finding in findings for path in finding.exclude}
        if st.button(f"Choose all {len(findings):,} to leave out ({len(every):,} images)", key=f"audit_all_{kind}"):
            _selected().update(every)
            st.rerun()


def audit_panel(config: dict[str, Any]) -> None:
    """Draw the audit of ``config["source"]`` and apply the user's exclusions to ``config``."""
    st.subheader("🔎 Data audit")
    st.caption("Duplicates, the same picture under two labels, test images that copy training images, suspected "
               "mislabels and poor images. Your files are never changed: excluded images are only skipped in training.")
    source = str(config["source"])
    if st.session_state.get("audit_source") != source:
        if not st.button("Audit this dataset", key="audit_run"):
            return
        st.session_state["audit_source"] = source
        st.session_state[_SELECTED] = set(config.get("exclude") or [])
    with ui.user_errors(), st.spinner("Auditing every image (about a minute for 60,000)…"):
        report = _audit(source)
    _summary(report)
    for kind in KINDS:
        _kind_section(report, kind)
    _apply(config)


def _summary(report: AuditReport) -> None:
    counts = report.counts()
    cols = st.columns(len(KINDS))
    labels = ("Exact copies", "Near copies", "Label conflicts", "Test leaks", "Mislabels?", "Low quality")
    for col, kind, label in zip(cols, KINDS, labels, strict=True):
        col.metric(label, f"{counts[kind]:,}")
    if report.near_copy_share is not None:
        st.caption(f"{report.near_copy_share:.1%} of the test images copy a training image.")
    for note in report.notes:
        st.info(note)
    if report.unreadable:
        with st.expander(f"Unreadable files, skipped: {len(report.unreadable):,}"):
            st.dataframe([{"file": item["path"], "problem": item["reason"]} for item in report.unreadable],
                         hide_index=True)


def _apply(config: dict[str, Any]) -> None:
    chosen = sorted(_selected())
    current = sorted(config.get("exclude") or [])
    left, right = st.columns(2)
    if chosen != current and left.button(f"Leave {len(chosen):,} image(s) out of training", type="primary",
                                         key="audit_apply"):
        st.session_state["data_config"] = {**config, "exclude": chosen}
        st.rerun()
    if current:
        st.success(f"{len(current):,} image(s) are left out of training on this dataset; the run will record them.")
        if right.button("Keep every image again", key="audit_clear"):
            st.session_state[_SELECTED] = set()
            st.session_state["data_config"] = {**config, "exclude": []}
            st.rerun()
