"""Explain: Grad-CAM, Grad-CAM++, Score-CAM and saliency side by side, and feature maps."""

import hashlib

import numpy as np
import streamlit as st

from app import plots, state, ui
from app.cache import load_predictor, run_dataset
from app.inference import answer_warnings
from cnnlib.images import UPLOAD_TYPES

#: The page's title for each of the core's explanation methods.
METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM", "saliency": "Saliency"}

st.title("🔍 Explain")
st.caption("Where does the model look? Four explanation methods on the same image, and the feature maps inside.")
run = ui.pick_run("keep_run", "Run")

with ui.user_errors():
    predictor = load_predictor(run)
model, spec = predictor.classifier, predictor.spec
classes = list(spec.class_names)

from cnnlib.errors import CnnlibError  # noqa: E402

try:
    test = run_dataset(run).split("test")
except CnnlibError as exc:
    test = None
    st.info(f"The test images are not on this machine ({exc}): explain an upload instead.")
sources = ["From the test split", "Upload"] if test is not None else ["Upload"]
source = st.radio("Image", sources, horizontal=True, key=state.choose("keep_explain_source", sources))
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
    left, right = st.columns(2)
    wanted = left.selectbox("Class", ["any class", *classes], key=state.choose("keep_explain_class", ["any class", *classes]))
    indices = (np.arange(len(test.labels)) if wanted == "any class"
               else np.flatnonzero(test.labels == classes.index(wanted)))
    if not len(indices):
        st.info(f"The test split holds no image of {wanted}.")
        st.stop()
    number = right.number_input(f"Test image (1–{len(indices):,})", 1, max(1, len(indices)),
                                key=f"explain_number_{wanted}")
    index = int(indices[min(int(number), len(indices)) - 1])
    image, true_label = test.images[index], classes[int(test.labels[index])]
if image is None:
    st.info("Upload an image to explain.")
    st.stop()

# Imported after the early stop: TensorFlow loads only once there is an image to explain.
from cnnlib.explain import METHODS, conv_layer_names, explain, feature_maps, is_flat  # noqa: E402
from cnnlib.explain.graph import resolve_layer  # noqa: E402

with ui.user_errors():
    answer = predictor.answer(image, k=3)[0]
best = answer.top
for warning in answer_warnings(answer, classes):
    st.warning(warning)
c1, c2, c3 = st.columns([1, 2, 2])
c1.image(ui.display_image(image, 160), caption="model input" + (f" · true: {true_label}" if true_label else ""), width=160)
c2.markdown("**Prediction**  \n" + "  \n".join(f"{i + 1}. **{b['label']}** — {b['confidence']:.1%}" for i, b in enumerate(best)))
# A target class belongs to the image it was chosen for: a new image starts from "predicted".
image_id = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()
if st.session_state.get("explain_target_image") != image_id:
    st.session_state["explain_target_image"] = image_id
    st.session_state["keep_explain_target"] = "predicted"
target_name = c3.selectbox("Explain the class", ["predicted"] + classes, key=state.choose("keep_explain_target", ["predicted"] + classes, "predicted"))
alpha = c3.slider("Overlay opacity", 0.0, 1.0, step=0.05, key=state.default("keep_explain_alpha", 0.45))
# "predicted" means the run's answer (test-time views included), which the heatmaps then explain.
target = classes.index(best[0]["label"] if target_name == "predicted" else target_name)

from cnnlib.explain.faithfulness import CHANCE_NAME, deletion  # noqa: E402

curves = {}
for column, method in zip(st.columns(len(METHODS)), METHODS, strict=True):
    title = METHOD_TITLES[method]
    with column, ui.user_errors(stop=False), st.spinner(f"{title}…"):
        explanation = explain(model, image, method, target_class=target)
        column.image(explanation.overlay(alpha), caption=f"{title} · {classes[target]}",
                     width="stretch")
        if is_flat(explanation.heatmap):
            column.caption(f"This map is flat: no region of the image raises **{classes[target]}**, so there "
                           "is nothing to highlight (common when the image is far from what the model learned).")
        curves[title] = deletion(predictor.probabilities, image, explanation.heatmap, target)
        column.caption(f"Deletion score **{curves[title].score:.2f}** ({CHANCE_NAME} "
                       f"{curves[title].random_score:.2f}; lower means the model follows this map)")
if curves:
    with st.expander("How faithful is each map? (deletion curves)"):
        st.caption("Pixels are blurred away in the order each map ranks them, most attributed first, and the "
                   f"answered probability of **{classes[target]}** is followed. A map the model really uses makes "
                   "it fall fast (a small area under the curve); the dashed line blurs blocks of the image in a random order (chance).")
        st.plotly_chart(plots.deletion_curves(curves), key="explain_deletion")

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
