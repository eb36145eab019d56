"""Explain: Grad-CAM, Grad-CAM++, Score-CAM and saliency side by side, and feature maps."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # so the page also runs alone

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402

from app import state, ui  # noqa: E402
from app.cache import load_predictor, run_dataset  # noqa: E402
from cnnlib.images import UPLOAD_TYPES  # noqa: E402

#: The page's title for each of the core's explanation methods.
METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM", "saliency": "Saliency"}

st.title("🔍 Explain")
st.caption("Where does the model look? Four explanation methods on the same image, and the feature maps inside.")
run = ui.pick_run("keep_run", "Run")

with ui.user_errors():
    predictor = load_predictor(run)
model, spec = predictor.classifier, predictor.spec
classes = list(spec.class_names)
st.caption(f"The model sees {spec.describe()}.")

source = st.radio("Image", ("From the test split", "Upload"), horizontal=True, key=state.default("keep_explain_source", "From the test split"))
image = None
true_label = None
if source == "Upload":
    upload = st.file_uploader("An image", type=list(UPLOAD_TYPES),
                              key="explain_upload")
    if upload is not None:
        from cnnlib.inference import decode_upload

        with ui.user_errors():
            image = decode_upload(upload.getvalue(), upload.name, spec)[0]
else:
    with ui.user_errors():
        test = run_dataset(run).split("test")
    index = st.number_input(f"Test image number (0–{len(test.labels) - 1})", 0, len(test.labels) - 1,
                            key=state.default("keep_explain_index", 0))
    index = min(int(index), len(test.labels) - 1)
    image, true_label = test.images[index], classes[int(test.labels[index])]
if image is None:
    st.info("Upload an image to explain.")
    st.stop()

from cnnlib.explain import METHODS, conv_layer_names, explain, feature_maps  # noqa: E402
from cnnlib.explain.graph import resolve_layer  # noqa: E402

with ui.user_errors():
    best = predictor.answer(image, k=3)[0].top
c1, c2, c3 = st.columns([1, 2, 2])
c1.image(ui.display_image(image, 160), caption="model input" + (f" · true: {true_label}" if true_label else ""), width=160)
c2.markdown("**Prediction**  \n" + "  \n".join(f"{i + 1}. **{b['label']}** — {b['confidence']:.1%}" for i, b in enumerate(best)))
target_name = c3.selectbox("Explain the class", ["predicted"] + classes, key=state.choose("keep_explain_target", ["predicted"] + classes, "predicted"))
alpha = c3.slider("Overlay opacity", 0.0, 1.0, step=0.05, key=state.default("keep_explain_alpha", 0.45))
# "predicted" means the run's answer (test-time views included), which the heatmaps then explain.
target = classes.index(best[0]["label"] if target_name == "predicted" else target_name)

for column, method in zip(st.columns(len(METHODS)), METHODS, strict=True):
    title = METHOD_TITLES[method]
    with column, ui.user_errors(stop=False), st.spinner(f"{title}…"):
        explanation = explain(model, image, method, target_class=target)
        column.image(explanation.overlay(alpha), caption=f"{title} · {classes[target]}",
                     width="stretch")

with ui.user_errors():
    cam_layer = resolve_layer(model, None)  # the layer Grad-CAM reads: the last map larger than 1x1
st.caption(f"Grad-CAM, Grad-CAM++ and Score-CAM read layer `{cam_layer}`; saliency differentiates the input pixels.")
st.subheader("Feature maps")
layers = conv_layer_names(model)
if not layers:
    st.info("This model has no convolutional feature maps.")
    st.stop()
layer = st.selectbox("Layer", layers, key=state.choose("keep_explain_layer", layers, cam_layer))
limit = st.slider("Channels to show", 8, 64, step=8, key=state.default("keep_explain_channels", 32))
with ui.user_errors():
    maps = feature_maps(model, image, layer)
channels_shown = min(limit, maps.shape[-1])
tiles = []
for c in range(channels_shown):
    fmap = maps[..., c]
    low, high = float(fmap.min()), float(fmap.max())
    scaled = np.zeros_like(fmap) if high <= low else (fmap - low) / (high - low)
    tiles.append(ui.display_image((scaled * 255).astype(np.uint8), 72))
st.caption(f"`{layer}`: {maps.shape[0]}×{maps.shape[1]} × {maps.shape[2]} channels (first {channels_shown} shown, each scaled to its own range)")
st.image(tiles, width=72, caption=[f"#{c}" for c in range(channels_shown)])
