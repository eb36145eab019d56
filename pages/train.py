"""Train: configure a job, launch it in the background, watch it live, stop it."""

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app import jobs, plots, state, ui
from cnnlib.errors import CnnlibError
from cnnlib.runs import Run

NATIVE_SHAPES = {"digits": (8, 8, 1), "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
POLL_SECONDS = 1.5

st.title("🏋️ Train")


# ---------------------------------------------------------------- live job panel
def _job_panel(run: Run) -> None:
    """Status, progress, curves and confusion matrix of one job, from its run directory."""
    try:
        info = run.info()
    except CnnlibError as exc:
        st.error(str(exc))
        return
    status = str(info.get("status"))
    live = jobs.summarize_events(run.progress_events())
    epochs, batch = live["epochs"], live["last_batch"]
    latest = batch or (epochs[-1] if epochs else {})
    total_epochs = int(latest.get("epochs") or info.get("planned_epochs") or max(len(epochs), 1))
    done = len(epochs)

    head = st.columns([3, 1])
    head[0].markdown(f"**{ui.STATUS_ICONS.get(status, '')} {info.get('name') or run.id}** — {status} · "
                     f"`{info.get('arch', '?')}` on `{info.get('data_source', '?')}`")
    if status == "running" and not run.read_only:
        if run.stop_requested():
            head[1].caption("Stopping after this batch…")
        elif head[1].button("⏹ Stop", key=f"stop_{run.id}", help="Ends the job cleanly and keeps the best model."):
            run.request_stop()
            st.toast("Stop requested; the job keeps its best model.")

    if status == "failed":
        st.error(f"This job failed: {info.get('error') or 'no error message was recorded (see train.log in the run folder)'}")
    elif status == "interrupted":
        st.warning("The training process is gone (killed or the machine restarted). The best checkpoint so far is kept.")

    fraction = done / total_epochs if total_epochs else 0.0
    text = f"epoch {done}/{total_epochs}"
    if status == "running" and batch:
        steps = int(batch.get("steps") or 0)
        step = int(batch.get("batch") or 0)
        if steps:
            fraction = (int(batch.get("epoch", done + 1)) - 1 + min(step / steps, 1.0)) / total_epochs
            text = f"epoch {batch.get('epoch', done + 1)}/{total_epochs} · batch {step}/{steps}"
    if status == "running" and latest.get("eta_seconds") is not None:
        text += f" · ETA {ui.human_seconds(latest['eta_seconds'])}"
    if status == "completed":
        fraction, text = 1.0, f"done: {done} epochs in {ui.human_seconds(info.get('train_seconds'))}"
        if info.get("test_accuracy") is not None:
            text += f" · test accuracy {info['test_accuracy']:.1%}"
    st.progress(min(max(fraction, 0.0), 1.0), text=text)

    if not epochs:
        st.caption("Waiting for the first epoch… (TensorFlow takes a few seconds to start)")
        return
    st.plotly_chart(plots.training_curves(epochs), key=f"curves_{run.id}")
    matrix = epochs[-1].get("confusion")
    if matrix:
        classes = _class_names(run) or [str(i) for i in range(len(matrix))]
        st.plotly_chart(
            plots.confusion(matrix, classes, title=f"Validation confusion matrix, epoch {done}"), key=f"confusion_{run.id}"
        )


def _class_names(run: Run) -> list[str] | None:
    try:
        return run.class_names()
    except CnnlibError:
        return None


@st.fragment(run_every=POLL_SECONDS)
def _live_panel(path: str) -> None:
    run = ui.store().get(path)
    _job_panel(run)
    if run.status != "running":
        # The job ended: redraw the whole page once so polling stops and the job list updates.
        st.session_state["train_finished"] = path
        st.rerun()


@st.fragment(run_every=1.0)
def _preparing_panel(count: int) -> None:
    """Jobs still loading their data; redraw the page when one starts or fails."""
    preparing = jobs.preparing_jobs()
    for job in preparing:
        st.info(f"⏳ Starting `{job.run_id}`: loading the data and TensorFlow…")
    if len(preparing) != count:
        st.rerun()


# ---------------------------------------------------------------- jobs
st.subheader("Jobs")
for run_id, message in jobs.failed_before_start(st.session_state.get("train_launched", []))[-3:]:
    st.error(f"🚫 Job `{run_id}` did not start: {message}")
preparing = jobs.preparing_jobs()
if preparing:
    _preparing_panel(len(preparing))
all_runs = ui.store().list()
running = [info for info in all_runs if info.get("status") == "running"]
recent = [info for info in all_runs if info.get("status") != "running" and not info.get("bundled")][:8]
if running:
    st.caption(f"{len(running)} job(s) running. They keep running when you close the tab.")
watchable = running + recent
if not watchable:
    st.info("No jobs yet. Configure one below and press **Start training**.")
else:
    by_path = {info["path"]: info for info in watchable}
    options = list(by_path)
    wanted = st.session_state.get("train_watch")
    match = [p for p in options if wanted and Path(p).resolve() == Path(wanted).resolve()]
    if match:
        st.session_state["keep_train_watch"] = match[0]
        st.session_state.pop("train_watch")
    watched = st.selectbox("Watch", options, key=state.choose("keep_train_watch", options),
                           format_func=lambda p: ui.run_label(by_path[p]))
    run = ui.store().get(watched)
    if run.status == "running":
        _live_panel(watched)
    else:
        _job_panel(run)
    if len(running) > 1:
        st.dataframe(pd.DataFrame([{"job": i.get("name") or i["id"], "arch": i.get("arch"), "data": i.get("data_source"),
                                    "epochs done": i.get("epochs_done")} for i in running]), hide_index=True)

# ---------------------------------------------------------------- new job
st.divider()
st.subheader("New training job")
data_config = st.session_state.get("data_config") or {}
sources = ["digits", "mnist", "fashion_mnist", "cifar10"]
if data_config.get("source") and data_config["source"] not in sources:
    sources.append(data_config["source"])
source = st.selectbox("Dataset", sources, key=state.choose("keep_train_source", sources, data_config.get("source", "digits")),
                      format_func=lambda s: s if len(s) < 60 else "…" + s[-57:],
                      help="Folders and uploaded zips are chosen on the **Data** page.")


@st.cache_data(show_spinner=False)
def _architectures() -> list[dict]:
    from cnnlib.models import list_architectures

    return list_architectures()


with ui.user_errors():
    archs = _architectures()
arch_names = [a["name"] for a in archs]
c1, c2, c3 = st.columns(3)
arch = c1.selectbox("Architecture", arch_names, key=state.choose("keep_train_arch", arch_names, "cifar_fast"))
spec = next(a for a in archs if a["name"] == arch)
c1.caption(f"{spec.get('description', '')} Needs inputs of at least {spec.get('min_input_size', '?')} px."
           if spec.get("min_input_size") else spec.get("description", ""))
name = c1.text_input("Run name", key=state.default("keep_train_name", ""), placeholder=f"{arch}-{Path(source).name}")
width = c1.slider("Width multiplier", 0.25, 2.0, step=0.25, key=state.default("keep_train_width", 1.0))
dropout = c1.slider("Dropout", 0.0, 0.7, step=0.05, key=state.default("keep_train_dropout", 0.2))

epochs = c2.number_input("Epochs", 1, 500, key=state.default("keep_train_epochs", 8))
batch_size = c2.number_input("Batch size", 1, 4096, key=state.default("keep_train_bs", int(spec.get("default_batch_size") or 64)))
optimizer = c2.selectbox("Optimizer", ("adam", "adamw", "sgd"), key=state.default("keep_train_opt", "adam"))
lr = c2.number_input("Learning rate", 1e-6, 1.0, format="%.5f", key=state.default("keep_train_lr", 1e-3))
schedule = c2.selectbox("Schedule", ("constant", "warmup_cosine", "onecycle", "cosine_restarts"), key=state.default("keep_train_sched", "constant"))

augment = c3.multiselect("Augmentation (training only)", ["flip", "rotation", "zoom", "translation", "contrast", "brightness", "crop", "cutout"],
                         key=state.default("keep_train_aug", []))
label_smoothing = c3.slider("Label smoothing", 0.0, 0.3, step=0.05, key=state.default("keep_train_ls", 0.0))
weight_decay = c3.number_input("Weight decay", 0.0, 0.1, format="%.5f", key=state.default("keep_train_wd", 0.0))
early_stopping = c3.number_input("Early stopping patience (0 = off)", 0, 100, key=state.default("keep_train_es", 0))
budget = c3.number_input("Time budget in minutes (0 = none)", 0.0, 1000.0, key=state.default("keep_train_budget", 0.0))

data = dict(data_config) if data_config.get("source") == source else {"source": source}
if data.get("image_size") is None:
    data.pop("image_size", None)
model = {"arch": arch, "width": float(width), "dropout": float(dropout)}
train = {
    "epochs": int(epochs), "batch_size": int(batch_size), "optimizer": optimizer, "lr": float(lr), "schedule": schedule,
    "augment": list(augment), "label_smoothing": float(label_smoothing), "weight_decay": float(weight_decay),
    "early_stopping": int(early_stopping), "time_budget_minutes": float(budget) or None,
}
if st.button("🚀 Start training", type="primary", key="train_start"):
    with ui.user_errors():
        job = jobs.launch(name or f"{arch}-{Path(source).name}", data, model, train)
        st.session_state.setdefault("train_launched", []).append(job.run_id)
        st.session_state["train_watch"] = str(job.run_path)
        st.toast(f"Started {job.run_id}; it keeps running if you close this tab.")
        time.sleep(0.2)
        st.rerun()

with st.expander("Model summary: parameters, FLOPs, layers", expanded=True):
    shape = tuple(data.get("image_size") or NATIVE_SHAPES.get(source, (32, 32, 3))[:2]) + (
        int(data.get("channels") or NATIVE_SHAPES.get(source, (32, 32, 3))[2]),)
    if st.toggle("Build the model to show its summary", key=state.default("keep_train_summary", True)):

        @st.cache_data(show_spinner="Building the model…")
        def _summary(model_json: str, input_shape: tuple, num_classes: int) -> dict:
            import json

            from cnnlib.models import ModelConfig, build_model, count_flops, count_params, layer_table

            config = ModelConfig(num_classes=num_classes, input_shape=tuple(input_shape), **json.loads(model_json))
            built = build_model(config)
            layers = layer_table(built)
            return {"params": count_params(built), "flops": count_flops(built), "layers": layers}

        import json

        with ui.user_errors():
            summary = _summary(json.dumps(model, sort_keys=True), shape, 10)
        m1, m2, m3 = st.columns(3)
        m1.metric("Parameters", ui.human_count(summary["params"]))
        m2.metric("FLOPs per image", ui.human_count(summary["flops"]))
        m3.metric("Input", "×".join(map(str, shape)))
        st.dataframe(pd.DataFrame(summary["layers"]), hide_index=True, width="stretch")
        st.caption("Shown for 10 classes at the dataset's native size; the real run uses its dataset's classes.")
