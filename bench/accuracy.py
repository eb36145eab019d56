"""Accuracy per wall-clock budget on CIFAR-10, through the real CLI.

For each (arch, budget) it runs ``python -m cnnlib train --data <cifar10> --arch A
--time-budget M <recipe flags>`` in a fresh process, exactly as a user would, and
reads the run's test accuracy (the 10,000 test images), params, FLOPs and speed.
Budgets are serial: never run two trainings at once on this 2-core machine.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.recipes import recipe_flags


def train_command(arch: str, minutes: float, data: str, runs_dir: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cnnlib",
        "train",
        "--data",
        data,
        "--arch",
        arch,
        "--time-budget",
        f"{minutes:g}",
        "--runs",
        runs_dir,
        "--name",
        f"bench-{arch}-{minutes:g}min",
        "--no-tensorboard",
        *recipe_flags(arch),
        *extra,
    ]


def _speed(run_dir: Path) -> dict[str, Any]:
    """Images/s over the epochs (from progress.jsonl) and epochs done.

    Earlier epochs are full; the last one is usually cut by the deadline, so its images are
    counted from the last batch event seen (events are throttled: a slight undercount).
    """
    train_size, batch_size, seconds, epochs, last_batch = None, None, 0.0, 0, {}
    for line in (run_dir / "progress.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "start":
            train_size, batch_size = event.get("train_size"), event.get("batch_size")
        elif event.get("event") == "batch":
            last_batch[event.get("epoch")] = int(event.get("batch") or 0)
        elif event.get("event") == "epoch":
            epochs += 1
            seconds += float(event.get("epoch_seconds") or 0.0)
    if not (train_size and batch_size and seconds and epochs):
        return {"epochs": epochs, "img_s_incl_val": None}
    images = train_size * (epochs - 1) + min(train_size, last_batch.get(epochs, 0) * batch_size)
    return {"epochs": epochs, "images_trained": images, "img_s_incl_val": round(images / seconds, 1)}


def run_accuracy(args: Any) -> common.Section:
    section = common.Section(
        "accuracy",
        "Accuracy per wall-clock budget on CIFAR-10 (via the CLI)",
        goal="best model <= 300k params: >= 85% test within 15 min, >= 90% within 60 min",
    )
    runs_dir = str(Path(args.runs or common.REPO / "runs").resolve())
    data = os.path.relpath(common.CIFAR10_DIR, common.REPO)
    extra = tuple(shlex.split(args.extra)) if args.extra else ()
    budgets = [float(value) for value in args.budgets.split(",")]
    archs = args.archs.split(",")
    commands = []
    rows = []
    for minutes in budgets:
        for arch in archs:
            command = train_command(arch, minutes, data, runs_dir, extra)
            shown = "python " + " ".join(shlex.quote(part) for part in command[1:])
            commands.append(shown)
            common.log(f"{shown}")
            load_before = common.load_average()
            start = time.perf_counter()
            process = subprocess.run(command, cwd=common.REPO, capture_output=True, text=True)
            wall = time.perf_counter() - start
            lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
            if process.returncode != 0 or not lines:
                record = section.add(
                    {
                        "arch": arch,
                        "budget_min": minutes,
                        "error": process.stderr[-800:],
                        "returncode": process.returncode,
                    }
                )
                rows.append([arch, minutes, "failed", "", "", "", "", "", "", ""])
                continue
            result = json.loads(lines[-1])
            run_dir = Path(result["run_dir"])
            info = json.loads((run_dir / "run.json").read_text())
            speed = _speed(run_dir)
            record = section.add(
                {
                    "arch": arch,
                    "budget_min": minutes,
                    "test_accuracy": result["test_accuracy"],
                    "params": info.get("params"),
                    "forward_flops": info.get("flops"),
                    "train_seconds": result["train_seconds"],
                    "process_wall_seconds": round(wall, 1),
                    **speed,
                    "run_id": result["run_id"],
                    "command": shown,
                    "load_before": load_before,
                    "load_after": common.load_average(),
                }
            )
            rows.append(
                [
                    arch,
                    f"{minutes:g}",
                    f"{100 * record['test_accuracy']:.2f}",
                    record["params"],
                    f"{(record['forward_flops'] or 0) / 1e6:.1f}",
                    speed["img_s_incl_val"],
                    speed["epochs"],
                    result["train_seconds"],
                    record["process_wall_seconds"],
                    f"{load_before[0]}/{record['load_after'][0]}",
                ]
            )
    section.note(
        "recipe flags per arch come from bench/recipes.py; train seconds = the run's train_seconds (the "
        "budget covers training + validation + the final test evaluation); wall = the whole CLI process "
        "incl. TensorFlow import and data loading"
    )
    section.write(
        common.markdown_table(
            [
                "arch",
                "budget min",
                "test acc %",
                "params",
                "MFLOPs fwd",
                "img/s (incl. val)",
                "epochs",
                "train s",
                "wall s",
                "load 1m before/after",
            ],
            rows,
        ),
        command="python -m bench "
        + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
        + "`\n- Each run: `"  # Section.write wraps the whole string in one more pair of backticks
        + "`, `".join(commands),
    )
    return section
