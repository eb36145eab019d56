"""Shared fixtures: the project root, the shared CIFAR-10 folder, and one trained digits run.

Training a real model takes seconds on ``digits``; the session-scoped run is
shared by the CLI, operations and export tests so the suite stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
CIFAR_DIR = SHARED / "datasets" / "cifar10"


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
