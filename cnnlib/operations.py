"""Run-level operations shared by the CLI and the app.

Each function takes a run (id or path), does one job with the core modules
and stores what it produced in the run directory, so the CLI and the app
give the same answers and the app can show results computed by the CLI.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnnlib.errors import ConfigError, DataError, RunError
from cnnlib.io import atomic_write_bytes, atomic_write_json
from cnnlib.runs import Run, RunStore

SPLITS = ("train", "val", "test")
EXPORT_FORMATS = ("tflite-float32", "tflite-float16", "tflite-dynamic", "tflite-int8", "savedmodel")
EXPLAIN_METHODS = ("gradcam", "gradcam++", "scorecam", "saliency")
_REPRESENTATIVE_IMAGES = 300


def open_run(run_ref: str | os.PathLike[str], runs_dir: str | os.PathLike[str] | None = None) -> Run:
    """A run by id or path, with a clear error when it is unknown or has no model."""
    run = RunStore(runs_dir).get(run_ref)
    run.info()
    if not run.has_model():
        raise RunError(f"run {run.id!r} has no saved model (status: {run.status}); train it first")
    return run


def _evaluation_key(split: str, source: str | None, run: Run) -> str:
    trained_on = run.config()["data"]["source"]
    if source is None or source == trained_on:
        return split
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(str(source)).name)[:30].strip("-") or "data"
    return f"{split}@{slug}-{hashlib.sha1(str(source).encode()).hexdigest()[:6]}"


def load_run_dataset(run: Run, source: str | None = None) -> Any:
    """The run's dataset, or another source read at the run's input size and channels."""
    from cnnlib.data import DataConfig, load_dataset

    config = run.config()["data"]
    data_info = run.data_info()
    if source is not None and source != config["source"]:
        config = {**config, "source": source}
    config["image_size"] = list(data_info["image_size"])
    config["channels"] = int(data_info["channels"])
    dataset = load_dataset(DataConfig.from_dict(config))
    if list(dataset.class_names) != list(data_info["class_names"]):
        raise DataError(
            f"the classes of {config['source']!r} do not match run {run.id!r}: expected "
            f"{list(data_info['class_names'])}. Received: {list(dataset.class_names)}"
        )
    return dataset


def run_tta_flip(run: Run) -> bool:
    """Whether the run predicts with test-time flip augmentation (its ``TrainConfig.tta_flip``)."""
    try:
        return bool(run.config().get("train", {}).get("tta_flip", False))
    except (OSError, ValueError, KeyError):
        return False


def evaluate_loaded(run: Run, model: Any, dataset: Any, split: str = "test", source: str | None = None,
                    top_k: int = 3, tta_flip: bool | None = None) -> dict[str, Any]:
    """Evaluate an already loaded model on ``split`` and save the report in the run.

    ``tta_flip=None`` follows the run's own setting (``run_tta_flip``), so the final test
    evaluation, ``evaluate`` and ``predict`` agree.
    """
    from cnnlib.evaluation import evaluate_probabilities
    from cnnlib.predict import predict_probabilities

    if split not in SPLITS:
        raise ConfigError(f"split must be one of: {', '.join(SPLITS)}. Received: split={split!r}")
    part = dataset.split(split)
    if len(part.labels) == 0:
        raise DataError(f"the {split} split of {dataset.config.source!r} is empty")
    if tta_flip is None:
        tta_flip = run_tta_flip(run)
    started = time.perf_counter()
    probs = predict_probabilities(model, part.images, tta_flip=tta_flip)
    seconds = time.perf_counter() - started
    report = evaluate_probabilities(probs, part.labels, list(dataset.class_names), top_k=min(top_k, len(dataset.class_names)))
    report.update(split=split, source=source or dataset.config.source, examples=int(len(part.labels)),
                  predict_seconds=round(seconds, 4), tta_flip=bool(tta_flip))
    key = _evaluation_key(split, source, run)
    if not run.read_only:
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, probabilities=probs.astype(np.float16), labels=part.labels.astype(np.int16),
                            ids=np.array(part.ids, dtype=object).astype(str))
        atomic_write_bytes(run.evaluation_dir / f"{key}.npz", buffer.getvalue())
        atomic_write_json(run.evaluation_dir / f"{key}.json", report)
    return report


def evaluate_run(run_ref: str | os.PathLike[str], split: str = "test", source: str | None = None,
                 runs_dir: str | os.PathLike[str] | None = None, top_k: int = 3) -> dict[str, Any]:
    """Load a run's model and data and evaluate it on ``split`` (optionally of another source)."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of: {', '.join(SPLITS)}. Received: split={split!r}")
    run = open_run(run_ref, runs_dir)
    dataset = load_run_dataset(run, source)
    model = run.load_model()
    return evaluate_loaded(run, model, dataset, split, source, top_k=top_k)


