"""Train: configure a job, launch it in the background, watch it live, stop it."""

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app import jobs, live_panel, plots, state, ui
from app.datasources import source_label
from cnnlib.data import AUGMENTATIONS, SOURCES_BUILTIN
from cnnlib.errors import CnnlibError
from cnnlib.fieldset import field_sets_for_source
from cnnlib.runs import Run, run_name
from cnnlib.spec import DEFAULT_VIEWS, MIRRORED_VIEWS, SHIFTED_VIEWS
from cnnlib.training.config import MONITORS, OPTIMIZERS, PRECISIONS, SCHEDULES, TrainConfig
from cnnlib.training.recipes import ARCH_RECIPES, BUDGET_ARCH, DEFAULT_ARCH
from cnnlib.training.request import resolve_defaults
from cnnlib.training.resize_stages import parse_stages

POLL_SECONDS = 1.5
EPOCHS_START = 8  # the form's starting epoch count (a recipe reads it as "not chosen")
DROPOUT_START = 0.2  # the form's starting dropout (an architecture's own default replaces it)
#: The test-time view sets the form offers, in words.
VIEW_SETS = {"the image only": DEFAULT_VIEWS, "the image and its mirror": MIRRORED_VIEWS,
             "six: the image, its mirror, each moved 1 px two ways": SHIFTED_VIEWS}
#: A switch the recipe may set: its value ("None": not chosen), or the user's on / off.
SWITCH = {"the recipe's": None, "on": True, "off": False}

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
    head[0].markdown(f"**{ui.STATUS_ICONS.get(status, '')} {run_name(info)}** — {status} · "
                     f"`{info.get('arch', '?')}` on {source_label(info.get('data_source'))}")
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
        fraction = 1.0
    text = live_panel.ending_text(info, done, total_epochs) or text
    st.progress(min(max(fraction, 0.0), 1.0), text=text)

    if not epochs:
        st.caption("Waiting for the first epoch… (TensorFlow takes a few seconds to start)")
        return
    st.plotly_chart(plots.training_curves(epochs), key=f"curves_{run.id}")
    if epochs[-1].get("confusion"):
        matrix = epochs[-1]["confusion"]
        live_panel.live_evaluation(run, epochs[-1], _class_names(run) or [str(i) for i in range(len(matrix))])


def _class_names(run: Run) -> list[str] | None:
    try:
        return run.class_names()
    except CnnlibError:
        return None


@st.fragment(run_every=POLL_SECONDS)
def _live_panel(path: str) -> None:
    try:
        run = ui.store().get(path)
    except CnnlibError:
        st.rerun()  # deleted meanwhile (Home's Manage runs, another tab): the page's job list drops it
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
        st.dataframe(pd.DataFrame([{"job": run_name(i), "arch": i.get("arch"), "data": source_label(i.get("data_source")),
                                    "epochs done": i.get("epochs_done")} for i in running]), hide_index=True)

# ---------------------------------------------------------------- new job
@st.cache_data(show_spinner=False)
def _architectures() -> list[dict]:
    from cnnlib.models import list_architectures

    return list_architectures()


@st.cache_data(show_spinner=False, ttl=5)  # short: the data folder can change under the page
def _precheck(request_json: str) -> tuple[str | None, dict | None]:
    """``(refusal, model config)`` of a request: the core's pre-check, run before any job starts."""
    from cnnlib.training.request import TrainRequest, validate_request

    try:
        return None, validate_request(TrainRequest.from_dict(json.loads(request_json))).to_dict()
    except CnnlibError as exc:
        return str(exc), None


@st.cache_data(show_spinner="Building the model…")
def _summary(model_json: str) -> dict:
    from cnnlib.models import ModelConfig, build_model, count_flops, count_params, layer_table

    built = build_model(ModelConfig.from_dict(json.loads(model_json)))
    return {"params": count_params(built), "flops": count_flops(built), "layers": layer_table(built)}


def _number(column: Any, label: str, key: str, start: Any, **options: Any) -> Any:
    """A number input whose empty value (None) means "the default for these settings"."""
    return column.number_input(label, key=state.default(key, start), **options)


