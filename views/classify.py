"""Classify: upload photos or take one, see the answer, why, and how sure; export TFLite."""

import pandas as pd
import streamlit as st

from app import exporting, plots, state, ui
from app.cache import load_predictor
from app.inference import DISPLAY_SIDE, headline, upload_warnings
from cnnlib.bundle import BUNDLE_MEMBERS
from cnnlib.images import UPLOAD_TYPES
from cnnlib.inference import LOW_CONFIDENCE, accepted

st.title("📷 Classify")
run = ui.pick_run("keep_run", "Model")
with ui.user_errors():
    spec = run.input_spec()
classes = list(spec.class_names)

files = st.file_uploader("Upload photos", type=list(UPLOAD_TYPES), accept_multiple_files=True, key="classify_files")
files = list(files or [])
if st.toggle("Use the camera", key="classify_camera_on"):
    shot = st.camera_input("Take a photo", key="classify_camera")
    if shot is not None:
        files.append(shot)
show_cam = st.toggle("Show Grad-CAM", key=state.default("keep_classify_cam", True))
threshold = st.slider("Confidence threshold", 0.0, 1.0, step=0.01, key=state.default("keep_classify_threshold", LOW_CONFIDENCE),
                      help="Below this top-1 confidence the answer is shown as “Not sure”, with the top class as a guess.")

answers, errors = [], []
uploaded_bytes = {file.name: file.getvalue() for file in files}  # answers skip unreadable files: match by name
if files:
    from cnnlib.explain import is_flat
    from cnnlib.explain.overlay import overlay_heatmap
    from cnnlib.inference import answer_uploads

    with ui.user_errors():
        answers, errors = answer_uploads(load_predictor(run), [(file.name, file.getvalue()) for file in files],
                                         k=min(5, len(classes)), heatmaps=show_cam, preview_side=DISPLAY_SIDE)
for message in errors:
    st.error(f"🚫 {message}")
if not answers and not errors:
    st.info(f"Upload one or more photos ({', '.join(UPLOAD_TYPES)}) to classify them.")

rows = []
for n, upload in enumerate(answers):
    answer = upload.answer
    rows.append({"file": upload.name, "prediction": answer.label, "confidence": round(answer.confidence, 4),
                 "accepted": accepted(answer.confidence, threshold), "band": answer.band, "unfamiliar": answer.unfamiliar,
                 **{f"top{i + 1}": f"{b['label']} ({b['confidence']:.1%})" for i, b in enumerate(answer.top[1:3], 1)}})
    st.divider()
    st.markdown(f"#### {headline(answer, threshold)}")
    st.caption(f"`{upload.name}` · {upload.original_size[0]}×{upload.original_size[1]} pixels")
    for warning in upload_warnings(upload, classes, threshold):
        st.warning(warning)
    with st.expander("Wrong? Tell the right class, and keep this photo as a field test"):
        truth = st.selectbox("The right class", classes, key=f"classify_truth_{n}")
        if st.button("Save to this model's field set", key=f"classify_keep_{n}"):
            from cnnlib.fieldset import add_field_photo

            with ui.user_errors(stop=False):
                add_field_photo(run, uploaded_bytes[upload.name], upload.name, truth)
                st.success(f"Saved as a photo of **{truth}**. Evaluate now scores the model on your photos too.")
    c1, c2, c3, c4 = st.columns([2, 1, 3, 2])
    c1.image(upload.preview, caption="your photo", width="stretch")
    c2.image(ui.display_image(upload.pixels, 96), caption="model's view", width=96)
    c3.plotly_chart(plots.top_k([b["label"] for b in answer.top], [b["confidence"] for b in answer.top]),
                    key=f"classify_topk_{n}")
    if answer.heatmap is not None:
        c4.image(overlay_heatmap(upload.preview, answer.heatmap, 0.45), caption=f"Grad-CAM for {answer.label}",
                 width="stretch")
        if is_flat(answer.heatmap):
            c4.caption(f"The map is flat: no region of this photo raises **{answer.label}**, so there is nothing "
                       "to highlight (common when the photo is far from what the model learned).")
# Files that could not be read stay in the table and the CSV, with the reason, so none goes missing.
# Answers and errors each keep the uploads' order: walk the uploads to pair them. A name
# matching the next answer is that answer unless only failures can be left.
failed, next_answer = [], 0
for position, file in enumerate(files):
    uploads_left, errors_left = len(files) - position, len(errors) - len(failed)
    if next_answer < len(answers) and answers[next_answer].name == file.name and uploads_left > errors_left:
        next_answer += 1
    else:
        failed.append(file.name)
rows += [{"file": name, "accepted": False, "error": message} for name, message in zip(failed, errors, strict=False)]
if len(rows) > 1:
    st.divider()
    st.subheader("All uploads")
    table = pd.DataFrame(rows)
    words = [column for column in ("prediction", "band", "top2", "top3", "error") if column in table.columns]
    table[words] = table[words].fillna("")  # an unread file has no prediction: blank, not None
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button("⬇️ Download CSV", table.to_csv(index=False).encode(), file_name="predictions.csv",
                       mime="text/csv", key="classify_csv")

st.divider()
st.subheader("📦 Export for mobile and edge (TFLite)")
fmt = st.radio("Format", exporting.FORMATS, horizontal=True, key=state.choose("keep_export_fmt", list(exporting.FORMATS), "tflite-int8"),
               format_func=lambda f: exporting.FORMAT_LABELS[f])
report = exporting.existing_report(run, fmt)
if st.button(f"Build and verify {exporting.short_name(fmt)}", key="export_build", type="primary" if report is None else "secondary"):
    with ui.user_errors(), st.spinner(f"Converting to {exporting.short_name(fmt)} TFLite and checking it against the Keras model…"):
        report = exporting.export(run, fmt)
if report is not None:
    exporting.show_report(report)
c1, c2 = st.columns(2)
short = exporting.short_name(fmt)
if report is not None and report.get("bundle"):
    with open(report["bundle"], "rb") as handle:
        bundle = handle.read()
    c1.download_button(f"⬇️ TFLite bundle ({short}, .zip, {ui.human_bytes(len(bundle))})", bundle,
                       file_name=f"{run.id}-{short}.zip", mime="application/zip", key="export_bundle")
    c1.caption(f"Inside: {', '.join(f'`{name}`' for name in BUNDLE_MEMBERS)}.")
elif report is not None:  # an export made before bundles: its bare file, until it is built again
    with open(report["path"], "rb") as handle:
        c1.download_button(f"⬇️ {short}.tflite", handle.read(), file_name=f"{run.id}-{short}.tflite",
                           mime="application/octet-stream", key="export_tflite")
    c1.caption("Build it again to get the bundle: the file with its labels, preprocessing notes and `predict.py`.")
else:
    c1.caption("Build the TFLite file to download its bundle.")
with open(run.best_model_path(), "rb") as handle:
    c2.download_button("⬇️ model.keras", handle.read(), file_name=f"{run.id}.keras", mime="application/octet-stream", key="export_keras")
