"""What a data source holds, found without decoding it: classes, input size, channels.

``scan_source`` is the cheap look the app and the launcher take before any job starts
(``cnnlib.training.request.validate_request``): folders are listed and a sample of image
headers read; built-in sources are known without a download. ``load_dataset`` remains the
owner of the loaded data; the two share the folder layout rules of ``cnnlib.data.folder``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cnnlib import images as imagelib
from cnnlib.data import builtin, folder
from cnnlib.data.config import SOURCES_BUILTIN, DataConfig
from cnnlib.errors import DataError

#: Headers read to find a folder's native size: enough for the most common size, and fast.
_SAMPLE_FILES = 64


@dataclass(frozen=True)
class SourceScan:
    """A data source as the model will see it.

    Attributes:
        class_names: The classes, in the order the loader numbers them.
        image_size: ``(height, width)`` of the model input (the configured size, or the native one).
        channels: 1 or 3 (the configured value, or the native one).
        native_size: ``(height, width)`` of the images as stored (most common in a sample).
    """

    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    channels: int
    native_size: tuple[int, int]


def scan_source(config: DataConfig) -> SourceScan:
    """Look at ``config.source`` without decoding it.

    Raises:
        DataError: The source does not exist, is not a dataset, or has fewer than 2 classes.
    """
    if config.source in SOURCES_BUILTIN:
        native, channels = builtin.NATIVE_SHAPES[config.source]
        classes = tuple(builtin.CLASS_NAMES[config.source])
    else:
        classes, native, channels = _scan_path(config.source)
    return SourceScan(classes, config.image_size or native, config.channels or channels, native)


def _scan_path(source: str) -> tuple[tuple[str, ...], tuple[int, int], int]:
    from cnnlib.data.loader import ACCEPTED, _check_classes

    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"the data source {source!r} does not exist; choose a folder of class subfolders, "
                        "a .zip of one, or a built-in dataset")
    if path.is_file() and path.suffix.lower() == ".zip":
        from cnnlib.data.zipfile_safe import extract_cached

        path = folder.unwrap(extract_cached(path))  # cached: the training job reuses the extraction
    elif not path.is_dir():
        raise DataError(f"cannot use this file as a dataset; expected {ACCEPTED}. Received: source={source!r}")
    layout = folder.split_dirs(path)
    root = path / layout["train"] if layout else path
    classes = folder.scan_classes(root)
    names = _check_classes(classes, root)
    files = [root / relpath for relpaths in classes.values() for relpath in relpaths]
    size, channels = _sample_shape(files)
    return tuple(names), size, channels


def _sample_shape(files: list[Path]) -> tuple[tuple[int, int], int]:
    """Most common ``(height, width)`` and the channels of an evenly spaced sample of headers."""
    step = max(1, len(files) // _SAMPLE_FILES)
    sizes: Counter[tuple[int, int]] = Counter()
    gray = True
    for path in files[::step][:_SAMPLE_FILES]:
        try:
            info = imagelib.probe_image(path.read_bytes())
        except (OSError, DataError):
            continue  # the loader skips unreadable files too, and says so
        sizes[(info.height, info.width)] += 1
        gray = gray and info.grayscale
    if not sizes:
        raise DataError(f"{files[0].parent.parent} holds no readable images (sampled {len(files[::step][:_SAMPLE_FILES])})")
    (height, width), _ = max(sizes.items(), key=lambda pair: (pair[1], pair[0][0] * pair[0][1], -pair[0][0]))
    return (height, width), 1 if gray else 3
