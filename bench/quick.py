"""Your photos to a model in a minute: ``from_run`` (a saved run's frozen base, a new head)
against training from scratch, on a few photos per class of classes the base never saw.

The base is trained here, through the CLI, on five CIFAR-10 classes only (airplane,
automobile, bird, cat, deer); the few-shot tasks use the other five (dog, frog, horse, ship,
truck): k photos per class drawn from their training images, scored on all 5,000 of their
test images. Every model is trained by ``python -m cnnlib train`` in a fresh process, as a
user would, with the architecture's own recipe. A far domain (sklearn's 8x8 grey digits,
upscaled) shows what the default base (the bundled demo run) does away from photos.
Folders are symlinks under a temporary directory: nothing is copied into the repository.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

SEEN = ("airplane", "automobile", "bird", "cat", "deer")
HELD_OUT = ("dog", "frog", "horse", "ship", "truck")
SHOTS = (5, 10, 20)
BASE_MINUTES = 5.0
SCRATCH_ARCH = "cifar_fast"


def _link_images(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        (folder / file.name).symlink_to(file.resolve())


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def seen_classes_folder(cifar: Path, root: Path) -> Path:
    """CIFAR-10's train and test folders restricted to the five seen classes (symlinks)."""
    for split in ("train", "test"):
        for name in SEEN:
            _link_images(_images(cifar / split / name), root / split / name)
    return root


def few_shot_folder(cifar: Path, root: Path, shots: int, seed: int) -> Path:
    """``shots`` training photos per held-out class (drawn with ``seed``) and all their test photos."""
    rng = np.random.default_rng(seed)
    for name in HELD_OUT:
        pool = _images(cifar / "train" / name)
        picked = [pool[i] for i in rng.choice(len(pool), size=shots, replace=False)]
        _link_images(picked, root / "train" / name)
        _link_images(_images(cifar / "test" / name), root / "test" / name)
    return root


def digits_folder(root: Path, shots: int, seed: int) -> Path:
    """sklearn's 8x8 digits as 32x32 grey PNGs: ``shots`` per class to train, 50 per class to test."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    for label in range(10):
        indices = rng.permutation(np.flatnonzero(digits.target == label))
        for split, chosen in (("train", indices[:shots]), ("test", indices[shots : shots + 50])):
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                pixels = (digits.images[i] * (255 / 16)).astype(np.uint8)
                Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).save(folder / f"{i}.png")
    return root


def train(data: Path, arch: str, runs: Path, *extra: str) -> dict[str, Any]:
    """``python -m cnnlib train`` in a fresh process; its closing JSON line."""
    command = [sys.executable, "-m", "cnnlib", "train", "--data", str(data), "--arch", arch, "--runs", str(runs),
               "--no-tensorboard", *extra]
    done = subprocess.run(command, capture_output=True, text=True, cwd=common.REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit_seconds(run_dir: str) -> float:
    """Seconds from the first batch to the end of the last epoch (the run's ``train_seconds`` also
    counts calibration and the test evaluation)."""
    epochs = [json.loads(line) for line in (Path(run_dir) / "progress.jsonl").read_text().splitlines()
              if '"event": "epoch"' in line]
    return round(float(epochs[-1]["elapsed"]), 1) if epochs else float("nan")


def _row(task: str, shots: int, results: dict[str, list[dict[str, Any]]]) -> list[Any]:
    cells: list[Any] = [task, shots]
    for arch in ("from_run", SCRATCH_ARCH):
        accuracy = [r["test_accuracy"] for r in results[arch]]
        seconds = [r["fit_seconds"] for r in results[arch]]
        cells += [f"{np.mean(accuracy):.1%} ({min(accuracy):.1%}–{max(accuracy):.1%})", f"{np.mean(seconds):.0f}"]
    return cells


def _task(section: common.Section, task: str, shots: int, draws: int, make: Any, runs: Path,
          base: list[str]) -> list[Any]:
    results: dict[str, list[dict[str, Any]]] = {"from_run": [], SCRATCH_ARCH: []}
    for seed in range(draws):
        with tempfile.TemporaryDirectory() as folder:
            data = make(Path(folder), shots, seed)
            for arch, extra in (("from_run", base), (SCRATCH_ARCH, [])):
                result = train(data, arch, runs, "--seed", str(seed), *extra)
                result["fit_seconds"] = fit_seconds(result["run_dir"])
                results[arch].append(result)
                section.add({"task": task, "shots": shots, "draw": seed, "arch": arch,
                             "test_accuracy": result["test_accuracy"], "train_seconds": result["train_seconds"],
                             "fit_seconds": result["fit_seconds"], "params": result["params"], "epochs": result["epochs"]})
    return _row(task, shots, results)


def run_quick(args: Any) -> common.Section:
    """The few-shot table: held-out CIFAR-10 classes at 5/10/20 shots, and the far domain."""
    section = common.Section("quick", "Quick model: a saved run's frozen base + a new head vs from scratch, few shots",
                             goal=">= 80% at 10 photos per class on classes the base never saw, <= 20 s of training")
    cifar = common.REPO.parent / "shared" / "datasets" / "cifar10"
    draws = args.repeats or 3
    with tempfile.TemporaryDirectory() as work:
        runs = Path(work) / "runs"
        seen = seen_classes_folder(cifar, Path(work) / "seen")
        backbone = train(seen, SCRATCH_ARCH, runs, "--time-budget", f"{BASE_MINUTES:g}", "--name", "quick-base")
        section.add({"base": "five seen classes", **{k: backbone[k] for k in ("test_accuracy", "params", "epochs", "train_seconds")}})
        base = ["--weights", backbone["run_dir"]]
        rows = [_task(section, "held-out CIFAR-10 classes", shots, draws,
                      lambda root, k, seed: few_shot_folder(cifar, root, k, seed), runs, base) for shots in SHOTS]
        rows.append(_task(section, "digits, bundled demo base", 10, draws, digits_folder, runs, []))
    table = [f"Base for the CIFAR rows: {SCRATCH_ARCH} trained {BASE_MINUTES:g} min on {', '.join(SEEN)} only "
             f"({backbone['test_accuracy']:.1%} on their test images). Tasks: {', '.join(HELD_OUT)}, k training "
             f"photos per class, scored on their 5,000 test images; digits: 10 classes, 50 test images each. "
             f"Mean (min–max) over {draws} draws; s = seconds of fitting (first batch to last epoch; the JSON "
             "lines also give the run's train_seconds, which add calibration and the test evaluation).", ""]
    table += common.markdown_table(["task", "photos/class", "from_run accuracy", "from_run s",
                                    f"{SCRATCH_ARCH} from scratch", f"{SCRATCH_ARCH} s"], rows)
    section.write(table)
    return section
