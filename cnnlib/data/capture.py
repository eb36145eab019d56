"""Photos taken one at a time, saved into an ordinary class-folder dataset.

A captured dataset is ``<root>/<dataset>/<class>/<timestamp>-<n>.jpg|png``: the layout
every folder source has, so the loader, the audit and training read it like any other.
The caller chooses ``root`` (the app: its first writable data root); this module owns the
rules for dataset and class names, the file names, and what a capture still lacks to train.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cnnlib import images as imagelib
from cnnlib.data import folder
from cnnlib.data.loader import MIN_CLASSES
from cnnlib.data.split import MIN_TO_HOLD_OUT
from cnnlib.errors import DataError
from cnnlib.io import atomic_create_bytes

MAX_NAME_LENGTH = 64
# A letter or digit first (no dot files, no "..", no leading space), then the same plus
# space, "_", "-" and "."; no "/" or "\\", so a name is always one folder.
_NAME = re.compile(r"[^\W_][\w .-]*", re.UNICODE)
# Names the folder layout reads as split folders: a class "test" would turn the dataset into
# a train/test layout, a dataset "train" would hide its data root's other datasets.
_RESERVED = frozenset(name for names in folder.SPLIT_DIRS.values() for name in names)
#: Photo formats kept as taken (camera widgets send JPEG; PNG for pasted screenshots).
_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png"}


def check_name(name: str, what: str = "class") -> str:
    """``name`` stripped, if it can be a dataset or class folder name.

    Args:
        name: what the user typed.
        what: ``"class"`` or ``"dataset"``, for the message.

    Raises:
        DataError: empty, too long, a character outside letters, digits, space, ``_ - .``,
            not starting with a letter or digit, ending in a dot, or a split folder's name.
    """
    cleaned = name.strip()
    if not cleaned:
        raise DataError(f"type a {what} name first (letters, digits, spaces, '_', '-' or '.')")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise DataError(f"a {what} name has at most {MAX_NAME_LENGTH} characters. Received: {len(cleaned)} characters")
    if not _NAME.fullmatch(cleaned) or cleaned.endswith("."):
        raise DataError(f"a {what} name starts with a letter or digit and holds only letters, digits, spaces, "
                        f"'_', '-' or '.' (no '/', and no dot at the end). Received: {what}={cleaned!r}")
    if cleaned.lower() in _RESERVED:
        raise DataError(f"{cleaned!r} names a split folder ({', '.join(sorted(_RESERVED))}); "
                        f"choose another {what} name. Received: {what}={cleaned!r}")
    return cleaned


def dataset_dir(root: Path, dataset: str) -> Path:
    """The folder of the captured dataset ``dataset`` under ``root`` (it may not exist yet).

    Raises:
        DataError: a bad name, or an existing folder of that name that is split into
            ``train/`` and ``test/`` (photos saved beside those would never be read).
    """
    target = Path(root) / check_name(dataset, "dataset")
    if target.is_dir() and folder.split_dirs(target):
        raise DataError(f"{target.name!r} is split into train/ and test/ folders, so photos saved beside them would "
                        f"not be used; choose another dataset name. Received: dataset={target.name!r}")
    return target


def save_photo(dataset: Path, class_name: str, data: bytes) -> Path:
    """Save one photo as ``dataset/<class>/<timestamp>-<n>.<ext>``, atomically, and return its path.

    ``n`` counts the class's images, so names sort in the order taken; a name already taken
    (two tabs saving in the same second) moves on to the next ``n``, never overwriting.

    Raises:
        DataError: a bad class name, or ``data`` is not a JPEG or PNG image.
    """
    target = Path(dataset) / check_name(class_name)
    try:
        kind = imagelib.probe_image(data).format
    except DataError:
        raise DataError("the photo could not be read as an image; take it again") from None
    if kind not in _EXTENSIONS:
        raise DataError(f"a photo must be a JPEG or PNG image. Received: {kind}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    number = len(folder.scan_classes(dataset).get(target.name, [])) + 1 if target.is_dir() else 1
    while True:
        path = target / f"{stamp}-{number}{_EXTENSIONS[kind]}"
        try:
            return atomic_create_bytes(path, data)
        except FileExistsError:
            number += 1


def class_counts(dataset: Path) -> dict[str, int]:
    """``{class: images}`` of a captured (or any flat class-folder) dataset, sorted by class; empty if absent."""
    if not Path(dataset).is_dir():
        return {}
    return {name: len(files) for name, files in folder.scan_classes(dataset).items()}


@dataclass(frozen=True)
class Readiness:
    """What a set of class counts still lacks to train.

    Attributes:
        problems: sentences naming what stops loading or training; empty when it can train.
        notes: advice that does not stop training (classes too small for validation and test).
    """

    problems: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def ready(self) -> bool:
        """True when nothing stops training."""
        return not self.problems


def readiness(counts: Mapping[str, int]) -> Readiness:
    """Check ``{class: images}`` against the loader's and the split's minimums.

    The loader needs ``MIN_CLASSES`` classes, none empty; the trainer needs a validation
    image, which only classes of ``MIN_TO_HOLD_OUT`` images or more give.
    """
    problems: list[str] = []
    filled = {name: count for name, count in counts.items() if count}
    if len(filled) < MIN_CLASSES:
        problems.append(f"at least {MIN_CLASSES} classes with photos (now {len(filled)})")
    empty = sorted(set(counts) - set(filled))
    if empty:
        problems.append(f"a photo in every class folder, or remove the empty one(s): {', '.join(empty)}")
    if filled and max(filled.values()) < MIN_TO_HOLD_OUT:
        problems.append(f"at least {MIN_TO_HOLD_OUT} photos in a class, so the validation split is not empty")
    thin = sorted(name for name, count in filled.items() if count < MIN_TO_HOLD_OUT)
    notes = (f"with fewer than {MIN_TO_HOLD_OUT} photos a class gets no validation or test photo, so its "
             f"accuracy is never measured: {', '.join(thin)}",) if thin else ()
    return Readiness(tuple(problems), notes)
