"""Train a model into a run directory, or resume an interrupted run.

Order matters for the run store's promise that bad input changes nothing:
every config is validated, the data is loaded and the model is built
*before* the run directory is created. From then on the run exists with
status ``running`` and every file in it is written atomically.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import signal
import sys
from collections.abc import Callable
from typing import Any

from cnnlib import __version__
from cnnlib.errors import ConfigError, RunError
from cnnlib.io import atomic_save_model, atomic_write_json
from cnnlib.runs import (
    BACKUP_DIR,
    CONFIG_FILE,
    DATA_FILE,
    ENV_FILE,
    SPEC_FILE,
    TENSORBOARD_DIR,
    Run,
    RunStore,
    now_iso,
)
from cnnlib.training import clock
from cnnlib.training.config import TrainConfig

EventListener = Callable[[dict[str, Any]], None]

# Kept back from a time budget beside the finish estimate (``_reserve_finish``): saving the
# model and leaving the process, plus a share for a machine busier than at the estimate.
# The share was 3% while the finish was also estimated: a 15-minute airbench_small run then
# ended 42 s early and a 60-minute one 114 s early (docs/BENCHMARKS.md, issue 11).
_BUDGET_RESERVE_FRACTION = 0.01
_BUDGET_RESERVE_SECONDS = 5.0


@dataclasses.dataclass
class TrainResult:
    """What ``train`` hands back (also the CLI's JSON)."""

    run_id: str
    run_dir: str
    status: str
    test_accuracy: float | None
    params: int
    epochs: int
    train_seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def library_versions() -> dict[str, str]:
    """Versions that matter for reproducing a run."""
    import importlib.metadata as metadata

    versions = {"cnnlib": __version__, "python": platform.python_version()}
    for package in ("tensorflow", "keras", "numpy", "pillow", "scikit-learn", "tf-keras-vis", "ai-edge-litert"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _model_config(model_options: dict[str, Any], dataset: Any) -> Any:
    from cnnlib.models import ModelConfig

    height, width = dataset.image_size
    return ModelConfig(num_classes=len(dataset.class_names), input_shape=(int(height), int(width), int(dataset.channels)),
                       **model_options)


def validate_model_options(model_options: dict[str, Any]) -> None:
    """Fail fast on a bad architecture or model option, before loading any data."""
    from cnnlib.models import ModelConfig
    from cnnlib.models.registry import get_spec

    if not isinstance(model_options.get("arch"), str):
        raise ConfigError(f"choose an architecture for the model. Received: arch={model_options.get('arch')!r}")
    side = max(32, get_spec(model_options["arch"]).min_input_size)  # a size every architecture accepts
    ModelConfig(num_classes=2, input_shape=(side, side, 3), **model_options)


def _fit_input_to_arch(data_config: Any, dataset: Any, arch: str) -> tuple[Any, Any, dict[str, Any] | None]:
    """Upscale data smaller than ``arch`` accepts to its minimum (a size the user chose stays).

    Returns:
        The data config and dataset to train on, and ``{"from", "to"}`` sizes when upscaled.
    """
    from cnnlib.data import load_dataset
    from cnnlib.training.request import input_size_for

    size = (int(dataset.image_size[0]), int(dataset.image_size[1]))
    wanted = input_size_for(arch, size, data_config.image_size is not None)
    if wanted == size:
        return data_config, dataset, None
    sys.stderr.write(f"note: {arch} needs inputs of at least {wanted[0]}x{wanted[1]} px, so the "
                     f"{size[0]}x{size[1]} images are upscaled to {wanted[0]}x{wanted[1]}\n")
    data_config = dataclasses.replace(data_config, image_size=wanted)
    # A reload, not an array resize: the pixels then come from the one decoder inference uses.
    return data_config, load_dataset(data_config), {"from": list(size), "to": list(wanted)}


def _default_batch_size(arch: str) -> int:
    from cnnlib.models import ARCHITECTURES

    return int(ARCHITECTURES[arch].default_batch_size)


def _onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN kernels (1.3-1.5x faster training on CPU here).

    TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, at import, so the variable's current
    value can lie; this asks TensorFlow itself. The CLI turns it on before the import.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a private module: if it moves, record "unknown" (null) rather than fail
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def _make_optimizer(config: TrainConfig, learning_rate: Any) -> Any:
    import keras

    accumulate = config.grad_accum if config.grad_accum > 1 else None
    if config.optimizer == "sgd_airbench":
        from cnnlib.training.optimizers import BN_BIAS_GROUP, GroupedSGD

        return GroupedSGD(learning_rate=learning_rate, momentum=config.momentum, l2=config.weight_decay,
                          group_scales={BN_BIAS_GROUP: config.bn_bias_lr_scale}, gradient_accumulation_steps=accumulate)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, gradient_accumulation_steps=accumulate)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(
            learning_rate=learning_rate, weight_decay=config.weight_decay, gradient_accumulation_steps=accumulate
        )
    return keras.optimizers.SGD(
        learning_rate=learning_rate,
        momentum=config.momentum,
        nesterov=True,
        weight_decay=config.weight_decay or None,
        gradient_accumulation_steps=accumulate,
    )


def _one_hot(num_classes: int) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    def convert(images: Any, labels: Any) -> Any:
        return images, tf.one_hot(labels, num_classes)

    return convert


def _install_sigterm_as_stop(run: Run) -> None:
    """A SIGTERM (``docker stop``, a job manager) becomes a clean stop request."""

    def handler(signum: int, frame: Any) -> None:
        try:
            (run.path / "STOP").write_text(f"SIGTERM {now_iso()}\n", encoding="utf-8")
        except OSError:
            pass

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. inside a test runner thread)
        pass


