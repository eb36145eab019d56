"""Test-time flip augmentation as a training setting (the inference model is tested in test_inference.py)."""

from __future__ import annotations

import pytest

from cnnlib.errors import ConfigError
from cnnlib.training import TrainConfig


def test_train_config_tta_flip_is_a_saved_bool() -> None:
    assert TrainConfig().tta_flip is False
    config = TrainConfig(tta_flip=True)
    assert TrainConfig.from_dict(config.to_dict()).tta_flip is True
    assert TrainConfig.from_dict({"epochs": 2}).tta_flip is False  # runs saved before the field existed
    with pytest.raises(ConfigError, match="Received: tta_flip='yes'"):
        TrainConfig(tta_flip="yes")  # type: ignore[arg-type]


def test_budget_recipe_fills_only_missing_flags() -> None:
    from cnnlib.cli import build_parser
    from cnnlib.training.recipes import budget_recipe

    recipe = budget_recipe("cifar_fast")
    assert recipe["tta_flip"] is True and "flip" in recipe["augment"]
    assert budget_recipe("simple_cnn") == {}
    args = build_parser().parse_args(["train", "--arch", "cifar_fast", "--time-budget", "5", "--no-tta-flip"])
    assert args.tta_flip is False and args.augment is None and args.label_smoothing is None


def test_cli_budget_uses_the_recipe_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnlib.training
    from cnnlib import cli

    seen = []

    def fake_train(data_config, model_options, train_config, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(train_config)
        raise KeyboardInterrupt  # stop before any data is loaded

    monkeypatch.setattr(cnnlib.training, "train", fake_train)
    cli.main(["train", "--arch", "cifar_fast", "--time-budget", "5"])
    cli.main(["train", "--arch", "cifar_fast", "--time-budget", "5", "--lr", "0.01", "--augment", "none",
              "--no-tta-flip", "--label-smoothing", "0"])
    cli.main(["train", "--arch", "cifar_fast"])  # no budget: plain defaults
    recipe, overridden, plain = seen
    assert (recipe.lr, recipe.augment, recipe.tta_flip, recipe.label_smoothing) == (3e-3, ("flip", "crop"), True, 0.1)
    assert (overridden.lr, overridden.augment, overridden.tta_flip, overridden.label_smoothing) == (0.01, (), False, 0.0)
    assert (plain.lr, plain.augment, plain.tta_flip, plain.schedule) == (1e-3, (), False, "constant")
