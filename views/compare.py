"""Compare: 2–4 runs side by side — metrics, curves, confusions, F1, a paired test, disagreements."""


import numpy as np
import pandas as pd
import streamlit as st

from app import exporting, plots, ui
from app.cache import load_predictor, run_evaluation
from app.datasources import source_label
from app.inference import DISPLAY_SIDE, band_emoji, upload_warnings
from cnnlib.errors import CnnlibError
from cnnlib.images import UPLOAD_TYPES
from cnnlib.runs import run_name

COMPARED_EXPORTS = ("tflite-float32", "tflite-int8")

st.title("⚖️ Compare")
st.caption("Put 2–4 trained runs side by side on the same test images.")
runs_info = ui.usable_runs()
if len(runs_info) < 2:
    st.info("Comparing needs at least two trained runs. Train another one on **Train** (the digits demo takes seconds).")
    st.stop()
by_path = {info["path"]: info for info in runs_info}
options = list(by_path)
remembered = [p for p in st.session_state.get("keep_compare_runs", []) if p in options]
st.session_state["keep_compare_runs"] = remembered or ui.compare_default(runs_info)
chosen = st.multiselect("Runs", options, key="keep_compare_runs", max_selections=4, format_func=lambda p: ui.run_label(by_path[p]))
if len(chosen) < 2:
    st.info("Choose at least two runs.")
    st.stop()

runs, results, names = [], [], []
with ui.user_errors():
    for path in chosen:
        run = ui.store().get(path)
        runs.append(run)
        results.append(run_evaluation(run))
        label = run_name(by_path[path])
        names.append(label if label not in names else f"{label} ({run.id[-4:]})")

class_sets = [tuple(run.class_names()) for run in runs]
fingerprints = [run.data_info().get("fingerprint") for run in runs]  # saved with the split, data present or not
same_classes = len(set(class_sets)) == 1
same_test = same_classes and len(set(fingerprints)) == 1
if not same_classes:
    st.warning("⚠️ These runs have **different class sets**, so per-class results, the paired test and the disagreement "
               "gallery are not comparable and are left out: " + "; ".join(f"{n}: {ui.class_set_words(c)}" for n, c in zip(names, class_sets, strict=False)))
elif not same_test:
    st.warning("⚠️ These runs were tested on **different datasets or splits** (their data fingerprints differ), so accuracy "
               "differences may come from the data, not the models. The paired test and disagreement gallery need the same test images.")

st.subheader("Metrics")
rows = []
for name, run, result in zip(names, runs, results, strict=False):
    info, ev = run.info(), result["evaluation"]
    row = {"run": name, "dataset": source_label(info.get("data_source")), "architecture": info.get("arch"),
           "accuracy": ev["accuracy"], "macro F1": ev["macro_f1"], "ECE": ev["ece"], "parameters": info.get("params"),
           "training time": ui.human_seconds(info.get("train_seconds"))}
    for fmt in COMPARED_EXPORTS:
        report = exporting.existing_report(run, fmt)
        fmt = exporting.short_name(fmt)
        row[f"{fmt} TFLite size"] = ui.human_bytes(report.get("bytes")) if report else "—"
        row[f"{fmt} TFLite accuracy"] = report.get("tflite_accuracy") if report else np.nan
        row[f"{fmt} latency ms"] = report.get("tflite_latency_ms") if report else np.nan
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
             column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("accuracy", "macro F1", "ECE", "float32 TFLite accuracy", "int8 TFLite accuracy", "float32 latency ms", "int8 latency ms")})
missing = [(run, fmt) for run in runs for fmt in COMPARED_EXPORTS if exporting.existing_report(run, fmt) is None]
if missing and st.button(f"Build the missing TFLite exports ({len(missing)})", key="compare_export"):
    with ui.user_errors(), st.spinner("Converting and verifying…"):
        for run, fmt in missing:
            exporting.export(run, fmt)
    st.rerun()

histories = {name: run.history() for name, run in zip(names, runs, strict=False)}
if any(histories.values()):
    st.subheader("Training curves")
    c1, c2 = st.columns(2)
    c1.plotly_chart(plots.overlaid_curves(histories, "loss"), key="compare_loss")
    c2.plotly_chart(plots.overlaid_curves(histories, "accuracy"), key="compare_acc")

st.subheader("Confusion matrices")
normalized = st.toggle("Normalize rows", key="keep_compare_norm")
for column, name, result, classes_of_run in zip(st.columns(len(runs)), names, results, class_sets, strict=False):
    column.plotly_chart(plots.confusion(result["evaluation"]["confusion"], list(classes_of_run), normalized=normalized, title=name),
                        key=f"compare_cm_{name}")

if same_classes:
    st.plotly_chart(plots.grouped_f1({name: r["evaluation"]["per_class"] for name, r in zip(names, results, strict=False)}), key="compare_f1")

if same_test:
    from cnnlib.evaluation import mcnemar, mcnemar_in_words

    st.subheader("Is the accuracy difference real?")
    labels = results[0]["labels"]
    predictions = [r["probs"].argmax(axis=1) for r in results]
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            result = mcnemar(predictions[i] == labels, predictions[j] == labels)
            st.markdown(f"**{names[i]} vs {names[j]}** (McNemar's paired test on {len(labels)} test images): "
                        + mcnemar_in_words(result, names[i], names[j]))

    st.subheader("Where the models disagree")
    stacked = np.stack(predictions)
    disagree = np.flatnonzero((stacked != stacked[0]).any(axis=0))
    st.caption(f"{len(disagree)} of {len(labels)} test images get different answers.")
    test = results[0]["dataset"].split("test") if results[0]["dataset"] is not None else None
    classes = list(class_sets[0])
    if test is None:
        st.caption("The test images are not on this machine, so the disagreements are listed without pictures.")
    shown = disagree[:24]
    if len(disagree) > len(shown):
        st.caption(f"Showing the first {len(shown)} of {len(disagree)}.")
    columns = st.columns(6)
    for n, index in enumerate(shown):
        with columns[n % 6]:
            if test is not None:
                st.image(ui.display_image(test.images[index], 96), width=96)
            answers = " · ".join(f"{name}: {'✅' if predictions[k][index] == labels[index] else '❌'} {classes[predictions[k][index]]}"
                                 for k, name in enumerate(names))
            st.caption(f"true **{classes[labels[index]]}** — {answers}")

st.subheader("Try a photo on every model")
upload = st.file_uploader("An image", type=list(UPLOAD_TYPES),
                          key="compare_upload")
if upload is not None:
    from cnnlib.explain.overlay import overlay_heatmap
    from cnnlib.inference import answer_uploads

    for column, name, run in zip(st.columns(len(runs)), names, runs, strict=False):
        with column:
            try:
                answers, errors = answer_uploads(load_predictor(run), [(upload.name, upload.getvalue())], k=3,
                                                 preview_side=DISPLAY_SIDE)
            except CnnlibError as exc:
                answers, errors = [], [str(exc)]
            for message in errors:
                st.error(f"🚫 {message}")
            for shown in answers:
                answer = shown.answer
                st.markdown(f"**{name}**  \n{band_emoji(answer.band)} **{answer.label}** {answer.confidence:.1%} "
                            f"({answer.band})")
                for warning in upload_warnings(shown, run.class_names()):
                    st.warning(warning)
                st.image(overlay_heatmap(shown.preview, answer.heatmap, 0.45), caption="Grad-CAM", width=260)
                st.caption(" · ".join(f"{b['label']} {b['confidence']:.0%}" for b in answer.top[1:]))
