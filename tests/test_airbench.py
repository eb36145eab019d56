"""The airbench recipe's levers, each against its definition, and the tier-1 model end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnnlib.data.config import Split  # noqa: E402
from cnnlib.data.pipeline import make_tf_dataset  # noqa: E402
from cnnlib.errors import ConfigError  # noqa: E402
from cnnlib.training.lookahead import BASE_DECAY, Lookahead  # noqa: E402
from cnnlib.training.optimizers import BN_BIAS_GROUP, WHITEN_BIAS_GROUP, GroupedSGD, GroupOffAfter, group_of  # noqa: E402
from cnnlib.training.whitening import patch_moments, whitening_weights  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]


def _smooth_images(count: int, seed: int, size: int = 12) -> np.ndarray:
    """Colour images whose neighbouring pixels and channels correlate, as photos' do."""
    rng = np.random.default_rng(seed)
    base = rng.random((count, size // 2, size // 2, 1))
    image = np.repeat(np.repeat(base, 2, axis=1), 2, axis=2) + 0.2 * rng.random((count, size, size, 3))
    return (255 * image / image.max()).astype(np.uint8)


def test_whitening_makes_patches_of_new_images_uncorrelated_with_unit_variance() -> None:
    kernel, bias = whitening_weights(_smooth_images(400, seed=0), patch=2)
    assert kernel.shape == (2, 2, 3, 24) and bias.shape == (24,)
    mean, covariance = patch_moments(_smooth_images(400, seed=1), patch=2)  # images it was not fitted on
    filters = kernel.reshape(12, 24)
    np.testing.assert_allclose(filters[:, 12:], -filters[:, :12])  # each filter and its negative
    whitened = filters[:, :12].T @ covariance @ filters[:, :12]
    strong = slice(0, 8)  # the eps damps the weakest directions on purpose
    np.testing.assert_allclose(whitened[strong, strong], np.eye(8), atol=0.08)
    assert abs(float(mean @ filters[:, 0] + bias[0])) < 0.1  # centred output


def _tiny_model() -> keras.Model:
    inputs = keras.Input((2, 2, 1))
    x = keras.layers.Conv2D(2, 1, name="whiten")(inputs)
    x = keras.layers.BatchNormalization(scale=False, name="block1_bn")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="predictions")(x))


def test_grouped_sgd_is_pytorch_nesterov_with_coupled_l2_and_group_rates() -> None:
    model = _tiny_model()
    variables = model.trainable_variables
    assert {group_of(v.path) for v in variables} == {WHITEN_BIAS_GROUP, BN_BIAS_GROUP, "default"}
    optimizer = GroupedSGD(learning_rate=0.1, momentum=0.85, l2=0.01, group_scales={BN_BIAS_GROUP: 64.0})
    start = [np.array(v.numpy()) for v in variables]
    grads = [np.full(v.shape, 0.5, np.float32) for v in variables]
    for _ in range(2):
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    for variable, w0, g in zip(variables, start, grads, strict=True):
        scale = 64.0 if group_of(variable.path) == BN_BIAS_GROUP else 1.0
        w, buf = w0.astype(np.float64), np.zeros_like(w0, np.float64)
        for _ in range(2):  # torch.optim.SGD(nesterov=True), weight_decay = l2 / scale, lr * scale
            step = g + 0.01 / scale * w
            buf = 0.85 * buf + step
            w = w - 0.1 * scale * (step + 0.85 * buf)
        np.testing.assert_allclose(variable.numpy(), w, rtol=1e-5, atol=1e-6, err_msg=variable.path)


def test_a_group_switched_off_stays_exactly_where_it_is() -> None:
    keras.utils.set_random_seed(0)
    model = _tiny_model()
    model.compile(optimizer=GroupedSGD(learning_rate=0.5, momentum=0.9), loss="mse")
    x, y = np.random.default_rng(0).random((8, 2, 2, 1)), np.random.default_rng(1).random((8, 2))
    freeze = GroupOffAfter(WHITEN_BIAS_GROUP, epochs=1)
    history: list[np.ndarray] = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: history.append(model.get_layer("whiten").bias.numpy().copy()))
    model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[freeze, record])
    assert not np.allclose(history[0], 0.0)  # it trained in epoch 1 ...
    np.testing.assert_array_equal(history[1], history[0])  # ... and not after
    np.testing.assert_array_equal(history[2], history[0])
    assert float(model.optimizer.scale(WHITEN_BIAS_GROUP).numpy()) == 0.0


