"""The training request as data: one resolution of defaults, a round trip, a fast pre-check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlib.data import DataConfig
from cnnlib.errors import ConfigError, DataError
from cnnlib.training.request import TrainRequest, resolve_defaults, validate_request

PROJECT = Path(__file__).resolve().parents[1]


def _request(argv: list[str]) -> TrainRequest:
    from cnnlib.cli import build_parser, request_from_args

    return request_from_args(build_parser().parse_args(["train", *argv]))


def test_cli_budget_uses_the_recipe_and_flags_win() -> None:
    # The assertions of the old monkeypatched CLI test, on the pure resolution the CLI runs.
    recipe = _request(["--arch", "cifar_fast", "--time-budget", "5"]).train
    overridden = _request(["--arch", "cifar_fast", "--time-budget", "5", "--lr", "0.01", "--augment", "none",
                           "--no-tta-flip", "--label-smoothing", "0"]).train
    plain = _request(["--arch", "cifar_fast", "--data", "cifar10"]).train  # no budget: plain defaults
    assert (recipe.lr, recipe.augment, recipe.test_views, recipe.label_smoothing) == (3e-3, ("flip", "crop"), ("identity", "mirror"), 0.1)
    assert (overridden.lr, overridden.augment, overridden.test_views, overridden.label_smoothing) == (0.01, (), ("identity",), 0.0)
    assert (plain.lr, plain.augment, plain.test_views, plain.schedule) == (1e-3, (), ("identity",), "constant")
    assert recipe.epochs == 100_000 and recipe.schedule == "onecycle" and plain.epochs == 10


def test_the_embedded_data_has_its_recipe_and_flags_still_win() -> None:
    digits = _request([]).train  # `python -m cnnlib train`: digits, the default architecture
    assert (digits.batch_size, digits.epochs, digits.schedule, digits.lr, digits.monitor, digits.label_smoothing) == \
        (32, 20, "onecycle", 3e-3, "val_loss", 0.1)
    assert _request(["--epochs", "3", "--batch-size", "64"]).train.epochs == 3
    assert _request(["--batch-size", "64"]).train.batch_size == 64
    assert _request(["--optimizer", "sgd"]).train.lr == 0.05  # the recipe's lr is Adam's
    budget = _request(["--time-budget", "5"])  # a budget's recipe replaces the data's: the tier-1 model's
    assert budget.arch == "airbench_small" and budget.train.batch_size == 1024
    assert budget.train.monitor == "val_accuracy" and budget.train.optimizer == "sgd_airbench"
    from app.jobs import DEMO  # the Home one-click demo resolves to the same recipe

    demo = resolve_defaults(DEMO["data"], DEMO["model"], DEMO["train"]).train
    assert (demo.batch_size, demo.epochs, demo.schedule) == (32, 20, "onecycle")


def test_optimizer_picks_its_defaults_everywhere() -> None:
    sgd = resolve_defaults({"source": "digits"}, {"arch": "cifar_fast"}, {"optimizer": "sgd"}).train
    adamw = resolve_defaults({"source": "digits"}, {"arch": "cifar_fast"}, {"optimizer": "adamw"}).train
    assert (sgd.lr, sgd.weight_decay) == (0.05, 5e-4)
    assert (adamw.lr, adamw.weight_decay) == (1e-3, 1e-4)
    # Under a budget the recipe's lr is Adam's: SGD keeps its own default.
    assert resolve_defaults({"source": "digits"}, {"arch": "cifar_fast"},
                            {"optimizer": "sgd", "time_budget_minutes": 5}).train.lr == 0.05
    assert _request(["--optimizer", "sgd"]).train == sgd  # the CLI resolves the same way


def test_split_seed_and_weight_seed_are_separate() -> None:
    request = _request(["--seed", "5"])
    assert (request.data.seed, request.train.seed) == (0, 5)
    request = _request(["--split-seed", "3", "--test-views", "identity,mirror"])
    assert (request.data.seed, request.train.seed, request.train.test_views) == (3, 0, ("identity", "mirror"))


def test_request_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    request = resolve_defaults({"source": "digits", "image_size": [16, 16], "seed": 2}, {"arch": "resnet_small",
                               "width": 0.5}, {"epochs": 3, "augment": ["flip"], "progressive_resize": [[12, 0.5]]},
                               name="rt", run_id="rt-1")
    assert TrainRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert TrainRequest.load(request.save(tmp_path / "request.json")) == request
    for bad, word in (({"data": {"source": "digits"}, "modle": {}}, "'modle'"),
                      ({"data": {"source": "digits", "size": 8}}, "size"),
                      ({"data": {"source": "digits"}, "model": {"arch": "cifar_fast", "widht": 1}}, "'widht'"),
                      ({"data": {"source": "digits"}, "train": {"epoch": 1}}, "'epoch'")):
        with pytest.raises(ConfigError, match=word):
            TrainRequest.from_dict(bad)
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainRequest.load(tmp_path / "broken.json")


def test_image_size_limits_are_the_specs() -> None:
    from cnnlib.spec import MAX_IMAGE_SIDE, MIN_IMAGE_SIDE

    assert DataConfig("digits", image_size=MIN_IMAGE_SIDE).image_size == (MIN_IMAGE_SIDE, MIN_IMAGE_SIDE)
    for bad in (MIN_IMAGE_SIDE - 1, (8, MAX_IMAGE_SIDE + 1)):
        with pytest.raises(ConfigError, match=f"{MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE} pixels"):
            DataConfig("digits", image_size=bad)


def _folder(root: Path, classes: list[str], size: tuple[int, int] = (12, 10)) -> Path:
    from PIL import Image

    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(3):
            Image.fromarray(np.full((*size, 3), index * 40, np.uint8)).save(root / name / f"{index}.png")
    return root


def test_precheck_refuses_in_plain_words(tmp_path: Path) -> None:
    cases = [
        (resolve_defaults({"source": str(tmp_path / "gone")}), DataError, "does not exist"),
        (resolve_defaults({"source": str(_folder(tmp_path / "one", ["cats"]))}), DataError, "at least 2"),
        (resolve_defaults({"source": "digits", "image_size": 8}, {"arch": "simple_cnn"}), ConfigError,
         "simple_cnn needs images of at least 18x18 pixels"),
        (resolve_defaults({"source": "digits"}, {"arch": "simple_cnn"}, {"progressive_resize": [[12, 0.5]]}),
         ConfigError, "progressive-resize size 12"),
    ]
    for request, error, words in cases:
        with pytest.raises(error, match=words) as caught:
            validate_request(request)
        message = str(caught.value)
        assert "\n" not in message and "--" not in message, message  # one line, no CLI flags for a browser user


def test_precheck_reports_the_real_input_and_upscales_small_native_data(tmp_path: Path) -> None:
    model = validate_request(resolve_defaults({"source": "digits"}, {"arch": "simple_cnn"}))
    assert (model.input_shape, model.num_classes) == ((18, 18, 1), 10)  # 8x8 digits, upscaled to the minimum
    folder = _folder(tmp_path / "pets", ["cat", "dog", "fox"], size=(24, 20))
    model = validate_request(resolve_defaults({"source": str(folder)}, {"arch": "cifar_fast"}))
    assert (model.input_shape, model.num_classes) == ((24, 20, 3), 3)


def test_usage_errors_point_at_the_right_help() -> None:
    for argv, help_command in ((["train", "--bogus"], "python -m cnnlib train --help"),
                               (["train", "--epochs", "x"], "python -m cnnlib train --help"),
                               (["nope"], "python -m cnnlib --help")):
        done = subprocess.run([sys.executable, "-m", "cnnlib", *argv], cwd=PROJECT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines()[-1].endswith(f"see `{help_command}`"), done.stderr


def test_cli_refuses_settings_beside_a_saved_request(tmp_path: Path) -> None:
    path = resolve_defaults({"source": "digits"}).save(tmp_path / "request.json")
    with pytest.raises(ConfigError, match="holds every setting"):
        _request(["--request", str(path), "--epochs", "2"])
    assert _request(["--request", str(path), "--run-id", "x-1"]).run_id == "x-1"


def test_time_budget_schedule_and_deadline_follow_the_clock() -> None:
    import keras

    from cnnlib.training.callbacks import Deadline
    from cnnlib.training.schedules import TimeBudgetLR
    from cnnlib.training.trainer import _plan

    plan = _plan(resolve_defaults({"source": "digits"}, {}, {"time_budget_minutes": 10}).train, 1000, 100, 1, 60.0)
    assert plan.time_based and plan.epochs == 100_000 and plan.steps_per_epoch == 10
    assert plan.seconds_available == pytest.approx(600 * 0.99 - 5 - 60)  # reserve, minus the resumed part

    from cnnlib.training.clock import use_clock

    now = [1000.0]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    schedule = TimeBudgetLR("onecycle", 3e-3, start=1000.0, seconds=100.0, warmup_fraction=0.0)
    deadline = Deadline(1100.0)
    schedule.set_model(model)
    deadline.set_model(model)
    rates = []
    with use_clock(lambda: now[0]):  # the training clock, set by hand
        for at in (1000.0, 1025.0, 1099.0):
            now[0] = at
            schedule.on_train_batch_begin(0)
            deadline.on_train_batch_end(0)
            rates.append(float(model.optimizer.learning_rate.numpy()))
        assert rates[0] < rates[1] == pytest.approx(3e-3) and rates[2] < 3e-3 / 10  # up to the peak, down to the end
        assert not deadline.hit and not model.stop_training
        now[0] = 1100.0
        deadline.on_train_batch_end(0)
    assert deadline.hit and model.stop_training


def _config_json(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_launcher_cli_and_python_write_the_same_config(tmp_path: Path) -> None:
    import time

    from cnnlib.training import launch_training
    from cnnlib.training.trainer import train_request

    data, model, train = ({"source": "digits", "seed": 1, "max_per_class": 30}, {"arch": "cifar_fast"},
                          {"epochs": 1, "seed": 2, "tensorboard": False})
    python = train_request(resolve_defaults(data, model, train, name="same"), runs_dir=tmp_path / "python")
    cli = subprocess.run([sys.executable, "-m", "cnnlib", "train", "--data", "digits", "--split-seed", "1",
                          "--max-per-class", "30", "--arch", "cifar_fast", "--epochs", "1", "--seed", "2", "--no-tensorboard",
                          "--runs", str(tmp_path / "cli")], cwd=PROJECT, capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    job = launch_training("same", data, model, train, runs_dir=tmp_path / "app")
    deadline = time.time() + 600
    while job.alive() and time.time() < deadline:
        time.sleep(1)
    assert job.status() == "completed", job.log_tail()
    configs = [_config_json(python.run_dir), _config_json(json.loads(cli.stdout.splitlines()[-1])["run_dir"]),
               _config_json(job.run_path)]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0]["data"]["seed"] == 1 and configs[0]["train"]["seed"] == 2


def _architectures() -> list[str]:
    from cnnlib.models import list_architectures

    return [arch["name"] for arch in list_architectures()]


#: Runs the CLI's ``main`` once per architecture in one interpreter, each with its own stdout and
#: stderr: the same command a user types, without paying TensorFlow's start-up seven times.
_EVERY_ARCH_DRIVER = """
import contextlib, io, json, sys
from cnnlib.cli import main
runs, archs = sys.argv[1], sys.argv[2:]
for arch in archs:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(["train", "--data", "digits", "--arch", arch, "--epochs", "1", "--max-per-class", "30",
                     "--no-tensorboard", "--runs", runs])
    sys.__stdout__.write(json.dumps({"arch": arch, "code": code, "stdout": out.getvalue(),
                                     "stderr": err.getvalue()}) + "\\n")
