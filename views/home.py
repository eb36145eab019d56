"""Home: what the app does, the runs (renamed and deleted under "Manage runs"), the datasets, the device,
and a one-click demo."""


import pandas as pd
import streamlit as st

from app import jobs, ui
from app.datasources import dataset_folders, source_label
from app.device import describe_device
from app.run_manager import manage_runs
from cnnlib.data.builtin import OFFLINE_SOURCE, is_available_offline
from cnnlib.data.config import SOURCES_BUILTIN
from cnnlib.runs import run_name

st.title("🧠 cnnlib Studio")
st.markdown(
    "Build, train, evaluate, explain, export and compare **CNN image classifiers** — in the browser. "
    "Pick a dataset on **Data**, train with live curves on **Train**, inspect a model on **Evaluate** and "
    "**Explain**, try your own photos and download a verified TFLite file on **Classify**, and put runs side "
    "by side on **Compare**."
)


@st.cache_data(ttl=600, show_spinner=False)
def _device() -> str:
    return describe_device()


left, right = st.columns([3, 2])
with right:
    st.subheader("Quick start")
    st.caption(f"Training device: **{_device()}**")
    st.write("Train a small CNN on the bundled 8×8 `digits` images (about half a minute on a CPU):")
    if st.button("🚀 Train a demo model on digits", type="primary", key="home_demo"):
        with ui.user_errors():
            with st.spinner("Starting the job…"):
                job = jobs.launch(jobs.DEMO["name"], jobs.DEMO["data"], jobs.DEMO["model"], jobs.DEMO["train"])
            st.session_state.setdefault("train_launched", []).append(job.run_id)
            st.session_state["train_watch"] = str(job.run_path)
            st.session_state["home_launched"] = job.run_id
    if st.session_state.get("home_launched"):
        st.success(f"Training started: job `{st.session_state['home_launched']}`. It keeps running if you close this tab.")
        ui.page_link("views/train.py", "Watch it train live →", "📈")

    st.subheader("Datasets")
    # A folder can share a Keras dataset's name (the CIFAR-10 folder): the kind tells them apart.
    rows = [{"dataset": OFFLINE_SOURCE, "kind": "bundled, 8×8 gray", "available": "✅", "where": "inside cnnlib"}]
    for name in SOURCES_BUILTIN:
        if name != OFFLINE_SOURCE:
            rows.append({"dataset": name, "kind": "Keras download", "where": "Keras cache",
                         "available": "✅ cached" if is_available_offline(name) else "needs internet"})
    for folder in dataset_folders():
        rows.append({"dataset": folder.name, "kind": "image folder", "available": "✅", "where": str(folder)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

with left:
    st.subheader("Runs")
    runs = ui.store().list()
    if not runs:
        st.info("No runs yet. Start the demo on the right, or configure one on **Train**.")
    else:
        table = pd.DataFrame(
            [
                {
                    "status": f"{ui.STATUS_ICONS.get(info.get('status'), '')} {info.get('status')}",
                    "name": run_name(info),
                    "test accuracy": info.get("test_accuracy"),  # next to the name: visible without scrolling
                    "architecture": info.get("arch"),
                    "data": source_label(info.get("data_source")),
                    "epochs": info.get("epochs_done"),
                    "parameters": info.get("params"),
                    "created": str(info.get("created", ""))[:19].replace("T", " "),
                    "bundled": bool(info.get("bundled")),
                }
                for info in runs
            ]
        )
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            column_config={"test accuracy": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
        )
        failed = [info for info in runs if info.get("status") in ("failed", "damaged") and info.get("error")]
        for info in failed[:3]:
            st.caption(f"❌ `{info.get('id')}`: {info.get('error')}")
        manage_runs(runs)
