"""The CLI contract: JSON on the last stdout line, and one-line errors (exit 2) that change nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlib.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_cli_bad(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its content hash: 'nothing changed' made checkable."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture()
def store(trained_run_store: Path, tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the trained run store, so tests may write to it."""
    root = tmp_path / "runs"
    shutil.copytree(trained_run_store.parent, root)
    return root, trained_run_store.name


def test_archs_prints_a_json_array(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "archs")
    assert code == 0
    archs = json.loads(out.strip().splitlines()[-1])
    names = {arch["name"] for arch in archs}
    assert {"simple_cnn", "dwsep_cnn", "resnet_small", "inception_small", "mobilenet_v2"} <= names


def test_runs_lists_the_store(capsys: pytest.CaptureFixture[str], store: tuple[Path, str]) -> None:
    root, run_id = store
    code, out, _ = run_cli(capsys, "runs", "--runs", str(root))
    assert code == 0
    runs = json.loads(out.strip().splitlines()[-1])
    assert any(run["id"] == run_id and run["status"] == "completed" for run in runs)


@pytest.mark.slow  # a real training in a fresh interpreter
@pytest.mark.extended  # the CLI's train contract is also run by the every-architecture and same-config tests
def test_train_subprocess_contract(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cnnlib", "train", "--data", "digits", "--arch", "cifar_fast", "--epochs", "3",
         "--runs", str(tmp_path), "--name", "cli", "--no-tensorboard"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=600,
        env={key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"run_id", "run_dir", "test_accuracy", "params", "epochs", "train_seconds"} <= set(summary)
    assert summary["epochs"] == 3 and summary["test_accuracy"] > 0.5
    assert "epoch 3/3" in result.stderr  # human progress on stderr
    assert "Traceback" not in result.stderr
    # TensorFlow reads TF_ENABLE_ONEDNN_OPTS once at import: the CLI must set it before importing
    # TF (it once set it after, and every CLI run trained on the slower default kernels). Whether
    # oneDNN can be on depends on the CPU and the TensorFlow build, so the run must report what
    # TensorFlow gives with the variable set before import, on or not.
    environment = json.loads((Path(summary["run_dir"]) / "environment.json").read_text())
    assert "onednn" in environment
    probe = subprocess.run(
        [sys.executable, "-c", "import json, os; os.environ['TF_ENABLE_ONEDNN_OPTS'] = '1'; "
         "from cnnlib.training.trainer import _onednn_enabled; print(json.dumps(_onednn_enabled()))"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert environment["onednn"] == json.loads(probe.stdout.strip().splitlines()[-1])


def test_evaluate_contract(capsys: pytest.CaptureFixture[str], store: tuple[Path, str]) -> None:
    root, run_id = store
    code, out, _ = run_cli(capsys, "evaluate", run_id, "--runs", str(root))
    assert code == 0
    report = json.loads(out.strip().splitlines()[-1])
    assert {"accuracy", "top_k_accuracy", "per_class", "confusion", "ece", "ece_uncalibrated"} <= set(report)
    assert 0.05 <= report["temperature"] <= 20  # fitted on the run's validation split at first use, then kept
    assert json.loads((root / run_id / "spec.json").read_text())["temperature"] == report["temperature"]
    assert set(report["per_class"]["0"]) >= {"precision", "recall", "f1", "support"}
    assert np.array(report["confusion"]).shape == (10, 10)
    assert report["accuracy"] >= 0.9


def test_export_int8_contract(capsys: pytest.CaptureFixture[str], store: tuple[Path, str], tmp_path: Path) -> None:
    root, run_id = store
    out_path = tmp_path / "model-int8.tflite"
    code, out, _ = run_cli(capsys, "export", run_id, "--format", "tflite-int8", "--out", str(out_path), "--runs", str(root))
    assert code == 0
    report = json.loads(out.strip().splitlines()[-1])
    assert {"path", "bytes", "format", "keras_accuracy", "tflite_accuracy", "agreement"} <= set(report)
    assert report["format"] == "tflite-int8" and out_path.stat().st_size == report["bytes"]
    assert report["agreement"] >= 0.99
    assert report["bundle"] == str(out_path.with_suffix(".zip")) and zipfile.is_zipfile(report["bundle"])


def _digit_png(tmp_path: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.images[0] * 255 / 16).round().astype(np.uint8)
    path = tmp_path / f"digit-{digits.target[0]}.png"
    Image.fromarray(pixels, mode="L").save(path)
    return path


def test_predict_and_explain_contracts(capsys: pytest.CaptureFixture[str], store: tuple[Path, str], tmp_path: Path) -> None:
    root, run_id = store
    image = _digit_png(tmp_path)
    code, out, _ = run_cli(capsys, "predict", run_id, str(image), str(image), "--top-k", "2", "--runs", str(root))
    assert code == 0
    predictions = json.loads(out.strip().splitlines()[-1])
    assert len(predictions) == 2 and predictions[0]["image"] == str(image)
    assert len(predictions[0]["top"]) == 2 and predictions[0]["top"][0]["label"] == "0"
    png = tmp_path / "cam.png"
    code, out, _ = run_cli(capsys, "explain", run_id, str(image), "--method", "gradcam", "--out", str(png), "--runs", str(root))
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["path"] == str(png) and result["label"] == "0" and 0 < result["confidence"] <= 1
    assert Image.open(png).mode == "RGB"


def _folder(root: Path, classes: dict[str, int]) -> Path:
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            Image.fromarray(np.full((8, 8, 3), index * 20, np.uint8)).save(root / name / f"{index}.png")
    return root


def _bad_inputs(tmp_path: Path, run_id: str, root: Path) -> list[tuple[str, list[str], str]]:
    one_class = _folder(tmp_path / "one_class", {"cat": 3})
    no_images = tmp_path / "no_images"
    (no_images / "a").mkdir(parents=True)
    (no_images / "b").mkdir(parents=True)
    (no_images / "a" / "notes.txt").write_text("hi")
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("this is not an image")
    truncated = tmp_path / "truncated.jpg"
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 100).save(buffer, format="JPEG")
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    huge = tmp_path / "huge.png"
    Image.new("1", (12_000, 12_000)).save(huge)  # 144 megapixels, a few KB on disk
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as archive:
        archive.writestr("a/1.png", _png_bytes())
        archive.writestr("../../escaped.png", _png_bytes())
    damaged = root / "damaged-run"
    damaged.mkdir()
    (damaged / "run.json").write_text("{ not json")
    runs = ["--runs", str(root)]
    return [
        ("missing path", ["train", "--data", str(tmp_path / "nope"), "--epochs", "1", *runs], "nope"),
        ("one class", ["train", "--data", str(one_class), "--epochs", "1", *runs], "class"),
        ("no images", ["train", "--data", str(no_images), "--epochs", "1", *runs], "image"),
        ("unknown arch", ["train", "--arch", "resnet9000", "--epochs", "1", *runs], "resnet9000"),
        ("non-numeric lr", ["train", "--lr", "fast", *runs], "fast"),
        ("out-of-range epochs", ["train", "--epochs", "0", *runs], "epochs"),
        ("out-of-range dropout", ["train", "--dropout", "1.5", "--epochs", "1", *runs], "dropout"),
        ("malformed resize stages", ["train", "--progressive-resize", "24", "--epochs", "1", *runs], "SIZE:UNTIL"),
        ("fixed-size head resized", ["train", "--arch", "simple_cnn", "--image-size", "32",
                                     "--progressive-resize", "24:0.5", "--epochs", "1", *runs], "cannot train at 24x24"),
        ("not an image", ["predict", run_id, str(not_image), *runs], "notes.jpg"),
        ("truncated image", ["predict", run_id, str(truncated), *runs], "truncated.jpg"),
        ("huge image", ["predict", run_id, str(huge), *runs], "huge.png"),
        ("unknown run", ["evaluate", "no-such-run", *runs], "no-such-run"),
        ("damaged run", ["evaluate", "damaged-run", *runs], "damaged"),
        ("zip traversal", ["train", "--data", str(evil_zip), "--epochs", "1", *runs], "evil.zip"),
        ("bad export format", ["export", run_id, "--format", "onnx", *runs], "onnx"),
        ("unknown explain method", ["explain", run_id, str(not_image), "--method", "lime", "--out", "x.png", *runs], "lime"),
    ]


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _assert_one_line_errors(capsys: pytest.CaptureFixture[str], cases: list[tuple[str, list[str], str]],
                            root: Path, tmp_path: Path) -> None:
    before = snapshot(root)
    failures = []
    for label, argv, needle in cases:
        code, out, err = run_cli_bad(capsys, *argv)
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("warning:", "loading "))]
        ok = code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle.lower() in lines[0].lower()
        if not ok or "Traceback" in err:
            failures.append(f"{label}: exit {code}, stderr={err!r}")
    assert not failures, "\n".join(failures)
    assert snapshot(root) == before
    assert not (tmp_path.parent / "escaped.png").exists() and not (tmp_path / "escaped.png").exists()