"""


#: One of each kind of default: the default architecture, one upscaled for its minimum input
#: size, one whose defaults come from a base run, and the time budget's default (its own
#: recipe and model defaults). The rest run in the extended tier.
_CORE_ARCHS = ("cifar_fast", "simple_cnn", "from_run", "airbench_small")


@pytest.mark.slow
@pytest.mark.parametrize("group", [
    pytest.param("core", id="core"),
    pytest.param("rest", id="rest", marks=pytest.mark.extended),
])
def test_every_architecture_trains_on_digits_with_defaults(group: str, tmp_path: Path) -> None:
    # mobilenet_v2 defaults to random init (weights=None): no download.
    # 30 images per class: the defaults and the upscaling are what is checked, not the accuracy.
    from cnnlib.models.registry import get_spec

    archs = [arch for arch in _architectures() if (arch in _CORE_ARCHS) == (group == "core")]
    done = subprocess.run([sys.executable, "-c", _EVERY_ARCH_DRIVER, str(tmp_path), *archs], cwd=PROJECT,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"arch"')]
    assert [report["arch"] for report in reports] == archs
    for report in reports:
        arch = report["arch"]
        assert report["code"] == 0, (arch, report["stderr"][-2000:])
        result = json.loads(report["stdout"].splitlines()[-1])
        assert result["status"] == "completed", arch
        config = _config_json(result["run_dir"])
        minimum = get_spec(arch).min_input_size
        assert min(config["model"]["input_shape"][:2]) >= minimum, arch
        assert (config["input_upscaled"] is not None) == (minimum > 8), arch  # digits are 8x8
        assert (minimum > 8) == ("upscaled" in report["stderr"]), arch

