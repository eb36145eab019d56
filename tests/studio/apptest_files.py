"""Files for upload tests: good photos, corrupt and hostile ones."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[2]
#: The CIFAR-10 demo run shipped in assets/runs (the one run directory there).
SHIPPED_DEMO = next(path for path in (PROJECT / "assets" / "runs").iterdir() if (path / "spec.json").exists())


def shipped_accuracy_text() -> str:
    """The shipped demo's saved test accuracy as the app prints it: ``"90.1%"``."""
    return f"{json.loads((SHIPPED_DEMO / 'evaluation' / 'test.json').read_text())['accuracy']:.1%}"



def png_bytes(size: tuple[int, int] = (40, 30), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    array = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    array[...] = color
    array[size[1] // 3 :, size[0] // 3 :] = 255 - np.array(color, dtype=np.uint8)
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg_bytes((256, 256))
    return data[: len(data) // 3]


def huge_png_header(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims 900 megapixels (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def image_folder(root: Path) -> Path:
    """A small flat class-folder dataset with one corrupt file, under ``root``."""
    for label, color in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(12):
            shade = tuple(int(min(255, c + 3 * i)) for c in color)
            (folder / f"{i}.png").write_bytes(png_bytes((16, 16), shade))
    (root / "red" / "broken.jpg").write_bytes(b"not really a jpeg")
    return root