def train(
    data_config: Any,
    model_options: dict[str, Any],
    train_config: TrainConfig,
    runs_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    on_event: EventListener | None = None,
    dataset: Any = None,
    run_id: str | None = None,
) -> TrainResult:
    """Train a new run.

    Args:
        data_config: a ``cnnlib.data.DataConfig``.
        model_options: ``ModelConfig`` fields other than ``num_classes`` and
            ``input_shape``, which come from the data (``arch`` is required).
        train_config: hyperparameters.
        runs_dir: the run store root (default ``$CNNLIB_RUNS`` or ``./runs``).
        name: a label for the run id.
        on_event: in-process listener for progress events (the CLI's bar).
        dataset: an already loaded ``Dataset`` for ``data_config`` (saves a reload).
        run_id: the id to create (a launcher chose it); generated when None.

    Returns:
        A ``TrainResult``; the run directory holds the rest.
    """
    from cnnlib.data import load_dataset

    validate_model_options(model_options)
    store = RunStore(runs_dir, include_bundled=False)
    if run_id is not None and (store.root / run_id).exists():
        raise RunError(f"run {run_id!r} already exists; choose another id")
    if dataset is None:
        dataset = load_dataset(data_config)
    data_config, dataset, upscaled = _fit_input_to_arch(data_config, dataset, model_options["arch"])
    model_config = _model_config(model_options, dataset)
    _check_model_builds(model_config, train_config)

    run = store.new_run_dir(name, model_config.arch, run_id=run_id)
    batch_size = train_config.batch_size or _default_batch_size(model_config.arch)
    run.update_info(
        id=run.id, name=name or model_config.arch, status="running", created=now_iso(), pid=os.getpid(),
        arch=model_config.arch, data_source=data_config.source, error=None, epochs_done=0,
        planned_epochs=train_config.epochs, batch_size=batch_size, train_seconds=0.0, input_upscaled=upscaled,
    )
    _write_run_files(run, data_config, model_config, train_config, dataset, upscaled)
    return _fit(run, dataset, model_config, train_config, batch_size, on_event, resumed_seconds=0.0, resumed=False)


