"""SGD with Nesterov momentum and a learning-rate multiplier per group of variables.

Keras 3 gives every variable the same learning rate; airbench (Jordan 2024) trains the
BatchNorm biases at 64x the rate (13.5 epochs from 18 with frozen BN scales and momentum
0.6) and stops training the whitening bias after a few epochs. ``GroupedSGD`` does both
with one scalar multiplier per group, kept as an optimizer variable, so it is saved in the
backup and a resumed run keeps a group that was switched off. It is a training-time object
only: the run's ``model.keras`` carries no optimizer.

The update is PyTorch's SGD, which airbench's hyperparameters are stated in::

    g = gradient + l2 / scale0 * w      # coupled L2, the same decay per step in every group
    buf = momentum * buf + g
    w -= lr * scale * (g + momentum * buf)

A multiplier of 0 leaves the variable exactly where it is.
"""

from __future__ import annotations

from typing import Any

import keras

from cnnlib.models.whitened import STEM_LAYER

#: Variable groups and how a variable's path names its group.
DEFAULT_GROUP = "default"
BN_BIAS_GROUP = "bn_bias"
WHITEN_BIAS_GROUP = "whiten_bias"


def group_of(path: str) -> str:
    """The group of the variable at ``path`` (``"block1_a_bn/beta"`` -> ``"bn_bias"``)."""
    if path.endswith(f"{STEM_LAYER}/bias"):
        return WHITEN_BIAS_GROUP
    if path.endswith("/beta"):
        return BN_BIAS_GROUP
    return DEFAULT_GROUP


class GroupedSGD(keras.optimizers.Optimizer):
    """SGD-Nesterov (PyTorch form) with coupled L2 and a learning-rate multiplier per group.

    Args:
        learning_rate: The base rate (a float or a schedule).
        momentum: Nesterov momentum.
        l2: L2 coefficient added to the gradient of the default group; a group with
            multiplier ``s`` gets ``l2 / s``, so every group decays alike per step.
        group_scales: Multiplier per group name (``group_of``); groups not named get 1.
        **kwargs: Passed to ``keras.optimizers.Optimizer`` (``name``, ``gradient_accumulation_steps``).
    """

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.9, l2: float = 0.0,
                 group_scales: dict[str, float] | None = None, name: str = "grouped_sgd", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = float(momentum)
        self.l2 = float(l2)
        self.group_scales = {str(group): float(scale) for group, scale in (group_scales or {}).items()}

    def build(self, variables: list[Any]) -> None:
        if self.built:
            return
        super().build(variables)
        self.momentums = [self.add_variable_from_reference(variable, "momentum") for variable in variables]
        self._groups = [group_of(variable.path) for variable in variables]
        self._scales = {
            group: self.add_variable(shape=(), initializer=keras.initializers.Constant(self.group_scales.get(group, 1.0)),
                                     name=f"{group}_lr_scale")
            for group in sorted(set(self._groups))
        }

    def scale(self, group: str) -> Any:
        """The multiplier variable of ``group`` (None if no variable is in it); assign to change it."""
        return self._scales.get(group)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        ops = keras.ops
        index = self._get_variable_index(variable)
        group = self._groups[index]
        lr = ops.cast(learning_rate, variable.dtype) * ops.cast(self._scales[group], variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2:
            gradient = ops.add(gradient, ops.multiply(variable, self.l2 / (self.group_scales.get(group, 1.0) or 1.0)))
        buffer = self.momentums[index]
        self.assign(buffer, ops.add(ops.multiply(buffer, self.momentum), gradient))
        step = ops.multiply(lr, ops.add(gradient, ops.multiply(buffer, self.momentum)))
        # A switched-off group stays put even if its buffer overflowed (0 * inf is NaN).
        self.assign_sub(variable, ops.where(ops.equal(lr, 0.0), ops.zeros_like(step), step))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"momentum": self.momentum, "l2": self.l2, "group_scales": dict(self.group_scales)})
        return config


class GroupOffAfter(keras.callbacks.Callback):
    """Sets a ``GroupedSGD`` group's multiplier to 0 from epoch ``epochs`` on (whitening bias: 3).

    Args:
        group: The group name (``WHITEN_BIAS_GROUP``).
        epochs: Epochs the group trains before it is frozen.
    """

    def __init__(self, group: str, epochs: int) -> None:
        super().__init__()
        self.group = group
        self.epochs = int(epochs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        scale = optimizer.scale(self.group) if isinstance(optimizer, GroupedSGD) and optimizer.built else None
        if epoch >= self.epochs and scale is not None:
            scale.assign(0.0)
