"""Data: choose a source (or take photos for one), look at it (class counts, samples, sizes, splits, warnings)."""

import json
import warnings
from pathlib import Path

import pandas as pd
import streamlit as st

from app import plots, state, ui
from app.audit_panel import audit_panel
from app.cache import load_dataset_cached
from app.capture import capture_panel
from app.datasources import data_roots, dataset_folders, resolve_in_roots, save_upload, source_label, split_rows
from cnnlib.data.builtin import OFFLINE_SOURCE
from cnnlib.data.config import SOURCES_BUILTIN, SPLITS
from cnnlib.spec import MAX_IMAGE_SIDE, MIN_IMAGE_SIDE

KINDS = ("Bundled digits", "Keras dataset", "Folder on the server", "Upload a .zip", "Capture with the camera")
KERAS = tuple(name for name in SOURCES_BUILTIN if name != OFFLINE_SOURCE)
TYPE_PATH = "Type a path…"


def use_folder(folder: Path) -> None:
    """Make ``folder`` the page's server-folder source and load it (a button callback: runs before the widgets)."""
    st.session_state["keep_data_kind"] = KINDS[2]
    if str(folder) in map(str, dataset_folders()):
        st.session_state["keep_data_folder"] = str(folder)
    else:  # not in the list (e.g. its root holds a train/ folder): the typed path always resolves
        st.session_state.update(keep_data_folder=TYPE_PATH, keep_data_root=str(folder.parent),
                                keep_data_rel=folder.name)
    st.session_state["data_load_now"] = str(folder)


st.title("🗂️ Data")
st.caption("Pick a dataset and check it before training: classes, balance, samples, sizes and splits.")

kind = st.radio("Source", KINDS, key=state.default("keep_data_kind", KINDS[0]), horizontal=True)
source: str | None = None
if kind == KINDS[0]:
    source = OFFLINE_SOURCE
    st.caption("1,797 scikit-learn handwritten digits, 8×8 grayscale, 10 classes — always available offline.")
elif kind == KINDS[1]:
    source = st.selectbox("Keras dataset", KERAS, key=state.default("keep_data_keras", "mnist"))
    st.caption("Downloaded by Keras on first use; this needs internet unless it is already cached.")
elif kind == KINDS[2]:
    roots = data_roots()
    if not roots:
        st.warning("No data roots exist. Set `CNNLIB_DATA_ROOTS` (folders separated by `:`), or create `./data`.")
    else:
        found = [str(p) for p in dataset_folders()]
        options = [*found, TYPE_PATH]
        choice = st.selectbox("Folder", options, key=state.choose("keep_data_folder", options))
        if choice == TYPE_PATH:
            root_options = [str(r) for r in roots]
            root = st.selectbox("Data root", root_options, key=state.choose("keep_data_root", root_options))
            relative = st.text_input("Folder inside the root", key=state.default("keep_data_rel", ""),
                                     help="Class subfolders (`cats/`, `dogs/`) or `train/` and `test/` with class subfolders.")
            with ui.user_errors():
                source = str(resolve_in_roots(Path(root), relative))
        else:
            source = choice
        st.caption("Allowed roots: " + ", ".join(f"`{r}`" for r in roots))
elif kind == KINDS[3]:
    upload = st.file_uploader("A .zip of class folders", type=["zip"], key="data_zip")
    if upload is not None:
        with ui.user_errors():
            source = str(save_upload(upload.getvalue(), upload.name))
    elif st.session_state.get("data_config", {}).get("source", "").endswith(".zip"):
        source = st.session_state["data_config"]["source"]
        st.caption(f"Using the zip uploaded earlier ({source_label(source)}).")
else:
    st.caption("Take photos class by class, Teachable Machine style; they are saved as an ordinary folder "
               "dataset that **Use this dataset** loads here and Train trains on.")
    capture_panel(use_folder)

with st.expander("Options: input size, channels, split, subsampling"):
    c1, c2, c3 = st.columns(3)
    native = c1.checkbox("Native image size", key=state.default("keep_data_native", True))
    height = c1.number_input("Height", MIN_IMAGE_SIDE, MAX_IMAGE_SIDE, key=state.default("keep_data_h", 32), disabled=native)
    width = c1.number_input("Width", MIN_IMAGE_SIDE, MAX_IMAGE_SIDE, key=state.default("keep_data_w", 32), disabled=native)
    channels = c2.selectbox("Channels", ("native", 1, 3), key=state.default("keep_data_ch", "native"))
    val_fraction = c2.slider("Validation fraction", 0.05, 0.4, key=state.default("keep_data_val", 0.1))
    test_fraction = c2.slider("Test fraction", 0.05, 0.4, key=state.default("keep_data_test", 0.1))
    max_per_class = c3.number_input("Max images per class (0 = all)", 0, 100_000, key=state.default("keep_data_max", 0))
    seed = c3.number_input("Split seed", 0, 10_000, key=state.default("keep_data_seed", 0))

