"""Faithfulness of each explanation method: mean deletion score over test images.

For each of ``--count`` test images (every 50th of the test split, in order) and each public
explain method, the heatmap of the answered class is put through the deletion test
(``cnnlib.explain.faithfulness``): lower means the model's answer falls faster as the
map's hottest pixels are blurred away. The random-order score is the chance level.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench import common


def _mean_and_spread(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {"mean": round(float(array.mean()), 4), "std": round(float(array.std()), 4), **common.summarize(values)}


def run_faithfulness(args: Any) -> common.Section:
    from cnnlib.explain import METHODS, explain
    from cnnlib.explain.faithfulness import CHANCE_NAME, deletion
    from cnnlib.inference import load_predictor
    from cnnlib.operations import load_run_dataset

    section = common.Section("faithfulness", "Explanations: deletion score per method (blur fill)",
                             goal="the user sees which heatmap the model actually follows")
    count = args.count or 200
    run = common.named_or_bundled_run(args.run, args.runs)
    predictor = load_predictor(run)
    test = load_run_dataset(run).test
    picked = np.arange(0, len(test.labels), max(1, len(test.labels) // count))[:count]
    images = test.images[picked]
    answered = predictor.probabilities(images).argmax(axis=1)
    methods = list(METHODS)
    section.note(f"run {run.id}; {len(picked)} test images (every {max(1, len(test.labels) // count)}th); "
                 "heatmap of the answered class; pixels replaced by a blurred copy (radius 1/8 of the width) in 16 steps; "
                 "chance blurs the 16 blocks of a 4x4 grid in a random order")
    rows, chance = [], []
    for method in methods:
        scores, started = [], time.perf_counter()
        for image, target in zip(images, answered, strict=True):
            heatmap = explain(predictor.classifier, image, method, target_class=int(target)).heatmap
            result = deletion(predictor.probabilities, image, heatmap, int(target))
            scores.append(result.score)
            if method == methods[0]:
                chance.append(result.random_score)
        seconds = time.perf_counter() - started
        summary = _mean_and_spread(scores)
        section.add({"method": method, "deletion": summary, "images": len(scores), "seconds": round(seconds, 1)})
        rows.append([method, summary["mean"], summary["std"], f"{seconds / len(scores) * 1000:.0f} ms"])
    random_summary = _mean_and_spread(chance)
    section.add({"method": CHANCE_NAME, "deletion": random_summary, "images": len(chance)})
    rows.append([f"{CHANCE_NAME} (chance)", random_summary["mean"], random_summary["std"], "-"])
    section.write(common.markdown_table(["method", "mean deletion score (lower is more faithful)", "std",
                                         "per image (heatmap + curve)"], rows))
    return section
