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

from cnnlib.data.config import SPLITS
from cnnlib.errors import ConfigError, DataError, RunError
from cnnlib.explain import METHODS as EXPLAIN_METHODS
from cnnlib.export import EXPORT_FORMATS, SAVEDMODEL, export_filename, report_filename
from cnnlib.io import atomic_write_bytes, atomic_write_json, read_json
from cnnlib.runs import FAMILIARITY_FILE, SPEC_FILE, Run, RunStore

_REPRESENTATIVE_IMAGES = 300
#: Where the exports of bundled (read-only) runs go, inside the writable run store.
BUNDLED_EXPORTS_DIR = ".exports"


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
    spec = run.input_spec()
    if source is not None and source != config["source"]:
        config = {**config, "source": source}
    config = {**config, "image_size": list(spec.size), "channels": spec.channels}
    dataset = load_dataset(DataConfig.from_dict(config))
    if tuple(dataset.class_names) != spec.class_names:
        raise DataError(
            f"the classes of {config['source']!r} do not match run {run.id!r}: expected "
            f"{list(spec.class_names)}. Received: {list(dataset.class_names)}"
        )
    return dataset


def evaluate_loaded(run: Run, model: Any, dataset: Any, split: str = "test", source: str | None = None,
                    top_k: int = 3) -> dict[str, Any]:
    """Evaluate an already loaded classifier on ``split``, as the run answers, and save the report.

    The probabilities come from the run's inference model (``cnnlib.inference``), test-time
    views included, so the final test evaluation, ``evaluate``, ``predict`` and the app agree.
    """
    return _evaluate(run, model, dataset, split, source, top_k)[0]


def _evaluate(run: Run, model: Any, dataset: Any, split: str, source: str | None,
              top_k: int = 3) -> tuple[dict[str, Any], np.ndarray]:
    from cnnlib.calibration import answer_from_logits
    from cnnlib.evaluation import evaluate_probabilities, reliability
    from cnnlib.inference import predictor_for

    if split not in SPLITS:
        raise ConfigError(f"split must be one of: {', '.join(SPLITS)}. Received: split={split!r}")
    part = dataset.split(split)
    if len(part.labels) == 0:
        raise DataError(f"the {split} split of {dataset.config.source!r} is empty")
    ensure_calibrated(run, model, dataset)
    predictor = predictor_for(run, model)
    started = time.perf_counter()
    logits = predictor.view_logits(part.images)
    seconds = time.perf_counter() - started
    temperature = predictor.spec.temperature
    raw = answer_from_logits(logits)  # the inference model's formula, in numpy (a test keeps them equal)
    probs = raw if temperature is None else answer_from_logits(logits, temperature)
    names = list(dataset.class_names)
    report = evaluate_probabilities(probs, part.labels, names, top_k=min(top_k, len(names)))
    ece_raw, bins_raw = reliability(raw.max(axis=1), raw.argmax(axis=1) == part.labels)
    report.update(split=split, source=source or dataset.config.source, examples=int(len(part.labels)),
                  predict_seconds=round(seconds, 4), views=list(predictor.spec.views), temperature=temperature,
                  ece_uncalibrated=ece_raw, reliability_uncalibrated={"bins": bins_raw})
    if not run.read_only:
        _save_predictions(run, _evaluation_key(split, source, run), report, probs, part)
    return report, probs


#: Fewer validation images than this cannot fit a temperature worth trusting.
MIN_CALIBRATION_IMAGES = 20


def ensure_calibrated(run: Run, model: Any = None, dataset: Any = None) -> bool:
    """Fit a finished run's held-out facts on first use, if it lacks them (``calibrate_run``).

    A run trained before calibration or the familiarity score existed gets them here, once
    (they are saved in its spec). A bundled (read-only) run keeps what it shipped with; a
    running run is calibrated by its trainer when it ends.

    Returns:
        Whether the run's answers are calibrated afterwards.
    """
    spec = run.input_spec()
    missing = spec.temperature is None or spec.ood_threshold is None
    if missing and not run.read_only and run.status != "running":
        return calibrate_run(run, model, dataset) is not None
    return spec.temperature is not None


