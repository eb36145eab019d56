"""oneDNN on vs off: TensorFlow's ``TF_ENABLE_ONEDNN_OPTS`` is read once at import, so
each side runs in its own fresh process; processes alternate (on, off, off, on, ...)
and the ratio is taken per round. Each process measures training img/s on one cached
batch (``bench.probe``), in float32 and mixed_bfloat16.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial
from typing import Any

from bench import common


def _probe(arch: str, batch: int, steps: int, precision: str, onednn: str) -> float:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-m", "bench.probe", arch, str(batch), str(steps), precision],
        cwd=common.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["img_s"])


def run_onednn(args: Any) -> common.Section:
    from bench.throughput import _archs, _default_batch

    section = common.Section(
        "onednn",
        "oneDNN (TF_ENABLE_ONEDNN_OPTS=1) vs TensorFlow's default CPU kernels",
        goal="pick the faster setting for training",
    )
    section.note(
        f"training img/s on one cached batch, fresh process per measurement, {args.repeats} alternating "
        f"rounds of {args.steps} steps; default here: TF_ENABLE_ONEDNN_OPTS="
        f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}"
    )
    rows = []
    for arch in _archs(args.archs):
        batch = args.batch_size or _default_batch(arch)
        for precision in args.precisions:
            common.log(f"onednn {arch} {precision} batch {batch}")
            result = common.alternate(
                {
                    "on": partial(_probe, arch, batch, args.steps, precision, "1"),
                    "off": partial(_probe, arch, batch, args.steps, precision, "0"),
                },
                args.repeats,
            )
            ratio = common.ratio_summary(result["on"], result["off"])
            record = section.add(
                {
                    "arch": arch,
                    "precision": precision,
                    "batch_size": batch,
                    "on_img_s": common.summarize(result["on"], 1),
                    "off_img_s": common.summarize(result["off"], 1),
                    "ratio_on_off": ratio,
                    "load": common.load_average(),
                }
            )
            rows.append(
                [
                    arch,
                    precision,
                    batch,
                    record["on_img_s"]["median"],
                    record["off_img_s"]["median"],
                    f"{ratio['median']:.2f} ({ratio['min']:.2f}..{ratio['max']:.2f})",
                    record["load"][0],
                ]
            )
    section.write(
        common.markdown_table(
            ["arch", "precision", "batch", "oneDNN on img/s", "off img/s", "on/off median (min..max)", "load 1m"], rows
        )
    )
    return section