def train_request(request: Any, runs_dir: str | os.PathLike[str] | None = None,
                  on_event: EventListener | None = None) -> TrainResult:
    """Train the run a ``cnnlib.training.request.TrainRequest`` describes."""
    return train(request.data, dict(request.model), request.train, runs_dir=runs_dir, name=request.name,
                 on_event=on_event, run_id=request.run_id)


def _check_model_builds(model_config: Any, train_config: TrainConfig) -> None:
    """Build the model once before anything is written (and at every progressive-resize size)."""
    from cnnlib.models import build_model

    probe = build_model(model_config)
    if train_config.progressive_resize:
        from cnnlib.training import progressive

        height, width, channels = model_config.input_shape
        progressive.check_model_accepts(probe, train_config.progressive_resize, (int(height), int(width)), int(channels))
    del probe


def _write_run_files(run: Run, data_config: Any, model_config: Any, train_config: TrainConfig, dataset: Any,
                     upscaled: dict[str, Any] | None) -> None:
    """The run's configs, data record and input spec, written once at creation."""
    from cnnlib.spec import spec_for

    atomic_write_json(run.path / CONFIG_FILE, {
        "model": model_config.to_dict(), "train": train_config.to_dict(), "data": data_config.to_dict(),
        "input_upscaled": upscaled,
    })
    # The input size and channels are the spec's and the model config's; data.json keeps what only the data knows.
    atomic_write_json(run.path / DATA_FILE, {
        "class_names": list(dataset.class_names),
        "fingerprint": dataset.fingerprint,
        "split_record": dataset.split_record,
        "summary": dataset.summary,
        "test_ids": list(dataset.test.ids),
    })
    from cnnlib.models import ARCHITECTURES

    spec = spec_for(model_config.input_shape, list(dataset.class_names), train_config.test_views,
                    ARCHITECTURES[model_config.arch].familiarity_layers)
    atomic_write_json(run.path / SPEC_FILE, spec.to_dict())


def resume(run_ref: str | os.PathLike[str], runs_dir: str | os.PathLike[str] | None = None,
           on_event: EventListener | None = None) -> TrainResult:
    """Continue an interrupted run from its last completed epoch."""
    from cnnlib.data import DataConfig, load_dataset
    from cnnlib.models import ModelConfig

    run = RunStore(runs_dir, include_bundled=False).get(run_ref)
    info = run.info()
    if info["status"] == "running":
        raise RunError(f"run {run.id!r} is still running (pid {info.get('pid')}); it cannot be resumed twice")
    if info["status"] == "completed":
        raise RunError(f"run {run.id!r} already completed; nothing to resume")
    if not (run.path / BACKUP_DIR).exists():
        raise RunError(f"run {run.id!r} has no backup to resume from (status: {info['status']})")
    config = run.config()
    data_config = DataConfig.from_dict(config["data"])
    model_config = ModelConfig.from_dict(config["model"])
    train_config = TrainConfig.from_dict(config["train"])
    dataset = load_dataset(data_config)
    if dataset.fingerprint != run.data_info().get("fingerprint"):
        raise RunError(f"run {run.id!r} cannot resume: its dataset {data_config.source!r} changed since training began")
    try:
        (run.path / "STOP").unlink()
    except FileNotFoundError:
        pass
    run.update_info(status="running", pid=os.getpid(), error=None, resumed=now_iso())
    return _fit(run, dataset, model_config, train_config, int(info["batch_size"]), on_event,
                resumed_seconds=float(info.get("train_seconds") or 0.0), resumed=True)


def _fit(run: Run, dataset: Any, model_config: Any, config: TrainConfig, batch_size: int,
         on_event: EventListener | None, resumed_seconds: float, resumed: bool) -> TrainResult:
    """The shared body of ``train`` and ``resume``; records failure in the run."""
    start = clock.now()
    try:
        return _fit_inner(run, dataset, model_config, config, batch_size, on_event, resumed_seconds, resumed, start)
    except BaseException as exc:
        seconds = resumed_seconds + clock.now() - start
        interrupted = isinstance(exc, KeyboardInterrupt)
        message = "interrupted by the user" if interrupted else f"{type(exc).__name__}: {exc}".strip()
        run.update_info(status="interrupted" if interrupted else "failed", error=message.splitlines()[0][:500],
                        train_seconds=round(seconds, 2), pid=None)
        from cnnlib.training.callbacks import ProgressWriter

        ProgressWriter(run.progress_path).write("end", status=run.status, error=message.splitlines()[0][:500])
        raise


