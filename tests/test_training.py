"""Training end to end on real data: accuracy, run files, stop, resume after SIGKILL, NaN, budgets."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnlib.data import DataConfig
from cnnlib.runs import RunStore
from cnnlib.training import TrainConfig, launch_training, train
from cnnlib.training.clock import StepClock, use_clock

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Training-clock seconds per clock reading in the budget test (a few readings per batch).
STEP_SECONDS = 0.02


def _wait_for(predicate, timeout: float, what: str) -> None:
    # A generous ceiling so a slow CI machine does not fail; not a speed assertion.
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _history_rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "history.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_trained_run_reaches_real_accuracy_and_records_everything(trained_run_store: Path) -> None:
    run_dir = trained_run_store
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed"
    assert info["test_accuracy"] >= 0.9, info
    assert info["params"] > 0 and info["flops"] > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["seed"] == 0 and config["model"]["arch"] == "dwsep_cnn"
    assert config["data"]["source"] == "digits"
    data = json.loads((run_dir / "data.json").read_text())
    assert len(data["class_names"]) == 10 and len(data["fingerprint"]) == 64
    env = json.loads((run_dir / "environment.json").read_text())
    assert "tensorflow" in env["versions"] and "keras" in env["versions"]
    rows = _history_rows(run_dir)
    assert [int(row["epoch"]) for row in rows] == list(range(1, 9))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(rows[0])
    events = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and "batch" in kinds
    epochs = [event for event in events if event["event"] == "epoch"]
    assert len(epochs) == 8
    val_size = events[0]["val_size"]
    for event in epochs:
        confusion = np.array(event["confusion"])
        assert confusion.shape == (10, 10) and confusion.sum() == val_size
        assert event["eta_seconds"] is not None and event["lr"] > 0
    # The recorded test accuracy is what the saved model gives in inference mode.
    import keras

    from cnnlib.data import load_dataset
    from cnnlib.predict import predict_probabilities

    model = keras.saving.load_model(run_dir / "model.keras")
    dataset = load_dataset(DataConfig(source="digits"))
    accuracy = float(np.mean(np.argmax(predict_probabilities(model, dataset.test.images), 1) == dataset.test.labels))
    assert accuracy == pytest.approx(info["test_accuracy"], abs=1e-6)
    evaluation = json.loads((run_dir / "evaluation" / "test.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert not (run_dir / "backup").exists()


@pytest.mark.slow  # a training job in a fresh interpreter
def test_stop_request_ends_training_and_keeps_best_model(tmp_path: Path) -> None:
    job = launch_training("stoppable", {"source": "digits"}, {"arch": "dwsep_cnn"},
                          {"epochs": 400, "tensorboard": False}, runs_dir=tmp_path)
    _wait_for(lambda: job.run() is not None and (job.run_path / "checkpoint.keras").exists(), 180, "a first epoch")
    job.stop()
    _wait_for(lambda: not job.alive(), 120, "the job to stop")
    info = json.loads((job.run_path / "run.json").read_text())
    assert info["status"] == "stopped"
    assert info["epochs_done"] < 400
    assert (job.run_path / "model.keras").exists()
    assert info["test_accuracy"] is not None
    events = [json.loads(line) for line in (job.run_path / "progress.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["status"] == "stopped"
    # dwsep_cnn's recipe keeps the lowest validation loss
    assert info["best_monitor"] == "val_loss" and 0 < info["best_value"] and info["best_epoch"] >= 1
    answers = RunStore(tmp_path).get(job.run_path).live_val_answers()  # the last validation pass, for live cells
    last_epoch = [e for e in events if e["event"] == "epoch"][-1]
    assert answers["epoch"] == last_epoch["epoch"]
    assert len(answers["predicted"]) == sum(map(sum, last_epoch["confusion"]))


@pytest.mark.slow  # a training job in a fresh interpreter
@pytest.mark.extended
def test_resume_after_sigkill_continues_from_last_completed_epoch(tmp_path: Path) -> None:
    job = launch_training("killed", {"source": "digits"}, {"arch": "cifar_fast"},
                          {"epochs": 12, "tensorboard": False}, runs_dir=tmp_path)
    _wait_for(lambda: len(_history_rows(job.run_path)) >= 3, 240, "three epochs")
    os.killpg(job.pid, signal.SIGKILL)
    _wait_for(lambda: not job.alive(), 30, "the kill")
    killed_at = len(_history_rows(job.run_path))
    assert killed_at < 12
    store = RunStore(tmp_path)
    assert store.get(job.run_id).status == "interrupted"
    assert not (job.run_path / "model.keras").exists()

    result = subprocess.run(
        [sys.executable, "-m", "cnnlib", "train", "--resume", job.run_id, "--runs", str(tmp_path)],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == job.run_id and summary["status"] == "completed"
    rows = _history_rows(job.run_path)
    assert [int(row["epoch"]) for row in rows] == list(range(1, 13))
    events = [json.loads(line) for line in (job.run_path / "progress.jsonl").read_text().splitlines()]
    starts = [event for event in events if event["event"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed"] is True
    resumed_epochs = [event["epoch"] for event in events[events.index(starts[1]):] if event["event"] == "epoch"]
    assert resumed_epochs[0] >= killed_at  # picked up at its last completed epoch, not from scratch
    assert store.get(job.run_id).status == "completed"


@pytest.mark.slow  # a real training
def test_nan_loss_fails_the_run_clearly(tmp_path: Path) -> None:
    # Decoupled weight decay of lr * wd = 10 multiplies every weight by -9 per
    # step: the weights overflow float32 within ~40 steps and the loss turns NaN.
    result = train(DataConfig(source="digits"), {"arch": "dwsep_cnn"},
                   TrainConfig(epochs=3, optimizer="sgd", lr=10.0, weight_decay=1.0, tensorboard=False),
                   runs_dir=tmp_path, name="diverge")
    assert result.status == "failed"
    assert "NaN" in result.error
    info = RunStore(tmp_path).get(result.run_id).info()
    assert info["status"] == "failed" and "NaN" in info["error"]


@pytest.mark.slow  # a real training
@pytest.mark.extended  # test_budget_callbacks_read_the_training_clock checks the plan without training
def test_time_budget_plans_schedule_to_end_low(tmp_path: Path) -> None:
    # The training reads a step clock, not the wall: the 24-second budget then lasts the same
    # number of batches on any machine (on the wall clock a slow machine missed accuracy 0.8).
    step_clock = StepClock(step=STEP_SECONDS)
    with use_clock(step_clock):
        result = train(DataConfig(source="digits"), {"arch": "cifar_fast"},
                       TrainConfig(epochs=100_000, lr=0.003, schedule="onecycle", time_budget_minutes=0.4,
                                   tensorboard=False),
                       runs_dir=tmp_path, name="budget")
    assert result.status == "completed"
    assert step_clock.readings > 0  # the budget was spent on the clock the test controls
    rows = _history_rows(Path(result.run_dir))
    lrs = [float(row["lr"]) for row in rows]
    assert max(lrs) > 0.001  # it reached the peak region
    assert lrs[-1] < 0.003 / 10  # and ended at the low end of the cycle when time ran out
    assert result.test_accuracy > 0.8
    assert RunStore(tmp_path).get(result.run_id).info()["finish_reserve_seconds"] > 0  # timed, kept back
    events = [json.loads(line) for line in (Path(result.run_dir) / "progress.jsonl").read_text().splitlines()]
    epoch_events = [event for event in events if event["event"] == "epoch"]
    # Under a budget the UI sees the epochs that fit and a countdown, not "epoch 3/100000".
    assert all(event["epochs"] < 1000 and event["eta_seconds"] <= 0.4 * 60 for event in epoch_events)
    assert epoch_events[-1]["epochs"] == len(epoch_events)


def test_budget_callbacks_read_the_training_clock() -> None:
    import keras

    from cnnlib.training.callbacks import Deadline
    from cnnlib.training.schedules import TimeBudgetLR, lr_at

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    with use_clock(StepClock(step=1.0)):  # each reading is one second later: 1, 2, 3, ...
        deadline = Deadline(3.0)
        deadline.set_model(model)
        hits = []
        for batch in range(3):
            deadline.on_train_batch_end(batch)
            hits.append(deadline.hit)
        assert hits == [False, False, True] and model.stop_training
        schedule = TimeBudgetLR("onecycle", 0.1, start=3.0, seconds=10.0, warmup_fraction=0.0)
        schedule.set_model(model)
        schedule.on_train_batch_begin(0)  # reads 4.0: a tenth of the budget is spent
    expected = float(keras.ops.convert_to_numpy(lr_at("onecycle", 0.1, 0.1, 0.0)))
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(expected)


def test_the_finish_reserve_is_timed_on_the_run_s_own_model() -> None:
    import keras

    from cnnlib.models import ModelConfig, build_model
    from cnnlib.training import finish

    config = ModelConfig(arch="airbench_small", num_classes=10, input_shape=(32, 32, 3))
    model = build_model(config)
    images = np.random.default_rng(0).integers(0, 256, (600, 32, 32, 3), dtype=np.uint8)
    with use_clock(StepClock(step=0.5)):  # the timed call is one half-second step of the training clock
        assert finish.forward_images_per_second(model, images) == pytest.approx(finish.PROBE_IMAGES / 0.5)
    # CIFAR-10's splits with six views: val twice, the 2,000-image bank, the test split.
    assert finish.finish_images(5000, 45000, 10000, 6) == (10000 + 2000 + 10000) * 6
    assert finish.finish_images(300, 900, 0, 1) == 300 * 2 + 900
    assert finish.float32_twin(model, config) is model
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        twin = finish.float32_twin(build_model(config), config)  # the finish runs the saved float32 model
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert twin.dtype_policy.name == "float32" and twin.count_params() == model.count_params()


def test_gradient_accumulation_updates_once_per_n_micro_batches() -> None:
    import keras

    from cnnlib.training.trainer import _make_optimizer

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=_make_optimizer(TrainConfig(optimizer="sgd", grad_accum=4, lr=0.5), 0.5),
                  loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.array([0, 1] * 4)
    before = model.get_weights()[0].copy()
    snapshots = []
    for _ in range(8):
        model.train_on_batch(x, y)
        snapshots.append(model.get_weights()[0].copy())
    changed = [not np.allclose(a, b) for a, b in zip([before] + snapshots[:-1], snapshots, strict=False)]
    assert changed == [False, False, False, True, False, False, False, True]


def test_bad_config_values_are_rejected_before_anything_is_written(tmp_path: Path) -> None:
    from cnnlib.errors import ConfigError

    for bad in ({"epochs": 0}, {"lr": -1.0}, {"optimizer": "rmsprop"}, {"augment": ("blur",)},
                {"label_smoothing": 1.5}, {"batch_size": 0}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad)
    with pytest.raises(ConfigError):
        launch_training(None, {"source": "digits"}, {"arch": "no_such_arch"}, {"epochs": 1}, runs_dir=tmp_path)
    assert not any(path.name != ".jobs" for path in tmp_path.iterdir())
