"""Test-time flip augmentation as a training setting (the inference model is tested in test_inference.py)."""

from __future__ import annotations

import pytest

from cnnlib.errors import ConfigError
from cnnlib.training import TrainConfig


def test_train_config_test_views_are_saved_and_old_runs_migrate() -> None:
    assert TrainConfig().test_views == ("identity",)
    config = TrainConfig(test_views=["identity", "mirror"])  # type: ignore[arg-type]
    assert TrainConfig.from_dict(config.to_dict()).test_views == ("identity", "mirror")
    assert TrainConfig.from_dict({"epochs": 2}).test_views == ("identity",)  # runs saved before the field existed
    assert TrainConfig.from_dict({"tta_flip": True}).test_views == ("identity", "mirror")  # the old spelling
    assert TrainConfig.from_dict({"tta_flip": False}).test_views == ("identity",)
    with pytest.raises(ConfigError, match="Received: views=\\['mirror'\\]"):
        TrainConfig(test_views=("mirror",))
    with pytest.raises(ConfigError, match="unknown training setting 'epoch'"):
        TrainConfig.from_dict({"epoch": 2})


def test_budget_recipe_fills_only_missing_flags() -> None:
    from cnnlib.cli import build_parser
    from cnnlib.training.recipes import budget_recipe

    recipe = budget_recipe("cifar_fast")
    assert recipe["test_views"] == ("identity", "mirror") and "flip" in recipe["augment"]
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
    assert (recipe.lr, recipe.augment, recipe.test_views, recipe.label_smoothing) == (3e-3, ("flip", "crop"), ("identity", "mirror"), 0.1)
    assert (overridden.lr, overridden.augment, overridden.test_views, overridden.label_smoothing) == (0.01, (), ("identity",), 0.0)
    assert (plain.lr, plain.augment, plain.test_views, plain.schedule) == (1e-3, (), ("identity",), "constant")
