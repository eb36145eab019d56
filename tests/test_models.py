"""Tests for cnnlib.models: every registered architecture, built for real on tiny inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnlib.errors import ConfigError
from cnnlib.explain.graph import conv_layer_names, layer_infos, resolve_layer
from cnnlib.models import (
    ARCHITECTURES,
    ModelConfig,
    build_model,
    count_flops,
    count_params,
    layer_table,
    list_architectures,
)
from cnnlib.models.architectures import IMAGENET_DOWNLOAD_ERROR

REPO_ROOT = Path(__file__).resolve().parents[1]
ARCHS = list(ARCHITECTURES)


def tiny_config(arch: str, channels: int = 3, **overrides) -> ModelConfig:
    """Smallest input each architecture accepts (fast), 3 classes."""
    size = max(8, ARCHITECTURES[arch].min_input_size)
    return ModelConfig(arch=arch, num_classes=3, input_shape=(size, size, channels), **overrides)


def random_images(config: ModelConfig, n: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *config.input_shape)).astype("float32")


@pytest.fixture(scope="module")
def built() -> dict[tuple[str, int], keras.Model]:
    """Build each (arch, channels) once per module; building dominates test time."""
    return {}


def get_model(built: dict, arch: str, channels: int) -> keras.Model:
    key = (arch, channels)
    if key not in built:
        built[key] = build_model(tiny_config(arch, channels))
    return built[key]


# --- every architecture -----------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("arch", ARCHS)
def test_build_and_forward(built: dict, arch: str, channels: int) -> None:
    config = tiny_config(arch, channels)
    model = get_model(built, arch, channels)
    assert model.name == arch
    assert tuple(model.input_shape) == (None, *config.input_shape)
    # the first layer after the input scales raw pixels (from_run: its frozen base's first layer,
    # after the model fits the input to the base's size and channels)
    first = model.get_layer("base").layers[1] if arch == "from_run" else model.layers[1]
    assert isinstance(first, keras.layers.Rescaling)
    head = model.layers[-1]
    assert head.name == "predictions"
    assert head.dtype_policy.compute_dtype == "float32"
    assert head.get_config()["activation"] == "softmax"

    probs = np.asarray(model(random_images(config), training=False))
    assert probs.shape == (2, 3)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert count_params(model) > 0
    assert count_flops(model) > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_layer_names_are_stable_and_unique(built: dict, arch: str) -> None:
    names = [layer.name for layer in get_model(built, arch, 3).layers]
    assert len(names) == len(set(names))
    again = [layer.name for layer in build_model(tiny_config(arch)).layers]
    assert names == again  # no keras auto-numbering (conv2d_17) leaks into names


@pytest.mark.parametrize("arch", ARCHS)
def test_last_conv_layer_resolves(built: dict, arch: str) -> None:
    model = get_model(built, arch, 3)
    name = resolve_layer(model, None)
    shapes = {info.path: info.output_shape for info in layer_infos(model)}
    assert len(shapes[name]) == 4
    assert resolve_layer(model, name) == name  # the chosen path resolves to itself


@pytest.mark.parametrize("arch", ARCHS)
def test_save_load_round_trip(built: dict, arch: str, tmp_path: Path) -> None:
    model = get_model(built, arch, 3)
    images = random_images(tiny_config(arch))
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: built-in layers only
    assert loaded.name == arch
    np.testing.assert_allclose(
        np.asarray(loaded(images, training=False)),
        np.asarray(model(images, training=False)),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.slow  # a fresh TensorFlow interpreter
def test_load_in_fresh_process_without_cnnlib(tmp_path: Path) -> None:
    """A fresh interpreter that never imports cnnlib loads the most complex model."""
    config = ModelConfig("dwsep_cnn", 4, (16, 16, 1), attention="cbam")
    model = build_model(config)
    images = random_images(config, n=3)
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "expected.npy", np.asarray(model(images, training=False)))
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import keras
        model = keras.saving.load_model({str(path)!r})
        assert "cnnlib" not in sys.modules
        out = np.asarray(model(np.load({str(tmp_path / "images.npy")!r}), training=False))
        np.testing.assert_allclose(out, np.load({str(tmp_path / "expected.npy")!r}),
                                   rtol=1e-6, atol=1e-6)
        print("OK")
        """
    )
    # cnnlib is installed, so it stays importable; the script asserts it was never imported.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,  # not the repo root, so nothing from the checkout is imported by accident
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")


