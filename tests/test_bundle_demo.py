"""scripts/bundle_demo.py: a finished run becomes the one bundled demo, trimmed and whole."""

from __future__ import annotations

import json
import runpy
from collections.abc import Callable
from pathlib import Path

import pytest

from cnnlib.runs import RunStore

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bundle_demo.py"


def _finished_run(store_root: Path, run_id: str) -> Path:
    """A completed run with both export reports, a checkpoint and batch ticks, as training leaves one."""
    run = RunStore(store_root, include_bundled=False).new_run_dir(None, "arch", run_id=run_id)
    run.update_info(status="completed", created="2026-01-01T00:00:00")
    (run.path / "checkpoint.keras").write_bytes(b"x" * 1000)
    (run.path / "tensorboard").mkdir()
    (run.path / "tensorboard" / "events").write_bytes(b"y")
    events = [{"event": "start"}, {"event": "batch", "batch": 1}, {"event": "epoch", "epoch": 1}, {"event": "end"}]
    (run.path / "progress.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    exports = run.path / "exports"
    exports.mkdir()
    for fmt in ("tflite-float32", "tflite-int8"):
        (exports / f"{fmt}.tflite").write_bytes(b"model")
        (exports / f"{fmt}.zip").write_bytes(b"zip")
        report = {"path": str(exports / f"{fmt}.tflite"), "agreement": 1.0, "bundle": str(exports / f"{fmt}.zip")}
        (exports / f"{fmt}.json").write_text(json.dumps(report))
    return run.path


@pytest.fixture
def demo_folder(tmp_path: Path) -> tuple[Callable[..., Path], Path]:
    """The script's ``bundle`` and a bundled-runs folder that already holds a demo, ``old-demo``."""
    bundle = runpy.run_path(str(SCRIPT))["bundle"]
    assets = tmp_path / "assets-runs"
    assets.mkdir()
    bundle(_finished_run(tmp_path / "store", "old-demo"), assets)
    return bundle, assets


def test_a_finished_run_replaces_the_demo_without_what_only_training_needs(
        tmp_path: Path, demo_folder: tuple[Callable[..., Path], Path]) -> None:
    bundle, assets = demo_folder
    new = _finished_run(tmp_path / "store", "new-demo")
    installed = bundle(new, assets)
    assert sorted(path.name for path in assets.iterdir()) == ["new-demo"]  # the old demo and the staging are gone
    assert not (installed / "checkpoint.keras").exists() and not (installed / "tensorboard").exists()
    events = [json.loads(line)["event"] for line in (installed / "progress.jsonl").read_text().splitlines()]
    assert events == ["start", "epoch", "end"]
    report = json.loads((installed / "exports" / "tflite-int8.json").read_text())
    assert report["path"] == "tflite-int8.tflite" and "bundle" not in report
    assert not list((installed / "exports").glob("*.zip"))
    assert (new / "checkpoint.keras").exists()  # the source run is left as it was
    assert [info["id"] for info in RunStore(assets, include_bundled=False).list()] == ["new-demo"]


def test_a_run_without_its_exports_is_refused_and_nothing_changes(
        tmp_path: Path, demo_folder: tuple[Callable[..., Path], Path]) -> None:
    bundle, assets = demo_folder
    bare = _finished_run(tmp_path / "store", "no-exports")
    for report in (bare / "exports").glob("*.json"):
        report.unlink()
    with pytest.raises(SystemExit, match="cnnlib export"):
        bundle(bare, assets)
    assert sorted(path.name for path in assets.iterdir()) == ["old-demo"]
