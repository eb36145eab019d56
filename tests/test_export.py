"""TFLite and SavedModel exports of a trained digits conv net, verified in the LiteRT interpreter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnnlib.errors import ConfigError, DataError  # noqa: E402
from cnnlib.export import EXPORT_FORMATS, TFLITE_FORMATS, TFLiteClassifier, export_savedmodel, export_tflite  # noqa: E402
from cnnlib.predict import predict_probabilities  # noqa: E402


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images * (255 / 16)).astype(np.uint8)[..., None]
    labels = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    return images[:1400], labels[:1400], images[1400:], labels[1400:]


@pytest.fixture(scope="module")
def model(digits: tuple) -> keras.Model:
    """A conv net with enough conv weights (~66k parameters) for quantization to matter."""
    x_train, y_train, x_test, y_test = digits
    keras.utils.set_random_seed(0)
    net = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", name="predictions"),
        ]
    )
    net.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    net.fit(x_train, y_train, epochs=8, batch_size=64, verbose=0)
    accuracy = float(np.mean(predict_probabilities(net, x_test).argmax(axis=1) == y_test))
    assert accuracy > 0.93, f"fixture model under-trained: {accuracy:.3f}"
    return net


@pytest.fixture(scope="module")
def reports(model: keras.Model, digits: tuple, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    x_train, _, x_test, y_test = digits
    out = tmp_path_factory.mktemp("exports")
    rng = np.random.default_rng(0)
    representative = x_train[rng.choice(len(x_train), size=300, replace=False)]
    return {fmt: export_tflite(model, fmt, out / f"{fmt}.tflite", representative, x_test, y_test) for fmt in TFLITE_FORMATS}


@pytest.mark.slow  # four conversions and their verification: ~11 s (the fast tier exports in the registry smoke test)
@pytest.mark.parametrize("fmt", TFLITE_FORMATS)
def test_every_format_is_written_and_agrees_with_keras(reports: dict, fmt: str, digits: tuple) -> None:
    report = reports[fmt]
    path = Path(report["path"])
    assert path.is_file() and path.stat().st_size == report["bytes"] > 0
    assert report["format"] == fmt and report["test_count"] == len(digits[3])
    assert report["agreement"] >= 0.99
    assert report["tflite_accuracy"] >= report["keras_accuracy"] - 0.01
    assert report["keras_latency_ms"] > 0 and report["tflite_latency_ms"] > 0 and report["convert_seconds"] > 0
    json.dumps(report)
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temp file


@pytest.mark.slow
def test_int8_is_small_and_accurate(reports: dict) -> None:
    int8, float32 = reports["tflite-int8"], reports["tflite-float32"]
    assert int8["bytes"] <= 0.35 * float32["bytes"]
    assert int8["tflite_accuracy"] >= int8["keras_accuracy"] - 0.01
    assert int8["agreement"] >= 0.99
    assert reports["tflite-float16"]["bytes"] < 0.6 * float32["bytes"]
    assert reports["tflite-float32"]["agreement"] == 1.0


@pytest.mark.slow
def test_classifier_takes_raw_uint8_pixels(reports: dict, model: keras.Model, digits: tuple) -> None:
    x_test = digits[2][:20]
    int8 = TFLiteClassifier(reports["tflite-int8"]["path"])
    assert int8.input_dtype == np.uint8 and int8.input_shape == (8, 8, 1)
    batch = int8.predict_probabilities(x_test, batch_size=7)  # uneven batches through tensor resizing
    assert batch.shape == (20, 10) and batch.dtype == np.float32
    assert np.allclose(batch.sum(axis=1), 1.0, atol=0.05)
    np.testing.assert_allclose(int8.predict_probabilities(x_test[3]), batch[3:4], atol=1e-6)

    float32 = TFLiteClassifier(Path(reports["tflite-float32"]["path"]).read_bytes())
    np.testing.assert_allclose(float32.predict_probabilities(x_test), predict_probabilities(model, x_test), atol=1e-5)
    with pytest.raises(DataError, match=r"Received: shape=\(1, 8, 8, 3\)"):
        float32.predict_probabilities(np.zeros((1, 8, 8, 3), np.uint8))


def test_bad_export_requests(model: keras.Model, digits: tuple, tmp_path: Path) -> None:
    _, _, x_test, y_test = digits
    with pytest.raises(ConfigError, match="expected one of: tflite-float32, tflite-float16, tflite-dynamic, tflite-int8. Received: fmt='int4'"):
        export_tflite(model, "int4", tmp_path / "m.tflite", None, x_test, y_test)
    # one spelling: the short name the CLI never accepted is refused here too
    with pytest.raises(ConfigError, match="Received: fmt='int8'"):
        export_tflite(model, "int8", tmp_path / "m.tflite", None, x_test, y_test)
    assert EXPORT_FORMATS == (*TFLITE_FORMATS, "savedmodel")
    with pytest.raises(DataError, match="representative"):
        export_tflite(model, "tflite-int8", tmp_path / "m.tflite", None, x_test, y_test)
    with pytest.raises(DataError, match="one label each"):
        export_tflite(model, "tflite-float32", tmp_path / "m.tflite", None, x_test, y_test[:-1])
    with pytest.raises(DataError, match="not found"):
        TFLiteClassifier(tmp_path / "missing.tflite")
    assert not (tmp_path / "m.tflite").exists()


def test_max_test_and_nested_functional_model(digits: tuple, tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = digits
    keras.utils.set_random_seed(1)
    inner = keras.Input((8, 8, 1))
    base = keras.Model(inner, keras.layers.Conv2D(8, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inner)))
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(keras.layers.Flatten()(base(inputs)))
    nested = keras.Model(inputs, outputs)
    report = export_tflite(nested, "tflite-float32", tmp_path / "nested.tflite", None, x_test, y_test, max_test=50)
    assert report["test_count"] == 50 and report["agreement"] == 1.0


def test_savedmodel_serves_the_same_probabilities(model: keras.Model, digits: tuple, tmp_path: Path) -> None:
    import tensorflow as tf

    x_test = digits[2][:8]
    target = tmp_path / "serving" / "1"
    assert export_savedmodel(model, target) == target
    export_savedmodel(model, target)  # replacing an existing export works and leaves no staging dirs
    assert sorted(p.name for p in target.parent.iterdir()) == ["1"]
    loaded = tf.saved_model.load(str(target))
    served = loaded.serve(tf.constant(x_test, tf.float32)).numpy()
    np.testing.assert_allclose(served, predict_probabilities(model, x_test), atol=1e-5)


def test_conversion_keeps_the_converters_dumps_off_the_console(model: keras.Model, digits: tuple,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    from cnnlib.export import convert_tflite

    x_train = digits[0]
    capfd.readouterr()
    flatbuffer = convert_tflite(model, "tflite-int8", x_train[:20])
    out, err = capfd.readouterr()
    assert flatbuffer[4:8] == b"TFL3"  # a real flatbuffer came out
    assert "TensorSpec" not in out + err and "inference_type" not in out + err, (out + err)[:500]


def _op_output_dtypes(flatbuffer: bytes) -> dict[str, set[str]]:
    """Each op kind of a ``.tflite`` file and the dtypes its outputs have."""
    from cnnlib.export import tflite_op_outputs

    kinds: dict[str, set[str]] = {}
    for kind, _, dtype in tflite_op_outputs(flatbuffer):
        kinds.setdefault(kind, set()).add(dtype)
    return kinds


def test_int8_keeps_the_view_average_and_softmax_in_float_and_agrees(model: keras.Model, digits: tuple,
                                                                     tmp_path: Path) -> None:
    import dataclasses

    from cnnlib.inference import inference_model
    from cnnlib.spec import spec_for

    x_train, _, x_test, y_test = digits
    spec = dataclasses.replace(spec_for((8, 8, 1), [str(i) for i in range(10)], ("identity", "down_right", "up_left")),
                               temperature=0.8)
    answer = inference_model(model, spec)  # views, their average and a temperature: what a run exports
    representative = x_train[np.random.default_rng(0).choice(len(x_train), size=300, replace=False)]
    head = export_tflite(answer, "tflite-int8", tmp_path / "head.tflite", representative, x_test, y_test)
    every = export_tflite(answer, "tflite-int8", tmp_path / "every.tflite", representative, x_test, y_test,
                          float_layers=False)
    kinds = _op_output_dtypes(Path(head["path"]).read_bytes())
    assert kinds["CONV_2D"] == {"int8"}, kinds  # the body is integer
    assert kinds["SOFTMAX"] == {"float32"} and kinds["MEAN"] == {"float32"}  # no weights: free in float
    assert kinds["FULLY_CONNECTED"] == {"int8"}  # its weights stay int8 (size)
    assert _op_output_dtypes(Path(every["path"]).read_bytes())["SOFTMAX"] == {"int8"}
    classifier = TFLiteClassifier(head["path"])
    assert classifier.input_dtype == np.uint8 and classifier.output_dtype == np.float32
    assert head["agreement"] >= 0.99 and head["tflite_accuracy"] >= head["keras_accuracy"] - 0.01, (head, every)
    assert abs(head["bytes"] - every["bytes"]) <= 0.02 * every["bytes"]  # no weights changed type
