"""Built-in sources: scikit-learn's digits (offline) and the Keras downloads."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cnnlib.errors import DataError

DOWNLOAD_TIMEOUT_SECONDS = 30.0

#: The built-in sources and their class names; ``SOURCES_BUILTIN`` is these keys.
CLASS_NAMES = {
    "digits": [str(digit) for digit in range(10)],
    "mnist": [str(digit) for digit in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}

#: The one source shipped inside a package (scikit-learn), so always available offline.
OFFLINE_SOURCE = "digits"
#: What ``keras.datasets`` leaves in ``~/.keras/datasets`` once a download finished.
_KERAS_CACHE_MARKERS = {"mnist": "mnist.npz", "fashion_mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py"}
#: ``((height, width), channels)`` of each built-in source, so a pre-check needs no download.
NATIVE_SHAPES = {"digits": ((8, 8), 1), "mnist": ((28, 28), 1), "fashion_mnist": ((28, 28), 1),
                 "cifar10": ((32, 32), 3)}

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]


def is_available_offline(name: str) -> bool:
    """Whether a built-in source loads without the network: bundled, or already downloaded by Keras."""
    if name == OFFLINE_SOURCE:
        return True
    # Keras keeps its downloads under $KERAS_HOME, ~/.keras when unset.
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    path = keras_home / "datasets" / _KERAS_CACHE_MARKERS[name]
    # A failed download leaves an empty folder behind: only real files count as cached.
    return path.is_file() or (path.is_dir() and any(p.stat().st_size > 0 for p in path.iterdir() if p.is_file()))


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 digits shipped inside scikit-learn, as uint8 ``(N, 8, 8, 1)``.

    The source values are 0..16; they are scaled to 0..255 so every source
    shares the models' 0-255 input contract.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[:, :, :, None]
    return images, bunch.target.astype(np.int64)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # Keras downloads with urllib without a timeout; a half-open network
    # would otherwise hang the app forever.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds if previous is None else previous)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def load_keras(name: str) -> Arrays:
    """``{"train": (x, y), "test": (x, y)}`` from ``keras.datasets`` (downloads once).

    Raises:
        DataError: the download failed (one line naming the dataset).
    """
    import keras

    module = getattr(keras.datasets, name)
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_SECONDS):
            (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as exc:  # keras wraps URL errors in a bare Exception
        reason = " ".join(str(exc).split())[:160]
        raise DataError(
            f"could not download the {name!r} dataset ({reason}); offline? Train on an image folder with one "
            f"sub-folder per class instead (e.g. ../shared/datasets/cifar10). Received: source={name!r}"
        ) from None
    return {"train": (_as_images(x_train), _as_labels(y_train)), "test": (_as_images(x_test), _as_labels(y_test))}


def _as_images(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=np.uint8)
    return array[:, :, :, None] if array.ndim == 3 else array


def _as_labels(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).reshape(-1).astype(np.int64)
