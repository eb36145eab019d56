"""Explanations on small trained digit classifiers: shapes, parity with tf-keras-vis, no side effects."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnnlib.errors import ConfigError, DataError  # noqa: E402
from cnnlib.explain import (  # noqa: E402
    METHODS,
    REFERENCE_METHOD,
    conv_layer_names,
    explain,
    explain_all,
    fast_gradcam,
    feature_maps,
)
from cnnlib.explain.overlay import colorize  # noqa: E402
from cnnlib.predict import predict_probabilities  # noqa: E402


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    return images[:1400], labels[:1400], images[1400:], labels[1400:]


def _sequential() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.Conv2D(32, 3, padding="same", name="conv2"),
            keras.layers.BatchNormalization(name="bn2"),
            keras.layers.ReLU(name="relu2"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="seq",
    )


def _functional_nested() -> keras.Model:
    inner = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inner)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="b_conv1")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="b_conv2")(x)
    base = keras.Model(inner, x, name="base")
    inputs = keras.Input((8, 8, 1))
    x = base(inputs)
    x = keras.layers.MaxPooling2D(name="head_pool")(x)
    x = keras.layers.Flatten(name="head_flatten")(x)
    x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="func")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return _digits()


@pytest.fixture(scope="module", params=["sequential", "functional_nested"])
def trained(request: pytest.FixtureRequest, digits: tuple) -> keras.Model:
    x_train, y_train, x_test, y_test = digits
    keras.utils.set_random_seed(0)
    model = _sequential() if request.param == "sequential" else _functional_nested()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=8, batch_size=64, verbose=0)
    accuracy = float(np.mean(predict_probabilities(model, x_test).argmax(axis=1) == y_test))
    assert accuracy > 0.9, f"fixture model under-trained: {accuracy:.3f}"
    return model


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_conv_layer_names_and_automatic_choice(trained: keras.Model, digits: tuple) -> None:
    names = conv_layer_names(trained)
    if trained.name == "seq":
        assert names == ["conv1", "conv2", "bn2", "relu2", "pool"]
        expected = "relu2"  # last feature map before the grid is pooled away
    else:
        assert names == ["base/b_conv1", "base/b_conv2", "head_pool"]
        expected = "base/b_conv2"
    assert explain(trained, digits[2][0], "gradcam").layer_name == expected


@pytest.mark.parametrize("method", (*METHODS, REFERENCE_METHOD))
def test_every_method_gives_a_usable_heatmap(trained: keras.Model, digits: tuple, method: str) -> None:
    _, _, x_test, y_test = digits
    image = x_test[1]
    result = explain(trained, image, method)
    probs = predict_probabilities(trained, image)[0]
    assert result.heatmap.shape == (8, 8) and result.heatmap.dtype == np.float32
    assert np.all(np.isfinite(result.heatmap))
    assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0
    assert result.heatmap.max() > result.heatmap.min()  # not degenerate
    assert result.label == int(probs.argmax()) == result.target_class
    assert result.confidence == pytest.approx(float(probs.max()), abs=1e-5)
    assert result.method == method
    assert (result.layer_name is None) == (method == "saliency")


def test_fast_gradcam_matches_tf_keras_vis(trained: keras.Model, digits: tuple) -> None:
    x_test = digits[2]
    compared = 0
    for image in x_test[:12]:
        reference = explain(trained, image, "gradcam-reference").heatmap
        if reference.max() <= reference.min():
            continue  # ReLU zeroed the whole map: correlation is undefined
        fast = fast_gradcam(trained, image)
        assert _pearson(fast, reference) >= 0.99
        compared += 1
    assert compared >= 6


def test_named_layer_is_used_not_the_last_conv(trained: keras.Model, digits: tuple) -> None:
    """tf-keras-vis' default search would jump from a named BN/early layer to the last Conv2D."""
    image = digits[2][3]
    layer = "bn2" if trained.name == "seq" else "b_conv1"
    fast = explain(trained, image, "gradcam", layer_name=layer)
    reference = explain(trained, image, "gradcam-reference", layer_name=layer)
    assert fast.layer_name == reference.layer_name == (layer if trained.name == "seq" else "base/b_conv1")
    if reference.heatmap.max() > reference.heatmap.min():
        assert _pearson(fast.heatmap, reference.heatmap) >= 0.99
    last = explain(trained, image, "gradcam-reference").heatmap
    assert not np.allclose(reference.heatmap, last)


def test_target_class_is_explained(trained: keras.Model, digits: tuple) -> None:
    image = digits[2][0]
    label = int(predict_probabilities(trained, image)[0].argmax())
    other = (label + 1) % 10
    result = explain(trained, image, "gradcam", target_class=other)
    assert result.target_class == other and result.label == label
    assert not np.allclose(result.heatmap, explain(trained, image, "gradcam").heatmap)


