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
}


def recipe_flags(arch: str) -> tuple[str, ...]:
    return RECIPES.get(arch, RECIPE_FLAGS)


def recipe_augment(arch: str) -> tuple[str, ...]:
    flags = list(recipe_flags(arch))
    if "--augment" in flags:
        return tuple(flags[flags.index("--augment") + 1].split(","))
    return ()