def saved_predictions(run: Run, split: str = "test") -> dict[str, np.ndarray] | None:
    """The probabilities, labels and ids saved by the last evaluation of ``split``."""
    path = run.evaluation_dir / f"{split}.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def export_run(run_ref: str | os.PathLike[str], fmt: str, out: str | os.PathLike[str] | None = None,
               runs_dir: str | os.PathLike[str] | None = None, max_test: int | None = None) -> dict[str, Any]:
    """Export a run's model and verify it on the test split.

    Args:
        run_ref: run id or directory.
        fmt: one of ``EXPORT_FORMATS``.
        out: where to write (default: ``<run>/exports/<format>.tflite`` or ``<run>/exports/savedmodel``).
        runs_dir: the run store root.
        max_test: verify on at most this many test images (all by default).

    Returns:
        The verification report (also saved as ``<run>/exports/<format>.json`` for writable runs).
    """
    from cnnlib import export as exporter

    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"format must be one of: {', '.join(EXPORT_FORMATS)}. Received: format={fmt!r}")
    run = open_run(run_ref, runs_dir)
    model = deployable_model(run, run.load_model())
    if fmt == "savedmodel":
        target = Path(out) if out else run.exports_dir / "savedmodel"
        exporter.export_savedmodel(model, target)
        report = {"path": str(target), "format": fmt,
                  "bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file())}
    else:
        dataset = load_run_dataset(run)
        short = fmt.removeprefix("tflite-")
        target = Path(out) if out else run.exports_dir / f"{fmt}.tflite"
        if target.exists() and target.is_dir():
            raise ConfigError(f"--out must be a file path, not a directory. Received: out={str(target)!r}")
        report = exporter.export_tflite(model, short, target, representative_images(dataset.train), dataset.test.images,
                                        dataset.test.labels, max_test=max_test)
        report["format"] = fmt
    if not run.read_only:
        atomic_write_json(run.exports_dir / f"{fmt}.json", report)
    return report


def representative_images(train: Any) -> np.ndarray:
    """The int8 calibration images: a seeded random sample of the training split.

    Random rather than the first N, so a folder read class by class still calibrates on
    every class; seeded, so every export of a run (CLI, app, ``bench export``) is the
    same file with the same figures.
    """
    rng = np.random.default_rng(0)
    pick = rng.choice(len(train.labels), size=min(_REPRESENTATIVE_IMAGES, len(train.labels)), replace=False)
    return train.images[pick]


def deployable_model(run: Run, model: Any) -> Any:
    """The model as the app and ``predict`` use it, for export.

    A run trained with test-time flip predicts the average of each image and its
    mirror; its exports carry that averaging inside, so a phone running the
    ``.tflite`` gives exactly the answers the app gave.
    """
    if not run_tta_flip(run):
        return model
    import keras

    inputs = keras.Input(model.input_shape[1:], name="image")
    mirrored = keras.layers.Lambda(lambda batch: keras.ops.flip(batch, axis=2), name="mirror")(inputs)
    averaged = keras.layers.Average(name="tta_average")([model(inputs), model(mirrored)])
    return keras.Model(inputs, averaged, name=f"{model.name}_tta_flip")


def write_labels(run: Run, path: str | os.PathLike[str]) -> Path:
    """``labels.txt``: one class name per line, in output order (for TFLite apps)."""
    return atomic_write_bytes(path, ("\n".join(run.class_names()) + "\n").encode("utf-8"))


def input_spec(run: Run) -> tuple[tuple[int, int], int]:
    """The run's model input: ``((height, width), channels)``."""
    info = run.data_info()
    height, width = info["image_size"]
    return (int(height), int(width)), int(info["channels"])


def predict_files(run_ref: str | os.PathLike[str], images: list[str], top_k: int = 3,
                  runs_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Classify image files through the same decoding path as training."""
    from cnnlib.images import load_image
    from cnnlib.predict import predict_probabilities
    from cnnlib.predict import top_k as top_classes

    if not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"--top-k must be a positive integer. Received: top_k={top_k!r}")
    run = open_run(run_ref, runs_dir)
    size, channels = input_spec(run)
    names = run.class_names()
    arrays = [load_image(path, size, channels) for path in images]  # every file checked before the model loads
    model = run.load_model()
    probs = predict_probabilities(model, np.stack(arrays), tta_flip=run_tta_flip(run))
    return [{"image": str(path), "top": top_classes(row, names, min(top_k, len(names)))}
            for path, row in zip(images, probs, strict=False)]


def explain_file(run_ref: str | os.PathLike[str], image: str, method: str, out: str | os.PathLike[str],
                 target_class: str | int | None = None, alpha: float = 0.45,
                 runs_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Explain one image with ``method`` and write the overlay PNG to ``out``."""
    from PIL import Image

    from cnnlib.explain import explain
    from cnnlib.images import load_image

    if method not in EXPLAIN_METHODS:
        raise ConfigError(f"method must be one of: {', '.join(EXPLAIN_METHODS)}. Received: method={method!r}")
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise ConfigError(f"--out must be a .png file path. Received: out={str(out)!r}")
    run = open_run(run_ref, runs_dir)
    size, channels = input_spec(run)
    names = run.class_names()
    target = _class_index(target_class, names)
    array = load_image(image, size, channels)
    model = run.load_model()
    result = explain(model, array, method, target_class=target)
    overlay = result.overlay(array, alpha=alpha)
    import io

    buffer = io.BytesIO()
    Image.fromarray(overlay).save(buffer, format="PNG")
    atomic_write_bytes(out_path, buffer.getvalue())
    return {"path": str(out_path), "label": names[result.label], "confidence": float(result.confidence),
            "target": names[result.target_class], "method": method, "layer": result.layer_name}


def _class_index(target: str | int | None, names: list[str]) -> int | None:
    if target is None:
        return None
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit() and target not in names):
        index = int(target)
        if 0 <= index < len(names):
            return index
    elif target in names:
        return names.index(target)
    raise ConfigError(f"unknown target class; expected one of: {', '.join(names)}. Received: target={target!r}")
