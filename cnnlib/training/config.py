"""Training hyperparameters as one frozen, validated, JSON-saved dataclass.

The config is saved with every run so ``train --resume`` and anyone reading
the run later see exactly what produced the model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from cnnlib.data.pipeline import AUGMENTATIONS, check_augment  # noqa: F401  (AUGMENTATIONS: re-exported by cnnlib.training)
from cnnlib.errors import ConfigError
from cnnlib.spec import DEFAULT_VIEWS, MIRRORED_VIEWS, check_views
from cnnlib.training.resize_stages import check_stages

OPTIMIZERS = ("adam", "adamw", "sgd", "sgd_airbench")
#: Learning-rate schedules by name; their formulas are in ``cnnlib.training.schedules``.
SCHEDULES = ("constant", "cosine_restarts", "warmup_cosine", "onecycle", "triangle")
PRECISIONS = ("auto", "mixed", "off")
MONITORS = ("val_accuracy", "val_loss")


def _check_range(name: str, value: Any, low: float, high: float, *, integer: bool = False,
                 low_open: bool = False, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{name} must be {kind} in [{low}, {high}]. Received: {name}={value!r}")
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ConfigError(f"{name} must be {kind} in {bracket}{low}, {high}]. Received: {name}={value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Every field is checked on construction.

    Attributes:
        epochs: passes over the training split (an upper bound with a time budget); None
            takes ``recipes.DEFAULT_EPOCHS``, or ``recipes.BUDGET_EPOCHS`` with a time budget.
        batch_size: images per step; None takes the architecture's default.
        optimizer: "adam", "adamw", "sgd" (with Nesterov momentum) or "sgd_airbench" (SGD-Nesterov
            in PyTorch's form with coupled L2 and a learning-rate multiplier per variable group:
            ``cnnlib.training.optimizers``).
        lr: peak learning rate; None takes the optimizer's (``recipes.DEFAULT_LR``).
        weight_decay: decoupled weight decay for AdamW and SGD, the coupled L2 coefficient for
            sgd_airbench (0 disables); None takes the optimizer's (``recipes.DEFAULT_WEIGHT_DECAY``).
        momentum: SGD momentum.
        schedule: "constant", "cosine_restarts", "warmup_cosine", "onecycle" or "triangle"
            (airbench's: 0.2 to 1 of the peak over the first 23%, then down to 0; airbench stops at 0.07).
        warmup_epochs: linear warm-up length for "warmup_cosine".
        label_smoothing: mass moved from the true class to the others (0 to <1).
        augment: augmentation names applied to training batches only.
        early_stopping: patience in epochs on the monitored metric (0 disables).
        reduce_lr_patience: ReduceLROnPlateau patience (constant schedule only; 0 disables).
        monitor: metric that picks the best checkpoint.
        seed: seeds weights, shuffling and augmentation.
        mixed_precision: "auto" (float16 on GPU only), "mixed" or "off".
        xla: compile the train step with XLA (helps on GPU; measured 8x slower on CPU here).
        grad_accum: apply one update per this many micro-batches.
        time_budget_minutes: plan epochs and schedule to finish in this wall-clock time.
        tensorboard: write TensorBoard logs.
        test_views: the views the run's inference model averages (``cnnlib.spec.VIEWS``):
            ``("identity", "mirror")`` answers each image and its mirror, for runs trained
            with the ``flip`` augmentation. Saved into the run's input spec.
        bn_bias_lr_scale: learning-rate multiplier of the BatchNorm biases (airbench: 64);
            sgd_airbench only.
        whiten: architectures with a ``whiten`` stem: fit its kernel to the training images'
            patch covariance and keep it frozen (airbench). False trains the stem like any conv
            from its random start (the baseline of the ablation in docs/BENCHMARKS.md).
        whiten_bias_epochs: epochs the fitted whitening stem's bias trains before it is frozen.
        identity_init: architectures with a ``whiten`` stem: start each block conv's first
            input channels as the identity (Dirac) kernel (airbench); False keeps Keras' init.
        lookahead: every 5 steps, pull the weights to an average of their past values with
            a weight rising as ``0.95**5 * progress**3``, and end on that average (airbench).
        crop_padding: pixels of reflect padding the ``crop`` augmentation shifts by, at most.
        progressive_resize: ``(size, until)`` stages: train at ``size`` px (the input height)
            until that share of the training, then at the model's size (see
            ``cnnlib.training.progressive``); empty trains at full size throughout.
    """

    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str = "adam"
    lr: float | None = None
    weight_decay: float | None = None
    momentum: float = 0.9
    schedule: str = "constant"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    augment: tuple[str, ...] = ()
    early_stopping: int = 0
    reduce_lr_patience: int = 0
    monitor: str = "val_accuracy"
    seed: int = 0
    mixed_precision: str = "auto"
    xla: bool = False
    grad_accum: int = 1
    time_budget_minutes: float | None = None
    tensorboard: bool = True
    test_views: tuple[str, ...] = DEFAULT_VIEWS
    progressive_resize: tuple[tuple[int, float], ...] = ()
    bn_bias_lr_scale: float = 1.0
    whiten: bool = True
    whiten_bias_epochs: int = 3
    identity_init: bool = True
    lookahead: bool = False
    crop_padding: int = 4

    def __post_init__(self) -> None:
        self._fill_defaults()
        _check_range("epochs", self.epochs, 1, 100_000, integer=True)
        _check_range("batch_size", self.batch_size, 1, 65_536, integer=True, allow_none=True)
        _check_range("lr", self.lr, 0.0, 10.0, low_open=True)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("momentum", self.momentum, 0.0, 0.999)
        _check_range("warmup_epochs", self.warmup_epochs, 0.0, 1000.0)
        _check_range("label_smoothing", self.label_smoothing, 0.0, 0.99)
        _check_range("early_stopping", self.early_stopping, 0, 10_000, integer=True)
        _check_range("reduce_lr_patience", self.reduce_lr_patience, 0, 10_000, integer=True)
        _check_range("seed", self.seed, 0, 2**31 - 1, integer=True)
        _check_range("grad_accum", self.grad_accum, 1, 1024, integer=True)
        _check_range("bn_bias_lr_scale", self.bn_bias_lr_scale, 0.0, 1000.0)
        _check_range("whiten_bias_epochs", self.whiten_bias_epochs, 0, 100_000, integer=True)
        _check_range("crop_padding", self.crop_padding, 1, 64, integer=True)
        _check_range("time_budget_minutes", self.time_budget_minutes, 0.0, 10_000.0, low_open=True, allow_none=True)
        for name, value, allowed in (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("schedule", self.schedule, SCHEDULES),
            ("mixed_precision", self.mixed_precision, PRECISIONS),
            ("monitor", self.monitor, MONITORS),
        ):
            if value not in allowed:
                raise ConfigError(f"{name} must be one of: {', '.join(allowed)}. Received: {name}={value!r}")
        if self.bn_bias_lr_scale != 1.0 and self.optimizer != "sgd_airbench":
            raise ConfigError("a separate learning rate for BatchNorm biases needs the sgd_airbench optimizer. "
                              f"Received: optimizer={self.optimizer!r}, bn_bias_lr_scale={self.bn_bias_lr_scale!r}")
        for name in ("xla", "tensorboard", "lookahead", "whiten", "identity_init"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false. Received: {name}={getattr(self, name)!r}")
        object.__setattr__(self, "augment", check_augment(self.augment))
        object.__setattr__(self, "test_views", check_views(self.test_views))
        object.__setattr__(self, "progressive_resize", check_stages(self.progressive_resize))

    def _fill_defaults(self) -> None:
        """Defaults that depend on other fields, from ``recipes`` (their one owner)."""
        from cnnlib.training import recipes

        if self.epochs is None:
            object.__setattr__(self, "epochs", recipes.BUDGET_EPOCHS if self.time_budget_minutes
                               else recipes.DEFAULT_EPOCHS)
        if self.lr is None:
            object.__setattr__(self, "lr", recipes.DEFAULT_LR.get(self.optimizer, recipes.DEFAULT_LR["adam"]))
        if self.weight_decay is None:
            object.__setattr__(self, "weight_decay", recipes.DEFAULT_WEIGHT_DECAY.get(self.optimizer, 0.0))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["augment"] = list(self.augment)
        data["test_views"] = list(self.test_views)
        data["progressive_resize"] = [list(stage) for stage in self.progressive_resize]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        values = dict(data)
        if "tta_flip" in values:  # runs saved before test_views named every view
            flip = values.pop("tta_flip")
            values.setdefault("test_views", MIRRORED_VIEWS if flip else DEFAULT_VIEWS)
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training setting {unknown[0]!r}; expected any of: {', '.join(sorted(known))}")
        for name in ("augment", "test_views"):
            if name in values:
                values[name] = tuple(values[name] or ())
        return cls(**values)
