"""The Train page's live evaluation: how a job ended, and each epoch's validation report.

Every validation pass of a job writes its confusion matrix into ``progress.jsonl`` and its
answers into ``Run.live_val_path``; this panel turns them into the classification report of
that epoch and lets a click on a confusion cell show the validation images in it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from app import cache, plots, ui
from cnnlib.errors import CnnlibError
from cnnlib.evaluation import scores_from_confusion
from cnnlib.runs import Run

CELL_IMAGES = 24  # a cell's images shown at once, most confident first


def _kept_model(info: dict[str, Any]) -> str:
    """'kept the model of epoch 7 (validation accuracy 91.2%)', from what the trainer recorded."""
    epoch, monitor, value = info.get("best_epoch"), info.get("best_monitor") or "", info.get("best_value")
    if epoch is None:
        return "kept the last model"
    text = f"kept the model of epoch {epoch}"
    if value is not None:
        words = "validation loss" if monitor.endswith("loss") else "validation accuracy"
        shown = f"{value:.3f}" if monitor.endswith("loss") else f"{value:.1%}"
        text += f" ({words} {shown})"
    return text


def ending_text(info: dict[str, Any], done: int, total: int) -> str | None:
    """The progress line of a finished job in words, or None while it runs.

    Args:
        info: the run's ``run.json``.
        done: epochs it finished.
        total: epochs it planned.
    """
    status = info.get("status")
    test = info.get("test_accuracy")
    tail = f" · test accuracy {test:.1%}" if test is not None else ""
    if status == "completed":
        return f"done: {done} epoch{'s' if done != 1 else ''} in {ui.human_seconds(info.get('train_seconds'))} · {_kept_model(info)}{tail}"
    if status == "stopped":
        return (f"stopped by request after epoch {done} of {total} "
                f"({ui.human_seconds(info.get('train_seconds'))}) · {_kept_model(info)}{tail}")
    if status == "interrupted":
        return f"interrupted after epoch {done} of {total} · the best checkpoint so far is kept"
    if status == "failed":
        return f"failed after epoch {done} of {total}"
    return None


def _picked_cell(run: Run, event: Any, classes: list[str]) -> tuple[int, int] | None:
    """The confusion cell last clicked for this job (kept across the panel's redraws)."""
    key = f"live_cell_{run.id}"
    points = (event.selection.points if event is not None and hasattr(event, "selection") else None) or []
    if points:
        true_name, predicted_name = str(points[0].get("y")), str(points[0].get("x"))
        if true_name in classes and predicted_name in classes:
            st.session_state[key] = (classes.index(true_name), classes.index(predicted_name))
    return st.session_state.get(key)


def _cell_images(run: Run, cell: tuple[int, int], classes: list[str], epoch: int) -> None:
    """The validation images of one confusion cell, at the epoch of the latest answers."""
    answers = run.live_val_answers()
    true_index, predicted_index = cell
    if answers is None:
        st.caption("This job saved no validation answers (it was started by an older version).")
        return
    try:
        val = cache.run_dataset(run).val
    except CnnlibError as exc:
        st.caption(f"The validation images cannot be shown: {exc}")
        return
    if len(val.labels) != len(answers["predicted"]):
        st.caption("The validation images have changed since this job started, so its cells cannot be shown.")
        return
    inside = np.flatnonzero((val.labels == true_index) & (answers["predicted"] == predicted_index))
    ordered = inside[np.argsort(-answers["confidence"][inside])]
    title = f"**{len(ordered):,}** validation image(s) of **{classes[true_index]}** predicted as " \
            f"**{classes[predicted_index]}** at epoch {answers['epoch']}"
    if answers["epoch"] != epoch:
        title += f" (the matrix above is epoch {epoch}; its answers are being written)"
    st.markdown(title)
    if len(ordered):
        shown = ordered[:CELL_IMAGES]
        if len(ordered) > len(shown):
            st.caption(f"Showing the {len(shown)} most confident of {len(ordered):,}.")
        st.image([ui.display_image(val.images[i], 80) for i in shown], width=80,
                 caption=[f"{answers['confidence'][i]:.0%}" for i in shown])


def live_evaluation(run: Run, epoch_event: dict[str, Any], classes: list[str]) -> None:
    """The epoch's confusion matrix (clickable) beside its per-class precision, recall and F1."""
    matrix, epoch = epoch_event["confusion"], int(epoch_event.get("epoch") or 0)
    left, right = st.columns([3, 2])
    with left:
        event = st.plotly_chart(
            plots.confusion(matrix, classes, title=f"Validation confusion matrix, epoch {epoch}", clickable=True),
            key=f"confusion_{run.id}", on_select="rerun", selection_mode="points",
        )
    with right:
        st.markdown(f"**Validation report, epoch {epoch}**")
        report = pd.DataFrame(scores_from_confusion(matrix, classes))
        st.dataframe(report, hide_index=True, width="stretch",
                     column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")})
        macro = report["f1"].mean()
        st.caption(f"Macro F1 {macro:.3f}. Click a cell of the matrix to see its images.")
    cell = _picked_cell(run, event, classes)
    if cell is not None:
        _cell_images(run, cell, classes, epoch)