def test_lookahead_pulls_every_fifth_step_and_ends_on_the_average() -> None:
    model = _tiny_model()
    model.compile(optimizer="sgd", loss="mse")
    callback = Lookahead(progress=lambda steps: 1.0)
    callback.set_model(model)
    callback.set_params({"epochs": 1})
    before = [w.numpy().copy() for w in model.weights]
    callback.on_train_begin()
    moved = [w + 1.0 for w in before]
    model.set_weights(moved)
    for batch in range(4):
        callback.on_train_batch_end(batch)
    assert all(np.array_equal(w.numpy(), m) for w, m in zip(model.weights, moved, strict=True))  # steps 1-4: untouched
    callback.on_train_batch_end(4)
    for weight, old, new in zip(model.weights, before, moved, strict=True):
        np.testing.assert_allclose(weight.numpy(), BASE_DECAY * old + (1 - BASE_DECAY) * new, rtol=1e-6)
    average = [w.numpy().copy() for w in model.weights]
    model.set_weights([w + 5.0 for w in average])
    callback.on_epoch_end(0)  # the last epoch ends on the average, whatever the weights did since
    for weight, expected in zip(model.weights, average, strict=True):
        np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-6)


def test_alternating_flip_mirrors_each_image_in_every_other_epoch() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 4, 5, 1), dtype=np.uint8)  # asymmetric: a mirror is another picture
    split = Split(images=images, labels=np.arange(10), ids=[f"i{n}" for n in range(10)])
    batches = make_tf_dataset(split, batch_size=10, training=True, seed=3, augment=("alternating_flip",))
    states = []
    for batch, labels in batches.take(4):  # one batch is one epoch here
        seen = {}
        for image, label in zip(batch.numpy().astype(np.uint8), labels.numpy(), strict=True):
            original = images[label]
            assert np.array_equal(image, original) or np.array_equal(image, original[:, ::-1])
            seen[int(label)] = bool(np.array_equal(image, original[:, ::-1]) and not np.array_equal(image, original))
        assert sorted(seen) == list(range(10))  # every image once per epoch
        states.append([seen[n] for n in range(10)])
    assert 0 < sum(states[0]) < 10
    for earlier, later in zip(states, states[1:], strict=False):
        assert [not flag for flag in earlier] == later
    with pytest.raises(ConfigError, match="choose one of flip"):
        make_tf_dataset(split, 10, training=True, seed=0, augment=("flip", "alternating_flip"))