def calibrate_run(run: Run, model: Any = None, dataset: Any = None) -> float | None:
    """Fit what a run's answer learns from held-out images, and save it with the run.

    The calibration temperature (``cnnlib.calibration``) is fitted on the validation split;
    the familiarity score (``cnnlib.ood``) keeps a sample of training features as its
    neighbour bank, and its threshold lets ``ood.PASS_RATE`` of the validation images pass.

    Args:
        run: A writable run.
        model: Its classifier, when already loaded.
        dataset: Its dataset, when already loaded.

    Returns:
        The temperature, or None when the validation split has too few images to fit one
        (the run's pages and reports then say its confidence is not calibrated).
    """
    from cnnlib.calibration import fit_temperature
    from cnnlib.inference import predictor_for

    run.check_writable()
    dataset = dataset if dataset is not None else load_run_dataset(run)
    if len(dataset.val.labels) < MIN_CALIBRATION_IMAGES:
        return None
    predictor = predictor_for(run, model if model is not None else run.load_model())
    logits = predictor.view_logits(dataset.val.images)
    if not np.isfinite(logits).all():  # a diverged model: nothing worth calibrating, its run says why
        return None
    temperature = round(fit_temperature(logits, dataset.val.labels), 6)
    threshold = _fit_familiarity(run, predictor, dataset)
    atomic_write_json(run.path / SPEC_FILE,
                      predictor.spec.with_temperature(temperature).with_ood_threshold(threshold).to_dict())
    return temperature


def _fit_familiarity(run: Run, predictor: Any, dataset: Any) -> float:
    """Save the run's neighbour bank (``FAMILIARITY_FILE``) and return its validation threshold."""
    from cnnlib import ood

    picked = ood.bank_sample(dataset.train.labels, seed=dataset.config.seed)
    bank = ood.fit_bank(predictor.features(dataset.train.images[picked]))
    atomic_write_bytes(run.path / FAMILIARITY_FILE, bank.to_bytes())
    return ood.fit_threshold(bank.scores(predictor.features(dataset.val.images)))


def _save_predictions(run: Run, key: str, report: dict[str, Any], probs: np.ndarray, part: Any) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, probabilities=probs.astype(np.float16), labels=part.labels.astype(np.int16),
                        ids=np.array(part.ids, dtype=object).astype(str))
    atomic_write_bytes(run.evaluation_dir / f"{key}.npz", buffer.getvalue())
    atomic_write_json(run.evaluation_dir / f"{key}.json", report)


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


def test_evaluation(run: Run, model: Any = None, dataset: Any = None) -> dict[str, Any]:
    """The run's test-split report with its per-image probabilities, labels and dataset.

    Reuses the saved ``evaluation/test.*`` when they belong to the rebuilt split and the run's
    current calibration temperature; otherwise evaluates once (a writable run keeps the result; a bundled one computes it each time).

    Args:
        run: The run.
        model: Its classifier, when already loaded (else loaded here if needed).
        dataset: Its dataset, when already loaded.

    Returns:
        ``{"evaluation": report, "probs": (N, K) float32, "labels": (N,), "dataset": Dataset}``.
        When the run's data is not on this machine but its current test evaluation is saved
        (the bundled run on a clone without ``../shared``), ``dataset`` is None and
        ``missing_images`` says why: the figures stand, the pictures cannot be shown.

    Raises:
        DataError: The data cannot be loaded and no current evaluation is saved.
    """
    if dataset is None:
        try:
            dataset = load_run_dataset(run)
        except DataError as exc:
            saved = _saved_test_evaluation(run)
            if saved is None:
                raise
            return {**saved, "dataset": None, "missing_images": str(exc)}
    test = dataset.split("test")
    report = run.evaluation("test")
    saved = saved_predictions(run, "test") if report is not None else None
    current = report is not None and report.get("temperature") == run.input_spec().temperature
    if saved is not None and current and len(saved.get("probabilities", ())) == len(test.labels):
        probs = saved["probabilities"].astype(np.float32)
    else:
        report, probs = _evaluate(run, model if model is not None else run.load_model(), dataset, "test", None)
    return {"evaluation": report, "probs": probs, "labels": test.labels, "dataset": dataset}