def _base_run_picker() -> str:
    """The trained run a ``from_run`` job starts from: completed runs, the bundled demo first."""
    runs = ui.usable_runs()
    if not runs:
        st.error("Starting from a trained run needs one: train a model first, or keep the bundled demo.", icon="🚫")
        st.stop()
    ids = [str(info["id"]) for info in runs]
    labels = {str(info["id"]): ui.run_label(info) for info in runs}
    start = str(ui.demo_default(runs)["id"])
    chosen = st.selectbox("Start from (its network is kept frozen; only a new head learns your classes)", ids,
                          key=state.choose("keep_train_base", ids, start), format_func=labels.get)
    with ui.user_errors():
        sees = ui.store().get(chosen).input_spec().describe()
    st.caption(f"That run sees {sees}; your images are resized to that inside the model. It helps most on "
               "photos like the ones it learned.")
    return chosen


st.divider()
st.subheader("New training job")
data_config = st.session_state.get("data_config") or {}
sources = list(SOURCES_BUILTIN)
if data_config.get("source") and data_config["source"] not in sources:
    sources.append(data_config["source"])
source = st.selectbox("Dataset", sources, key=state.choose("keep_train_source", sources, data_config.get("source", "digits")),
                      format_func=source_label,
                      help="Folders and uploaded zips are chosen on the **Data** page, with the image size and split.")
with ui.user_errors():
    archs = _architectures()
arch_names = [a["name"] for a in archs]
defaults = TrainConfig()
c1, c2, c3 = st.columns(3)
arch = c1.selectbox("Architecture", arch_names, key=state.choose("keep_train_arch", arch_names, DEFAULT_ARCH))
spec = next(a for a in archs if a["name"] == arch)
c1.caption(f"{spec.get('description', '')} Needs inputs of at least {spec['min_input_size']} px; smaller "
           "images are upscaled unless you set their size on the Data page.")
default_name = f"{arch}-" + source_label(source).removesuffix(" (uploaded)").removesuffix(".zip")
name = c1.text_input("Run name", key=state.default("keep_train_name", ""), placeholder=default_name)
width = c1.slider("Width multiplier", 0.25, 2.0, step=0.25, key=state.default("keep_train_width", 1.0))
dropout = c1.slider("Dropout", 0.0, 0.7, step=0.05, key=state.default("keep_train_dropout", DROPOUT_START))

epochs = c2.number_input("Epochs", 1, 100_000, key=state.default("keep_train_epochs", EPOCHS_START),
                         help="With a time budget, the most epochs to run.")
batch_size = _number(c2, "Batch size (empty = the architecture's)", "keep_train_bs", None, min_value=1, max_value=65_536)
optimizer = c2.selectbox("Optimizer", OPTIMIZERS, key=state.default("keep_train_opt", defaults.optimizer))
lr = _number(c2, "Learning rate (empty = the optimizer's default)", "keep_train_lr", None, min_value=1e-6,
             max_value=10.0, format="%.5f")
schedule = c2.selectbox("Schedule (empty = constant, or one-cycle with a time budget)", SCHEDULES, index=None,
                        key="keep_train_sched")

augment = c3.multiselect("Augmentation (training only)", list(AUGMENTATIONS), key=state.default("keep_train_aug", []))
label_smoothing = _number(c3, "Label smoothing (empty = 0, or the recipe's with a time budget)", "keep_train_ls",
                          None, min_value=0.0, max_value=0.99, step=0.05)
weight_decay = _number(c3, "Weight decay (empty = the optimizer's default)", "keep_train_wd", None,
                       min_value=0.0, max_value=1.0, format="%.5f")
early_stopping = c3.number_input("Early stopping patience (0 = off)", 0, 10_000,
                                 key=state.default("keep_train_es", defaults.early_stopping))
budget = _number(c3, "Time budget in minutes (empty = none)", "keep_train_budget", None, min_value=0.1,
                 max_value=10_000.0)
