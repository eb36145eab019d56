"""Evaluate: metrics, confusion matrix with drill-down, report, galleries, calibration, curves."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # so the page also runs alone

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from app import plots, state, ui  # noqa: E402
from app.cache import run_evaluation  # noqa: E402

st.title("📊 Evaluate")
run = ui.pick_run("keep_run", "Run to evaluate")

with ui.user_errors():
    result = run_evaluation(run)
    info = run.info()
ev, probs, labels, dataset = result["evaluation"], result["probs"], result["labels"], result["dataset"]
classes = list(dataset.class_names)
predicted = probs.argmax(axis=1)
test = dataset.split("test")

cards = st.columns(7)
cards[0].metric("Accuracy", f"{ev['accuracy']:.1%}")
cards[1].metric(f"Top-{ev['top_k']}", f"{ev['top_k_accuracy']:.1%}")
cards[2].metric("Macro F1", f"{ev['macro_f1']:.3f}")
cards[3].metric("ECE", f"{ev['ece']:.3f}", help="Expected calibration error: how far confidence is from accuracy (0 is perfect).")
cards[4].metric("Parameters", ui.human_count(info.get("params")))
cards[5].metric("Model size", ui.human_bytes(run.best_model_path().stat().st_size))
cards[6].metric("Training time", ui.human_seconds(info.get("train_seconds")))
st.caption(f"{len(labels)} test images · {len(classes)} classes · run `{run.id}`")

st.subheader("Confusion matrix")
normalized = st.toggle("Normalize rows (recall per class)", key=state.default("keep_eval_norm", False))
left, right = st.columns([3, 2])
with left:
    event = st.plotly_chart(
        plots.confusion(ev["confusion"], classes, normalized=normalized, clickable=True), key="eval_confusion",
        on_select="rerun", selection_mode="points",
    )
points = (event.selection.points if event and hasattr(event, "selection") else None) or []
picked = (str(points[0].get("y")), str(points[0].get("x"))) if points else None
if picked and picked != st.session_state.get("eval_last_pick") and set(picked) <= set(classes):
    # Apply a click once; afterwards the selectboxes are free to change the cell.
    st.session_state["keep_eval_true"], st.session_state["keep_eval_pred"] = picked
st.session_state["eval_last_pick"] = picked
with right:
    st.caption("Click a cell, or pick it here, to see those test images.")
    true_name = st.selectbox("True class", classes, key=state.choose("keep_eval_true", classes))
    pred_name = st.selectbox("Predicted class", classes, key=state.choose("keep_eval_pred", classes, classes[1] if len(classes) > 1 else None))
    t, p = classes.index(true_name), classes.index(pred_name)
    cell = np.flatnonzero((labels == t) & (predicted == p))
    st.markdown(f"**{len(cell)}** test image(s) of **{true_name}** predicted as **{pred_name}**")
    if len(cell):
        shown = cell[np.argsort(-probs[cell, p])][:24]
        st.image([ui.display_image(test.images[i], 72) for i in shown], caption=[f"{probs[i, p]:.0%}" for i in shown], width=72)

st.subheader("Per-class report")
left, right = st.columns([2, 3])
report = pd.DataFrame(ev["per_class"]).T.reset_index().rename(columns={"index": "class"})
report["support"] = report["support"].astype(int)
left.dataframe(report, hide_index=True, width="stretch",
               column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")})
left.caption(f"Macro F1 {ev['macro_f1']:.3f} · weighted F1 {ev['weighted_f1']:.3f}")
right.plotly_chart(plots.f1_bars(ev["per_class"]), key="eval_f1")

st.subheader("Misclassified test images")
wrong = ev.get("misclassified") or []
if not wrong:
    st.success("No test image is misclassified.")
else:
    c1, c2 = st.columns(2)
    order = c1.radio("Sort", ("Most confident first", "Least confident first"), horizontal=True, key=state.default("keep_eval_sort", "Most confident first"))
    count = c2.slider("Show", 6, 60, step=6, key=state.default("keep_eval_count", 24))
    items = sorted(wrong, key=lambda m: m["confidence"], reverse=order.startswith("Most"))[:count]
    columns = st.columns(6)
    for n, item in enumerate(items):
        with columns[n % 6]:
            st.image(ui.display_image(test.images[item["index"]], 96), width=96)
            st.caption(f"true **{item['true']}** → {item['predicted']} ({item['confidence']:.0%})")

left, right = st.columns(2)
left.plotly_chart(plots.reliability(ev["reliability"]["bins"], ev.get("ece")), key="eval_reliability")
history = run.history()
if history:
    right.plotly_chart(plots.training_curves(history), key="eval_curves")
else:
    right.info("This run has no training history.")
