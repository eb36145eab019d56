"""Training throughput: a real input pipeline vs one cached in-memory batch; compute efficiency.

Both benchmarks train the registered architectures with the same compile as
``cnnlib.training`` (Adam, categorical cross-entropy on one-hot labels, accuracy
metric) through ``model.fit``, so per-step overheads are the trainer's.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from bench import common
from bench.recipes import recipe_augment

PIPELINE_GOAL = 0.95


def _compiled_model(arch: str, precision: str, input_shape: tuple[int, int, int], num_classes: int) -> Any:
    import keras

    from cnnlib.models import ModelConfig, build_model

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "mixed_bfloat16" else "float32")
    try:
        model = build_model(ModelConfig(arch=arch, num_classes=num_classes, input_shape=input_shape))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def _one_hot(num_classes: int) -> Any:
    import tensorflow as tf

    return lambda images, labels: (images, tf.one_hot(labels, num_classes))


def _pipeline_dataset(split: Any, batch: int, augment: tuple[str, ...], crop_padding: int, num_classes: int) -> Any:
    """Exactly the trainer's training pipeline."""
    import tensorflow as tf

    from cnnlib.data import make_tf_dataset

    ds = make_tf_dataset(split, batch, training=True, seed=0, augment=augment, crop_padding=crop_padding)
    return ds.map(_one_hot(num_classes), num_parallel_calls=tf.data.AUTOTUNE).repeat().prefetch(tf.data.AUTOTUNE)


def _cached_dataset(split: Any, batch: int, num_classes: int) -> Any:
    import numpy as np
    import tensorflow as tf

    images = split.images[:batch].astype(np.float32)
    labels = tf.one_hot(split.labels[:batch], num_classes)
    return tf.data.Dataset.from_tensors((images, labels)).repeat()


class _StepClock:
    """Wall time at the end of each training step (so fit()'s set-up cost is not counted)."""

    def __init__(self) -> None:
        import keras

        class Clock(keras.callbacks.Callback):
            def __init__(inner) -> None:  # noqa: N805
                super().__init__()
                inner.ends: list[float] = []

            def on_train_batch_end(inner, batch: int, logs: Any = None) -> None:  # noqa: N805
                inner.ends.append(time.perf_counter())

        self.callback = Clock()


def _images_per_second(model: Any, dataset_factory: Any, steps: int, batch: int, skip: int = 2) -> float:
    """Images/s over ``steps`` training steps, after ``skip`` steps inside the same ``fit`` call."""
    clock = _StepClock()
    model.fit(dataset_factory(), steps_per_epoch=steps + skip, epochs=1, verbose=0, callbacks=[clock.callback])
    ends = clock.callback.ends
    return steps * batch / (ends[-1] - ends[skip - 1])


def _archs(requested: str | None) -> list[str]:
    from cnnlib.models import ARCHITECTURES

    return requested.split(",") if requested else list(ARCHITECTURES)


def _default_batch(arch: str) -> int:
    from cnnlib.models import ARCHITECTURES

    return int(ARCHITECTURES[arch].default_batch_size)


def load_cifar(max_per_class: int | None) -> Any:
    from cnnlib.data import DataConfig, load_dataset

    return load_dataset(DataConfig(source=str(common.CIFAR10_DIR), max_per_class=max_per_class))