if budget and arch != BUDGET_ARCH:
    c3.caption(f"For the most accurate model per minute choose **{BUDGET_ARCH}**: it is what a time budget "
               "trains when no architecture is chosen (docs/BENCHMARKS.md, tiers).")

with st.expander("Advanced: seed, momentum, warm-up, precision, test-time views, progressive resizing"):
    a1, a2, a3 = st.columns(3)
    seed = a1.number_input("Seed (weights, shuffling, augmentation)", 0, 2**31 - 1,
                           key=state.default("keep_train_seed", defaults.seed),
                           help="The split has its own seed, on the Data page.")
    momentum = a1.number_input("SGD momentum", 0.0, 0.999, key=state.default("keep_train_mom", defaults.momentum))
    warmup = a1.number_input("Warm-up epochs (warmup_cosine)", 0.0, 1000.0,
                             key=state.default("keep_train_warmup", defaults.warmup_epochs))
    reduce_lr = a1.number_input("Reduce LR on plateau patience (0 = off)", 0, 10_000,
                                key=state.default("keep_train_rlr", defaults.reduce_lr_patience))
    monitor = a2.selectbox("Best checkpoint by", MONITORS, key=state.default("keep_train_monitor", defaults.monitor))
    precision = a2.selectbox("Mixed precision", PRECISIONS, key=state.default("keep_train_prec", defaults.mixed_precision))
    grad_accum = a2.number_input("Gradient accumulation steps", 1, 1024,
                                 key=state.default("keep_train_accum", defaults.grad_accum))
    xla = a2.checkbox("Compile with XLA (helps on GPU, slow on CPU)", key=state.default("keep_train_xla", defaults.xla))
    view_set = a3.selectbox("Test-time views (what each answer averages)", list(VIEW_SETS),
                            key=state.default("keep_train_views", next(iter(VIEW_SETS))),
                            help="More views cost that many times the compute per answer; every export answers "
                                 "the same way.")
    tensorboard = a3.checkbox("Write TensorBoard logs", key=state.default("keep_train_tb", defaults.tensorboard))
    stages = a3.text_input("Progressive resizing (SIZE:UNTIL, e.g. 24:0.5; empty = off)",
                           key=state.default("keep_train_stages", ""))

with st.expander("Recipe levers: whitening, identity init, lookahead, BatchNorm-bias rate, crop padding "
                 "(empty or \"the recipe's\" = the architecture's recipe)"):
    b1, b2, b3 = st.columns(3)
    whiten = b1.checkbox("Whitening: fit the first layer to the images' 2x2 patch covariance and freeze it",
                         key=state.default("keep_train_whiten", defaults.whiten))
    whiten_bias_epochs = _number(b1, "Epochs the whitening bias trains (empty = the recipe's)", "keep_train_wbe",
                                 None, min_value=0, max_value=100_000, step=1)
    identity_init = b2.checkbox("Start each block conv as an identity kernel",
                                key=state.default("keep_train_ident", defaults.identity_init))
    lookahead = b2.selectbox("Lookahead: every 5 steps pull the weights to their running average", list(SWITCH),
                             key=state.default("keep_train_look", next(iter(SWITCH))))
    bn_bias_lr_scale = _number(b3, "Learning-rate multiplier of BatchNorm biases (sgd_airbench; empty = the "
                               "recipe's)", "keep_train_bnlr", None, min_value=0.0, max_value=1000.0)
    crop_padding = _number(b3, "Crop: the most pixels an image shifts by (empty = the recipe's)", "keep_train_pad",
                           None, min_value=1, max_value=64, step=1)

data = {key: value for key, value in data_config.items() if value is not None} if data_config.get("source") == source \
    else {"source": source}
field_sets = field_sets_for_source(source)
if field_sets:
    offered = {f"{item.count:,} field photo(s) kept with run {item.run_id}": str(item.folder) for item in field_sets}
    chosen = st.multiselect("Also train on your field photos (the uploads you labelled on Classify)", list(offered),
                            key="train_field_sets",
                            help="They join the training split only; the test split stays the dataset's own.")
    if chosen:
        data = {**data, "extra_train": [offered[label] for label in chosen]}
        photos = sum(item.count for item in field_sets if str(item.folder) in data["extra_train"])
        st.caption(f"📸 {photos:,} field photo(s) join the training split of this job.")
