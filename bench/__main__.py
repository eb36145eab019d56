"""``python -m bench <name> [options]`` runs one benchmark; ``python -m bench all`` runs them all.

``accuracy`` is long (it trains for each budget) and only runs when named.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bench import common

BENCHMARKS: dict[str, tuple[str, str]] = {
    # name: (module:function, one-line description)
    "pipeline": (
        "bench.throughput:run_pipeline",
        "JPEG-folder pipeline img/s / cached-batch img/s per arch (goal >= 0.95)",
    ),
    "efficiency": (
        "bench.throughput:run_efficiency",
        "training FLOP/s / 166 GFLOP/s fp32 peak, float32 and mixed_bfloat16",
    ),
    "shapes": (
        "bench.throughput:run_shapes",
        "training img/s per input size and batch size (progressive resizing, batch choice)",
    ),
    "loading": ("bench.loading:run_loading", "seconds to scan + decode the 60k CIFAR-10 folder (goal <= 6 s)"),
    "latency": ("bench.latency:run_latency", "classify/explain latency on the app's path, median of 200"),
    "app": ("bench.appstart:run_app", "streamlit run -> interactive home page; upload -> prediction (Chromium)"),
    "export": ("bench.export:run_export", "TFLite formats: convert time, size, accuracy, agreement, latency"),
    "int8": ("bench.int8:run_int8", "int8 per architecture on digits (or --run): float layers vs every op in int8"),
    "onednn": ("bench.onednn:run_onednn", "TF_ENABLE_ONEDNN_OPTS=1 vs 0: training img/s, fresh process per side"),
    "ood": ("bench.ood:run_ood", "none of my classes: AUROC per familiarity score, test split vs sets of no class"),
    "views": ("bench.views:run_views", "one run's test accuracy per test-time view set, from the same weights"),
    "faithfulness": ("bench.faithfulness:run_faithfulness", "explanations: mean deletion score per method, test images"),
    "audit": ("bench.audit:run_audit", "data audit: planted-fixture recall/precision per kind; CIFAR-10 leakage share"),
    "quick": ("bench.quick:run_quick", "few photos per class: from_run (frozen base + new head) vs from scratch (long)"),
    "accuracy": ("bench.accuracy:run_accuracy", "CIFAR-10 test accuracy per wall-clock budget via the CLI (long)"),
}
IN_ALL = ("loading", "pipeline", "efficiency", "shapes", "onednn", "latency", "export", "ood", "app")
TRAINING_BENCHMARKS = ("pipeline", "efficiency", "shapes")
"""Measured with oneDNN on, as ``python -m cnnlib train`` trains (1.3-1.5x faster here).

The others keep TensorFlow's default kernels, as the app serves: for one-image inference
oneDNN was slower here (Keras path 4.9 ms vs 2.3 ms). TensorFlow reads the variable once,
at import, which is why ``all`` runs each benchmark in its own process.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=[*BENCHMARKS, "all", "list"])
    parser.add_argument(
        "--archs",
        help="comma-separated architectures (default: all registered; accuracy: cifar_fast,simple_cnn,dwsep_cnn)",
    )
    parser.add_argument("--budgets", default="5,15,60", help="accuracy: minutes, comma-separated")
    parser.add_argument("--sizes", default="32,24,16", help="shapes: input sizes in px, comma-separated")
    parser.add_argument("--batches", default="128,256,512", help="shapes: batch sizes, comma-separated")
    parser.add_argument("--extra", help="accuracy: extra flags for every train command (quoted string)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating rounds / repeats")
    parser.add_argument("--steps", type=int, default=20, help="training steps per throughput measurement")
    parser.add_argument("--batch-size", type=int, default=None, help="onednn: batch (default: the arch's)")
    parser.add_argument("--max-per-class", type=int, default=None, help="pipeline: subsample the training split")
    parser.add_argument("--precisions", default="float32,mixed_bfloat16", help="efficiency/onednn: policies")
    parser.add_argument("--bf16-archs", default="simple_cnn,cifar_fast", help="efficiency: archs also run in bfloat16")
    parser.add_argument("--run", help="latency/export/int8/app/ood: the trained run to measure (ood: default the bundled run)")
    parser.add_argument("--runs", help="run store (default $CNNLIB_RUNS or ./runs)")
    parser.add_argument("--runs-count", type=int, default=200, help="latency: timed calls per path")
    parser.add_argument("--scorecam-runs", type=int, default=20, help="latency: timed Score-CAM calls")
    parser.add_argument("--max-test", type=int, default=None, help="export/int8: verify on at most this many test images")
    parser.add_argument("--count", type=int, default=None, help="faithfulness: test images (default 200)")
    parser.add_argument("--no-write", action="store_true", help="print JSON lines only; leave BENCHMARKS.md alone")
    return parser


def _resolve(target: str) -> Callable[[Any], Any]:
    import importlib

    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


DEFAULT_REPEATS = {"loading": 3, "pipeline": 5, "efficiency": 3, "onednn": 3, "app": 4}


def main(argv: Sequence[str] | None = None) -> int:
    common.quiet_tensorflow()
    args = build_parser().parse_args(argv)
    if args.name == "list":
        for name, (_, description) in BENCHMARKS.items():
            sys.stdout.write(json.dumps({"name": name, "description": description, "in_all": name in IN_ALL}) + "\n")
        return 0
    common.keep_stdout_for_json()
    if args.no_write:
        common.Section.write = lambda self, *a, **k: None  # type: ignore[method-assign]
    args.precisions = tuple(args.precisions.split(","))
    DEFAULT_PRECISIONS = tuple(build_parser().get_default("precisions").split(","))  # noqa: N806
    if args.name == "accuracy" and not args.archs:
        args.archs = "cifar_fast,simple_cnn,dwsep_cnn"
    if args.name == "all":
        return _run_each_in_its_own_process(list(argv if argv is not None else sys.argv[1:]))
    if args.name in TRAINING_BENCHMARKS:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    names = (args.name,)
    requested_repeats, requested_archs, requested_precisions = args.repeats, args.archs, args.precisions
    for name in names:
        args.repeats = requested_repeats or DEFAULT_REPEATS.get(name, 3)
        args.archs, args.precisions = requested_archs, requested_precisions
        if name == "onednn":  # a fresh process per measurement: keep the default set small
            args.archs = requested_archs or "cifar_fast,dwsep_cnn"
            args.precisions = ("float32",) if requested_precisions == DEFAULT_PRECISIONS else requested_precisions
        common.log(f"running {name} (load {common.load_average()})")
        _resolve(BENCHMARKS[name][0])(args)
    return 0


def _run_each_in_its_own_process(argv: list[str]) -> int:
    """``all``: one fresh process per benchmark, so each imports TensorFlow with its own kernels."""
    import subprocess

    status = 0
    for name in IN_ALL:
        command = [sys.executable, "-m", "bench", name, *(arg for arg in argv if arg != "all")]
        status = max(status, subprocess.run(command, cwd=common.REPO).returncode)
    return status


if __name__ == "__main__":
    os.chdir(common.REPO)
    sys.exit(main())
