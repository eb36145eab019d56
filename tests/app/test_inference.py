"""The app's upload path decodes model inputs exactly like training and `cnnlib predict`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from app.inference import DISPLAY_SIDE, decode_upload
from cnnlib.images import load_image


def _phone_photo(path: Path) -> bytes:
    """A large JPEG stored sideways with EXIF orientation 6, as phones write them."""
    rng = np.random.default_rng(0)
    pixels = (rng.random((1500, 2000, 3)) * 255).astype(np.uint8)
    pixels[:, :1000] = [200, 30, 30]  # a left half that must end up on top after rotation
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, exif=exif)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_upload_model_input_equals_the_training_decode(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    data = _phone_photo(path)
    for size, channels in (((32, 32), 3), ((64, 48), 1)):
        upload = decode_upload(data, "phone.jpg", size, channels)
        np.testing.assert_array_equal(upload.model_input, load_image(path, size, channels))
    assert upload.original_size == (1500, 2000)  # width, height after the EXIF rotation
    assert max(upload.display.shape[:2]) <= DISPLAY_SIDE
    assert upload.display.shape[0] > upload.display.shape[1]  # portrait, as the phone showed it
