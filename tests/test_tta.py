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
