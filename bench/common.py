"""What every benchmark shares: machine record, JSON lines, the BENCHMARKS.md section, timing.

Ratios are measured by ``alternate``: both sides in the same process, interleaved
(A, B, A, B, ...), so a change in the machine's load hits both sides alike; the
report is the median over repeats and the spread (min..max) of the per-repeat ratios.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO / "docs" / "BENCHMARKS.md"
CIFAR10_DIR = REPO.parent / "shared" / "datasets" / "cifar10"
FP32_PEAK_FLOPS = 166e9
"""fp32 peak of 2 Zen 4 cores: 2 FMA pipes x 8 fp32 lanes (256-bit; Zen 4 runs AVX-512 as two halves)
x 2 flops x ~2.6 GHz x 2 cores. The VM exposes only AVX2, which reaches the same peak."""


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform) for the record."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: The CPU features that matter for the numbers here (AVX-512, bf16, VNNI), in report order.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16")


def cpu_flags() -> list[str]:
    """The ``REPORTED_FLAGS`` this CPU has (read by ``cnnlib.training.device``, their one reader)."""
    from cnnlib.training.device import cpu_flags as all_flags

    have = all_flags()
    return [flag for flag in REPORTED_FLAGS if flag in have]


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a number depends on (only those already importable)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy", "pillow", "ai-edge-litert", "tf-keras-vis", "streamlit", "playwright"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


_json_out: Any = None


def keep_stdout_for_json() -> None:
    """Send everything else printed to fd 1 (Keras progress bars, the TFLite converter's C++
    logging) to stderr, so stdout carries the JSON lines alone."""
    global _json_out
    if _json_out is not None:
        return
    sys.stdout.flush()
    _json_out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)


def emit(record: dict[str, Any]) -> dict[str, Any]:
    """Print one JSON line (the benchmark's machine-readable output)."""
    out = _json_out or sys.stdout
    out.write(json.dumps(record, default=_json_default) + "\n")
    out.flush()
    return record


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def log(message: str) -> None:
    """Progress for the human watching (stderr, so stdout stays JSON lines)."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def summarize(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median and spread of repeated measurements."""
    values = [float(value) for value in values]
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def median_ms(call: Callable[[], Any], runs: int = 200, warmup: int = 10) -> dict[str, Any]:
    """Median (and p10/p90) wall time of ``call`` in milliseconds after ``warmup`` calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 4),
        "p10_ms": round(times[int(0.1 * (len(times) - 1))], 4),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 4),
        "runs": runs,
    }


def alternate(sides: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run each side's measurement in turn, ``repeats`` rounds, alternating the order.

    The order flips every round (A B, B A, ...) so neither side always runs warm.
    """
    names = list(sides)
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            results[name].append(float(sides[name]()))
    return results


def ratio_summary(numerator: list[float], denominator: list[float]) -> dict[str, Any]:
    """Per-round ratios (same round, same load) summarized."""
    return summarize([a / b for a, b in zip(numerator, denominator, strict=True)])


@dataclass
class Section:
    """One benchmark run: collects records and writes them to BENCHMARKS.md."""

    name: str
    title: str
    goal: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: _dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    load_before: list[float] = field(default_factory=load_average)
    start_time: float = field(default_factory=time.time)

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {"bench": self.name, **record}
        self.records.append(record)
        return emit(record)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def write(self, table: list[str] | None = None, command: str | None = None, path: Path | None = None) -> None:
        """Append this run as a dated section: command, machine, versions, table, JSON lines."""
        path = path or BENCHMARKS_MD
        load_after = load_average()
        command = command or "python -m bench " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
        lines = [
            f"\n## {self.title} — {self.started}\n",
            f"- Command: `{command}`",
            f"- Machine: {cpu_model()}, {os.cpu_count()} cores, flags {', '.join(cpu_flags()) or '?'}; "
            f"load average (1/5/15 min) before {self.load_before}, after {load_after}",
            "- Versions: " + ", ".join(f"{key} {value}" for key, value in library_versions().items()),
            f"- TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')} in the benchmark process "
            "(TensorFlow reads it once, at import; `python -m cnnlib train` turns it on in its own process)",
            f"- Duration: {time.time() - self.start_time:.0f} s",
        ]
        if self.goal:
            lines.append(f"- Goal: {self.goal}")
        lines += [f"- Note: {text}" for text in self.notes]
        if table:
            lines += [""] + table
        lines += ["", "<details><summary>JSON lines</summary>", "", "```json"]
        lines += [json.dumps(record, default=_json_default) for record in self.records]
        lines += ["```", "", "</details>", ""]
        if not path.exists():
            path.write_text(
                "# Benchmarks\n\nAppended by `python -m bench`; newest sections last. "
                "See `bench/README` in `python -m bench list`.\n"
            )
        with path.open("a") as handle:
            handle.write("\n".join(lines) + "\n")
        log(f"appended {self.title!r} to {path}")


def named_or_bundled_run(run_ref: str | None, runs_dir: str | None) -> Any:
    """The run a benchmark measures: ``--run`` in ``--runs`` (or the default store), else the bundled one."""
    from cnnlib.runs import RunStore

    store = RunStore(runs_dir)
    if run_ref:
        return store.get(run_ref)
    bundled = [info["id"] for info in store.list() if info.get("bundled")]
    if not bundled:
        raise SystemExit("no bundled run found; pass --run RUN")
    return store.get(bundled[0])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    return lines


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
