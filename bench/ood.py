""""None of my classes": AUROC of each familiarity score, test images against sets of no class.

The in-distribution images are the run's test split; the others come from
``cnnlib.ood_sets`` at the model's input size. ``knn`` is scored with the run's saved
neighbour bank, exactly as the run answers; the other methods are fitted here (Mahalanobis
on every training image) for comparison. The pass rate is the share of test images under
the run's saved threshold (fitted to let 95% of validation images pass).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import common

SET_SIZE = 2000


def _method_scores(predictor: Any, density: Any, images: np.ndarray) -> dict[str, np.ndarray]:
    from cnnlib import ood

    features = predictor.features(images)
    logits = predictor.view_logits(images).mean(axis=0).astype(np.float64)  # the answer's logits, before calibration
    temperature = predictor.spec.temperature or 1.0
    return {
        "knn": predictor.familiarity.scores(features),
        "mahalanobis": density.scores(features),
        "energy": ood.logit_scores(logits, "energy"),
        "max_logit": ood.logit_scores(logits, "max_logit"),
        "msp": ood.logit_scores(logits / temperature, "msp"),  # the confidence the page shows
    }


def run_ood(args: Any) -> common.Section:
    from cnnlib import ood
    from cnnlib.inference import load_predictor
    from cnnlib.ood_sets import SETS, make_set
    from cnnlib.operations import load_run_dataset

    section = common.Section("ood", "None of my classes: familiarity score AUROC",
                             goal="AUROC >= 0.90 on far-from-distribution sets for the bundled model")
    run = common.named_or_bundled_run(args.run, args.runs)
    predictor = load_predictor(run)
    if not predictor.scores_familiarity:
        raise SystemExit(f"run {run.id!r} has no fitted familiarity score; evaluate it once first")
    dataset = load_run_dataset(run)
    common.log("features of the training split (Mahalanobis fit)")
    density = ood.fit_density(predictor.features(dataset.train.images), dataset.train.labels, predictor.spec.num_classes)
    familiar = _method_scores(predictor, density, dataset.test.images)
    passed = float(np.mean(familiar["knn"] <= predictor.spec.ood_threshold))
    section.note(f"run {run.id} ({predictor.spec.describe()}, views {', '.join(predictor.spec.views)}); "
                 f"{len(dataset.test.labels)} test images against {SET_SIZE} images per set (seed 1); "
                 f"knn bank {len(predictor.familiarity.features)} training images, k={predictor.familiarity.k}; "
                 f"{passed:.1%} of test images pass the run's threshold {predictor.spec.ood_threshold}")
    rows = []
    for name, (_, kind) in SETS.items():
        images = make_set(name, SET_SIZE, predictor.spec.shape, seed=1)
        scores = _method_scores(predictor, density, images)
        flagged = float(np.mean(scores["knn"] > predictor.spec.ood_threshold))
        aurocs = {method: round(ood.auroc(familiar[method], scores[method]), 4) for method in scores}
        section.add({"set": name, "kind": kind, "auroc": aurocs, "knn_flagged": round(flagged, 4),
                     "test_passed": round(passed, 4), "run": run.id})
        rows.append([name, kind, *aurocs.values(), f"{flagged:.1%}"])
    section.write(common.markdown_table(["set", "kind", *familiar, "flagged by the run (knn)"], rows))
    return section