@dataclasses.dataclass
class _Plan:
    """What one fit is planned as: steps, epochs and the time budget."""

    global_batch: int
    steps_per_epoch: int
    epochs: int
    budget_seconds: float | None
    seconds_available: float | None  # training time left for this process (budget minus reserve and resumed part)

    @property
    def time_based(self) -> bool:
        return self.budget_seconds is not None


def _plan(config: TrainConfig, train_size: int, batch_size: int, replicas: int, resumed_seconds: float,
          startup_seconds: float = 0.0) -> _Plan:
    """The fit's plan; a budget loses the seconds the process spent before training."""
    global_batch = batch_size * replicas
    budget_seconds = config.time_budget_minutes * 60.0 if config.time_budget_minutes else None
    available = None
    if budget_seconds is not None:
        reserve = budget_seconds * _BUDGET_RESERVE_FRACTION + _BUDGET_RESERVE_SECONDS
        available = max(1.0, budget_seconds - reserve - resumed_seconds - startup_seconds)
    return _Plan(global_batch, max(1, math.ceil(train_size / global_batch)), config.epochs, budget_seconds, available)


def _fit_inner(run: Run, dataset: Any, model_config: Any, config: TrainConfig, batch_size: int,
               on_event: EventListener | None, resumed_seconds: float, resumed: bool, start: float) -> TrainResult:
    import keras

    from cnnlib.training.device import configure_precision, detect_devices, make_strategy

    _install_sigterm_as_stop(run)
    keras.utils.set_random_seed(config.seed)
    device = detect_devices()
    precision = configure_precision(config.mixed_precision, device)
    strategy = make_strategy(device)
    atomic_write_json(run.path / ENV_FILE, {
        "versions": library_versions(), "device": device.describe(), "precision": precision,
        "replicas": int(strategy.num_replicas_in_sync), "xla": config.xla, "onednn": _onednn_enabled(),
    })
    if len(dataset.val.labels) == 0:
        raise ConfigError("the validation split is empty; add images or raise the validation share")
    startup = start - clock.budget_started(start)
    plan = _plan(config, len(dataset.train.labels), batch_size, int(strategy.num_replicas_in_sync), resumed_seconds,
                 startup_seconds=startup)
    with strategy.scope():
        model = _compiled_model(model_config, config, plan, dataset.train.images)
    from cnnlib.models import count_flops, count_params

    params, flops = count_params(model), count_flops(model)
    reserved = _reserve_finish(plan, dataset, config, model, model_config)
    # The process's seconds before training (imports, data) are recorded, so a run that overran
    # its budget tells whether the start or the finish took the time.
    run.update_info(params=params, flops=flops, device=device.describe(), precision=precision,
                    finish_reserve_seconds=reserved, startup_seconds=round(startup, 1) if plan.time_based else None)
    train_ds, resize_size = _train_dataset(dataset, model_config, config, plan)
    callbacks, parts = _callbacks(run, dataset, config, plan, on_event, resumed_seconds, start, resize_size,
                                  (int(model_config.input_shape[0]), int(model_config.input_shape[1])))
    parts["writer"].write("start", epochs=plan.epochs, steps=plan.steps_per_epoch, batch_size=plan.global_batch,
                          class_names=list(dataset.class_names), train_size=int(len(dataset.train.labels)),
                          val_size=int(len(dataset.val.labels)), params=params, flops=flops,
                          device=device.describe(), time_budget_seconds=plan.budget_seconds, resumed=resumed)
    model.fit(train_ds, epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch, callbacks=callbacks, verbose=0,
              shuffle=False)  # the tf.data pipeline shuffles
    return _finish(run, model, model_config, dataset, parts, params, resumed_seconds + clock.now() - start)


