"""cnnlib.images: the one decoding path, on real files decoded by real Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlib import images
from cnnlib.errors import ConfigError, DataError

CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10"


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_shapes_dtype_and_channels() -> None:
    data = encode(Image.new("RGB", (20, 10), (10, 200, 30)), "PNG")
    array = images.load_image(data, (5, 8), 3)
    assert array.shape == (5, 8, 3) and array.dtype == np.uint8
    assert array.flags.writeable
    gray = images.load_image(data, (10, 20), 1)
    assert gray.shape == (10, 20, 1)
    # Pillow's ITU-R 601 luma, rounded: the documented conversion.
    assert int(gray[0, 0, 0]) == (10 * 299 + 200 * 587 + 30 * 114 + 500) // 1000


def test_bad_size_or_channels_are_config_errors() -> None:
    data = encode(Image.new("L", (4, 4)), "PNG")
    with pytest.raises(ConfigError):
        images.load_image(data, (0, 4), 1)
    with pytest.raises(ConfigError):
        images.load_image(data, (4, 4), 2)


def test_alpha_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    image = images.open_image(encode(rgba, "PNG"))
    assert image.mode == "RGB"
    assert image.getpixel((1, 1)) == (255, 255, 255)
    assert image.getpixel((0, 0)) == (255, 0, 0)
    half = Image.new("RGBA", (2, 2), (0, 0, 0, 128))
    assert images.open_image(encode(half, "PNG")).getpixel((0, 0)) == (127, 127, 127)


def test_palette_with_transparency() -> None:
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((0, 0), 0)
    data = encode(palette, "PNG", transparency=0)
    image = images.open_image(data)
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)  # the transparent index
    assert image.getpixel((1, 1)) == (0, 0, 255)


@pytest.mark.parametrize("mode, fmt, value, expected", [
    ("LA", "PNG", (100, 255), 100),
    ("LA", "PNG", (0, 0), 255),
    ("1", "PNG", 1, 255),
    ("1", "BMP", 0, 0),
    ("I;16", "PNG", 65535, 255),
    ("I;16", "PNG", 257 * 40, 40),
])
def test_gray_modes_become_l(mode: str, fmt: str, value: object, expected: int) -> None:
    source = Image.new(mode, (3, 3), value)
    image = images.open_image(encode(source, fmt))
    assert image.mode == "L"
    assert image.getpixel((1, 1)) == expected
    assert images.probe_image(encode(source, fmt)).grayscale


def test_32bit_and_float_modes_scale_by_range() -> None:
    assert images.to_array(Image.new("I", (3, 3), 65535), (3, 3), 1)[0, 0, 0] == 255
    assert images.to_array(Image.new("I", (3, 3), 100), (3, 3), 1)[0, 0, 0] == 100
    assert images.to_array(Image.new("F", (3, 3), 0.5), (3, 3), 1)[0, 0, 0] == 128
    assert images.to_array(Image.new("F", (3, 3), 200.0), (3, 3), 3)[0, 0].tolist() == [200, 200, 200]


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    image = images.open_image(data)
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((8, 8))
    assert red > 200 and green < 60 and blue < 60


def _animation(fmt: str) -> bytes:
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_first_frame(fmt: str) -> None:
    array = images.load_image(_animation(fmt), (8, 8), 3)
    red, green, blue = (int(v) for v in array[4, 4])
    assert red > 200 and blue < 60, (red, green, blue)


def _oriented_jpeg(orientation: int) -> bytes:
    # Stored 40 wide x 20 high, black with a white block at the stored top-left.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:8, :8] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_is_applied() -> None:
    # Orientation 6: the viewer rotates 90 degrees clockwise, so the
    # displayed image is 20 wide x 40 high and the block moves to top-right.
    data = _oriented_jpeg(6)
    image = images.open_image(data)
    assert image.size == (20, 40)
    info = images.probe_image(data)
    assert (info.width, info.height) == (20, 40)
    array = images.load_image(data, (40, 20), 1)
    assert array[2, 17, 0] > 200 and array[2, 2, 0] < 50
    # The same rotation when draft mode is in play (target much smaller).
    small = images.load_image(data, (10, 5), 1)
    assert small.shape == (10, 5, 1)
    assert small[0, 4, 0] > small[0, 0, 0]


def test_corrupt_and_truncated_files_name_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    jpeg = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(jpeg[: len(jpeg) // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    for path in (garbage, truncated, text):
        with pytest.raises(DataError, match=path.name):
            images.load_image(path, (8, 8), 3)
    with pytest.raises(DataError, match="not found"):
        images.load_image(tmp_path / "missing.jpg", (8, 8), 3)
    with pytest.raises(DataError, match="empty"):
        images.open_image(b"")


def test_decompression_bomb_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(Image.new("RGB", (40, 30)), "PNG")
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DataError, match="too many pixels"):
        images.load_image(data, (8, 8), 3)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 100_000_000)
    # Pillow's own guard (a process-wide Pillow setting) also becomes a DataError, not a warning.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DataError, match="too many pixels"):
        images.load_image(data, (8, 8), 3)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # twice over: Pillow raises an error instead
    with pytest.raises(DataError, match="too many pixels"):
        images.open_image(data)


def _photo(width: int, height: int) -> bytes:
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    pixels = ramp + rng.normal(0, 8, (height, width, 3)).astype(np.float32)
    return encode(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), "JPEG", quality=90)


def test_large_jpeg_uses_draft_and_is_deterministic() -> None:
    data = _photo(1600, 1200)
    first = images.load_image(data, (64, 64), 3)
    assert np.array_equal(first, images.load_image(data, (64, 64), 3))
    full = images.to_array(images.open_image(data), (64, 64), 3)
    difference = np.abs(first.astype(int) - full.astype(int))
    assert difference.mean() < 3.0  # DCT scaling changes pixels only slightly
    # Draft decoding happened: the draft image is 1/8 of the original here.
    opened = Image.open(io.BytesIO(data))
    opened.draft(None, (128, 128))
    assert opened.size == (200, 150)
    expected = images.to_array(opened.convert("RGB"), (64, 64), 3)
    assert np.array_equal(first, expected)


def test_preview_comes_with_exactly_the_load_image_pixels(tmp_path: Path) -> None:
    # One decode for both uses on a big photo; the model input must not change by a bit.
    photo = _photo(3200, 2400)
    for size, channels in (((32, 32), 3), ((64, 48), 1), ((24, 24), 3)):
        both = images.load_image_with_preview(photo, size, channels, preview_side=384)
        np.testing.assert_array_equal(both.pixels, images.load_image(photo, size, channels))
        assert max(both.preview.size) == 384 and both.preview.mode == "RGB"
        assert (both.info.width, both.info.height) == (3200, 2400)
    # A tiny model input from a mid-sized photo drafts to 125x100 px, too small to show:
    # the preview is decoded again at a scale that fills it.
    mid = _photo(1000, 800)
    both = images.load_image_with_preview(mid, (8, 8), 3, preview_side=384)
    np.testing.assert_array_equal(both.pixels, images.load_image(mid, (8, 8), 3))
    assert both.preview.size == (384, 307)
    # A small image (fast-path JPEG or PNG) is shown whole, rotated as its EXIF says.
    oriented = _oriented_jpeg(6)
    both = images.load_image_with_preview(oriented, (40, 20), 1, preview_side=384)
    np.testing.assert_array_equal(both.pixels, images.load_image(oriented, (40, 20), 1))
    assert both.preview.size == (20, 40)
    cifar = encode(Image.new("RGB", (32, 32), (1, 2, 3)), "JPEG", quality=95)
    both = images.load_image_with_preview(cifar, (32, 32), 3, preview_side=384)
    np.testing.assert_array_equal(both.pixels, images.load_image(cifar, (32, 32), 3))
    assert both.preview.size == (32, 32)
    # Broken files still fail with the file's name.
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(photo[: len(photo) // 3])
    with pytest.raises(DataError, match="cut.jpg"):
        images.load_image_with_preview(cut, (32, 32), 3, preview_side=384)


def test_plain_jpeg_fast_path_matches_image_open(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    blobs = [
        encode(Image.fromarray(rng.integers(0, 255, (24, 16, 3), dtype=np.uint8)), "JPEG", quality=q)
        for q in (50, 75, 95)
    ] + [
        encode(Image.fromarray(rng.integers(0, 255, (24, 16), dtype=np.uint8)), "JPEG"),
        encode(Image.fromarray(rng.integers(0, 255, (24, 16, 3), dtype=np.uint8)), "JPEG", progressive=True),
        encode(Image.fromarray(rng.integers(0, 255, (24, 16, 3), dtype=np.uint8)), "JPEG", subsampling=0),
    ]
    for channels in (1, 3):
        batch, ok = images.decode_plain_jpegs(blobs + [blobs[0][:200]], (24, 16), channels)
        assert ok == [True] * len(blobs) + [False]
        for index, data in enumerate(blobs):
            reference = Image.open(io.BytesIO(data))
            reference.load()
            expected = images.to_array(reference, (24, 16), channels)
            assert np.array_equal(images.load_image(data, (24, 16), channels), expected)
            assert np.array_equal(batch[index], expected)
    assert images._plain_jpeg_header(_oriented_jpeg(6)) is None  # EXIF: full path


def _cifar_sample(count: int) -> list[Path]:
    if not (CIFAR / "test").is_dir():
        pytest.skip(f"shared CIFAR-10 folder not found at {CIFAR}")
    files: list[Path] = []
    for class_dir in sorted((CIFAR / "test").iterdir()):
        files += sorted(class_dir.glob("*.jpg"))[: count // 10]
    return files


def test_cifar_fast_path_equals_full_pillow_path() -> None:
    for path in _cifar_sample(50):
        reference = Image.open(path)
        reference.load()
        assert np.array_equal(images.load_image(path, (32, 32), 3), np.asarray(reference.convert("RGB")))


def test_cifar_tf_integer_accurate_decode_equals_pillow() -> None:
    """Recorded fact: TF's libjpeg (INTEGER_ACCURATE) and Pillow agree exactly on these files."""
    tf = pytest.importorskip("tensorflow")
    for path in _cifar_sample(50):
        decoded = tf.io.decode_jpeg(path.read_bytes(), channels=3, dct_method="INTEGER_ACCURATE").numpy()
        assert np.array_equal(decoded, images.load_image(path, (32, 32), 3)), path