def test_import_does_not_import_tensorflow() -> None:
    script = "import sys, cnnlib.models; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


# --- counts ---------------------------------------------------------------------


def test_param_counts_at_cifar_shape() -> None:
    """Exact counts at 32x32x3 / 10 classes, the numbers quoted in the docs.

    dwsep_cnn = 141,290, vs ~139k quoted for the tutorial:
      stem conv 3x3x3x32 (no bias) + BN 4x32        =    992
      block1 32->32 s1: DW 9x32+BN, PW 32x32+BN     =  1,568  (identity skip)
      block2 32->64 s1: 288+128 + 2048+256          =  2,720  (channels change: no skip)
      block3 64->128 s2: 576+256 + 8192+512         =  9,536
      block4 128->128 s1: 1152+512 + 16384+512      = 18,560  (identity skip)
      block5 128->256 s2: 1152+512 + 32768+1024     = 35,456
      block6 256->256 s1: 2304+1024 + 65536+1024    = 69,888  (identity skip)
      predictions 256x10 + 10                       =  2,570
    Half of every BN count (moving mean/variance) is non-trainable; projection skips
    on blocks 2, 3, 5 would add 44,800 more.
    """
    counts = {
        arch: count_params(build_model(ModelConfig(arch, 10, (32, 32, 3))))
        for arch in ("simple_cnn", "dwsep_cnn", "resnet_small")
    }
    assert counts == {"simple_cnn": 122_570, "dwsep_cnn": 141_290, "resnet_small": 274_042}
    assert 992 + 1568 + 2720 + 9536 + 18560 + 35456 + 69888 + 2570 == 141_290
    cifar_fast = build_model(ModelConfig("cifar_fast", 10, (32, 32, 3)))
    assert count_params(cifar_fast) <= 300_000


def test_flops_hand_computed_simple_cnn() -> None:
    """simple_cnn at 32x32x3 / 10 classes, by hand (valid padding, 2x2 pools)."""
    macs = (
        30 * 30 * (3 * 3 * 3 * 32)  # conv1 -> 30x30x32
        + 13 * 13 * (3 * 3 * 32 * 64)  # pool 15x15, conv2 -> 13x13x64
        + 4 * 4 * (3 * 3 * 64 * 64)  # pool 6x6, conv3 -> 4x4x64
        + 1024 * 64  # fc1 on the 4*4*64 flatten
        + 64 * 10  # predictions
    )
    model = build_model(ModelConfig("simple_cnn", 10, (32, 32, 3)))
    assert count_flops(model) == 2 * macs == 9_097_216


