"""The Export panel: build a TFLite file and its bundle through the core, show its verification report.

Files and reports go where the core puts them (``cnnlib.operations.export_dir``): the run's
``exports/`` folder, or for a read-only bundled run a folder in the writable run store. The
CLI and the Compare page see them too.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import ui
from cnnlib.export import TFLITE_FORMATS
from cnnlib.runs import Run

#: The TFLite formats offered on the page: the core's list, in its order.
FORMATS = TFLITE_FORMATS
#: How the page words each format.
FORMAT_LABELS = dict(
    zip(FORMATS, ("float32 (exact)", "float16 (half size)", "dynamic range (int8 weights)",
                  "int8 (full integer, smallest)"), strict=True)
)
#: Verification uses at most this many test images, so a CIFAR-10 export takes seconds.
MAX_TEST_IMAGES = 2000


def short_name(fmt: str) -> str:
    """``tflite-int8`` -> ``int8``, for buttons and file names."""
    return fmt.removeprefix("tflite-")


def existing_report(run: Run, fmt: str) -> dict[str, Any] | None:
    """The verification report of an earlier export whose file still exists."""
    from cnnlib.operations import export_report

    return export_report(run, fmt)


def export(run: Run, fmt: str) -> dict[str, Any]:
    """Convert and verify through ``cnnlib.operations.export_run`` (the CLI's code path)."""
    from cnnlib.operations import export_run

    return export_run(str(run.path), fmt, max_test=MAX_TEST_IMAGES)


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
