"""Evaluate: metrics, confusion matrix with drill-down, report, galleries, calibration, curves."""

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import plots, state, ui
from app.cache import load_predictor, run_evaluation

#: Images of a confusion cell shown per page.
CELL_PAGE = 12

st.title("📊 Evaluate")
run = ui.pick_run("keep_run", "Run to evaluate")

with ui.user_errors():
    result = run_evaluation(run)
    info = run.info()
ev, probs, labels, dataset = result["evaluation"], result["probs"], result["labels"], result["dataset"]
classes = run.class_names()
predicted = probs.argmax(axis=1)
test = dataset.split("test") if dataset is not None else None
if test is None:
    st.info(f"The test images are not on this machine ({result['missing_images']}), so the figures below come "
            "from the run's saved evaluation and the galleries show no pictures.")

# Two rows of four: seven cards in one row cut values such as "14m 3s" at common widths.
cards = [*st.columns(4), *st.columns(4)]
cards[0].metric("Accuracy", f"{ev['accuracy']:.1%}")
cards[1].metric(f"Top-{ev['top_k']}", f"{ev['top_k_accuracy']:.1%}")
cards[2].metric("Macro F1", f"{ev['macro_f1']:.3f}")
cards[3].metric("ECE", f"{ev['ece']:.3f}", help="Expected calibration error: how far confidence is from accuracy (0 is perfect).")
cards[4].metric("Parameters", ui.human_count(info.get("params")))
cards[5].metric("Model size", ui.human_bytes(run.best_model_path().stat().st_size))
cards[6].metric("Training time", ui.human_seconds(info.get("train_seconds")))
st.caption(f"{len(labels):,} test images · {len(classes)} classes · run `{run.id}`")
card_left, card_right = st.columns([1, 3])
if card_left.button("📄 Build the model card", key="eval_card_build",
                    help="One HTML page for stakeholders: data, metrics, calibration, unfamiliar photos, exports, "
                         "errors with heatmaps, training, intended use and limits."):
    from cnnlib.report import write_model_card

    with ui.user_errors(), st.spinner("Writing the model card…"):
        st.session_state["eval_card"] = (run.id, write_model_card(run)["html"])
built = st.session_state.get("eval_card")
if built and built[0] == run.id and Path(built[1]).exists():
    card_right.download_button("⬇️ model-card.html", Path(built[1]).read_bytes(), file_name=f"{run.id}-model-card.html",
                               mime="text/html", key="eval_card_download")

from cnnlib.fieldset import evaluate_field  # noqa: E402

with ui.user_errors(stop=False):
    field = evaluate_field(run, load_predictor(run))
    if field is not None:
        st.subheader("Your photos (field set)")
        left, right = st.columns([1, 3])
        left.metric("Field accuracy", f"{field.accuracy:.1%}", delta=f"{field.accuracy - ev['accuracy']:+.1%} vs test",
                    help="Photos you labelled on Classify with 'tell the right class'.")
        right.caption(f"{field.count:,} photo(s): " + ", ".join(f"{name} {n}" for name, n in field.per_class.items())
                      + (f" · {len(field.unreadable)} unreadable file(s) skipped" if field.unreadable else ""))
        warning = field.gap_warning(ev["accuracy"])
        if warning:
            st.warning(warning)
        if field.wrong:
            right.caption("Missed: " + "; ".join(f"{w['true']} → {w['predicted']} ({w['confidence']:.0%})"
                                                 for w in field.wrong[:10]))

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
    st.markdown(f"**{len(cell):,}** test image(s) of **{true_name}** predicted as **{pred_name}**")
    with_cam = st.toggle("Show why (Grad-CAM of the predicted class)", key=state.default("keep_eval_cell_cam", True))
    if len(cell) and test is not None:
        ordered = cell[np.argsort(-probs[cell, p])]  # most confident first: the errors that mislead most
        pages = max(1, -(-len(ordered) // CELL_PAGE))
        page_number = st.number_input(f"Page (of {pages})", 1, pages, key=f"eval_cell_page_{t}_{p}") if pages > 1 else 1
        start = (int(page_number) - 1) * CELL_PAGE
        shown = ordered[start : start + CELL_PAGE]
        st.caption(f"Showing {start + 1:,}–{start + len(shown):,} of {len(ordered):,}, most confident first.")
        if with_cam:
            from cnnlib.explain.overlay import overlay_heatmap

            heatmaps = [load_predictor(run).heatmap(test.images[i], p) for i in shown]
            pictures = [overlay_heatmap(ui.display_image(test.images[i], 96), heat, 0.45)
                        for i, heat in zip(shown, heatmaps, strict=True)]
        else:
            pictures = [ui.display_image(test.images[i], 96) for i in shown]
        st.image(pictures, caption=[f"{pred_name} {probs[i, p]:.0%}" for i in shown], width=96)

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
            if test is not None:
                st.image(ui.display_image(test.images[item["index"]], 96), width=96)
            st.caption(f"true **{item['true']}** → {item['predicted']} ({item['confidence']:.0%})")

st.subheader("Confidence")
if ev.get("temperature") is None:
    st.info("This model's confidence is not calibrated: no temperature could be fitted for it (that needs 20 or "
            "more validation images, and a bundled run keeps what it shipped with), so the percentages shown are "
            "its raw softmax.")
    st.plotly_chart(plots.reliability(ev["reliability"]["bins"], ev.get("ece")), key="eval_reliability")
else:
    st.caption(f"Confidence is calibrated: logits are divided by a temperature of {ev['temperature']:.2f} fitted on "
               "the validation split, in the app and in every export. The answered class never changes.")
    before, after = st.columns(2)
    if ev.get("reliability_uncalibrated"):
        before.plotly_chart(plots.reliability(ev["reliability_uncalibrated"]["bins"], ev.get("ece_uncalibrated"),
                                              title="Before calibration"), key="eval_reliability_before")
    after.plotly_chart(plots.reliability(ev["reliability"]["bins"], ev.get("ece"), title="As shown (calibrated)"),
                       key="eval_reliability")
history = run.history()
if history:
    st.plotly_chart(plots.training_curves(history), key="eval_curves")
else:
    st.info("This run has no training history.")
