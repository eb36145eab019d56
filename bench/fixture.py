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
    """The measured model: ``model`` is the classifier, ``answer`` the run's inference model."""

    model: Any
    description: str
    trained: bool
    run: Any = None
    predictor: Any = None

    @property
    def answer(self) -> Any:
        """What the app, ``predict`` and every export run (test-time views inside)."""
        return self.predictor.model if self.predictor is not None else self.model

    @property
    def spec(self) -> Any:
        from cnnlib.spec import spec_for

        if self.predictor is not None:
            return self.predictor.spec
        return spec_for(self.model.input_shape[1:], [str(i) for i in range(int(self.model.output_shape[-1]))])


def _from_run(run: Any, description: str) -> Fixture:
    from cnnlib.inference import load_predictor

    predictor = load_predictor(run)
    return Fixture(predictor.classifier, description, True, run, predictor)


def load_fixture(run_ref: str | None, runs_dir: str | None, arch: str = "cifar_fast") -> Fixture:
    from cnnlib.runs import RunStore

    store = RunStore(runs_dir)
    if run_ref:
        run = store.get(run_ref)
        return _from_run(run, f"run {run.id}")
    for info in sorted(store.list(), key=lambda item: str(item.get("created", "")), reverse=True):
        if info.get("status") == "completed" and info.get("arch") == arch and "cifar10" in str(info.get("data_source")):
            run = store.get(info["id"])
            return _from_run(run, f"run {run.id} (newest completed {arch} CIFAR-10 run)")
    from cnnlib.models import ModelConfig, build_model

    common.log(f"no trained {arch} CIFAR-10 run found; using untrained weights")
    model = build_model(ModelConfig(arch=arch, num_classes=10, input_shape=(32, 32, 3)))
    return Fixture(model, f"untrained {arch} (no completed CIFAR-10 run found)", False)
