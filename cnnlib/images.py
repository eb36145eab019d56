"""The one image decoding path, shared by training and inference.

A model only works as well as its inputs match what it was trained on, so every
pixel the library sees - dataset files, uploads in the app, files given to
``predict`` - goes through ``load_image`` (or ``open_image`` + ``to_array``),
which always orders the same steps: first frame, EXIF orientation, mode
normalization (alpha composited on white), one fixed resize filter.

Two speed-ups keep that contract:

* Large JPEGs are decoded with Pillow's draft mode (libjpeg's DCT scaling) to
  at least twice the target size before the resize, which cuts a 12-megapixel
  photo from ~300 ms to a few ms. The draft scale depends only on the file and
  the target size, so a given file always gives the same pixels.
* Plain JPEGs already at the target size (no EXIF/XMP, Adobe or MPF segments,
  8-bit baseline or progressive; the typical dataset file) skip Pillow's
  Python-level header parsing and are handed straight to Pillow's own libjpeg
  decoder with the arguments ``Image.open`` would use. Same decoder, same
  arguments, same pixels (the tests check this against ``Image.open``), at a
  third of the cost, which matters for 60,000-file folders.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from cnnlib.errors import ConfigError, DataError
from cnnlib.spec import RESIZE_FILTER

MAX_IMAGE_PIXELS = 100_000_000
"""Decompression-bomb limit: an image with more pixels is a ``DataError``."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
UPLOAD_TYPES = tuple(extension.lstrip(".") for extension in IMAGE_EXTENSIONS)
"""``IMAGE_EXTENSIONS`` without the dot, as upload widgets (Streamlit's ``type=``) want them."""

ImageSource = str | os.PathLike[str] | bytes | BinaryIO

#: The colour transparency is composited on (RGBA): white, so a transparent PNG's background
#: reads as paper, not as black ink.
ALPHA_BACKGROUND = (255, 255, 255, 255)
#: Pillow modes with an alpha channel; a palette ("P") image with a transparent colour counts too.
ALPHA_MODES = ("LA", "La", "RGBA", "RGBa", "PA")
#: Large JPEGs are draft-decoded (libjpeg DCT scaling) to at least this many times the model's size.
DRAFT_FACTOR = 2
#: The Pillow filter named by the spec's ``RESIZE_FILTER`` (antialiased when shrinking).
RESAMPLING = Image.Resampling[RESIZE_FILTER.upper()]

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
# Image.open swaps the process-wide warning filters to turn Pillow's
# DecompressionBombWarning into an error; the lock keeps our own decoding
# threads from interleaving those swaps.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageInfo:
    """What an image header says, without decoding the pixels.

    Attributes:
        width: width after EXIF orientation.
        height: height after EXIF orientation.
        mode: Pillow mode of the file (before normalization), e.g. "P", "RGBA".
        format: Pillow format name, e.g. "JPEG".
        grayscale: True when the normalized image will be "L".
    """

    width: int
    height: int
    mode: str
    format: str
    grayscale: bool


def open_image(source: ImageSource) -> Image.Image:
    """Open, fully decode and normalize an image.

    Takes the first frame of animations, applies EXIF orientation, loads every
    pixel (so truncated files fail here, not later), and returns mode "RGB" or
    "L": alpha and palette transparency are composited on white, 16/32-bit and
    float images are scaled to 0..255, CMYK is converted.

    Args:
        source: a path, the file's bytes, or a binary file object.

    Returns:
        A loaded ``PIL.Image.Image`` in mode "RGB" or "L".

    Raises:
        DataError: missing, corrupt, truncated, not an image, or more than
            ``MAX_IMAGE_PIXELS`` pixels; the message names the file.
    """
    data, name = _read_source(source)
    return _decode(data, name, target=None)


def probe_image(source: ImageSource) -> ImageInfo:
    """Read an image's size and mode from its header (no pixel decoding).

    Used to find a dataset's native size and channels cheaply.

    Raises:
        DataError: unreadable or not an image (names the file).
    """
    data, name = _read_source(source)
    header = _plain_jpeg_header(data)
    if header is not None:
        height, width, components = header
        mode = "L" if components == 1 else "RGB"
        return ImageInfo(width, height, mode, "JPEG", components == 1)
    image = _open_lazy(data, name)
    try:
        width, height = image.size
        if _exif_orientation(image) in (5, 6, 7, 8):
            width, height = height, width
        mode = image.mode
        return ImageInfo(width, height, mode, str(image.format), _is_gray_mode(image))
    finally:
        image.close()


