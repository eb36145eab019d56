"""The training recipe each architecture is benchmarked with.

These are the flags ``bench accuracy`` passes to ``python -m cnnlib train`` and the
augmentation ``bench pipeline`` feeds each model, so the two always agree.
``RECIPES`` overrides it per architecture (empty: all share ``RECIPE_FLAGS``).
"""

from __future__ import annotations

# One recipe for every architecture, so the accuracy-per-budget table compares
# architectures, not recipes: cifar_fast's recommended budget recipe (the CLI's default for
# cifar_fast with --time-budget, cnnlib/training/recipes.py), spelled out so the command in
# BENCHMARKS.md is complete. Without flip+crop the tutorial's networks overfit within
# minutes, which would make the comparison unfair to them.
RECIPE_FLAGS: tuple[str, ...] = ("--augment", "flip,crop", "--label-smoothing", "0.1", "--tta-flip")

RECIPES: dict[str, tuple[str, ...]] = {
    # Adam's one-cycle peak: 3e-3 for the BatchNorm ResNet; the tutorial's nets keep the
    # CLI's (and the tutorial's) 1e-3, which simple_cnn (no BatchNorm) needs.
    "cifar_fast": (*RECIPE_FLAGS, "--lr", "3e-3"),
    # The airbench layouts are benchmarked with their own recipe, which a time budget fills
    # in (cnnlib.training.recipes.AIRBENCH_RECIPE): cifar_fast's flags would replace its
    # alternating flip, 2-px crop, label smoothing and six views.
    "airbench_small": (),
    "airbench": (),
}


def recipe_flags(arch: str) -> tuple[str, ...]:
    return RECIPES.get(arch, RECIPE_FLAGS)


def recipe_augment(arch: str) -> tuple[tuple[str, ...], int]:
    """The augmentation and crop padding ``arch`` trains with in the benchmarks.

    Flags in ``recipe_flags`` win; without them, the architecture's budget recipe (what the
    CLI fills in under ``--time-budget``); then the pipeline's defaults.
    """
    from cnnlib.data.pipeline import CROP_PADDING
    from cnnlib.training.recipes import budget_recipe

    flags = list(recipe_flags(arch))
    recipe = budget_recipe(arch)
    augment = tuple(recipe.get("augment", ()))
    padding = int(recipe.get("crop_padding", CROP_PADDING))
    if "--augment" in flags:
        augment = tuple(flags[flags.index("--augment") + 1].split(","))
    if "--crop-padding" in flags:
        padding = int(flags[flags.index("--crop-padding") + 1])
    return augment, padding
