"""The Export panel: build a TFLite file through the core, show its verification report.

Reports and files live in the run's ``exports/`` folder, so the CLI and the Compare page see
them too. Bundled runs are read-only; their exports go to ``$CNNLIB_RUNS/.exports/<run>/``
(the run store skips dot folders).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app import ui
from cnnlib.io import read_json
from cnnlib.runs import Run

FORMATS = ("float32", "float16", "dynamic", "int8")
FORMAT_LABELS = {
    "float32": "float32 (exact)",
    "float16": "float16 (half size)",
    "dynamic": "dynamic range (int8 weights)",
    "int8": "int8 (full integer, smallest)",
}
#: Verification uses at most this many test images, so a CIFAR-10 export takes seconds.
MAX_TEST_IMAGES = 2000


def export_dir(run: Run) -> Path:
    """Where this run's exports are written."""
    if not run.read_only:
        return run.exports_dir
    return ui.store().root / ".exports" / run.id


def existing_report(run: Run, fmt: str) -> dict[str, Any] | None:
    """The verification report of an earlier export whose file still exists."""
    for folder in (run.exports_dir, export_dir(run)):
        path = folder / f"tflite-{fmt}.json"
        if path.exists():
            try:
                report = read_json(path)
            except (OSError, ValueError):
                continue
            tflite = Path(report.get("path") or folder / f"tflite-{fmt}.tflite")
            if not tflite.is_absolute():
                tflite = folder / tflite.name
            if tflite.exists():
                return {**report, "path": str(tflite)}
    return None


def export(run: Run, fmt: str) -> dict[str, Any]:
    """Convert and verify through ``cnnlib.operations.export_run`` (the CLI's code path)."""
    from cnnlib.operations import export_run

    folder = export_dir(run)
    folder.mkdir(parents=True, exist_ok=True)
    return export_run(str(run.path), f"tflite-{fmt}", out=folder / f"tflite-{fmt}.tflite", max_test=MAX_TEST_IMAGES)


def show_report(report: dict[str, Any]) -> None:
    """Metric cards for one export's verification."""
    cols = st.columns(5)
    cols[0].metric("Size", ui.human_bytes(report.get("bytes")))
    keras_acc, tflite_acc = report.get("keras_accuracy"), report.get("tflite_accuracy")
    delta = None if keras_acc is None or tflite_acc is None else f"{(tflite_acc - keras_acc) * 100:+.2f} pts vs Keras"
    cols[1].metric("TFLite accuracy", "—" if tflite_acc is None else f"{tflite_acc:.2%}", delta)
    cols[2].metric("Agreement with Keras", "—" if report.get("agreement") is None else f"{report['agreement']:.2%}")
    cols[3].metric("TFLite latency", "—" if report.get("tflite_latency_ms") is None else f"{report['tflite_latency_ms']:.2f} ms")
    cols[4].metric("Keras latency", "—" if report.get("keras_latency_ms") is None else f"{report['keras_latency_ms']:.2f} ms")
    n = report.get("test_count")
    st.caption(f"Verified in the TFLite interpreter{f' on {n} test images' if n else ''}; latency is one image, median.")
