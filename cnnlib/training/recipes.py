"""Recommended training recipes for a wall-clock budget, per architecture.

``python -m cnnlib train --arch cifar_fast --time-budget 15`` fills every setting the user
did not give from ``BUDGET_RECIPES`` (measured in docs/BENCHMARKS.md, "recipe levers").
Settings the user gave always win (``resolve_train_settings``), in the CLI, the app and Python alike.
"""

from __future__ import annotations

from typing import Any

from cnnlib.spec import MIRRORED_VIEWS, SHIFTED_VIEWS

BUDGET_RECIPES: dict[str, dict[str, Any]] = {
    # Why each field: flip+crop is what a 234k-param net needs to pass 85% without
    # overfitting in 10-40 epochs; label smoothing 0.1 and one-cycle are the standard
    # fast-schedule recipe (Page 2018, airbench); test-time flip adds accuracy for 2x
    # the (cheap) inference cost of a 54 MFLOP model. Adam at a 3e-3 one-cycle peak beat
    # 1e-3 and SGD-Nesterov 0.1 in equal short budgets (BENCHMARKS.md, "recipe levers").
    "cifar_fast": {
        "lr": 3e-3,
        "augment": ("flip", "crop"),
        "label_smoothing": 0.1,
        "test_views": MIRRORED_VIEWS,
        "schedule": "onecycle",
    },
}


#: airbench94's recipe (Jordan 2024) in Keras terms. Its hyperparameters are per 1024
#: images with a summed loss: lr 11.5 / (1 + 1 / (1 - 0.85)) = 1.5 for a mean loss at batch
#: 1024, and weight decay 0.0153 per 1024 images, decoupled from the rate, is a coupled L2
#: of 0.0153 / 11.5 on the gradient (``cnnlib.training.optimizers``).
AIRBENCH_L2 = 0.0153 / 11.5
AIRBENCH_RECIPE: dict[str, Any] = {
    "optimizer": "sgd_airbench",
    "batch_size": 1024,
    "lr": 1.5,
    "momentum": 0.85,
    "weight_decay": AIRBENCH_L2,
    "bn_bias_lr_scale": 64.0,
    "label_smoothing": 0.2,
    "schedule": "triangle",
    "augment": ("alternating_flip", "crop"),
    "crop_padding": 2,
    "lookahead": True,
    "whiten_bias_epochs": 3,
    "test_views": SHIFTED_VIEWS,
}
BUDGET_RECIPES["airbench_small"] = dict(AIRBENCH_RECIPE)
BUDGET_RECIPES["airbench"] = dict(AIRBENCH_RECIPE)


def budget_recipe(arch: str) -> dict[str, Any]:
    """The recommended ``TrainConfig`` fields for ``arch`` under a time budget ({} if none).

    ``lr`` is the peak of the recipe's optimizer (Adam unless it names one); a request with
    another optimizer keeps none of the recipe's optimizer settings.
    """
    return dict(BUDGET_RECIPES.get(arch, {}))


#: The data a command-line request without ``--data`` trains on (offline, seconds to train).
DEFAULT_SOURCE = "digits"
#: The architecture a request without one trains (measured on digits: see the README, "train").
DEFAULT_ARCH = "cifar_fast"
#: The architecture a request with a time budget and without one trains: the most accurate
#: per minute at <= 300k parameters (docs/BENCHMARKS.md, "tiers").
BUDGET_ARCH = "airbench_small"

#: Learning rate by optimizer when the user gives none (SGD-Nesterov needs a larger step).
DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.05, "sgd_airbench": 1.5}
#: Weight decay by optimizer when the user gives none (Adam has none; sgd_airbench's is a coupled L2).
DEFAULT_WEIGHT_DECAY = {"adam": 0.0, "adamw": 1e-4, "sgd": 5e-4, "sgd_airbench": AIRBENCH_L2}
#: Epochs when the user gives none and no time budget.
DEFAULT_EPOCHS = 10
#: With a time budget and no epoch count, the budget, not the epochs, ends training.
BUDGET_EPOCHS = 100_000
#: Under a time budget the schedule anneals to the deadline unless the user picks one.
BUDGET_SCHEDULE = "onecycle"


