"""Classify: upload photos or take one, see the answer, why, and how sure; export TFLite."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # so the page also runs alone


import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from app import exporting, plots, state, ui  # noqa: E402
from app.cache import load_model  # noqa: E402
from app.inference import LOW_CONFIDENCE, confidence_band, decode_upload, input_spec  # noqa: E402
from cnnlib.errors import CnnlibError  # noqa: E402

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]

st.title("📷 Classify")
run = ui.pick_run("keep_run", "Model")
if run is None:
    st.stop()
with ui.user_errors():
    classes = run.class_names()
    size, channels = input_spec(run)
st.caption(f"Classes: {', '.join(classes)} · the model sees {size[0]}×{size[1]} {'grayscale' if channels == 1 else 'colour'} images")

files = st.file_uploader("Upload photos", type=IMAGE_TYPES, accept_multiple_files=True, key="classify_files")
files = list(files or [])
if st.toggle("Use the camera", key="classify_camera_on"):
    shot = st.camera_input("Take a photo", key="classify_camera")
    if shot is not None:
        files.append(shot)

uploads, errors = [], []
for file in files:
    try:
        uploads.append(decode_upload(file.getvalue(), file.name, size, channels))
    except CnnlibError as exc:
        errors.append(str(exc))
for message in errors:
    st.error(f"🚫 {message}")

if not uploads:
    if not errors:
        st.info("Upload one or more photos (jpg, png, webp, bmp, gif) to classify them.")
else:
    from cnnlib.explain import explain
    from cnnlib.explain.overlay import overlay_heatmap
    from cnnlib.operations import run_tta_flip
    from cnnlib.predict import predict_probabilities, top_k

    with ui.user_errors():
        model = load_model(run)
        probs = predict_probabilities(model, np.stack([u.model_input for u in uploads]), tta_flip=run_tta_flip(run))
    k = min(5, len(classes))
    show_cam = st.toggle("Show Grad-CAM", key=state.default("keep_classify_cam", True))
    rows = []
    for n, (upload, p) in enumerate(zip(uploads, probs, strict=False)):
        best = top_k(p, classes, k=k)
        label, confidence = best[0]["label"], best[0]["confidence"]
        words, emoji = confidence_band(confidence)
        rows.append({"file": upload.name, "prediction": label, "confidence": round(confidence, 4),
                     "band": words, **{f"top{i + 1}": f"{b['label']} ({b['confidence']:.1%})" for i, b in enumerate(best[1:3], 1)}})
        st.divider()
        st.markdown(f"#### {emoji} Prediction: **{label}** — {confidence:.1%} ({words})")
        st.caption(f"`{upload.name}` · {upload.original_size[0]}×{upload.original_size[1]} pixels")
        if confidence < LOW_CONFIDENCE:
            st.warning(f"Low confidence ({confidence:.0%}): the photo may show none of the classes this model knows "
                       f"({', '.join(classes[:10])}{'…' if len(classes) > 10 else ''}).")
        c1, c2, c3, c4 = st.columns([2, 1, 3, 2])
        c1.image(upload.display, caption="your photo", width="stretch")
        c2.image(ui.display_image(upload.model_input, 96), caption="model's view", width=96)
        c3.plotly_chart(plots.top_k([b["label"] for b in best], [b["confidence"] for b in best]), key=f"classify_topk_{n}")
        if show_cam:
            with c4, ui.user_errors(stop=False):
                explanation = explain(model, upload.model_input, "gradcam")
                c4.image(overlay_heatmap(upload.display, explanation.heatmap, 0.45), caption=f"Grad-CAM for {label}", width="stretch")
    if len(rows) > 1:
        st.divider()
        st.subheader("All uploads")
        table = pd.DataFrame(rows)
        st.dataframe(table, hide_index=True, width="stretch")
        st.download_button("⬇️ Download CSV", table.to_csv(index=False).encode(), file_name="predictions.csv", mime="text/csv", key="classify_csv")

st.divider()
st.subheader("📦 Export for mobile and edge (TFLite)")
fmt = st.radio("Format", exporting.FORMATS, horizontal=True, key=state.default("keep_export_fmt", "int8"),
               format_func=lambda f: exporting.FORMAT_LABELS[f])
report = exporting.existing_report(run, fmt)
if st.button(f"Build and verify {fmt}", key="export_build", type="primary" if report is None else "secondary"):
    with ui.user_errors(), st.spinner(f"Converting to {fmt} TFLite and checking it against the Keras model…"):
        report = exporting.export(run, fmt)
if report is not None:
    exporting.show_report(report)
    with open(report["path"], "rb") as handle:
        tflite_bytes = handle.read()
c1, c2, c3 = st.columns(3)
if report is not None:
    c1.download_button(f"⬇️ {fmt}.tflite ({ui.human_bytes(len(tflite_bytes))})", tflite_bytes, file_name=f"{run.id}-{fmt}.tflite",
                       mime="application/octet-stream", key="export_tflite")
else:
    c1.caption("Build the TFLite file to download it.")
with open(run.best_model_path(), "rb") as handle:
    c2.download_button("⬇️ model.keras", handle.read(), file_name=f"{run.id}.keras", mime="application/octet-stream", key="export_keras")
c3.download_button("⬇️ labels.txt", ("\n".join(classes) + "\n").encode(), file_name="labels.txt", mime="text/plain", key="export_labels")