def _saved_test_evaluation(run: Run) -> dict[str, Any] | None:
    """The saved test report, probabilities and labels, if made with the run's current temperature."""
    report = run.evaluation("test")
    saved = saved_predictions(run, "test") if report is not None else None
    if saved is None or report.get("temperature") != run.input_spec().temperature:
        return None
    return {"evaluation": report, "probs": saved["probabilities"].astype(np.float32),
            "labels": saved["labels"].astype(np.int64)}


def export_dir(run: Run, runs_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``run``'s exports go: its own ``exports/``, or for a bundled (read-only) run
    ``<run store>/.exports/<run id>/`` (the store skips dot folders when listing runs)."""
    if not run.read_only:
        return run.exports_dir
    return RunStore(runs_dir).root / BUNDLED_EXPORTS_DIR / run.id


def export_report(run: Run, fmt: str, runs_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The verification report of an earlier ``fmt`` export whose file still exists, else None.

    For a bundled run, an export built in the store (``export_dir``) wins over the one it
    shipped with: it is the newer file, and it has its bundle.
    """
    for folder in dict.fromkeys((export_dir(run, runs_dir), run.exports_dir)):
        path = folder / report_filename(fmt)
        try:
            report = read_json(path)
        except (OSError, ValueError):
            continue
        target = Path(report.get("path") or "")
        if not target.is_absolute() or not target.exists():
            target = folder / export_filename(fmt)
        if target.exists():
            return {**report, "path": str(target), "bundle": _existing_bundle(target)}
    return None


def _existing_bundle(target: Path) -> str | None:
    """The bundle beside a ``.tflite`` export, or None (a SavedModel, or an export made before bundles)."""
    from cnnlib.bundle import bundle_path

    if target.suffix != ".tflite":
        return None
    bundle = bundle_path(target)
    return str(bundle) if bundle.is_file() else None


def export_run(run_ref: str | os.PathLike[str], fmt: str, out: str | os.PathLike[str] | None = None,
               runs_dir: str | os.PathLike[str] | None = None, max_test: int | None = None) -> dict[str, Any]:
    """Export a run's inference model and verify it on the test split.

    Args:
        run_ref: run id or directory.
        fmt: one of ``EXPORT_FORMATS``.
        out: where to write (default: ``export_dir(run)/<format>.tflite`` or ``.../savedmodel``).
        runs_dir: the run store root.
        max_test: verify on at most this many test images (all by default).

    Returns:
        The verification report, also saved as ``<format>.json`` beside the default location.
        A TFLite export's ``bundle`` is the zip written beside the file (``cnnlib.bundle``:
        the file, labels, preprocessing notes and a ``predict.py``).
        For a bundled run, ``note`` says where the files went instead of the read-only run.
    """
    from cnnlib import export as exporter
    from cnnlib.bundle import bundle_path, write_bundle
    from cnnlib.inference import load_predictor

    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"format must be one of: {', '.join(EXPORT_FORMATS)}. Received: format={fmt!r}")
    run = open_run(run_ref, runs_dir)
    folder = export_dir(run, runs_dir)
    ensure_calibrated(run)
    predictor = load_predictor(run)
    model = predictor.model  # the run's answer: test-time views and calibration inside
    target = Path(out) if out else folder / export_filename(fmt)
    if fmt == SAVEDMODEL:
        exporter.export_savedmodel(model, target)
        report = {"path": str(target), "format": fmt,
                  "bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file())}
    else:
        if target.exists() and target.is_dir():
            raise ConfigError(f"the export path must be a file, not a directory. Received: out={str(target)!r}")
        bundle_path(target)  # refuses an --out ending in .zip before the conversion, not after it
        dataset = load_run_dataset(run)
        report = exporter.export_tflite(model, fmt, target, representative_images(dataset.train),
                                        dataset.test.images, dataset.test.labels, max_test=max_test)
        # The spec that built the exported model, so the bundle's notes say what is inside it.
        report["bundle"] = str(write_bundle(target, predictor.spec, fmt, run.id, report))
    if run.read_only:
        report["note"] = f"run {run.id!r} is bundled and read-only, so its export was written to {str(target)!r}"
    atomic_write_json(folder / report_filename(fmt), report)
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


def predict_files(run_ref: str | os.PathLike[str], images: list[str], top_k: int = 3,
                  runs_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Classify image files through the same decoding path as training, as the run answers."""
    from cnnlib.images import load_image
    from cnnlib.inference import load_predictor

    if not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"--top-k must be a positive integer. Received: top_k={top_k!r}")
    run = open_run(run_ref, runs_dir)
    spec = run.input_spec()
    arrays = [load_image(path, spec.size, spec.channels) for path in images]  # every file checked before the model loads
    ensure_calibrated(run)
    answers = load_predictor(run).answer(np.stack(arrays), k=top_k)
    return [{"image": str(path), "top": answer.top, "band": answer.band, "ood_score": answer.ood_score,
             "unfamiliar": answer.unfamiliar} for path, answer in zip(images, answers, strict=True)]


def explain_file(run_ref: str | os.PathLike[str], image: str, method: str, out: str | os.PathLike[str],
                 target_class: str | int | None = None, alpha: float = 0.45,
                 runs_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Explain one image with ``method`` and write the overlay PNG to ``out``.

    ``label`` and ``confidence`` are the run's answer (test-time views included); the
    heatmap explains ``target_class``, by default the answered class.
    """
    from PIL import Image

    from cnnlib.explain import explain
    from cnnlib.images import load_image
    from cnnlib.inference import load_predictor

    if method not in EXPLAIN_METHODS:
        raise ConfigError(f"method must be one of: {', '.join(EXPLAIN_METHODS)}. Received: method={method!r}")
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise ConfigError(f"--out must be a .png file path. Received: out={str(out)!r}")
    run = open_run(run_ref, runs_dir)
    spec = run.input_spec()
    names = list(spec.class_names)
    target = _class_index(target_class, names)
    array = load_image(image, spec.size, spec.channels)
    ensure_calibrated(run)
    predictor = load_predictor(run)
    answer = predictor.answer(array, k=1)[0]
    target = names.index(answer.label) if target is None else target
    result = explain(predictor.classifier, array, method, target_class=target)
    import io

    buffer = io.BytesIO()
    Image.fromarray(result.overlay(array, alpha=alpha)).save(buffer, format="PNG")
    atomic_write_bytes(out_path, buffer.getvalue())
    return {"path": str(out_path), "label": answer.label, "confidence": answer.confidence,
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


AUDIT_FILE = "audit.json"


def audit_summary(run: Run, runs_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The data audit of ``run``'s source (counts, leakage share, notes; no findings), or None.

    Audited once per source and kept beside the run's exports (``audit.json``; for a bundled
    run under the store), so a model card does not re-read 60,000 images every time.

    Returns:
        ``cnnlib.audit.AuditReport.to_dict()`` without ``findings``, or None when the source
        is not on this machine.
    """
    from cnnlib.audit import audit_source

    source = str(run.config().get("data", {}).get("source", ""))
    path = export_dir(run, runs_dir) / AUDIT_FILE
    try:
        saved = read_json(path)
        if saved.get("source") == source:
            return saved
    except (OSError, ValueError):
        pass  # not audited yet (or a damaged file: audit again)
    try:
        report = audit_source(source)
    except DataError:
        return None
    summary = {key: value for key, value in report.to_dict().items() if key != "findings"}
    atomic_write_json(path, summary)
    return summary
