"""The model the latency and export benchmarks measure.

``--run RUN`` measures a trained run (accuracy and agreement then mean something).
Without it, the newest completed CIFAR-10 ``cifar_fast`` run in the run store is
used, else an untrained ``cifar_fast`` (latency does not depend on the weights;
the export benchmark then says its accuracy figures are meaningless).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import common


@dataclass
class Fixture:
    model: Any
    description: str
    trained: bool
    run: Any = None


def load_fixture(run_ref: str | None, runs_dir: str | None, arch: str = "cifar_fast") -> Fixture:
    from cnnlib.runs import RunStore

    store = RunStore(runs_dir)
    if run_ref:
        run = store.get(run_ref)
        return Fixture(run.load_model(), f"run {run.id}", True, run)
    for info in sorted(store.list(), key=lambda item: str(item.get("created", "")), reverse=True):
        if info.get("status") == "completed" and info.get("arch") == arch and "cifar10" in str(info.get("data_source")):
            run = store.get(info["id"])
            return Fixture(run.load_model(), f"run {run.id} (newest completed {arch} CIFAR-10 run)", True, run)
    from cnnlib.models import ModelConfig, build_model

    common.log(f"no trained {arch} CIFAR-10 run found; using untrained weights")
    model = build_model(ModelConfig(arch=arch, num_classes=10, input_shape=(32, 32, 3)))
    return Fixture(model, f"untrained {arch} (no completed CIFAR-10 run found)", False)
