"""Export: per TFLite format, conversion time, size, accuracy, agreement and latency."""

from __future__ import annotations

import tempfile
from typing import Any

from bench import common
from bench.fixture import load_fixture


def run_export(args: Any) -> common.Section:
    from cnnlib.export import MAX_REPRESENTATIVE, TFLITE_FORMATS, export_tflite
    from cnnlib.operations import representative_images

    section = common.Section(
        "export",
        "TFLite export per format",
        goal="int8: <= 35% of float32's size, <= 1 point accuracy drop, >= 99% agreement",
    )
    fixture = load_fixture(args.run, args.runs)
    # What `cnnlib export` and the app's download write: the run's inference model, its
    # test-time views inside, so the figures are those of the shipped file.
    model = fixture.answer
    if fixture.run is not None:
        from cnnlib.operations import load_run_dataset

        dataset = load_run_dataset(fixture.run)
    else:
        from bench.throughput import load_cifar

        dataset = load_cifar(max_per_class=200)
        section.note("UNTRAINED model: accuracy/agreement figures are not meaningful; pass --run RUN")
    # The calibration sample `cnnlib export` uses, so these figures are the shipped file's.
    train_images, test_images, test_labels = representative_images(dataset.train), dataset.test.images, dataset.test.labels
    if args.max_test:
        test_images, test_labels = test_images[: args.max_test], test_labels[: args.max_test]
    section.note(
        f"model: {fixture.description}, as exported ({model.name}); {len(test_labels)} test images; int8 calibrated on "
        f"{min(len(train_images), MAX_REPRESENTATIVE)} training images (the seeded sample cnnlib export uses); "
        "latency = median of 200 single-image calls"
    )
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in TFLITE_FORMATS:
            common.log(f"export {fmt}")
            report = export_tflite(model, fmt, f"{tmp}/{fmt}.tflite", train_images, test_images, test_labels)
            report.pop("path", None)
            reports[fmt] = report
    base = reports["tflite-float32"]
    rows = []
    for fmt, report in reports.items():
        size_fraction = report["bytes"] / base["bytes"]
        drop = 100 * (report["keras_accuracy"] - report["tflite_accuracy"])
        record = section.add(
            {
                **report,
                "size_vs_float32": round(size_fraction, 4),
                "accuracy_drop_points": round(drop, 3),
                "load": common.load_average(),
            }
        )
        goal = ""
        if fmt == "tflite-int8":
            met = size_fraction <= 0.35 and drop <= 1.0 and report["agreement"] >= 0.99
            record["goal_met"] = met
            goal = "yes" if met else "NO"
        rows.append(
            [
                fmt,
                f"{report['convert_seconds']:.2f}",
                report["bytes"],
                f"{100 * size_fraction:.1f}%",
                f"{100 * report['keras_accuracy']:.2f}",
                f"{100 * report['tflite_accuracy']:.2f}",
                f"{100 * report['agreement']:.2f}",
                f"{report['tflite_latency_ms']:.3f}",
                f"{report['keras_latency_ms']:.3f}",
                goal,
                record["load"][0],
            ]
        )
    section.write(
        common.markdown_table(
            [
                "format",
                "convert s",
                "bytes",
                "size vs f32",
                "Keras acc %",
                "TFLite acc %",
                "agreement %",
                "TFLite ms",
                "Keras ms",
                "int8 goal",
                "load 1m",
            ],
            rows,
        )
    )
    return section
