"""Fixtures for the app tests: an isolated run store with two small trained digits runs.

Runs are trained for real through the core (digits trains in seconds), so the pages are
tested against genuine run directories, not mocks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT))  # `app` and `cnnlib` import from the checkout


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment shared by AppTest (this process) and the browser tests' server.

    Module-scoped so the variables are restored before the core's tests run in the same
    session (they must not see this store or the empty bundled-runs folder).
    """
    base = tmp_path_factory.mktemp("app")
    env = {
        "CNNLIB_RUNS": str(base / "runs"),
        "CNNLIB_BUNDLED_RUNS": str(base / "bundled"),
        "CNNLIB_CACHE": str(base / "cache"),
        "CNNLIB_DATA_ROOTS": str(base / "data"),
    }
    for key in ("CNNLIB_RUNS", "CNNLIB_BUNDLED_RUNS", "CNNLIB_DATA_ROOTS"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _train(name: str, arch: str, epochs: int, seed: int) -> Path:
    from cnnlib.data import DataConfig
    from cnnlib.training.config import TrainConfig
    from cnnlib.training.trainer import train

    result = train(DataConfig(source="digits"), {"arch": arch}, TrainConfig(epochs=epochs, seed=seed, tensorboard=False), name=name)
    assert result.status == "completed", result.error
    return Path(result.run_dir)


@pytest.fixture(scope="module")
def trained_runs(app_env: dict[str, str]) -> list[Path]:
    """Two completed digits runs (different seeds) in the test run store."""
    return [_train("digits-a", "cifar_fast", 3, 0), _train("digits-b", "cifar_fast", 2, 1)]