def test_every_bad_training_input_is_one_error_line_exit_2_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Training inputs need no trained run, so this half of the contract is in the fast tier.
    root = tmp_path / "runs"
    root.mkdir()
    cases = [case for case in _bad_inputs(tmp_path / "inputs", "no-run-needed", root) if case[1][0] == "train"]
    assert cases
    _assert_one_line_errors(capsys, cases, root, tmp_path)


def test_every_bad_input_is_one_error_line_exit_2_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], store: tuple[Path, str], tmp_path: Path
) -> None:
    root, run_id = store
    cases = [case for case in _bad_inputs(tmp_path / "inputs", run_id, root) if case[1][0] != "train"]
    _assert_one_line_errors(capsys, cases, root, tmp_path)


@pytest.mark.slow  # a fresh CLI interpreter
def test_bad_input_in_a_real_subprocess_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "cnnlib", "train", "--data", str(tmp_path / "missing")],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300,
                            env={**os.environ, "CNNLIB_RUNS": str(tmp_path / "runs")})
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _fabricated_store(root: Path) -> Path:
    """A store of two finished runs, made with the store's own writers (no training needed)."""
    from cnnlib.runs import RunStore

    store = RunStore(root, include_bundled=False)
    for run_id, name in (("run-a", "first"), ("run-b", "second")):
        store.new_run_dir(None, "arch", run_id=run_id).update_info(status="completed", name=name,
                                                                  created=f"2026-01-01T00:00:0{len(name)}")
    return root