def to_array(image: Image.Image, size: tuple[int, int], channels: int) -> np.ndarray:
    """Convert a PIL image to a model-ready uint8 array.

    Converts the mode first, then resizes, always with bilinear filtering
    (Pillow antialiases on downscale), so every caller gets the same pixels.

    Args:
        image: any PIL image (normalized with the same rules as
            ``open_image`` when its mode is not "L"/"RGB").
        size: ``(height, width)`` of the result.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        ``uint8`` array shaped ``(height, width, channels)``.
    """
    height, width = _check_size(size)
    _check_channels(channels)
    if image.mode not in ("L", "RGB"):
        image = _normalize_mode(image)
    mode = channel_mode(channels)
    if image.mode != mode:
        image = image.convert(mode)
    if image.size != (width, height):
        image = image.resize((width, height), RESAMPLING)
    array = np.array(image, dtype=np.uint8)  # a writable copy
    return array[:, :, None] if channels == 1 else array


def channel_mode(channels: int) -> str:
    """The Pillow mode of a model input with ``channels`` channels: ``"L"`` (1) or ``"RGB"`` (3)."""
    _check_channels(channels)
    return "L" if channels == 1 else "RGB"


@dataclass(frozen=True)
class ImageWithPreview:
    """An image decoded once for two uses: the model's input and a picture to show.

    Attributes:
        pixels: exactly what ``load_image(source, size, channels)`` returns.
        preview: "RGB" or "L" image, at most ``preview_side`` on its long side.
        info: the file's header (full size after EXIF orientation, mode, format).
    """

    pixels: np.ndarray
    preview: Image.Image
    info: ImageInfo


