"""Install a finished run as the bundled demo: ``python scripts/bundle_demo.py RUN_DIR``.

The run must be completed and hold its two verified exports (``python -m cnnlib export RUN
--format tflite-float32`` and ``--format tflite-int8``). It is copied into ``assets/runs/``
in place of the demo there, without what only training needs: the checkpoint, the TensorBoard
logs, the resume backup, the log and the per-batch progress ticks of ``progress.jsonl`` (the
live progress bar's; the epochs' curves and matrices stay). Each export report names its file
by bare name, so the bundle reads the same from any checkout, and names no zip. The copy is written beside the
old demo and renamed into place, and the old one is renamed aside until then, so an
interrupted run of this script leaves a whole demo behind.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from cnnlib.export import report_filename
from cnnlib.operations import export_report
from cnnlib.runs import BACKUP_DIR, CHECKPOINT_FILE, EXPORTS_DIR, LOG_FILE, PROGRESS_FILE, TENSORBOARD_DIR, Run

ASSETS_RUNS = Path(__file__).resolve().parent.parent / "assets" / "runs"
#: The issue-11 limit on the demo's directory.
MAX_BYTES = 5 * 1024 * 1024
#: The exports the demo ships, verified (README, "The bundled CIFAR-10 demo model").
EXPORTS = ("tflite-float32", "tflite-int8")
#: Left behind: what resuming, TensorBoard or a live page need, none of which a finished demo does.
LEFT_OUT = (CHECKPOINT_FILE, TENSORBOARD_DIR, BACKUP_DIR, LOG_FILE)


def _check(run: Run) -> None:
    if run.status != "completed":
        sys.exit(f"{run.path} did not complete; bundle a completed run")
    missing = [fmt for fmt in EXPORTS if export_report(run, fmt) is None]
    if missing:
        sys.exit(f"{run.path} lacks the export(s) {', '.join(missing)}: run `python -m cnnlib export` first")


def _strip_batch_ticks(progress: Path) -> None:
    lines = progress.read_text().splitlines(keepends=True)
    progress.write_text("".join(line for line in lines if json.loads(line).get("event") != "batch"))


def _bare_export_paths(exports: Path) -> None:
    for fmt in EXPORTS:
        report_path = exports / report_filename(fmt)
        report = json.loads(report_path.read_text())
        report["path"] = Path(report["path"]).name
        report.pop("bundle", None)  # the zip is not shipped; the app finds or rebuilds it
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    for leftover in exports.glob("*.zip"):  # bundles are rebuilt on demand from the .tflite
        leftover.unlink()


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def bundle(run_dir: Path, assets_runs: Path = ASSETS_RUNS) -> Path:
    """Copy the run at ``run_dir`` into ``assets_runs`` as the one bundled demo.

    Args:
        run_dir: A completed run directory with both TFLite exports.
        assets_runs: The bundled-runs folder (the checkout's ``assets/runs``).

    Returns:
        The installed directory.
    """
    run = Run(run_dir)
    _check(run)
    staging = assets_runs / f".incoming-{run_dir.name}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(run_dir, staging, ignore=shutil.ignore_patterns(*LEFT_OUT))
    _strip_batch_ticks(staging / PROGRESS_FILE)
    _bare_export_paths(staging / EXPORTS_DIR)
    size = _size(staging)
    if size > MAX_BYTES:
        shutil.rmtree(staging)
        sys.exit(f"the bundle would take {size:,} bytes, over the {MAX_BYTES:,} allowed")
    old = [path for path in assets_runs.iterdir() if path.is_dir() and not path.name.startswith(".")]
    # Renames, not deletes, until the new demo is in place: the store skips dot folders, and an
    # interruption leaves a whole demo under one name or the other.
    retired = []
    for path in old:
        aside = assets_runs / f".retired-{path.name}"
        shutil.rmtree(aside, ignore_errors=True)
        path.rename(aside)
        retired.append(aside)
    target = assets_runs / run_dir.name
    staging.rename(target)
    for aside in retired:
        shutil.rmtree(aside)
    print(json.dumps({"bundled": str(target), "bytes": size, "replaced": [path.name for path in old]}))
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.splitlines()[0])
    bundle(Path(sys.argv[1]).resolve())
