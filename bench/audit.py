"""The data audit: recall and precision on a fixture with planted problems, and CIFAR-10's leakage.

``plant_fixture`` writes a small pre-split image folder whose images are all distinct
(random textures, each class a colour cast a linear model can learn) and then plants, with
a record of each: exact copies, re-encoded copies, the same picture under two classes, test
images copied into train, label flips, poor images and unreadable files. ``score`` compares
an audit with that record. The tests assert on the same fixture (tests/test_audit.py).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench import common

SIDE = 32
PALETTE = np.array([[1.0, -0.6, -0.6], [-0.6, 1.0, -0.6], [-0.6, -0.6, 1.0], [0.8, 0.8, -0.8], [-0.8, 0.8, 0.8],
                    [0.8, -0.8, 0.8]], dtype=np.float32)
#: How many of each problem a fixture plants.
PLANTS = {"exact_duplicate": 6, "near_duplicate": 6, "label_conflict": 4, "cross_split_copy": 6,
          "suspected_mislabel": 8, "low_quality": 4}


def _texture(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """A random smooth-plus-fine texture in about [-1, 1]: every call a different picture."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    field = np.zeros((side, side), dtype=np.float32)
    for _ in range(6):
        fy, fx = rng.uniform(-6, 6, size=2)
        field += np.sin(2 * np.pi * (fy * y + fx * x) + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.3, 1.0)
    field /= np.abs(field).max() + 1e-6
    return np.clip(field + rng.normal(0, 0.15, (side, side)), -1.5, 1.5)