def test_explaining_never_modifies_the_model(trained: keras.Model, digits: tuple) -> None:
    x_test = digits[2][:16]
    probe_layer = trained.get_layer("relu2" if trained.name == "seq" else "head_pool")
    probe = keras.Model(trained.inputs[0], probe_layer.output)
    weights = [w.copy() for w in trained.get_weights()]
    activations = np.asarray(probe(x_test.astype("float32"), training=False))
    probs = np.asarray(trained(x_test.astype("float32"), training=False))
    layer_count, output_names = len(trained.layers), [t.name for t in trained.outputs]

    explain_all(trained, x_test[0], methods=(*METHODS, REFERENCE_METHOD))
    feature_maps(trained, x_test[0], conv_layer_names(trained)[0])
    fast_gradcam(trained, x_test[1], layer_name=conv_layer_names(trained)[0])

    assert len(trained.layers) == layer_count and [t.name for t in trained.outputs] == output_names
    assert trained.get_layer("predictions").activation.__name__ == "softmax"
    for before, after in zip(weights, trained.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(activations, np.asarray(probe(x_test.astype("float32"), training=False)))
    np.testing.assert_array_equal(probs, np.asarray(trained(x_test.astype("float32"), training=False)))
    np.testing.assert_allclose(predict_probabilities(trained, x_test), probs, rtol=1e-5, atol=1e-6)


def test_feature_maps_shapes(trained: keras.Model, digits: tuple) -> None:
    image = digits[2][0]
    first = conv_layer_names(trained)[0]
    maps = feature_maps(trained, image, first)
    assert maps.shape == (8, 8, 16) and maps.dtype == np.float32 and np.isfinite(maps).all()
    assert feature_maps(trained, image, None).shape[-1] == 32
    if trained.name != "seq":  # a bare inner name resolves inside the nested base
        np.testing.assert_array_equal(feature_maps(trained, image, "b_conv1"), maps)


def test_overlay_is_rgb_uint8(trained: keras.Model, digits: tuple) -> None:
    image = digits[2][0]
    result = explain(trained, image, "gradcam")
    drawn = result.overlay(image, alpha=0.5)
    assert drawn.shape == (8, 8, 3) and drawn.dtype == np.uint8
    np.testing.assert_array_equal(result.overlay(0.5), drawn)  # overlay(alpha) draws on the explained image
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # e.g. the original, larger photo
    assert result.overlay(big).shape == (32, 32, 3)
    np.testing.assert_array_equal(result.overlay(image, alpha=0.0), np.repeat(image, 3, axis=-1))


def test_jet_colormap_endpoints() -> None:
    colors = colorize(np.array([[0.0, 0.5, 1.0]]))
    assert colors.dtype == np.uint8
    assert tuple(colors[0, 0]) == (0, 0, 128)  # dark blue
    assert tuple(colors[0, 2]) == (128, 0, 0)  # dark red
    assert colors[0, 1, 1] > 200  # green-ish middle


def test_bad_requests_raise_one_line_errors(trained: keras.Model, digits: tuple) -> None:
    image = digits[2][0]
    with pytest.raises(ConfigError, match=r"expected one of: gradcam, gradcam\+\+, scorecam, saliency\. Received"):
        explain(trained, image, "lime")
    assert REFERENCE_METHOD not in METHODS  # tests-only, never offered by the CLI or the pages
    with pytest.raises(ConfigError, match="no feature-map layer named 'nope'; expected one of: .*conv") as info:
        explain(trained, image, "gradcam", layer_name="nope")
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match=r"Received: shape=\(8, 8, 3\)"):
        explain(trained, np.zeros((8, 8, 3), np.uint8), "gradcam")
    with pytest.raises(DataError, match="Received: shape"):
        explain(trained, np.zeros((2, 8, 8, 1), np.uint8), "gradcam")
    with pytest.raises(DataError, match="target_class"):
        explain(trained, image, "gradcam", target_class=10)
    with pytest.raises(ConfigError):
        feature_maps(trained, image, "predictions")


@pytest.mark.slow  # 2.3M-parameter MobileNetV2 built and explained: ~10 s
@pytest.mark.extended
def test_nested_mobilenet_base_is_reachable() -> None:
    """A transfer-learning classifier: the last feature map lives inside the nested base model."""
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x))
    image = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)

    names = conv_layer_names(model)
    assert names[-1] == f"{base.name}/out_relu"
    result = explain(model, image, "gradcam")
    # At 32x32 the last map (out_relu) is 1x1, a constant heatmap: the choice falls back to the
    # last larger map, still inside the nested base.
    assert result.layer_name.startswith(f"{base.name}/block_")
    assert feature_maps(model, image, result.layer_name).shape[:2] == (2, 2)
    assert result.heatmap.shape == (32, 32) and np.isfinite(result.heatmap).all()
    reference = explain(model, image, "gradcam-reference").heatmap
    if reference.max() > reference.min():
        assert _pearson(result.heatmap, reference) >= 0.99
    assert feature_maps(model, image, "block_1_expand_relu").shape[:2] == (16, 16)


def test_a_flat_heatmap_is_told_apart_from_one_that_shows_something() -> None:
    from cnnlib.explain import is_flat

    assert is_flat(np.zeros((8, 8), np.float32)) and is_flat(np.full((8, 8), 0.5, np.float32))
    shown = np.zeros((8, 8), np.float32)
    shown[2, 3] = 0.2
    assert not is_flat(shown)