def run_pipeline(args: Any) -> common.Section:
    """Images/s from the JPEG-folder pipeline over images/s from one cached batch, per arch."""
    section = common.Section(
        "pipeline",
        "Input pipeline ratio (JPEG folder pipeline / cached batch)",
        goal=f"ratio >= {PIPELINE_GOAL} for every architecture at its default batch size",
    )
    dataset = load_cifar(args.max_per_class)
    num_classes = len(dataset.class_names)
    section.note(
        f"data: {common.CIFAR10_DIR} train split ({len(dataset.train)} images, decoded once by "
        "load_dataset as the trainer does), augmentation = the arch's bench recipe; "
        f"{args.steps} steps per measurement, {args.repeats} alternating rounds"
    )
    rows = []
    for arch in _archs(args.archs):
        batch = _default_batch(arch)
        augment, crop_padding = recipe_augment(arch)
        model = _compiled_model(arch, "float32", (32, 32, 3), num_classes)
        cached = partial(_cached_dataset, dataset.train, batch, num_classes)
        real = partial(_pipeline_dataset, dataset.train, batch, augment, crop_padding, num_classes)
        _images_per_second(model, cached, 3, batch)  # trace + warm up both paths
        _images_per_second(model, real, 3, batch)
        common.log(f"pipeline {arch} batch {batch}")
        result = common.alternate(
            {
                "pipeline": partial(_images_per_second, model, real, args.steps, batch),
                "cached": partial(_images_per_second, model, cached, args.steps, batch),
            },
            args.repeats,
        )
        ratio = common.ratio_summary(result["pipeline"], result["cached"])
        record = section.add(
            {
                "arch": arch,
                "batch_size": batch,
                "augment": list(augment),
                "crop_padding": crop_padding,
                "pipeline_img_s": common.summarize(result["pipeline"], 1),
                "cached_img_s": common.summarize(result["cached"], 1),
                "ratio": ratio,
                "goal_met": ratio["median"] >= PIPELINE_GOAL,
                "load": common.load_average(),
            }
        )
        rows.append(
            [
                arch,
                batch,
                f"{','.join(augment)} (pad {crop_padding})" if "crop" in augment else ",".join(augment),
                record["pipeline_img_s"]["median"],
                record["cached_img_s"]["median"],
                f"{ratio['median']:.3f} ({ratio['min']:.3f}..{ratio['max']:.3f})",
                "yes" if record["goal_met"] else "NO",
                record["load"][0],
            ]
        )
    section.write(
        common.markdown_table(
            [
                "arch",
                "batch",
                "augment",
                "pipeline img/s",
                "cached img/s",
                "ratio median (min..max)",
                ">= 0.95",
                "load 1m",
            ],
            rows,
        )
    )
    return section


