"""The training recipe each architecture is benchmarked with.

These are the flags ``bench accuracy`` passes to ``python -m cnnlib train`` and the
augmentation ``bench pipeline`` feeds each model, so the two always agree.
``cifar_fast``'s recipe is also what the CLI uses by default with ``--time-budget``
(see ``cnnlib.training.recipes``), repeated here explicitly so the command in
BENCHMARKS.md is the whole story.
"""

from __future__ import annotations

# The tutorial's networks get the same honest modern defaults a user gets from the CLI
# with --time-budget (one-cycle Adam), plus flip+crop: without augmentation they overfit
# within minutes and the comparison would be unfair to them.
BASELINE_FLAGS: tuple[str, ...] = ("--augment", "flip,crop", "--label-smoothing", "0.1")

RECIPES: dict[str, tuple[str, ...]] = {
    "simple_cnn": BASELINE_FLAGS,
    "dwsep_cnn": BASELINE_FLAGS,
    "resnet_small": BASELINE_FLAGS,
    "inception_small": BASELINE_FLAGS,
    "mobilenet_v2": BASELINE_FLAGS,
    "cifar_fast": ("--augment", "flip,crop", "--label-smoothing", "0.1"),
}


def recipe_flags(arch: str) -> tuple[str, ...]:
    return RECIPES.get(arch, BASELINE_FLAGS)


def recipe_augment(arch: str) -> tuple[str, ...]:
    flags = list(recipe_flags(arch))
    if "--augment" in flags:
        return tuple(flags[flags.index("--augment") + 1].split(","))
    return ()