def _reserve_finish(plan: _Plan, dataset: Any, config: TrainConfig, model: Any, model_config: Any) -> float | None:
    """Keep back the seconds the end of a budgeted run needs (``cnnlib.training.finish``).

    Returns:
        The seconds kept back, or None without a time budget.
    """
    if plan.seconds_available is None:
        return None
    from cnnlib.training import finish

    images = finish.finish_images(len(dataset.val.labels), len(dataset.train.labels), len(dataset.test.labels),
                                  len(config.test_views))
    rate = finish.forward_images_per_second(finish.float32_twin(model, model_config), dataset.val.images)
    seconds = images / rate
    plan.seconds_available = max(1.0, plan.seconds_available - seconds)
    return round(seconds, 1)


def _compiled_model(model_config: Any, config: TrainConfig, plan: _Plan, train_images: Any) -> Any:
    """The model to train, compiled, with the recipe's initialisation (``_initialise``)."""
    import keras

    from cnnlib.models import build_model
    from cnnlib.training.schedules import PlannedSchedule

    optimizer_steps = max(1, plan.steps_per_epoch // config.grad_accum)
    # Under a time budget TimeBudgetLR sets the rate from the clock; otherwise the plan is in steps.
    learning_rate: Any = config.lr if (plan.time_based or config.schedule == "constant") else PlannedSchedule(
        config.schedule, config.lr, optimizer_steps * plan.epochs, warmup_fraction=config.warmup_epochs / max(1, plan.epochs)
    )
    model = build_model(model_config)
    _initialise(model, config, train_images)  # on resume the backup's weights replace these (a fitted stem stays frozen)
    model.compile(
        optimizer=_make_optimizer(config, learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=config.xla,
    )
    return model


def _train_dataset(dataset: Any, model_config: Any, config: TrainConfig, plan: _Plan) -> tuple[Any, Any]:
    """The repeated, one-hot, prefetched training batches, and the progressive-resize size variable."""
    import tensorflow as tf

    from cnnlib.data import make_tf_dataset
    from cnnlib.training import progressive

    train_ds = make_tf_dataset(dataset.train, plan.global_batch, training=True, seed=config.seed, augment=config.augment,
                               crop_padding=config.crop_padding)
    resize_size = None
    if config.progressive_resize:  # train() checked the architecture accepts every stage's size
        full_shape = [int(model_config.input_shape[0]), int(model_config.input_shape[1])]
        resize_size = tf.Variable(full_shape, dtype=tf.int32, trainable=False, name="train_image_size")
        train_ds = progressive.resized_batches(train_ds, resize_size)
    # repeat(): one iterator for the whole fit. With a finite dataset Keras replaces the
    # iterator every epoch or two, and tearing the old one down (its prefetch and parallel-map
    # threads) stalled training 4-56 s each time here: 10% of a 15-minute budget.
    # steps_per_epoch is one full pass, so epochs still line up with passes over the data.
    train_ds = train_ds.map(_one_hot(len(dataset.class_names)), num_parallel_calls=tf.data.AUTOTUNE).repeat()
    return train_ds.prefetch(tf.data.AUTOTUNE), resize_size


def _callbacks(run: Run, dataset: Any, config: TrainConfig, plan: _Plan, on_event: EventListener | None,
               resumed_seconds: float, start: float, resize_size: Any,
               full_shape: tuple[int, int]) -> tuple[list[Any], dict[str, Any]]:
    """The fit's callbacks, and the ones ``_finish`` reads back (by name)."""
    import keras

    from cnnlib.predict import predict_probabilities
    from cnnlib.training import callbacks as cb

    deadline = start + plan.seconds_available if plan.time_based else None
    parts: dict[str, Any] = {
        "writer": cb.ProgressWriter(run.progress_path), "history": cb.HistoryWriter(run.history_path),
        "best": cb.BestCheckpoint(run.checkpoint_path, monitor=config.monitor),
        "stop": cb.StopFile(run.path / "STOP"), "nan_guard": cb.NaNGuard(), "resizer": None,
    }
    live = cb.LiveProgress(parts["writer"], epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch,
                           val_images=dataset.val.images, val_labels=dataset.val.labels,
                           num_classes=len(dataset.class_names), predict=predict_probabilities, on_event=on_event,
                           deadline=deadline, answers_path=run.live_val_path)
    callbacks: list[Any] = [
        keras.callbacks.BackupAndRestore(str(run.path / BACKUP_DIR), double_checkpoint=True, delete_checkpoint=False),
        parts["stop"], parts["nan_guard"], live, parts["history"], parts["best"],
        # run.json keeps epochs_done and train_seconds current, so a resume after
        # a kill knows how much of a time budget was already spent.
        cb.EpochRecorder(lambda done: run.update_info(
            epochs_done=done, train_seconds=round(resumed_seconds + clock.now() - start, 2))),
    ]
    callbacks[:0] = _schedule_callbacks(config, plan, start, resumed_seconds, resize_size, full_shape, parts)
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=config.monitor, patience=config.early_stopping,
                                                       restore_best_weights=False))
    if config.reduce_lr_patience and config.schedule == "constant" and not plan.time_based:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=config.monitor, patience=config.reduce_lr_patience,
                                                           factor=0.5, min_lr=config.lr / 1000))
    if config.tensorboard and _tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(str(run.path / TENSORBOARD_DIR), write_graph=False,
                                                     profile_batch=0, update_freq="epoch"))
    return callbacks, parts