class _Terminal(io.StringIO):
    """Standard input that is a terminal, with the user's answer typed in."""

    def isatty(self) -> bool:
        return True


def test_runs_rename_and_delete_contract(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fabricated_store(tmp_path / "runs")
    code, out, _ = run_cli(capsys, "runs", "rename", "run-a", "  digits, more dropout ", "--runs", str(root))
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["name"] == "digits, more dropout"
    code, out, _ = run_cli(capsys, "runs", "--runs", str(root))  # plain `runs` still lists, the new name in it
    assert code == 0 and {run["id"]: run["name"] for run in json.loads(out.strip().splitlines()[-1]) if not run["bundled"]} == {
        "run-a": "digits, more dropout", "run-b": "second"}
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    code, out, err = run_cli(capsys, "runs", "--runs", str(root), "delete", "run-a")  # --runs before the action too
    assert code == 0 and "[y/N]" in err
    assert json.loads(out.strip().splitlines()[-1]) == {"deleted": "run-a", "name": "digits, more dropout",
                                                        "path": str(root / "run-a"), "stopped": False}
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: --yes says it
    code, out, _ = run_cli(capsys, "runs", "delete", "run-b", "--yes", "--runs", str(root))
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["deleted"] == "run-b"
    assert sorted(path.name for path in root.iterdir()) == []


def test_bad_runs_rename_and_delete_are_one_error_line_and_change_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fabricated_store(tmp_path / "runs")
    bundled = _fabricated_store(tmp_path / "bundled")
    monkeypatch.setenv("CNNLIB_BUNDLED_RUNS", str(bundled))
    (bundled / "run-a").rename(bundled / "the-demo")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    runs = ["--runs", str(root)]
    cases = [
        ("empty name", ["runs", "rename", "run-a", "  ", *runs], "cannot be empty"),
        ("two-line name", ["runs", "rename", "run-a", "one\ntwo", *runs], "one line"),
        ("long name", ["runs", "rename", "run-a", "x" * 81, *runs], "at most 80 characters"),
        ("unknown run", ["runs", "rename", "no-such-run", "x", *runs], "no-such-run"),
        ("rename bundled", ["runs", "rename", "the-demo", "x", *runs], "read-only"),
        ("delete bundled", ["runs", "delete", "the-demo", "--yes", *runs], "cannot be deleted"),
        ("no --yes off a terminal", ["runs", "delete", "run-a", *runs], "pass --yes"),
        ("missing name", ["runs", "rename", "run-a", *runs], "runs rename --help"),
    ]
    _assert_one_line_errors(capsys, cases, tmp_path, tmp_path)
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    code, _, err = run_cli_bad(capsys, "runs", "delete", "run-a", *runs)
    assert code == 2 and "was not deleted" in err and (root / "run-a").is_dir()


@pytest.mark.slow  # a fresh CLI interpreter
def test_runs_delete_in_a_real_subprocess_asks_for_yes_without_a_terminal(tmp_path: Path) -> None:
    root = _fabricated_store(tmp_path / "runs")
    command = [sys.executable, "-m", "cnnlib", "runs", "delete", "run-a", "--runs", str(root)]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
                             stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        "error: deleting run 'run-a' cannot be undone; pass --yes to confirm (there is no terminal to ask)"]
    deleted = subprocess.run([*command, "--yes"], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
                             stdin=subprocess.DEVNULL)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout.strip().splitlines()[-1])["deleted"] == "run-a"
    assert [path.name for path in root.iterdir()] == ["run-b"]