def test_six_views_answer_as_the_mean_of_each_views_logits() -> None:
    from cnnlib.inference import inference_model, logits_model
    from cnnlib.models import ModelConfig, build_model
    from cnnlib.spec import SHIFTED_VIEWS, spec_for

    keras.utils.set_random_seed(0)
    classifier = build_model(ModelConfig(arch="airbench_small", num_classes=3, input_shape=(12, 12, 3)))
    spec = spec_for((12, 12, 3), ["a", "b", "c"], SHIFTED_VIEWS)
    images = np.random.default_rng(0).integers(0, 256, (4, 12, 12, 3)).astype(np.float32)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    moved_down_right, moved_up_left = padded[:, :12, :12], padded[:, 2:, 2:]
    mirror = images[:, :, ::-1]
    mirror_padded = np.pad(mirror, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    views = [images, mirror, moved_down_right, moved_up_left, mirror_padded[:, :12, :12], mirror_padded[:, 2:, 2:]]
    assert np.array_equal(moved_down_right[:, 1:, 1:], images[:, :-1, :-1])  # the content moved down and right
    logits = logits_model(classifier)
    mean = np.mean([logits.predict(view, verbose=0) for view in views], axis=0)
    expected = np.exp(mean) / np.exp(mean).sum(axis=1, keepdims=True)
    answer = inference_model(classifier, spec).predict(images, verbose=0)
    np.testing.assert_allclose(answer, expected, rtol=1e-4, atol=1e-6)


def test_a_time_budget_without_an_architecture_trains_the_tier_one_recipe() -> None:
    from cnnlib.training.recipes import BUDGET_ARCH
    from cnnlib.training.request import resolve_defaults

    request = resolve_defaults({"source": "digits"}, {}, {"time_budget_minutes": 15})
    assert request.arch == BUDGET_ARCH == "airbench_small"
    assert request.model["dropout"] == 0.0 and request.model["bn_momentum"] == 0.4
    train = request.train
    assert (train.optimizer, train.lr, train.momentum, train.bn_bias_lr_scale) == ("sgd_airbench", 1.5, 0.85, 64.0)
    assert train.augment == ("alternating_flip", "crop") and train.crop_padding == 2 and train.lookahead
    assert len(train.test_views) == 6 and train.schedule == "triangle" and train.batch_size == 1024
    assert resolve_defaults({"source": "digits"}, {}, {}).arch == "cifar_fast"  # no budget: the default stays
    adam = resolve_defaults({"source": "digits"}, {}, {"time_budget_minutes": 15, "optimizer": "adam"}).train
    assert (adam.lr, adam.momentum, adam.bn_bias_lr_scale, adam.weight_decay) == (1e-3, 0.9, 1.0, 0.0)
    with pytest.raises(ConfigError, match="needs the sgd_airbench optimizer"):
        resolve_defaults({"source": "digits"}, {}, {"optimizer": "adam", "bn_bias_lr_scale": 8.0})


def test_identity_kernels_start_the_whitened_blocks_and_leave_other_architectures_alone() -> None:
    from cnnlib.models import ModelConfig, build_model
    from cnnlib.models.whitened import set_identity_kernels

    keras.utils.set_random_seed(0)
    small = build_model(ModelConfig(arch="airbench_small", num_classes=10, input_shape=(32, 32, 3)))
    assert set_identity_kernels(small)
    kernel = small.get_layer("block2_a_conv").get_weights()[0]  # 32 inputs -> 64 filters
    dirac = np.zeros((3, 3, 32, 32), np.float32)
    dirac[1, 1, np.arange(32), np.arange(32)] = 1.0
    np.testing.assert_array_equal(kernel[..., :32], dirac)
    assert np.count_nonzero(kernel[..., 32:]) == kernel[..., 32:].size  # the other filters stay random
    other = build_model(ModelConfig(arch="cifar_fast", num_classes=10, input_shape=(32, 32, 3)))
    before = other.get_weights()
    assert not set_identity_kernels(other)
    for old, new in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_tier_one_activates_with_gelu_and_tier_two_with_relu_after_the_stem_and_every_batchnorm() -> None:
    from cnnlib.models import ModelConfig, build_model

    for arch, expected, params in (("airbench_small", "gelu", 295_554), ("airbench", "relu", 1_973_954)):
        model = build_model(ModelConfig(arch=arch, num_classes=10, input_shape=(32, 32, 3)))
        activations = [layer.activation.__name__ for layer in model.layers if layer.name.endswith("_act")]
        assert activations == [expected] * 7, arch  # the stem and two per block
        assert model.count_params() == params, arch
        # a probe through the first block's activation: ReLU never goes below 0, GELU does
        probe = keras.Model(model.inputs, model.get_layer("block1_a_act").output)
        lowest = float(np.min(probe(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32"))))
        assert (lowest < 0) == (expected == "gelu"), arch


@pytest.mark.slow  # a real (one-epoch) training
def test_whitening_and_identity_init_switch_off_and_are_saved_with_the_run(tmp_path: Path) -> None:
    """The ablation's baseline: the stem trains from its random start, and the run records it."""
    from cnnlib.data import DataConfig, load_dataset
    from cnnlib.runs import RunStore
    from cnnlib.training import TrainConfig, train

    data = DataConfig(source="digits")
    result = train(data, {"arch": "airbench_small"},
                   TrainConfig(epochs=1, batch_size=256, optimizer="sgd_airbench", whiten=False,
                               identity_init=False, tensorboard=False), runs_dir=tmp_path, name="levers-off")
    assert result.status == "completed", result.error
    run_dir = RunStore(tmp_path).get(result.run_id).path
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["whiten"] is False and config["train"]["identity_init"] is False
    model = keras.saving.load_model(run_dir / "model.keras")
    stem = model.get_layer("whiten").get_weights()[0]
    fitted, _ = whitening_weights(load_dataset(DataConfig.from_dict(config["data"])).train.images, 2)
    assert np.isfinite(stem).all() and not np.allclose(stem, fitted, atol=1e-2)  # trained from random, not fitted
    kernel = model.get_layer("block2_a_conv").get_weights()[0]
    # A Dirac start keeps its centre taps near 1 after six updates; Keras' init spreads them around 0.
    assert abs(float(np.mean(kernel[1, 1, np.arange(32), np.arange(32)]))) < 0.5
    with pytest.raises(ConfigError, match="whiten must be true or false"):
        TrainConfig(whiten="no")


def test_the_budget_counts_from_the_process_start() -> None:
    script = ("import time; before = time.time()\n"
              "from cnnlib.training import clock\n"
              "clock.start_budget_at_process_start()\n"
              "print(before - clock.budget_started(time.time()))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, check=True)
    startup = float(done.stdout.strip())
    assert 0.0 < startup < 30.0  # the interpreter's own start-up, before the first line ran


@pytest.mark.slow  # a real 40-second training in a fresh interpreter
def test_a_budgeted_command_ends_within_its_budget_and_records_its_start_up(tmp_path: Path) -> None:
    """The promise of ``--time-budget``: the whole command, imports and data loading included."""
    import time

    budget_minutes = 0.75
    command = [sys.executable, "-m", "cnnlib", "train", "--data", "digits", "--arch", "cifar_fast",
               "--time-budget", str(budget_minutes), "--no-tensorboard"]
    began = time.time()
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, timeout=600,
                          env={**os.environ, "CNNLIB_RUNS": str(tmp_path)})
    wall = time.time() - began
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    info = json.loads((Path(result["run_dir"]) / "run.json").read_text())
    # The command's seconds before training were counted against the budget, not added to it.
    assert 0.0 < info["startup_seconds"] < wall
    # The reserve (1% + 5 s) and the timed finish absorb a step's overshoot; a start-up left
    # uncounted would overrun by itself (about 10 s: TensorFlow's import and the data).
    assert wall <= budget_minutes * 60 + 3.0, f"{wall:.1f} s for a {budget_minutes * 60:.0f}-second budget"


def test_auto_precision_uses_bfloat16_only_where_the_cpu_has_it() -> None:
    from cnnlib.training.device import DeviceInfo, configure_precision, cpu_has_bf16

    cpu = DeviceInfo(kind="CPU", gpus=(), cpu="test", cores=2)
    try:
        assert configure_precision("auto", cpu) == ("mixed_bfloat16" if cpu_has_bf16() else "float32")
        assert configure_precision("off", cpu) == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
def test_tier_one_model_trains_with_its_recipe_and_exports_answering_alike(tmp_path: Path) -> None:
    """The whole path a user takes: CLI train, a frozen whitening kernel, the six views in the export."""
    env = {"CNNLIB_RUNS": str(tmp_path)}
    command = [sys.executable, "-m", "cnnlib", "train", "--data", "digits", "--arch", "airbench_small",
               "--epochs", "4", "--batch-size", "128", "--whiten-bias-epochs", "1", "--no-tensorboard"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, env={**os.environ, **env}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["status"] == "completed" and result["test_accuracy"] > 0.5, result
    run_dir = Path(result["run_dir"])
    from cnnlib.data import DataConfig, load_dataset

    config = json.loads((run_dir / "config.json").read_text())
    dataset = load_dataset(DataConfig.from_dict(config["data"]))
    kernel, _ = whitening_weights(dataset.train.images, 2)
    model = keras.saving.load_model(run_dir / "model.keras")  # no custom objects
    np.testing.assert_allclose(model.get_layer("whiten").get_weights()[0], kernel, rtol=1e-5, atol=1e-6)
    exported = subprocess.run([sys.executable, "-m", "cnnlib", "export", str(run_dir), "--format", "tflite-float32"],
                              capture_output=True, text=True, cwd=PROJECT, env={**os.environ, **env}, timeout=600)
    assert exported.returncode == 0, exported.stderr[-2000:]
    report = json.loads(exported.stdout.splitlines()[-1])
    assert report["agreement"] >= 0.99, report


def _int8_conv_dtypes(arch: str) -> dict[str, str]:
    """Output dtype of each CONV_2D/MUL/ADD op of ``arch``'s int8 export, by the op's tensor name."""
    from cnnlib.export import convert_tflite, tflite_op_outputs
    from cnnlib.models import ModelConfig, build_model

    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(arch=arch, num_classes=3, input_shape=(17, 17, 3)))
    images = np.random.default_rng(0).integers(0, 256, (8, 17, 17, 3), dtype=np.uint8)
    return {name: dtype for kind, name, dtype in tflite_op_outputs(convert_tflite(model, "tflite-int8", images))
            if kind in ("CONV_2D", "MUL", "ADD")}


def test_int8_keeps_the_whitening_stem_and_the_bns_after_pools_in_float_and_nothing_else() -> None:
    ops = _int8_conv_dtypes("airbench_small")
    floats = {name for name, dtype in ops.items() if dtype == "float32"}
    assert any("whiten" in name for name in floats), ops
    assert {name for name in floats if "_a_bn" in name}, ops
    assert all("_a_bn" in name or "whiten" in name for name in floats), ops
    assert any(dtype == "int8" and "block2_b_conv" in name for name, dtype in ops.items()), ops  # the body is integer
    assert set(_int8_conv_dtypes("cifar_fast").values()) == {"int8"}  # its stage*_a_bn names are not airbench's