loaded = st.session_state.get("data_config") or {}
requested = st.session_state.pop("data_load_now", None)  # the folder "Use this dataset" chose on the last click
if source and (st.button("Load dataset", type="primary", key="data_load") or requested == source):
    st.session_state["data_config"] = {
        "source": source,
        "image_size": None if native else [int(height), int(width)],
        "channels": None if channels == "native" else int(channels),
        "val_fraction": float(val_fraction),
        "test_fraction": float(test_fraction),
        "seed": int(seed),
        "max_per_class": int(max_per_class) or None,
        # Exclusions chosen in the audit belong to their source: kept on a reload, dropped on a new one.
        "exclude": list(loaded.get("exclude") or []) if loaded.get("source") == source else [],
    }

config = st.session_state.get("data_config")
if not config:
    st.info("Press **Use this dataset** once the counts say it is ready." if kind == KINDS[4]
            else "Choose a source and press **Load dataset**.")
    st.stop()
if source and source != config["source"]:
    # Never show the previous dataset under a new choice: the page would describe the wrong data.
    st.info(f"Press **Load dataset** to look at `{Path(source).name}` "
            f"(the dataset loaded now is `{Path(str(config['source'])).name}`).")
    st.stop()

with ui.user_errors(), warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with st.spinner(f"Loading `{config['source']}`…"):
        dataset = load_dataset_cached(json.dumps(config, sort_keys=True))
for warning in caught:
    st.warning(str(warning.message))

summary = dataset.summary
st.subheader(f"`{Path(str(config['source'])).name}` — {len(dataset.class_names)} classes")
sizes = {name: len(dataset.split(name).labels) for name in SPLITS}
cols = st.columns(5)
cols[0].metric("Classes", len(dataset.class_names))
cols[1].metric("Input size", f"{dataset.image_size[0]}×{dataset.image_size[1]}×{dataset.channels}")
cols[2].metric("Train", f"{sizes['train']:,}")
cols[3].metric("Validation", f"{sizes['val']:,}")
cols[4].metric("Test", f"{sizes['test']:,}")
if dataset.split_record.get("excluded"):
    st.caption(f"{dataset.split_record['excluded']:,} image(s) left out by the audit below (the files are untouched).")

imbalance = summary.get("imbalance") or {}
if imbalance.get("warning"):
    st.warning(f"⚖️ {imbalance['warning']}")
skipped = summary.get("skipped") or {}
if skipped.get("count"):
    examples = ", ".join(f"`{e}`" for e in skipped.get("examples", [])[:5])
    st.warning(f"🧹 Skipped {skipped['count']} unreadable file(s) (corrupt or not images): {examples}")

counts = summary.get("counts") or {}
if counts:
    st.plotly_chart(plots.class_counts(counts, dataset.class_names), key="data_counts")

c1, c2, c3 = st.columns(3)
c1.markdown("**Image sizes found**")
c1.dataframe(pd.DataFrame(sorted((summary.get("image_sizes") or {}).items(), key=lambda kv: -kv[1]), columns=["size", "images"]), hide_index=True)
c2.markdown("**Colour modes found**")
c2.dataframe(pd.DataFrame(sorted((summary.get("modes") or {}).items()), columns=["mode", "images"]), hide_index=True)
c3.markdown("**Split**")
c3.dataframe(pd.DataFrame(split_rows(dataset.split_record), columns=["", "value"]), hide_index=True)

st.subheader("Samples per class")
per_class = st.slider("Samples per class", 2, 12, key=state.default("keep_data_samples", 6))
train = dataset.split("train")
for index, name in enumerate(dataset.class_names):
    picks = [i for i, label in enumerate(train.labels) if label == index][:per_class]
    if not picks:
        continue
    st.markdown(f"**{name}** · {int((train.labels == index).sum())} training images")
    st.image([ui.display_image(train.images[i], 64) for i in picks], width=64)

audit_panel(config)

ui.page_link("views/train.py", "Train a model on this dataset →", "🏋️")
