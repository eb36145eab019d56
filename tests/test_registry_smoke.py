"""Every registered architecture explains and exports: Grad-CAM through the app's layer picker, a verified TFLite file.

Each model is built once, at its architecture's smallest input, untrained. Its BatchNorm
statistics are first set by a few training-mode passes (what the first steps of a real
training do): in inference mode a fresh MobileNetV2 otherwise keeps the init statistics
and its logits shrink to ~1e-12, so every Grad-CAM map would be flat for a reason that
has nothing to do with explaining.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnnlib.explain import explain  # noqa: E402
from cnnlib.explain.graph import layer_infos, resolve_layer  # noqa: E402
from cnnlib.export import TFLiteClassifier, export_tflite  # noqa: E402
from cnnlib.models import ARCHITECTURES, ModelConfig, build_model  # noqa: E402
from cnnlib.predict import predict_probabilities  # noqa: E402

NUM_CLASSES = 3
# Measured here (build included): more than ~3 s each; MobileNetV2 runs at 32x32 inside;
# from_run loads the bundled model (3.8 s export, 2.6 s explain).
SLOW_EXPLAIN = {"dwsep_cnn", "resnet_small", "inception_small", "mobilenet_v2", "from_run", "airbench"}  # > ~3 s each
EXTENDED = {"mobilenet_v2", "airbench"}  # 2.3M and 2.0M parameters; ./test.sh --extended
SLOW_EXPORT = {"cifar_fast", "dwsep_cnn", "resnet_small", "inception_small", "mobilenet_v2", "from_run",
               "airbench_small", "airbench"}


#: At their 9 px minimum the airbench models' last conv map is 1x1, where Grad-CAM has nothing to
#: place; 17 px leaves 2x2 (16 -> 8 -> 4 -> 2).
SIDE = {"airbench_small": 17, "airbench": 17}


def _side(arch: str) -> int:
    return SIDE.get(arch, ARCHITECTURES[arch].min_input_size)


def _params(slow: set[str]) -> list:
    """Every registered architecture, the ones in ``slow`` marked ``slow``."""
    return [pytest.param(arch, marks=[pytest.mark.slow, *([pytest.mark.extended] if arch in EXTENDED else [])])
            if arch in slow else arch for arch in ARCHITECTURES]


def _images(arch: str, count: int = 16, seed: int = 0) -> np.ndarray:
    size = _side(arch)
    images = np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    images[0] = 0
    images[0, : size // 2, : size // 2] = 255  # one image with structure: a bright top-left quarter
    return images


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    """One model per architecture, built on first use."""
    return {}


def smallest_model(models: dict, arch: str) -> keras.Model:
    if arch not in models:
        keras.utils.set_random_seed(0)
        size = _side(arch)
        model = build_model(ModelConfig(arch=arch, num_classes=NUM_CLASSES, input_shape=(size, size, 3)))
        batch = _images(arch).astype("float32")
        for _ in range(20):  # momentum 0.9: 20 passes bring the moving statistics ~90% of the way
            model(batch, training=True)
        models[arch] = model
    return models[arch]


@pytest.mark.parametrize("arch", _params(SLOW_EXPLAIN))
def test_every_architecture_gives_a_gradcam_heatmap(models: dict, arch: str) -> None:
    model = smallest_model(models, arch)
    image = _images(arch)[0]
    layer = resolve_layer(model, None)
    shapes = {info.path: info.output_shape for info in layer_infos(model)}
    assert len(shapes[layer]) == 4
    heatmaps = []
    for target in range(NUM_CLASSES):
        result = explain(model, image, "gradcam", target_class=target)
        assert result.layer_name == layer  # the picker the app uses, every time
        assert result.heatmap.shape == image.shape[:2]
        assert np.isfinite(result.heatmap).all()
        assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0
        heatmaps.append(result.heatmap)
    # Grad-CAM's ReLU may legitimately zero one class's map; the layer must still carry signal.
    spreads = [float(heatmap.max() - heatmap.min()) for heatmap in heatmaps]
    assert max(spreads) > 0.5, f"{arch}: every class gives a flat heatmap at {layer}: spreads {spreads}"


@pytest.mark.parametrize("arch", _params(SLOW_EXPORT))
def test_every_architecture_exports_a_verified_float32_tflite(models: dict, arch: str, tmp_path: Path) -> None:
    model = smallest_model(models, arch)
    images = _images(arch, seed=1)
    labels = np.arange(len(images)) % NUM_CLASSES
    report = export_tflite(model, "tflite-float32", tmp_path / f"{arch}.tflite", None, images, labels)
    assert Path(report["path"]).stat().st_size == report["bytes"] > 0
    assert report["test_count"] == len(images)
    assert report["agreement"] == 1.0
    assert report["tflite_accuracy"] == report["keras_accuracy"]
    tflite = TFLiteClassifier(report["path"]).predict_probabilities(images)
    np.testing.assert_allclose(tflite, predict_probabilities(model, images), atol=1e-4)