def _picture(rng: np.random.Generator, label: int, side: int = SIDE) -> np.ndarray:
    texture = _texture(rng, side)
    pixels = 128 + 60 * PALETTE[label][None, None, :] + 45 * texture[:, :, None]
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _reencoded(pixels: np.ndarray) -> bytes:
    """The same picture as a user's copy would be: brighter by 8% and saved as a JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels.astype(np.float32) * 1.08, 0, 255).astype(np.uint8)).save(
        buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def plant_fixture(root: Path, classes: int = 5, train: int = 60, test: int = 15, seed: int = 0) -> dict[str, Any]:
    """Write the fixture under ``root`` (``train/<class>/``, ``test/<class>/``) and return its truth.

    Returns:
        ``{kind: [planted id, ...]}`` for every kind of ``PLANTS`` (for copies: the added
        file), plus ``"unreadable"``, ``"relabelled"`` (every id whose folder is not its
        picture's class: label flips and conflict copies) and ``"images"`` (files written).
    """
    rng = np.random.default_rng(seed)
    names = [f"class_{chr(97 + k)}" for k in range(classes)]
    pictures: dict[str, tuple[np.ndarray, int]] = {}
    for split, count in (("train", train), ("test", test)):
        for label, name in enumerate(names):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for number in range(count):
                pixels = _picture(rng, label)
                relpath = f"{split}/{name}/{number:04d}.png"
                (root / relpath).write_bytes(_png(pixels))
                pictures[relpath] = (pixels, label)
    truth: dict[str, list[str]] = {kind: [] for kind in PLANTS}
    truth.update(unreadable=[], relabelled=[])
    train_ids = sorted(item for item in pictures if item.startswith("train/"))
    test_ids = sorted(item for item in pictures if item.startswith("test/"))
    chosen = iter(rng.permutation(train_ids).tolist())

    def add(relpath: str, data: bytes) -> str:
        (root / relpath).write_bytes(data)
        return relpath

    for number in range(PLANTS["exact_duplicate"]):
        original = next(chosen)
        truth["exact_duplicate"].append(add(original.replace(".png", f"-copy{number}.png"), (root / original).read_bytes()))
    for number in range(PLANTS["near_duplicate"]):
        original = next(chosen)
        truth["near_duplicate"].append(add(original.replace(".png", f"-resaved{number}.jpg"), _reencoded(pictures[original][0])))
    for number in range(PLANTS["label_conflict"]):
        original = next(chosen)
        other = names[(pictures[original][1] + 1) % classes]
        copy = add(f"train/{other}/conflict{number}.png", (root / original).read_bytes())
        truth["label_conflict"].append(copy)
        truth["relabelled"].append(copy)
    for number, original in enumerate(rng.choice(test_ids, PLANTS["cross_split_copy"], replace=False).tolist()):
        name = names[pictures[original][1]]
        truth["cross_split_copy"].append(add(f"train/{name}/from-test{number}.jpg", _reencoded(pictures[original][0])))
    for number in range(PLANTS["suspected_mislabel"]):
        original = next(chosen)
        label = pictures[original][1]
        target = f"train/{names[(label + 2) % classes]}/flipped{number}.png"
        shutil.move(root / original, root / target)
        truth["suspected_mislabel"].append(target)
        truth["relabelled"].append(target)
    poor = [np.full((SIDE, SIDE, 3), 128, dtype=np.uint8) + rng.integers(0, 2, (SIDE, SIDE, 3), dtype=np.uint8),
            np.clip(12 + 6 * _texture(rng)[:, :, None].repeat(3, 2), 0, 255).astype(np.uint8),
            np.clip(245 + 6 * _texture(rng)[:, :, None].repeat(3, 2), 0, 255).astype(np.uint8),
            _picture(rng, 0, side=8)]
    for number, pixels in enumerate(poor):
        truth["low_quality"].append(add(f"train/{names[number % classes]}/poor{number}.png", _png(pixels)))
    truth["unreadable"] = [add(f"train/{names[0]}/truncated.png", _png(_picture(rng, 0))[:60]),
                           add(f"train/{names[1]}/notes.jpg", b"not an image at all")]
    truth["images"] = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    return truth


def score(report: Any, truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Recall and precision of an audit per kind against the planted truth.

    A planted item is found when a finding of its kind names it. A finding is right when it
    names a planted item of its kind; for suspected mislabels, any relabelled file counts
    (a conflict copy sits in the wrong class folder too).
    """
    scores: dict[str, dict[str, Any]] = {}
    for kind in PLANTS:
        findings = report.of_kind(kind)
        planted = set(truth[kind])
        named = {path for finding in findings for path in finding.paths}
        right_set = set(truth["relabelled"]) if kind == "suspected_mislabel" else planted
        right = sum(1 for finding in findings if right_set & set(finding.paths))
        scores[kind] = {"planted": len(planted), "found": len(planted & named), "findings": len(findings),
                        "recall": len(planted & named) / len(planted) if planted else None,
                        "precision": right / len(findings) if findings else None}
    listed = {item["path"] for item in report.unreadable}
    scores["unreadable"] = {"planted": len(truth["unreadable"]), "found": len(listed & set(truth["unreadable"])),
                            "findings": len(listed), "recall": len(listed & set(truth["unreadable"])) / len(truth["unreadable"]),
                            "precision": len(listed & set(truth["unreadable"])) / len(listed) if listed else None}
    return scores


def run_audit(args: Any) -> common.Section:
    """Planted-fixture recall/precision over seeds, then the CIFAR-10 folder's leakage share."""
    import tempfile

    from cnnlib.audit import audit_source

    section = common.Section("audit", "Data audit: planted problems found, and CIFAR-10's test/train near-copies",
                             goal="every planted kind found; CIFAR-10 near-copy share next to the published 3.3%")
    seeds = range(args.repeats or 3)
    per_kind: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as folder:
            truth = plant_fixture(Path(folder), seed=seed)
            report = audit_source(folder)
            for kind, value in score(report, truth).items():
                per_kind.setdefault(kind, []).append(value)
                section.add({"fixture_seed": seed, "kind": kind, **value,
                             "model_accuracy": round(report.mislabel_model_accuracy or 0.0, 4)})
    rows = []
    for kind, values in per_kind.items():
        found, planted = sum(v["found"] for v in values), sum(v["planted"] for v in values)
        right = sum((v["precision"] or 0.0) * v["findings"] for v in values)
        findings = sum(v["findings"] for v in values)
        rows.append([kind, f"{found}/{planted}", round(found / planted, 3), round(right / findings, 3) if findings else "-",
                     " / ".join(f"{v['found']}/{v['planted']}" for v in values)])
    table = ["Planted fixture (bench/audit.py `plant_fixture`: 5 classes x 75 distinct 32x32 textures, "
             f"seeds {', '.join(map(str, seeds))}):", ""]
    table += common.markdown_table(["kind", "found/planted (all seeds)", "recall", "precision", "per seed"], rows)
    cifar = common.REPO.parent / "shared" / "datasets" / "cifar10"
    if (cifar / "test").is_dir():
        report = audit_source(str(cifar))
        counts = report.counts()
        section.add({"source": "cifar10", "counts": counts, "near_copy_share": report.near_copy_share,
                     "mislabel_model_accuracy": report.mislabel_model_accuracy, "seconds": round(report.seconds, 1)})
        leaked = round(100 * (report.near_copy_share or 0.0), 2)
        table += ["", f"CIFAR-10 folder (60,000 images, {report.seconds:.0f} s): {leaked}% of the 10,000 test images "
                      "copy a training image (exact or near), against 3.3% found by Barz & Denzler (2020, ciFAIR).", ""]
        table += common.markdown_table(["kind", "findings"], [[kind, f"{count:,}"] for kind, count in counts.items()])
        section.note(f"out-of-sample accuracy of the linear model that judged CIFAR-10's labels: "
                     f"{report.mislabel_model_accuracy:.1%}; its suspected mislabels are mostly hard images")
    section.write(table)
    return section
