"""The benchmark suite's plumbing (no benchmark is run here: benchmarks are not tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import common

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a fresh interpreter
def test_bench_lists_every_benchmark() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "list"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    names = {json.loads(line)["name"] for line in out.splitlines()}
    assert names == {"pipeline", "efficiency", "shapes", "loading", "latency", "app", "export", "onednn", "ood",
                     "faithfulness", "accuracy", "audit", "quick", "int8", "views"}


def test_alternate_interleaves_and_ratios_pair_rounds() -> None:
    calls: list[str] = []
    values = {"a": iter([2.0, 4.0, 6.0]), "b": iter([1.0, 2.0, 2.0])}
    result = common.alternate({name: (lambda n=name: calls.append(n) or next(values[n])) for name in "ab"}, 3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert common.ratio_summary(result["a"], result["b"]) == {"median": 2.0, "min": 2.0, "max": 3.0, "n": 3}


def test_section_appends_command_machine_and_json(tmp_path: Path) -> None:
    section = common.Section("demo", "Demo benchmark", goal="none")
    section.add({"value": 1.5})
    target = tmp_path / "BENCHMARKS.md"
    section.write(common.markdown_table(["value"], [[1.5]]), command="python -m bench demo", path=target)
    text = target.read_text()
    assert "## Demo benchmark" in text and "`python -m bench demo`" in text
    assert "load average" in text and "cores" in text and '{"bench": "demo", "value": 1.5}' in text


def test_benchmarks_train_each_layout_with_its_own_recipe() -> None:
    from bench.recipes import recipe_augment, recipe_flags

    # airbench's layouts keep their recipe (alternating flip, 2-px crop) in the pipeline
    # benchmark and pass no cifar_fast flags to the accuracy runs.
    assert recipe_augment("airbench_small") == (("alternating_flip", "crop"), 2)
    assert recipe_flags("airbench") == ()
    assert recipe_augment("cifar_fast") == (("flip", "crop"), 4)
