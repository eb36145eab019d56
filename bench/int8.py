"""int8 export per architecture: agreement, accuracy drop and size, with or without the float layers.

Each architecture trains briefly on the bundled digits through ``python -m cnnlib train`` (a
real run, calibrated and exported as ``cnnlib export`` does); ``--run RUN`` measures one
trained run instead (the bundled demo on the CIFAR-10 test folder). Both int8 variants are
converted from the same model and calibration sample, so the difference is the float layers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import common

#: Digits are 8x8; every architecture trains at this side (above each one's minimum input).
DIGITS_SIDE = 32
DIGITS_EPOCHS = 8
#: digits' own recipe batch (``recipes.SOURCE_RECIPES``); 1,439 training images.
DIGITS_BATCH = 32
#: int8 goals of issue 11: size vs float32, accuracy drop in points, top-1 agreement.
GOALS = {"size": 0.35, "drop": 1.0, "agreement": 0.99}


def _batch_flags(arch: str) -> list[str]:
    """An architecture recipe sized for CIFAR-10 (airbench: batch 1024) would make one update an
    epoch on digits: train at digits' batch with the recipe's rate per image instead."""
    from cnnlib.training.recipes import ARCH_RECIPES

    recipe = ARCH_RECIPES.get(arch, {})
    if recipe.get("batch_size", 0) <= DIGITS_BATCH or "lr" not in recipe:
        return []
    return ["--batch-size", str(DIGITS_BATCH), "--lr", f"{recipe['lr'] * DIGITS_BATCH / recipe['batch_size']:g}"]


def _train_on_digits(arch: str, runs_dir: Path) -> Path:
    """One short digits run of ``arch`` through the CLI; returns its run directory."""
    command = [sys.executable, "-m", "cnnlib", "train", "--data", "digits", "--arch", arch,
               "--image-size", str(DIGITS_SIDE), "--epochs", str(DIGITS_EPOCHS), "--seed", "0",
               "--runs", str(runs_dir), "--name", f"int8-{arch}", "--no-tensorboard", *_batch_flags(arch)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"{arch}: training failed: {finished.stderr.strip().splitlines()[-1:]}")
    return Path(json.loads(finished.stdout.strip().splitlines()[-1])["run_dir"])


def _measure(run_dir: Path, max_test: int | None) -> dict[str, dict[str, Any]]:
    """float32 and both int8 variants of one run's inference model, verified on its test split."""
    from cnnlib.export import export_tflite
    from cnnlib.inference import load_predictor
    from cnnlib.operations import ensure_calibrated, load_run_dataset, representative_images
    from cnnlib.runs import Run

    run = Run(run_dir)
    ensure_calibrated(run)
    model = load_predictor(run).model  # what `cnnlib export` converts: views and temperature inside
    dataset = load_run_dataset(run)
    calibration = representative_images(dataset.train)
    images, labels = dataset.test.images[:max_test], dataset.test.labels[:max_test]
    variants = {"float32": ("tflite-float32", True), "int8, float layers": ("tflite-int8", True),
                "int8, all ops": ("tflite-int8", False)}
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (fmt, float_layers) in variants.items():
            common.log(f"{run_dir.name}: {name}")
            reports[name] = export_tflite(model, fmt, Path(tmp) / f"{fmt}-{float_layers}.tflite", calibration,
                                          images, labels, float_layers=float_layers)
    return reports


def _rows(section: common.Section, label: str, reports: dict[str, dict[str, Any]]) -> list[list[Any]]:
    base = reports["float32"]["bytes"]
    rows = []
    for name in ("int8, all ops", "int8, float layers"):
        report = reports[name]
        size, drop = report["bytes"] / base, 100 * (report["keras_accuracy"] - report["tflite_accuracy"])
        met = size <= GOALS["size"] and drop <= GOALS["drop"] and report["agreement"] >= GOALS["agreement"]
        section.add({"model": label, "variant": name, "bytes": report["bytes"], "size_vs_float32": round(size, 4),
                     "keras_accuracy": report["keras_accuracy"], "tflite_accuracy": report["tflite_accuracy"],
                     "agreement": report["agreement"], "test_count": report["test_count"], "goal_met": met})
        rows.append([label, name, report["test_count"], f"{100 * report['keras_accuracy']:.2f}",
                     f"{100 * report['tflite_accuracy']:.2f}", f"{100 * report['agreement']:.2f}",
                     f"{100 * size:.1f}%", "yes" if met else "NO"])
    return rows


def run_int8(args: Any) -> common.Section:
    from cnnlib.models import ARCHITECTURES

    section = common.Section("int8", "int8 export: float32 head and sensitive layers vs every op in int8",
                             goal="agreement >= 99%, accuracy drop <= 1 point, size <= 35% of float32")
    rows: list[list[Any]] = []
    if args.run:
        from cnnlib.operations import open_run

        run = open_run(args.run, args.runs)
        rows += _rows(section, f"run {run.id}", _measure(run.path, args.max_test))
    else:
        archs = args.archs.split(",") if args.archs else list(ARCHITECTURES)
        with tempfile.TemporaryDirectory() as runs:
            for arch in archs:
                rows += _rows(section, f"{arch} (digits)", _measure(_train_on_digits(arch, Path(runs)), args.max_test))
        section.note(f"each architecture: `python -m cnnlib train --data digits --arch A --image-size {DIGITS_SIDE} "
                     f"--epochs {DIGITS_EPOCHS} --seed 0` (airbench archs at batch {DIGITS_BATCH}, rate scaled "
                     "per image), then its inference model exported and verified on the "
                     "run's test split; int8 calibrated on the seeded sample `cnnlib export` uses")
    section.write(common.markdown_table(
        ["model", "int8 variant", "test images", "Keras acc %", "TFLite acc %", "agreement %", "size vs f32", "goal"],
        rows))
    return section