#: Recipes for the embedded data when no time budget is set: what the default request trains.
#: digits has 1,439 training images, so the architecture's batch of 256 made 6 updates an
#: epoch and the weights' seed decided the result (test 0.9609-0.9944 over seeds 0-2 at
#: batch 256, 10 epochs, constant 1e-3). Batch 32, 20 epochs of one-cycle at 3e-3 and the
#: checkpoint of lowest validation loss (179 validation images tie at 99-100% accuracy,
#: and the first tie was an undertrained epoch) gave 0.9777-0.9832 on seeds 0-3; label
#: smoothing 0.1 on top gave 0.9832-0.9888 on seeds 0-5 (README, "train").
SOURCE_RECIPES: dict[str, dict[str, Any]] = {
    "digits": {"batch_size": 32, "epochs": 20, "schedule": "onecycle", "lr": 3e-3, "monitor": "val_loss",
               "label_smoothing": 0.1},
}


#: Recipes of an architecture whatever the data, without a time budget. ``from_run`` trains
#: one Dense layer on frozen features, usually on a few dozen of the user's photos: a few
#: updates an epoch, so many short epochs at a high rate, mirrored photos, and the checkpoint
#: of lowest validation loss (see the README, "Your own photos").
ARCH_RECIPES: dict[str, dict[str, Any]] = {
    "from_run": {"batch_size": 16, "epochs": 40, "schedule": "onecycle", "lr": 1e-2, "monitor": "val_loss",
                 "label_smoothing": 0.1, "augment": ("flip",)},
}
# The airbench architectures train with their recipe whether or not a time budget is set.
ARCH_RECIPES["airbench_small"] = dict(AIRBENCH_RECIPE)
ARCH_RECIPES["airbench"] = dict(AIRBENCH_RECIPE)


def default_base_run() -> str:
    """The run ``from_run`` starts from when none is named: the bundled demo.

    Raises:
        ConfigError: No bundled run with a model is installed.
    """
    from cnnlib.errors import ConfigError
    from cnnlib.runs import RunStore

    bundled = [info["id"] for info in RunStore().list() if info.get("bundled") and info.get("has_model")]
    if not bundled:
        raise ConfigError("from_run starts from a trained run, and no bundled demo run is here; "
                          "choose the run to start from")
    return str(bundled[0])


def _recipe(values: dict[str, Any], arch: str, source: str | None) -> dict[str, Any]:
    if values.get("time_budget_minutes"):
        recipe = budget_recipe(arch)
        recipe.setdefault("schedule", BUDGET_SCHEDULE)
    else:
        recipe = {**SOURCE_RECIPES.get(str(source), {}), **ARCH_RECIPES.get(arch, {})}
    if values.get("optimizer", recipe.get("optimizer", "adam")) != recipe.get("optimizer", "adam"):
        # Another optimizer than the recipe's: its rate, decay and group settings do not carry over.
        for key in ("optimizer", "lr", "weight_decay", "momentum", "bn_bias_lr_scale"):
            recipe.pop(key, None)
    return recipe


def resolve_train_settings(given: dict[str, Any], arch: str, source: str | None = None) -> dict[str, Any]:
    """Fill the ``TrainConfig`` fields the user did not set, from what they did set.

    A time budget fills the architecture's recipe (``BUDGET_RECIPES``) and a schedule;
    without one, the embedded data's recipe (``SOURCE_RECIPES``) applies. ``TrainConfig``
    itself fills the optimizer's learning rate and weight decay and the epoch count from
    the tables here. Fields the user set always win.

    Args:
        given: Only the ``TrainConfig`` fields the user chose (None counts as not chosen).
        arch: The architecture name (budget recipes are per architecture).
        source: The data source (the embedded data has its own recipe).

    Returns:
        ``TrainConfig`` keyword arguments.
    """
    values = {key: value for key, value in given.items() if value is not None}
    return {**_recipe(values, arch, source), **values}