def run_efficiency(args: Any) -> common.Section:
    """Achieved training FLOP/s over the fp32 peak, float32 and mixed_bfloat16, per arch."""
    import numpy as np

    from cnnlib.data import Split
    from cnnlib.models import count_flops

    section = common.Section(
        "efficiency",
        "Compute efficiency (training FLOP/s / 166 GFLOP/s fp32 peak)",
        goal="report; choose architectures by it",
    )
    section.note(
        "training FLOPs per image = forward FLOPs (count_flops) x 3; img/s from one cached batch at "
        f"the default batch size; float32 ({args.steps} steps) and mixed_bfloat16 (for {args.bf16_archs}; "
        f"max(3, steps/5) steps) alternate, {args.repeats} rounds"
    )
    rng = np.random.default_rng(0)
    rows = []
    for arch in _archs(args.archs):
        batch = _default_batch(arch)
        split = Split(
            images=rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8),
            labels=rng.integers(0, 10, batch).astype(np.int64),
            ids=[],
        )
        precisions = [p for p in args.precisions if p == "float32" or arch in args.bf16_archs.split(",")]
        models = {precision: _compiled_model(arch, precision, (32, 32, 3), 10) for precision in precisions}
        flops = count_flops(models[precisions[0]])
        cached = partial(_cached_dataset, split, batch, 10)
        for model in models.values():
            _images_per_second(model, cached, 2, batch)
        common.log(f"efficiency {arch} batch {batch}")
        result = common.alternate(
            {
                # bfloat16 trains >10x slower here: fewer steps keep the run short, same per-step clock
                precision: partial(
                    _images_per_second,
                    model,
                    cached,
                    args.steps if precision == "float32" else max(3, args.steps // 5),
                    batch,
                )
                for precision, model in models.items()
            },
            args.repeats,
        )
        load = common.load_average()
        for precision, values in result.items():
            speed = common.summarize(values, 1)
            efficiency = flops * 3 * speed["median"] / common.FP32_PEAK_FLOPS
            record = section.add(
                {
                    "arch": arch,
                    "precision": precision,
                    "batch_size": batch,
                    "forward_flops": flops,
                    "img_s": speed,
                    "efficiency": round(efficiency, 4),
                    "load": load,
                }
            )
            rows.append(
                [
                    arch,
                    precision,
                    batch,
                    f"{flops / 1e6:.1f}",
                    speed["median"],
                    f"{speed['min']}..{speed['max']}",
                    f"{100 * record['efficiency']:.1f}%",
                    load[0],
                ]
            )
    section.write(
        common.markdown_table(
            ["arch", "precision", "batch", "MFLOPs fwd", "img/s median", "img/s min..max", "of fp32 peak", "load 1m"],
            rows,
        )
    )
    return section


def _resized_cached_dataset(split: Any, batch: int, num_classes: int, side: int) -> Any:
    """One cached full-size batch through ``progressive.resized_batches`` at ``side`` px.

    This is what the trainer feeds under ``--progressive-resize``: images of unknown
    static size, so the train step is traced once for every size.
    """
    import tensorflow as tf

    from cnnlib.training.progressive import resized_batches

    size = tf.Variable([side, side], dtype=tf.int32)
    return resized_batches(_cached_dataset(split, batch, num_classes), size).prefetch(2)


def run_shapes(args: Any) -> common.Section:
    """Training img/s per input size and batch size: the throughput side of progressive resizing.

    Two kinds of configuration: a model built for each size (static shapes), and, at the
    default batch, the model built at the largest size trained through the progressive
    resizing pipeline (``dynamic``), which is what ``--progressive-resize`` runs.
    """
    import numpy as np

    from cnnlib.data import Split

    sizes = [int(value) for value in args.sizes.split(",")]
    batches = [int(value) for value in args.batches.split(",")]
    section = common.Section(
        "shapes",
        "Training img/s per input size and batch size (cached batch)",
        goal="report: what progressive resizing and a larger batch could buy in throughput",
    )
    section.note(
        f"one cached random batch per configuration, {args.steps} steps per measurement, configurations "
        f"alternate over {args.repeats} rounds; ratio = img/s over the 32 px / default-batch configuration; "
        "'dynamic' = the model built at the largest size, fed through cnnlib.training.progressive.resized_batches "
        "(what --progressive-resize trains: unknown static image size)"
    )
    rng = np.random.default_rng(0)
    rows = []
    for arch in (args.archs or "cifar_fast").split(","):
        default_batch = _default_batch(arch)
        sides: dict[str, Any] = {}
        configs: dict[str, tuple[int, int, str]] = {}
        for size in sizes:
            for batch in batches:
                images = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
                split = Split(images, rng.integers(0, 10, batch))
                model = _compiled_model(arch, "float32", (size, size, 3), 10)
                cached = partial(_cached_dataset, split, batch, 10)
                _images_per_second(model, cached, 3, batch)  # trace + warm up
                name = f"{size}px/b{batch}"
                sides[name] = partial(_images_per_second, model, cached, args.steps, batch)
                configs[name] = (size, batch, "static")
        reference_batch = default_batch if default_batch in batches else batches[0]
        largest, batch = max(sizes), reference_batch
        full_split = Split(rng.integers(0, 256, (batch, largest, largest, 3), dtype=np.uint8),
                           rng.integers(0, 10, batch))
        for size in sizes:
            try:
                model = _compiled_model(arch, "float32", (largest, largest, 3), 10)
                resized = partial(_resized_cached_dataset, full_split, batch, 10, size)
                _images_per_second(model, resized, 3, batch)
            except Exception as exc:  # noqa: BLE001 - a fixed-size head cannot take other sizes
                common.log(f"shapes {arch}: no dynamic {size} px ({type(exc).__name__})")
                break
            name = f"{size}px/b{batch}/dynamic"
            sides[name] = partial(_images_per_second, model, resized, args.steps, batch)
            configs[name] = (size, batch, "dynamic")
        common.log(f"shapes {arch}: {', '.join(sides)}")
        result = common.alternate(sides, args.repeats)
        reference = f"{32 if 32 in sizes else sizes[0]}px/b{reference_batch}"
        for name, values in result.items():
            size, batch, kind = configs[name]
            ratio = common.ratio_summary(values, result[reference])
            record = section.add(
                {
                    "arch": arch,
                    "input_px": size,
                    "batch_size": batch,
                    "shapes": kind,
                    "img_s": common.summarize(values, 1),
                    "ratio_vs": reference,
                    "ratio": ratio,
                    "load": common.load_average(),
                }
            )
            rows.append(
                [
                    arch,
                    record["input_px"],
                    record["batch_size"],
                    kind,
                    record["img_s"]["median"],
                    f"{record['img_s']['min']}..{record['img_s']['max']}",
                    f"{ratio['median']:.2f} ({ratio['min']:.2f}..{ratio['max']:.2f})",
                    record["load"][0],
                ]
            )
    section.write(
        common.markdown_table(
            ["arch", "input px", "batch", "shapes", "img/s median", "img/s min..max", f"ratio vs {reference}",
             "load 1m"], rows
        )
    )
    return section