if data.get("exclude"):
    st.caption(f"🔎 {len(data['exclude']):,} image(s) chosen in the Data page's audit are left out of this job "
               "(the run records which).")
model = {"arch": arch, "width": float(width), "dropout": float(dropout)}
if arch == "from_run":
    model["weights"] = _base_run_picker()
train = {
    "epochs": int(epochs), "batch_size": batch_size, "optimizer": optimizer, "lr": lr, "schedule": schedule,
    "augment": list(augment), "label_smoothing": label_smoothing, "weight_decay": weight_decay,
    "early_stopping": int(early_stopping), "time_budget_minutes": budget, "seed": int(seed),
    "momentum": float(momentum), "warmup_epochs": float(warmup), "reduce_lr_patience": int(reduce_lr),
    "monitor": monitor, "mixed_precision": precision, "grad_accum": int(grad_accum), "xla": bool(xla),
    "test_views": list(VIEW_SETS[view_set]), "tensorboard": bool(tensorboard),
    "whiten": bool(whiten), "whiten_bias_epochs": whiten_bias_epochs, "identity_init": bool(identity_init),
    "lookahead": SWITCH[lookahead], "bn_bias_lr_scale": bn_bias_lr_scale, "crop_padding": crop_padding,
}
if arch in ARCH_RECIPES or budget:
    # The form's starting values stand for "not chosen" here, so the architecture's or the time
    # budget's recipe (from_run: many short epochs, mirrored photos; airbench: its optimizer,
    # flips, six views) fills them; a value the user set still wins.
    starting = {"epochs": EPOCHS_START, "augment": [], "monitor": defaults.monitor, "optimizer": defaults.optimizer,
                "momentum": defaults.momentum, "test_views": list(defaults.test_views), "whiten": defaults.whiten,
                "identity_init": defaults.identity_init}
    train = {key: value for key, value in train.items() if key not in starting or value != starting[key]}
    if dropout == DROPOUT_START:
        model.pop("dropout")
job_name = name or default_name  # not "run_name": that is cnnlib.runs.run_name, which the live panel calls
with ui.user_errors():
    train["progressive_resize"] = parse_stages(stages)
    request = resolve_defaults(data, model, train, name=job_name)
refusal, model_config = _precheck(json.dumps(request.to_dict(), sort_keys=True))
if refusal:
    st.error(f"This job cannot start: {refusal}", icon="🚫")
else:
    with st.expander("Every training setting of this job (what you left empty, the recipe fills)"):
        st.json(request.train.to_dict(), expanded=True)
# Enabled even when refused: a click then repeats why, instead of a silent grey button.
if st.button("🚀 Start training", type="primary", key="train_start") and refusal is None:
    with ui.user_errors():
        job = jobs.launch(job_name, data, model, train)
        st.session_state.setdefault("train_launched", []).append(job.run_id)
        st.session_state["train_watch"] = str(job.run_path)
        st.toast(f"Started {job.run_id}; it keeps running if you close this tab.")
        time.sleep(0.2)
        st.rerun()

with st.expander("Model summary: parameters, FLOPs, layers", expanded=True):
    if model_config is None:
        st.caption("The summary appears once the settings above can train.")
    elif st.toggle("Build the model to show its summary", key=state.default("keep_train_summary", True)):
        with ui.user_errors():
            summary = _summary(json.dumps(model_config, sort_keys=True))
        shape = model_config["input_shape"]
        m1, m2, m3 = st.columns(3)
        m1.metric("Parameters", ui.human_count(summary["params"]))
        m2.metric("FLOPs per image", ui.human_count(summary["flops"]))
        m3.metric("Input", "×".join(map(str, shape)))
        st.dataframe(pd.DataFrame(summary["layers"]), hide_index=True, width="stretch")
        st.caption(f"Built for this data: {model_config['num_classes']} classes at {shape[0]}×{shape[1]}×{shape[2]}.")
