"""cnnlib.images: the one decoding path (real files, real Pillow)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnnlib import images
from cnnlib.errors import DataError


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_load_image_shapes_and_dtype() -> None:
    data = _png(Image.new("RGB", (20, 10), (10, 20, 30)))
    array = images.load_image(data, (5, 8), 3)
    assert array.shape == (5, 8, 3) and array.dtype == np.uint8
    gray = images.load_image(data, (10, 20), 1)
    assert gray.shape == (10, 20, 1)


def test_corrupt_bytes_raise_data_error() -> None:
    with pytest.raises(DataError):
        images.load_image(b"not an image at all", (8, 8), 3)