def _schedule_callbacks(config: TrainConfig, plan: _Plan, start: float, resumed_seconds: float, resize_size: Any,
                        full_shape: tuple[int, int], parts: dict[str, Any]) -> list[Any]:
    """Callbacks that run first: the progressive resizer, then the time budget's LR and deadline."""
    from cnnlib.training import callbacks as cb
    from cnnlib.training import progressive
    from cnnlib.training.schedules import TimeBudgetLR

    first: list[Any] = []
    # The whole budget's span, resumed part included: the LR schedule and the resize stages share it.
    schedule_start = start - resumed_seconds
    schedule_seconds = (plan.seconds_available or 0.0) + resumed_seconds
    if resize_size is not None:
        progress = (progressive.time_progress(schedule_start, schedule_seconds)
                    if plan.time_based else progressive.epoch_progress(plan.epochs, plan.steps_per_epoch))
        parts["resizer"] = progressive.ProgressiveResize(resize_size, config.progressive_resize, full_shape, progress)
        first.append(parts["resizer"])
    if plan.time_based:
        first.append(TimeBudgetLR(config.schedule, config.lr, schedule_start, schedule_seconds,
                                  warmup_fraction=min(0.5, config.warmup_epochs * 0.02)))
        first.append(cb.Deadline(start + plan.seconds_available))
    first.extend(_recipe_callbacks(config, plan, schedule_start, schedule_seconds))
    return first


def _initialise(model: Any, config: TrainConfig, train_images: Any) -> None:
    """The start that depends on the training images; models without these layers stay as built.

    airbench's: the whitening stem's kernel is fitted to ``train_images`` and frozen
    (``config.whiten``), and the block convs start as identity kernels (``config.identity_init``).
    ``from_run``'s: its frozen features are standardised on the training images.
    """
    from cnnlib.models.architectures import adapt_feature_norm
    from cnnlib.models.whitened import set_identity_kernels
    from cnnlib.training.whitening import prepare_whitening

    if config.whiten:
        prepare_whitening(model, train_images)
    if config.identity_init:
        set_identity_kernels(model)
    adapt_feature_norm(model, train_images)


