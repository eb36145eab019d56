"""Finding images in a class-folder tree, fast.

``os.scandir`` reads the file type from the directory entry, so listing
60,000 files costs a few tens of milliseconds; nothing here opens an image.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnlib.errors import DataError
from cnnlib.images import IMAGE_EXTENSIONS

SPLIT_DIRS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
_EXTENSIONS = frozenset(IMAGE_EXTENSIONS)


def is_hidden(name: str) -> bool:
    """Dot files and macOS zip debris are never data."""
    return name.startswith(".") or name == "__MACOSX" or name == "Thumbs.db"


def class_dirs(root: Path) -> list[str]:
    """Visible subdirectory names of ``root``, sorted (sorted names = class indices)."""
    try:
        with os.scandir(root) as entries:
            return sorted(entry.name for entry in entries if not is_hidden(entry.name) and entry.is_dir())
    except OSError as exc:
        raise DataError(f"cannot list {root}: {exc.strerror or exc}") from None


def _image_files(directory: str, prefix: str, out: list[str]) -> None:
    with os.scandir(directory) as entries:
        children = sorted(entries, key=lambda entry: entry.name)
    for entry in children:
        if is_hidden(entry.name):
            continue
        # Symlinked subdirectories are not followed: they can loop.
        if entry.is_dir(follow_symlinks=False):
            _image_files(entry.path, f"{prefix}{entry.name}/", out)
        elif os.path.splitext(entry.name)[1].lower() in _EXTENSIONS and entry.is_file():
            out.append(prefix + entry.name)


def scan_classes(root: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Map each class folder of a flat layout to its image files.

    Args:
        root: a folder holding one subfolder per class.

    Returns:
        ``{class: [relpath, ...]}`` in sorted order; paths are relative to
        ``root`` with "/" separators. Images in nested subfolders of a class
        count for that class. A class with no images maps to an empty list.
    """
    root_path = Path(root)
    result: dict[str, list[str]] = {}
    for name in class_dirs(root_path):
        files: list[str] = []
        try:
            _image_files(str(root_path / name), f"{name}/", files)
        except OSError as exc:
            raise DataError(f"cannot list {root_path / name}: {exc.strerror or exc}") from None
        result[name] = files
    return result


def scan_image_folder(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """List ``(relpath, class)`` for every image in a flat ``DIR/<class>/`` layout.

    Extensions are matched case-insensitively against ``IMAGE_EXTENSIONS``;
    hidden files and folders are ignored. The order is sorted, so it does not
    depend on the file system.
    """
    return [(relpath, name) for name, files in scan_classes(path).items() for relpath in files]


def split_dirs(root: Path) -> dict[str, str] | None:
    """``{"train": "train", "test": "test", ["val": ...]}`` for a pre-split layout, else None.

    A folder is pre-split when it has both ``train/`` and ``test/``.
    """
    names = set(class_dirs(root))
    found: dict[str, str] = {}
    for split, candidates in SPLIT_DIRS.items():
        for candidate in candidates:
            if candidate in names:
                found[split] = candidate
                break
    if "train" in found and "test" in found:
        return found
    return None


def unwrap(root: Path) -> Path:
    """Descend through lone wrapper folders (``archive/cifar10/...`` from a zip).

    Only a folder whose single visible entry is a folder that itself has
    subfolders counts as a wrapper; a lone class folder does not.
    """
    current = root
    for _ in range(8):
        with os.scandir(current) as entries:
            visible = [entry for entry in entries if not is_hidden(entry.name)]
        if len(visible) != 1 or not visible[0].is_dir():
            return current
        inner = Path(visible[0].path)
        if not class_dirs(inner):
            return current
        current = inner
    return current
