"""Fixtures for the app tests: an isolated run store holding two copies of the suite's one
trained digits run.

The run is trained for real through the core, once per session (``trained_run_store`` in
tests/conftest.py), so the pages are tested against a genuine run directory, not a mock.
Each module gets its own copies because the pages write into a run (exports, caches).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


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


def _copy_run(source: Path, store: Path, name: str) -> Path:
    """A copy of ``source`` in ``store`` under its own id and name, as a second training would leave."""
    from cnnlib.runs import Run

    target = store / name
    shutil.copytree(source, target)
    Run(target).update_info(id=name, name=name)
    return target


@pytest.fixture(scope="module")
def trained_runs(app_env: dict[str, str], trained_run_store: Path) -> list[Path]:
    """Two completed digits runs in the test run store: copies of the session's one trained run.

    Compare needs two runs; two copies of one model are enough for its pages to render
    (their paired test and disagreement list are simply empty).
    """
    store = Path(app_env["CNNLIB_RUNS"])
    return [_copy_run(trained_run_store, store, "digits-a"), _copy_run(trained_run_store, store, "digits-b")]