def _recipe_callbacks(config: TrainConfig, plan: _Plan, schedule_start: float, schedule_seconds: float) -> list[Any]:
    """Lookahead and the whitening bias's freeze (both before the callbacks that evaluate an epoch)."""
    from cnnlib.training.lookahead import Lookahead
    from cnnlib.training.optimizers import WHITEN_BIAS_GROUP, GroupOffAfter

    callbacks: list[Any] = []
    if config.optimizer == "sgd_airbench" and config.whiten:
        # Only a fitted stem's bias stops; an unfitted stem trains throughout like any conv.
        callbacks.append(GroupOffAfter(WHITEN_BIAS_GROUP, config.whiten_bias_epochs))
    if config.lookahead:
        if plan.time_based:
            def progress(steps: int) -> float:
                return (clock.now() - schedule_start) / max(1e-3, schedule_seconds)
        else:
            def progress(steps: int) -> float:
                return steps / max(1, plan.steps_per_epoch * plan.epochs)
        callbacks.append(Lookahead(progress))
    return callbacks


def _finish(run: Run, model: Any, model_config: Any, dataset: Any, parts: dict[str, Any], params: int,
            train_seconds: float) -> TrainResult:
    """Save the best model, calibrate it, evaluate it on test, and record how the run ended."""
    nan_guard, stop, best, resizer = parts["nan_guard"], parts["stop"], parts["best"], parts["resizer"]
    if resizer is not None:  # when each size began, so a reader can tell how the budget was spent
        run.update_info(resize_switches=[{"epoch": epoch + 1, "batch": batch, "size": list(shape)}
                                         for epoch, batch, shape in resizer.switches])
    status, error = "completed", None
    if nan_guard.where is not None:
        status, error = "failed", f"training diverged: the loss became NaN at {nan_guard.where}; lower the learning rate"
    elif stop.requested:
        status = "stopped"
    final = _finalize_model(model, model_config, run, best, keep_current=nan_guard.where is None and status != "stopped")
    test_accuracy = None
    if final is not None:
        from cnnlib.operations import calibrate_run, evaluate_loaded

        calibrate_run(run, final, dataset)  # first, so the saved test evaluation is the calibrated one
        test_accuracy = float(evaluate_loaded(run, final, dataset, "test")["accuracy"])
    elif status == "completed":
        status, error = "failed", "no model was saved"
    epochs_done = len(parts["history"].rows)
    run.update_info(status=status, error=error, pid=None, epochs_done=epochs_done,
                    train_seconds=round(train_seconds, 2), test_accuracy=test_accuracy,
                    best_epoch=best.best_epoch, best_monitor=best.monitor, best_value=best.best,
                    finished=now_iso())
    parts["writer"].write("end", status=status, error=error, test_accuracy=test_accuracy, train_seconds=train_seconds)
    if status in ("completed", "stopped"):
        import shutil

        shutil.rmtree(run.path / BACKUP_DIR, ignore_errors=True)
    return TrainResult(run_id=run.id, run_dir=str(run.path), status=status, test_accuracy=test_accuracy,
                       params=int(params), epochs=epochs_done, train_seconds=round(train_seconds, 2), error=error)


def _tensorboard_available() -> bool:
    import importlib.util
    import warnings

    if importlib.util.find_spec("tensorboard") is None:
        warnings.warn("TensorBoard is not installed, so no TensorBoard logs are written (pip install tensorboard)",
                      stacklevel=3)
        return False
    return True


def _finalize_model(model: Any, model_config: Any, run: Run, best: Any, keep_current: bool) -> Any:
    """Write ``model.keras``: the best checkpoint's weights in a clean float32 model.

    The saved model carries no optimizer and uses the float32 policy, so it
    loads anywhere with plain ``keras.saving.load_model`` and runs fast on CPU
    even when it was trained in mixed precision on a GPU.
    """
    import keras

    from cnnlib.models import build_model

    source = None
    if run.checkpoint_path.exists():
        source = keras.saving.load_model(run.checkpoint_path, compile=False)
    elif keep_current:
        source = model
    if source is None:
        return None
    keras.mixed_precision.set_global_policy("float32")
    clean = build_model(model_config)
    clean.set_weights(source.get_weights())
    atomic_save_model(clean, run.model_path)
    return clean
