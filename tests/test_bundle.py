"""The TFLite bundle: its predict.py decodes and answers as cnnlib does, on real files in LiteRT."""

from __future__ import annotations

import io
import json
import runpy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlib.bundle import BUNDLE_MEMBERS, InputTensor, bundle_bytes, bundle_path, preprocessing_markdown
from cnnlib.errors import ConfigError
from cnnlib.images import load_image
from cnnlib.spec import spec_for

PROJECT = Path(__file__).resolve().parents[1]
# The shipped CIFAR-10 demo: the one run directory in assets/runs.
DEMO = next(path for path in (PROJECT / "assets" / "runs").iterdir() if (path / "spec.json").exists())


def _unzip(data: bytes, folder: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert tuple(archive.namelist()) == BUNDLE_MEMBERS
        archive.extractall(folder)
    return folder


def _hard_files(folder: Path, picture: Image.Image) -> list[Path]:
    """``picture`` saved in each form the decoding path treats specially."""
    folder.mkdir(parents=True, exist_ok=True)
    big = picture.convert("RGB").resize((400, 300), Image.Resampling.NEAREST)  # big enough for JPEG draft mode
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: EXIF says rotate 270 degrees to show it upright
    rgba = np.array(big.convert("RGBA"))
    rgba[:, :120, 3] = 0  # transparent and half-transparent strips: composited on the background
    rgba[:, 120:200, 3] = 128
    palette = big.convert("P")
    files = {
        "big.jpg": (big, {"quality": 90}),
        "sideways.jpg": (big.rotate(90, expand=True), {"exif": exif.tobytes(), "quality": 90}),
        "alpha.png": (Image.fromarray(rgba), {}),
        "grey-alpha.png": (Image.fromarray(rgba).convert("LA"), {}),
        "palette.gif": (palette, {"transparency": 0}),
        "cmyk.jpg": (big.convert("CMYK"), {}),
        "grey.png": (big.convert("L"), {}),
    }
    for name, (image, options) in files.items():
        image.save(folder / name, **options)
    return [folder / name for name in files]


def test_predict_py_decodes_every_kind_of_file_exactly_as_cnnlib(tmp_path: Path) -> None:
    # The shipped CIFAR-10 run (views and temperature inside its .tflite): no training needed.
    from cnnlib.runs import Run

    run = Run(DEMO)
    spec = run.input_spec()
    report = json.loads((DEMO / "exports" / "tflite-float32.json").read_text())
    data = bundle_bytes((DEMO / "exports" / "tflite-float32.tflite").read_bytes(), spec, "tflite-float32", run.id,
                        report)
    folder = _unzip(data, tmp_path / "bundle")
    assert (folder / "labels.txt").read_text().splitlines() == list(spec.class_names)
    script = runpy.run_path(str(folder / "predict.py"))  # not __main__: defines pixels() and main() only
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    for path in _hard_files(tmp_path / "images", picture):
        np.testing.assert_array_equal(script["pixels"](path)[0], load_image(path, spec.size, spec.channels),
                                      err_msg=path.name)
    notes = (folder / "PREPROCESSING.md").read_text()
    assert f"temperature {spec.temperature:g}" in notes and "`mirror`" in notes
    assert f"accuracy {report['tflite_accuracy']:.2%}" in notes
    assert bundle_bytes((DEMO / "exports" / "tflite-float32.tflite").read_bytes(), spec, "tflite-float32", run.id,
                        report) == data, "one export zips to the same bytes"


def test_the_notes_say_what_the_spec_and_the_file_say() -> None:
    grey = spec_for((28, 20, 1), ("cat", "dog"))
    notes = preprocessing_markdown(grey, "tflite-int8", InputTensor("uint8", 0.5, 3), "run-x")
    assert "(1, 28, 20, 1)" in notes and "28 pixels high, 20 wide, 1 channel" in notes
    assert "Resize to 20x28 with the bilinear filter" in notes and "composited on white" in notes
    assert "round(pixel / 0.5 + 3)" in notes and "`L`" in notes
    assert "none was fitted" in notes and "mirror" not in notes
    calibrated = spec_for((32, 32, 3), ("a", "b"), ("identity", "mirror")).with_temperature(1.5)
    notes = preprocessing_markdown(calibrated, "tflite-float32", InputTensor("float32"), "run-y")
    assert "temperature 1.5" in notes and "averages their logits" in notes and "dtype `float32`" in notes
    with pytest.raises(ConfigError):
        bundle_path("model.zip")


def _digit_files(folder: Path) -> list[Path]:
    """Three test digits: a plain grey PNG, one with its ink as transparency, a big sideways colour JPEG."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    ink = [(digits.images[i] * 255 / 16).round().astype(np.uint8) for i in (1, 2, 3)]
    Image.fromarray(ink[0]).resize((64, 64), Image.Resampling.NEAREST).save(folder / "plain.png")
    alpha = np.zeros((8, 8, 4), np.uint8)
    alpha[..., 3] = 255 - ink[1]  # black paint, missing where the ink is: white shows through
    Image.fromarray(alpha).resize((64, 64), Image.Resampling.NEAREST).save(folder / "alpha.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    colour = Image.fromarray(ink[2]).convert("RGB").resize((256, 256), Image.Resampling.NEAREST)
    colour.rotate(90, expand=True).save(folder / "sideways.jpg", exif=exif.tobytes(), quality=95)
    return [folder / name for name in ("plain.png", "alpha.png", "sideways.jpg")]


def test_the_bundles_predict_py_answers_like_cnnlib(trained_run_store: Path, tmp_path: Path) -> None:
    from cnnlib.operations import export_report, export_run, open_run, predict_files

    root = tmp_path / "runs"
    shutil.copytree(trained_run_store, root / trained_run_store.name)
    images = _digit_files(tmp_path / "images")
    expected = predict_files(trained_run_store.name, [str(p) for p in images], runs_dir=root)
    spec = open_run(trained_run_store.name, root).input_spec()
    for fmt in ("tflite-float32", "tflite-int8"):
        report = export_run(trained_run_store.name, fmt, runs_dir=root, max_test=64)
        assert Path(report["bundle"]) == bundle_path(report["path"])
        assert export_report(open_run(trained_run_store.name, root), fmt, root)["bundle"] == report["bundle"]
        folder = _unzip(Path(report["bundle"]).read_bytes(), tmp_path / fmt)
        notes = (folder / "PREPROCESSING.md").read_text()
        assert f"{spec.height} pixels high, {spec.width} wide, {spec.channels} channel" in notes
        out = subprocess.run([sys.executable, str(folder / "predict.py"), *map(str, images)], cwd=tmp_path,
                             capture_output=True, text=True, check=True, timeout=60).stdout
        answers = [json.loads(line) for line in out.splitlines()]
        assert [a["image"] for a in answers] == [str(p) for p in images]
        for answer, reference in zip(answers, expected, strict=True):
            assert answer["top"][0]["label"] == reference["top"][0]["label"], (fmt, answer, reference)
            if fmt == "tflite-float32":
                for got, want in zip(answer["top"], reference["top"], strict=True):
                    assert got["label"] == want["label"]
                    assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-4)


def test_a_bundled_runs_rebuilt_export_and_its_bundle_win_over_the_shipped_file(tmp_path: Path) -> None:
    from cnnlib.bundle import write_bundle
    from cnnlib.io import atomic_write_json
    from cnnlib.operations import export_dir, export_report
    from cnnlib.runs import Run

    run = Run(DEMO, read_only=True)
    shipped = export_report(run, "tflite-float32", tmp_path)
    assert shipped["path"] == str(DEMO / "exports" / "tflite-float32.tflite") and shipped["bundle"] is None
    rebuilt = export_dir(run, tmp_path) / "tflite-float32.tflite"  # what the page's Build button writes
    rebuilt.parent.mkdir(parents=True)
    shutil.copyfile(shipped["path"], rebuilt)
    bundle = write_bundle(rebuilt, run.input_spec(), "tflite-float32", run.id)
    atomic_write_json(rebuilt.with_suffix(".json"), {**shipped, "path": str(rebuilt), "bundle": str(bundle)})
    report = export_report(run, "tflite-float32", tmp_path)
    assert report["path"] == str(rebuilt) and report["bundle"] == str(bundle)
    assert export_report(run, "tflite-int8", tmp_path)["bundle"] is None  # not rebuilt: the shipped file, no bundle
