"""Test-time views: a run's test accuracy answered with each view set, from the same weights.

The run's weights are trained once; only the answer changes: ``identity`` (the image), the
image and its mirror, and airbench's six views (mirror x {centre, two 1-px shifts}). It
isolates what the views buy from what training bought (docs/BENCHMARKS.md, "Ablation").
Answers are uncalibrated: a temperature never changes which class is answered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bench import common

BATCH = 500


def run_views(args: Any) -> common.Section:
    """``python -m bench views [--run RUN] [--runs DIR]``: accuracy per view set on the test split."""
    from cnnlib.inference import inference_model
    from cnnlib.operations import load_run_dataset
    from cnnlib.spec import DEFAULT_VIEWS, MIRRORED_VIEWS, SHIFTED_VIEWS

    section = common.Section("views", "Test-time views: one run's test accuracy per view set")
    run = common.named_or_bundled_run(args.run, args.runs)
    spec, classifier = run.input_spec(), run.load_model()
    test = load_run_dataset(run).test
    rows = []
    for views in (DEFAULT_VIEWS, MIRRORED_VIEWS, SHIFTED_VIEWS):
        model = inference_model(classifier, dataclasses.replace(spec, views=views), calibrated=False)
        answers = np.argmax(model.predict(test.images, batch_size=BATCH, verbose=0), axis=1)
        accuracy, own = float(np.mean(answers == test.labels)), views == spec.views
        section.add({"run": run.id, "views": list(views), "test_accuracy": round(accuracy, 4),
                     "test_images": int(len(test.labels)), "runs_own_views": own})
        rows.append([", ".join(views), f"{accuracy:.2%}", "yes" if own else ""])
    section.note(f"run {run.id} ({run.info().get('arch')}), {len(test.labels):,} test images")
    section.write(common.markdown_table(["views", "test accuracy", "the run's own"], rows))
    return section
