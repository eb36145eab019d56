"""The images an audit looks at: every file of a source, once, as a small thumbnail.

Files go through the loader's decoding path (``cnnlib.data.decode``), so the audit sees what
training would see; unreadable files are listed and skipped, never fatal.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlib.data import builtin
from cnnlib.data.config import SOURCES_BUILTIN, DataConfig
from cnnlib.data.decode import decode_files
from cnnlib.data.loader import Progress, folder_root, list_folder, load_dataset

#: Every image is compared as a 32x32 RGB thumbnail: CIFAR's own size, and enough to tell
#: two photos apart while keeping 60,000 images at 184 MB.
THUMBNAIL_SIDE = 32


@dataclass
class AuditItems:
    """The decoded images of a source with where each came from.

    Attributes:
        ids: example ids, as the loader names them (and ``DataConfig.exclude`` takes them).
        splits: per image, the split it is given in (``"all"`` when the source is not pre-split).
        labels: class index per image.
        class_names: classes in loader order.
        thumbnails: ``uint8 (N, 32, 32, 3)``.
        native_sizes: ``(N, 2)`` ``(height, width)`` as stored.
        digests: SHA-256 of each file's bytes (of the pixels for built-in sources).
        root: the folder ids are relative to (None for built-in sources).
        unreadable: ``{"path", "reason"}`` per file that could not be decoded.
    """

    ids: list[str]
    splits: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    thumbnails: np.ndarray
    native_sizes: np.ndarray
    digests: list[str]
    root: Path | None
    unreadable: list[dict[str, str]]


def gather(source: str, progress: Progress = None) -> AuditItems:
    """Decode every image of ``source`` (a built-in name, a folder or a zip) as a thumbnail.

    Raises:
        DataError: the source does not exist or is not a dataset (as for training).
    """
    if source in SOURCES_BUILTIN:
        return _gather_builtin(source, progress)
    root = folder_root(source, progress)
    class_names, given, _ = list_folder(root)
    ids: list[str] = []
    splits: list[str] = []
    labels: list[int] = []
    for split_name, classes in given.items():
        for index, name in enumerate(class_names):
            members = classes.get(name, [])
            ids += members
            splits += [split_name] * len(members)
            labels += [index] * len(members)
    prefix = os.path.join(str(root), "")
    paths = [prefix + item for item in ids]
    side = (THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    decoded = decode_files(paths, side, 3, progress=progress, source=str(root))
    ok = decoded.ok
    unreadable = [{"path": ids[index], "reason": message.replace(paths[index], "").strip(" :") or message}
                  for index, message in decoded.errors]
    keep = np.flatnonzero(ok)
    with ThreadPoolExecutor(max_workers=4) as pool:
        digests = list(pool.map(_file_digest, [paths[index] for index in keep]))
    return AuditItems(
        ids=[ids[index] for index in keep], splits=np.array(splits, dtype=object)[keep],
        labels=np.array(labels, dtype=np.int64)[keep], class_names=list(class_names),
        thumbnails=decoded.images[keep], native_sizes=decoded.native_sizes[keep], digests=digests,
        root=root, unreadable=unreadable,
    )


def _file_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _gather_builtin(source: str, progress: Progress) -> AuditItems:
    """A built-in source has no files: its arrays are audited, ids as the loader names them."""
    side = (THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    native = load_dataset(DataConfig(source, val_fraction=0.0, test_fraction=0.0), progress)
    shown = load_dataset(DataConfig(source, image_size=side, channels=3, val_fraction=0.0, test_fraction=0.0))
    given_test = native.split_record.get("given") is not None
    parts = [("train" if given_test else "all", "train"), ("test", "test")] if given_test else [("all", "train")]
    ids: list[str] = []
    splits: list[str] = []
    labels, thumbs, digests = [], [], []
    for split_name, part in parts:
        raw, small = native.split(part), shown.split(part)
        ids += raw.ids
        splits += [split_name] * len(raw)
        labels.append(raw.labels)
        thumbs.append(small.images)
        digests += [hashlib.sha256(image.tobytes()).hexdigest() for image in raw.images]
    height, width = builtin.NATIVE_SHAPES[source][0]
    count = len(ids)
    return AuditItems(ids=ids, splits=np.array(splits, dtype=object), labels=np.concatenate(labels),
                      class_names=list(native.class_names), thumbnails=np.concatenate(thumbs),
                      native_sizes=np.tile(np.array([[height, width]], dtype=np.int32), (count, 1)),
                      digests=digests, root=None, unreadable=[])