def test_flops_tiny_model_all_layer_kinds() -> None:
    """Depthwise, separable, strided conv, dense on 4D input, and a shared layer."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)  # 4x4x4
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)  # 4x4x8
    x = keras.layers.SeparableConv2D(5, 3, padding="valid")(x)  # 2x2x5
    shared = keras.layers.Dense(6)
    a = shared(x)  # dense on each of 2x2 positions
    b = shared(x)  # called twice: counted twice
    x = keras.layers.Add()([a, b])
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    macs = 4 * 4 * (3 * 3 * 3 * 4) + 4 * 4 * (3 * 3 * 4 * 2) + 2 * 2 * (3 * 3 * 8 + 8 * 5) + 2 * (2 * 2 * 5 * 6) + 6 * 2
    assert count_flops(model) == 2 * macs

    # nested: the same model called inside another counts its graph once per call
    outer_in = keras.Input((8, 8, 3))
    outer = keras.Model(outer_in, model(outer_in))
    assert count_flops(outer) == 2 * macs


# --- mobilenet_v2 ------------------------------------------------------------------


def test_mobilenet_nested_last_conv_and_preprocessing(built: dict) -> None:
    model = get_model(built, "mobilenet_v2", 1)
    assert conv_layer_names(model)[-1] == "mobilenetv2/out_relu"
    assert resolve_layer(model, "mobilenetv2/out_relu") == "mobilenetv2/out_relu"
    assert resolve_layer(model, "out_relu") == "mobilenetv2/out_relu"  # a bare inner name finds it too
    names = [layer.name for layer in model.layers]
    assert names[:4] == ["image", "rescale", "gray_to_rgb", "upsample"]
    base = model.get_layer("mobilenetv2")
    assert tuple(base.input_shape) == (None, 32, 32, 3)
    rescale = model.get_layer("rescale").get_config()
    assert rescale["scale"] == pytest.approx(1 / 127.5) and rescale["offset"] == -1.0
    # weights=None: the base trains from scratch with the configured BN momentum
    momenta = {layer.momentum for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {0.9}
    assert base.trainable
    rows = layer_table(model, expand_nested=True)
    assert any(row["name"] == "mobilenetv2/out_relu" for row in rows)


@pytest.mark.slow  # two MobileNetV2 builds and a weights round trip: ~9 s
def test_mobilenet_local_weights_file(tmp_path: Path) -> None:
    config = tiny_config("mobilenet_v2", width=0.35)
    source = build_model(config).get_layer("mobilenetv2")
    weights_path = tmp_path / "base.weights.h5"
    source.save_weights(weights_path)

    model = build_model(tiny_config("mobilenet_v2", width=0.35, weights=str(weights_path)))
    base = model.get_layer("mobilenetv2")
    for loaded, expected in zip(base.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, expected)
    assert not base.trainable  # pretrained base starts frozen
    images = random_images(config)
    # training=True must not move BN statistics of a pretrained base (called training=False)
    before = np.asarray(model(images, training=False))
    model(images, training=True)
    np.testing.assert_allclose(np.asarray(model(images, training=False)), before, rtol=1e-6)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded_model = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded_model(images, training=False)), before, rtol=1e-6, atol=1e-6)


def test_mobilenet_missing_weights_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.h5")
    with pytest.raises(ConfigError, match="weights file not found") as info:
        build_model(tiny_config("mobilenet_v2", weights=missing))
    assert str(info.value).endswith(f"Received: weights={missing!r}")


def test_mobilenet_imagenet_offline_is_one_clear_line() -> None:
    config = ModelConfig("mobilenet_v2", 3, (96, 96, 3), weights="imagenet")
    try:
        build_model(config)
    except ConfigError as error:
        assert str(error) == IMAGENET_DOWNLOAD_ERROR
        assert "\n" not in str(error)
    else:
        pytest.skip("ImageNet weights are reachable or cached here; offline path not testable")


def test_mobilenet_weights_need_published_alpha() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        ModelConfig("mobilenet_v2", 3, (32, 32, 3), width=0.6, weights="imagenet")


# --- options ----------------------------------------------------------------------


@pytest.mark.parametrize("attention", ["se", "cbam"])
def test_dwsep_attention_variants(built: dict, attention: str) -> None:
    config = tiny_config("dwsep_cnn", attention=attention)
    model = build_model(config)
    plain = get_model(built, "dwsep_cnn", 3)
    assert count_params(model) > count_params(plain)
    names = {layer.name for layer in model.layers}
    for index in range(1, 7):
        assert f"block{index}_{attention}_{'scale' if attention == 'se' else 'sa_scale'}" in names
    probs = np.asarray(model(random_images(config), training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert resolve_layer(model, None) == f"block6_{attention}_" + ("scale" if attention == "se" else "sa_scale")


@pytest.mark.parametrize("arch", [a for a, s in ARCHITECTURES.items() if s.supports_attention])
def test_attention_builds_for_supporting_archs(arch: str) -> None:
    config = tiny_config(arch, attention="se")
    model = build_model(config)
    assert np.asarray(model(random_images(config), training=False)).shape == (2, 3)


def test_width_l2_bn_momentum_are_applied() -> None:
    narrow = build_model(tiny_config("resnet_small", width=0.5))
    wide = build_model(tiny_config("resnet_small", width=2.0))
    assert count_params(narrow) < count_params(get_model({}, "resnet_small", 3)) < count_params(wide)
    model = build_model(tiny_config("cifar_fast", l2=1e-4, bn_momentum=0.8))
    model(random_images(tiny_config("cifar_fast")), training=False)
    assert len(model.losses) > 0
    momenta = {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {0.8}


def test_mixed_float16_keeps_float32_softmax() -> None:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        config = tiny_config("cifar_fast")
        model = build_model(config)
        probs = model(random_images(config), training=False)
    finally:
        keras.config.set_dtype_policy(previous)
    assert probs.dtype == "float32"
    assert model.get_layer("stem_conv").compute_dtype == "float16"


def test_layer_table_rows(built: dict) -> None:
    model = get_model(built, "simple_cnn", 3)
    rows = layer_table(model)
    assert [row["name"] for row in rows] == [layer.name for layer in model.layers]
    assert sum(row["params"] for row in rows) == count_params(model)
    conv1 = rows[2]
    assert conv1 == {
        "name": "conv1",
        "type": "Conv2D",
        "output_shape": "(None, 16, 16, 32)",
        "params": 896,
        "trainable": True,
    }


def test_list_architectures() -> None:
    listed = list_architectures()
    assert [row["name"] for row in listed] == ARCHS
    for row in listed:
        assert row["description"] and row["default_batch_size"] > 0


# --- config validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 2.5}, "num_classes"),
        ({"width": 0}, "width"),
        ({"width": -1.0}, "width"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"l2": -1e-4}, "l2"),
        ({"bn_momentum": 1.0}, "bn_momentum"),
        ({"attention": "transformer"}, "attention"),
        ({"input_shape": (32, 32, 2)}, "channels"),
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"input_shape": (4, 4, 3)}, "too small"),
        ({"weights": "imagenet"}, "only available for mobilenet_v2"),
    ],
)
def test_config_validation(overrides: dict, match: str) -> None:
    values = {"arch": "dwsep_cnn", "num_classes": 10, "input_shape": (32, 32, 3), **overrides}
    with pytest.raises(ConfigError, match=match) as info:
        ModelConfig(**values)
    message = str(info.value)
    assert "\n" not in message and "Received:" in message


def test_unknown_arch_lists_known_names() -> None:
    with pytest.raises(ConfigError) as info:
        ModelConfig("foo", 10, (32, 32, 3))
    message = str(info.value)
    assert all(name in message for name in ARCHS)
    assert message.endswith("Received: arch='foo'")


def test_input_too_small_names_minimum() -> None:
    with pytest.raises(ConfigError, match="at least 18x18"):
        ModelConfig("simple_cnn", 10, (8, 8, 1))
    with pytest.raises(ConfigError, match="does not support attention"):
        ModelConfig("simple_cnn", 10, (32, 32, 3), attention="se")


def test_config_dict_round_trip_through_json() -> None:
    config = ModelConfig("dwsep_cnn", 5, (28, 28, 1), width=0.5, attention="cbam", l2=1e-4)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["input_shape"] == [28, 28, 1]
    assert ModelConfig.from_dict(data) == config
    with pytest.raises(ConfigError, match="unknown model config keys"):
        ModelConfig.from_dict({**data, "dropuot": 0.5})
    with pytest.raises(ConfigError, match="missing required keys: num_classes"):
        ModelConfig.from_dict({"arch": "dwsep_cnn", "input_shape": [8, 8, 1]})


def test_build_model_rejects_non_config() -> None:
    with pytest.raises(ConfigError, match="ModelConfig"):
        build_model({"arch": "simple_cnn"})  # type: ignore[arg-type]
