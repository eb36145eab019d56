"""Recommended training recipes for a wall-clock budget, per architecture.

``python -m cnnlib train --arch cifar_fast --time-budget 15`` fills every flag the user
did not give from ``BUDGET_RECIPES`` (measured in docs/BENCHMARKS.md, "recipe levers").
Flags given on the command line always win.
"""

from __future__ import annotations

from typing import Any

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
        "test_views": ("identity", "mirror"),
        "schedule": "onecycle",
    },
}


def budget_recipe(arch: str) -> dict[str, Any]:
    """The recommended ``TrainConfig`` fields for ``arch`` under a time budget ({} if none).

    ``lr`` is Adam's peak; the CLI applies it only with ``--optimizer adam`` (the default).
    """
    return dict(BUDGET_RECIPES.get(arch, {}))
