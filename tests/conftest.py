"""Shared fixtures: the project root, the shared CIFAR-10 folder, and one trained digits run.

Training a real model takes seconds on ``digits``; the session-scoped run is trained once
and shared by the CLI, operations, training and app tests (tests/studio copies it).

Tiers: ``-m "not slow"`` is the fast tier. A test is slow when it trains for real, starts a
fresh TensorFlow interpreter or drives the browser; every test that uses the trained run is
marked here, so nobody has to remember to.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
CIFAR_DIR = SHARED / "datasets" / "cifar10"


# Fixtures that stand for a real training run (directly or through tests/studio's copies).
_TRAINED_RUN_FIXTURES = frozenset({"trained_run_store", "trained_runs"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--extended", action="store_true",
                     help="also run the tests marked `extended` (repeats of a contract over more architectures)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs the trained run, or drives the browser, as ``slow``; skip the
    ``extended`` tier unless ``--extended`` is given (CI's 20 minutes cannot hold it)."""
    extended = config.getoption("--extended")
    for item in items:
        uses_training = _TRAINED_RUN_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses_training or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("extended") and not extended:
            item.add_marker(pytest.mark.skip(reason="extended tier: run with ./test.sh --extended"))


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    if not (CIFAR_DIR / "test").is_dir():
        pytest.skip(f"CIFAR-10 folder not found at {CIFAR_DIR} (../shared beside the checkout)")
    return CIFAR_DIR


@pytest.fixture(scope="session")
def trained_run_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run store holding one completed digits run (dwsep_cnn, 8 epochs)."""
    from cnnlib.data import DataConfig
    from cnnlib.training import TrainConfig, train

    root = tmp_path_factory.mktemp("runs")
    result = train(DataConfig(source="digits"), {"arch": "dwsep_cnn"}, TrainConfig(epochs=8, tensorboard=False),
                   runs_dir=root, name="fixture")
    assert result.status == "completed", result
    return root / result.run_id