def load_image_with_preview(source: ImageSource, size: tuple[int, int], channels: int,
                            preview_side: int) -> ImageWithPreview:
    """``load_image`` plus a display copy, without decoding a big photo twice.

    An uploaded 12-megapixel JPEG dominates the time to an answer: decoding it
    (even in draft mode) costs more than the prediction. ``load_image`` already
    draft-decodes it to at least twice the model's size, which for a phone
    photo and a small model is still larger than a preview needs; the preview
    is then cut from that same decode. Only when that draft is too small to
    show (a tiny model input from a mid-sized photo) is the file decoded
    again, at a scale that suits the preview.

    Args:
        source: a path, the file's bytes, or a binary file object.
        size: ``(height, width)`` of the model input.
        channels: 1 or 3.
        preview_side: longest side of the preview, in pixels.

    Raises:
        DataError: unreadable image (names the file).
    """
    _check_size(size)
    _check_channels(channels)
    _check_size((preview_side, preview_side))
    data, name = _read_source(source)
    pixels, decoded = _model_pixels(data, name, size, channels)  # raises the DataError that names the file
    info = probe_image(data)  # the header of a file that decoded: cannot fail
    full_size = (info.width, info.height)
    if decoded is None or (decoded.size != full_size and max(decoded.size) < preview_side):
        # Draft mode keeps >= 2x the size asked, so ask for half the preview.
        decoded = _decode(data, name, target=(max(1, preview_side // 2),) * 2)
    # The library's one filter: 1 ms less than thumbnail's default bicubic on a phone photo.
    decoded.thumbnail((preview_side, preview_side), RESAMPLING)
    return ImageWithPreview(pixels, decoded, info)


def load_image(source: ImageSource, size: tuple[int, int], channels: int) -> np.ndarray:
    """Decode a file to a model-ready array: ``to_array(open_image(source), ...)``.

    For JPEGs much larger than ``size`` the decode uses draft mode (DCT
    scaling to at least twice ``size``); training and inference both call this
    function, so a file always gives the same pixels.

    Args:
        source: a path, the file's bytes, or a binary file object.
        size: ``(height, width)`` of the result.
        channels: 1 or 3.

    Returns:
        ``uint8`` array shaped ``(height, width, channels)``.

    Raises:
        DataError: unreadable image (names the file).
    """
    _check_size(size)
    _check_channels(channels)
    data, name = _read_source(source)
    return _model_pixels(data, name, size, channels)[0]


def _model_pixels(data: bytes, name: str, size: tuple[int, int],
                  channels: int) -> tuple[np.ndarray, Image.Image | None]:
    """The model input, plus the decoded image it was resized from (None on the plain-JPEG fast path).

    ``load_image`` and ``load_image_with_preview`` both go through here, so their pixels
    cannot drift apart.
    """
    fast = _decode_plain_jpeg(data, size, channels)
    if fast is not None:
        return fast, None
    decoded = _decode(data, name, target=size)
    return to_array(decoded, size, channels), decoded


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        height, width = (int(side) for side in size)
    except (TypeError, ValueError):
        raise ConfigError(f"image size must be (height, width). Received: size={size!r}") from None
    if height < 1 or width < 1:
        raise ConfigError(f"image size must be positive. Received: size={size!r}")
    return height, width


def _check_channels(channels: int) -> None:
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3. Received: channels={channels!r}")


def _read_source(source: ImageSource) -> tuple[bytes, str]:
    """The whole file as bytes plus a name for error messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), str(path)
        except FileNotFoundError:
            raise DataError(f"image file not found: {path}") from None
        except IsADirectoryError:
            raise DataError(f"expected an image file, got a directory: {path}") from None
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    name = str(getattr(source, "name", "<stream>"))
    try:
        data = source.read()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {name}: {exc}") from None
    if not isinstance(data, bytes):
        raise DataError(f"expected a binary file object. Received: {type(data).__name__} from {name}")
    return data, name


def _open_lazy(data: bytes, name: str) -> Image.Image:
    """``Image.open`` with Pillow's bomb warning/error turned into ``DataError``."""
    if not data:
        raise DataError(f"{name} is empty; expected an image file")
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise DataError(
            f"{name} has too many pixels (decompression-bomb limit {MAX_IMAGE_PIXELS:,} pixels)"
        ) from None
    except Image.UnidentifiedImageError:
        raise DataError(f"{name} is not an image Pillow can read; expected one of {', '.join(IMAGE_EXTENSIONS)}") from None
    except Exception as exc:  # Pillow plugins raise many types on malformed headers
        raise DataError(f"{name} is corrupt: {_reason(exc)}") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise DataError(
            f"{name} has too many pixels ({width}x{height}); the decompression-bomb limit is "
            f"{MAX_IMAGE_PIXELS:,} pixels"
        )
    return image


def _decode(data: bytes, name: str, target: tuple[int, int] | None) -> Image.Image:
    image = _open_lazy(data, name)
    try:
        orientation = _exif_orientation(image)
        if target is not None and image.format == "JPEG":
            _apply_draft(image, target, orientation)
        image.load()
        if orientation != 1:
            image = _transpose(image, orientation)
        return _normalize_mode(image)
    except DataError:
        raise
    except Exception as exc:  # truncated data, bad codes, broken palettes...
        raise DataError(f"{name} is corrupt or truncated: {_reason(exc)}") from None


def _apply_draft(image: Image.Image, target: tuple[int, int], orientation: int) -> None:
    """Let libjpeg scale by 1/2, 1/4 or 1/8 while keeping >= ``DRAFT_FACTOR`` x the target."""
    height, width = target
    if orientation in (5, 6, 7, 8):  # the file is stored rotated by 90 degrees
        height, width = width, height
    wanted = (DRAFT_FACTOR * width, DRAFT_FACTOR * height)
    if image.size[0] >= 2 * wanted[0] and image.size[1] >= 2 * wanted[1]:
        image.draft(None, wanted)


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is not a broken image
        return 1
    return value if 1 <= value <= 8 else 1


_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _transpose(image: Image.Image, orientation: int) -> Image.Image:
    # Same table as ImageOps.exif_transpose; done by hand because the
    # orientation was read before draft() changed the image.
    for method in _TRANSPOSE[orientation]:
        image = image.transpose(method)
    return image


def _is_gray_mode(image: Image.Image) -> bool:
    return image.mode in _GRAY_MODES


def _normalize_mode(image: Image.Image) -> Image.Image:
    """Return an "L" or "RGB" image; transparency composited on white."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ALPHA_MODES:
        return _composite(image, "L" if mode in ("LA", "La") else "RGB")
    if mode == "P":
        if "transparency" in image.info:
            return _composite(image, "RGB")
        return image.convert("RGB")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_l(image)
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


def _composite(image: Image.Image, mode: str) -> Image.Image:
    # Gray+alpha goes through RGBA too: Pillow's RGB->L weights sum to one, so a
    # gray pixel keeps its value exactly, and one compositing rule serves both.
    background = Image.new("RGBA", image.size, ALPHA_BACKGROUND)
    return Image.alpha_composite(background, image.convert("RGBA")).convert(mode)


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float grayscale to 8 bits by range, not by clipping.

    Pillow's ``convert("L")`` clips at 255, which turns a 16-bit photo white;
    16-bit data is scaled by 1/257 (65535 -> 255) instead.
    """
    array = np.asarray(image)
    if image.mode == "F":
        array = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if array.size and array.min() >= 0.0 and array.max() <= 1.0:
            array = array * 255.0
    else:
        array = array.astype(np.float64)
        top = float(array.max()) if array.size else 0.0
        if image.mode.startswith("I;16") or 255 < top <= 65535:
            array = array / 257.0
        elif top > 65535:
            low = float(array.min())
            array = (array - low) * (255.0 / (top - low))
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")


# --- plain-JPEG fast path ---------------------------------------------------

_SOF_PLAIN = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive Huffman
_HARMLESS = frozenset({0xE0, 0xDB, 0xC4, 0xDD, 0xFE})  # APP0 (JFIF), DQT, DHT, DRI, COM


def _plain_jpeg_header(data: bytes) -> tuple[int, int, int] | None:
    """``(height, width, components)`` of a JPEG Pillow decodes with no extras.

    Returns None for anything else: not a JPEG, EXIF/XMP (APP1: orientation),
    ICC-less APP2 (MPF: multi-picture), Adobe APP14 (CMYK/YCCK transforms),
    12-bit or arithmetic-coded data, CMYK, or an odd marker sequence.
    """
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        length = (data[pos + 2] << 8) | data[pos + 3]
        if marker in _SOF_PLAIN:
            if pos + 10 > end or data[pos + 4] != 8:
                return None
            height = (data[pos + 5] << 8) | data[pos + 6]
            width = (data[pos + 7] << 8) | data[pos + 8]
            components = data[pos + 9]
            if components not in (1, 3) or height == 0 or width == 0:
                return None
            return height, width, components
        if marker == 0xE2 and data[pos + 4:pos + 16] == b"ICC_PROFILE\x00":
            pos += 2 + length
            continue
        if marker not in _HARMLESS or length < 2:
            return None
        pos += 2 + length
    return None


def _decode_plain_jpeg(data: bytes, size: tuple[int, int], channels: int) -> np.ndarray | None:
    """Pixels of a plain JPEG already at ``size``, or None to take the full path."""
    header = _plain_jpeg_header(data)
    if header is None or (header[0], header[1]) != tuple(size):
        return None
    mode = "L" if header[2] == 1 else "RGB"
    try:
        # The decoder and arguments JpegImagePlugin gives ImageFile.load().
        image = Image.frombytes(mode, (header[1], header[0]), data, "jpeg", (mode, ""))
    except Exception:  # truncated or corrupt: let the full path name the problem
        return None
    return to_array(image, size, channels)


def decode_plain_jpegs(blobs: list[bytes], size: tuple[int, int], channels: int) -> tuple[np.ndarray, list[bool]]:
    """Decode many same-sized plain JPEGs at once; what ``load_image`` would return.

    Each file is decoded by Pillow's libjpeg decoder (same arguments as
    ``Image.open``) straight into its own rows of one tall image, so the
    per-file Python work is a header scan and one decoder call; the pixels
    come out with one ``tobytes`` for the whole batch.

    Args:
        blobs: file contents; each should be a plain JPEG (see
            ``_plain_jpeg_header``) of exactly ``size``.
        size: ``(height, width)``.
        channels: 1 or 3.

    Returns:
        ``(images (n, height, width, channels), ok)``; where ``ok`` is False
        the row is garbage and the caller must use ``load_image`` (which
        raises the proper ``DataError`` for a broken file).
    """
    height, width = _check_size(size)
    _check_channels(channels)
    ok = [False] * len(blobs)
    by_mode: dict[str, list[int]] = {"L": [], "RGB": []}
    for index, data in enumerate(blobs):
        header = _plain_jpeg_header(data)
        if header is not None and header[0] == height and header[1] == width:
            by_mode["L" if header[2] == 1 else "RGB"].append(index)
    out = np.zeros((len(blobs), height, width, channels), dtype=np.uint8)
    for mode, members in by_mode.items():
        if not members:
            continue
        canvas = Image.new(mode, (width, height * len(members)))
        for row, index in enumerate(members):
            try:
                decoder = Image._getdecoder(mode, "jpeg", (mode, ""))
                decoder.setimage(canvas.im, (0, row * height, width, (row + 1) * height))
                consumed, error = decoder.decode(blobs[index])
                decoder.cleanup()
            except Exception:
                continue
            ok[index] = consumed < 0 and error == 0
        target = "L" if channels == 1 else "RGB"
        if canvas.mode != target:
            canvas = canvas.convert(target)  # per-pixel, so the same as converting each image
        pixels = np.asarray(canvas).reshape(len(members), height, width, channels)
        out[members] = pixels
    return out, ok


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
