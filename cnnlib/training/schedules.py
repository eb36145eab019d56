"""Learning-rate schedules as functions of training progress in [0, 1].

Every schedule is one formula of the *fraction of training done*. With an
epoch count that fraction is ``step / total_steps`` (``PlannedSchedule``,
saved with the optimizer); with a time budget it is ``elapsed / budget``
(``TimeBudgetLR``), so the rate reaches its low end exactly when time runs
out, however fast this machine turns out to be.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from cnnlib.training import clock
from cnnlib.training.config import SCHEDULES as SCHEDULE_NAMES  # the names' one owner (no TF import there)

#: airbench's triangle, from 0.2 of the peak up to it at 23% of training, then down to 0 where
#: airbench stops at 0.07 of it: on a 60-minute airbench_small run (seed 1, the AVX2 machine) the
#: end at 0 gave 89.14% after 77 epochs against 88.76% after 81 (docs/BENCHMARKS.md, "tiers").
TRIANGLE = (0.2, 0.23, 0.0)
_WARM_DIV = 25.0  # warm-up starts at peak / 25 (the one-cycle convention)
_FINAL_DIV = 1e3  # one-cycle ends at peak / 1000


def lr_at(name: str, peak: float, fraction: Any, warmup_fraction: float) -> Any:
    """Learning rate of schedule ``name`` after ``fraction`` of training.

    Args:
        name: "constant", "cosine_restarts" (SGDR, three cycles doubling in
            length), "warmup_cosine" (linear warm-up then cosine to 0) or
            "onecycle" (linear up for 25%, linear down to peak/1000) or "triangle"
            (``TRIANGLE``: airbench's).
        peak: the peak learning rate.
        fraction: progress in [0, 1], a float or a tensor.
        warmup_fraction: warm-up share of training for "warmup_cosine".
    """
    ops = keras.ops
    frac = ops.clip(ops.cast(fraction, "float32"), 0.0, 1.0)
    if name == "constant":
        return ops.ones_like(frac) * peak
    if name == "cosine_restarts":
        units = frac * 7.0  # cycles of 1, 2 and 4 units
        phase = ops.where(units < 1.0, units, ops.where(units < 3.0, (units - 1.0) / 2.0, (units - 3.0) / 4.0))
        return peak * 0.5 * (1.0 + ops.cos(math.pi * ops.clip(phase, 0.0, 1.0)))
    if name == "triangle":
        start, top, end = TRIANGLE
        up = start + (1.0 - start) * frac / top
        down = 1.0 + (end - 1.0) * (frac - top) / (1.0 - top)
        return peak * ops.where(frac < top, up, down)
    if name in ("warmup_cosine", "onecycle"):
        warm = warmup_fraction if name == "warmup_cosine" else 0.25
        warm = min(max(warm, 1e-6), 0.99)
        start = peak / _WARM_DIV
        up = start + (peak - start) * frac / warm
        rest = ops.clip((frac - warm) / (1.0 - warm), 0.0, 1.0)
        if name == "onecycle":
            end = peak / _FINAL_DIV
            down = peak + (end - peak) * rest
        else:
            down = peak * 0.5 * (1.0 + ops.cos(math.pi * rest))
        return ops.where(frac < warm, up, down)
    raise ValueError(f"unknown schedule {name!r}; expected one of {SCHEDULE_NAMES}")


@keras.saving.register_keras_serializable(package="cnnlib")
class PlannedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A ``lr_at`` schedule over a known number of optimizer steps."""

    def __init__(self, name: str, peak_lr: float, total_steps: int, warmup_fraction: float = 0.05) -> None:
        if name not in SCHEDULE_NAMES:
            raise ValueError(f"unknown schedule {name!r}; expected one of {SCHEDULE_NAMES}")
        self.name = name
        self.peak_lr = float(peak_lr)
        self.total_steps = max(1, int(total_steps))
        self.warmup_fraction = float(warmup_fraction)

    def __call__(self, step: Any) -> Any:
        fraction = keras.ops.cast(step, "float32") / float(self.total_steps)
        return lr_at(self.name, self.peak_lr, fraction, self.warmup_fraction)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "peak_lr": self.peak_lr, "total_steps": self.total_steps,
                "warmup_fraction": self.warmup_fraction}


class TimeBudgetLR(keras.callbacks.Callback):
    """Sets the learning rate before each batch from the share of the time budget used.

    Args:
        name: schedule name (see ``lr_at``).
        peak_lr: peak learning rate.
        start: training-clock time training started (``clock.now()``); on resume, shifted
            back by the seconds already trained.
        seconds: the training time available.
        warmup_fraction: warm-up share for "warmup_cosine".
    """

    def __init__(self, name: str, peak_lr: float, start: float, seconds: float, warmup_fraction: float) -> None:
        super().__init__()
        self.name = name
        self.peak_lr = peak_lr
        self.start = start
        self.seconds = max(1e-3, seconds)
        self.warmup_fraction = warmup_fraction

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        fraction = (clock.now() - self.start) / self.seconds
        rate = lr_at(self.name, self.peak_lr, min(fraction, 1.0), self.warmup_fraction)
        self.model.optimizer.learning_rate.assign(float(keras.ops.convert_to_numpy(rate)))


def current_lr(optimizer: Any) -> float:
    """The learning rate the optimizer uses at its current step."""
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError, AttributeError):
        return math.nan
