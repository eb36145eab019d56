"""Your own photos as a field test: uploads the user labelled, kept with the run.

Validation accuracy comes from the same source as the training images; a user's own photos
are what the model will really meet. When Classify gets one wrong, "tell the right class"
saves the upload, as uploaded, into the run's field set: a plain image folder with one
subfolder per class (``<field dir>/<class>/<hash>.<ext>``), so any tool can read it and a
training request can add it. Evaluate scores the run on it beside the test split.

A bundled (read-only) run keeps its field set in the run store (``.field/<run id>/``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlib.errors import CnnlibError, ConfigError
from cnnlib.runs import Run, RunStore

FIELD_DIR = "field"
BUNDLED_FIELD_DIR = ".field"
#: Field accuracy this many points under the test accuracy earns a warning.
GAP_WARNING = 0.10
#: ... once the field set has at least this many photos.
MIN_FOR_WARNING = 5


def field_dir(run: Run, runs_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``run``'s field photos live (created on first save)."""
    if not run.read_only:
        return run.path / FIELD_DIR
    return RunStore(runs_dir).root / BUNDLED_FIELD_DIR / run.id


def add_field_photo(run: Run, data: bytes, name: str, label: str,
                    runs_dir: str | os.PathLike[str] | None = None) -> Path:
    """Save one uploaded photo with its true class into the run's field set.

    The file is kept byte for byte (named by its content hash, so saving it twice keeps one
    copy) after checking it decodes as the model would read it.

    Raises:
        ConfigError: ``label`` is not one of the run's classes.
        DataError: The file is not a readable image.
    """
    from cnnlib.images import IMAGE_EXTENSIONS
    from cnnlib.inference import decode_upload
    from cnnlib.io import atomic_write_bytes

    spec = run.input_spec()
    if label not in spec.class_names:
        raise ConfigError(f"the true class must be one of this model's classes: {', '.join(spec.class_names)}. "
                          f"Received: {label!r}")
    decode_upload(data, name, spec)  # a file the model cannot read is no test photo
    extension = Path(name).suffix.lower()
    extension = extension if extension in IMAGE_EXTENSIONS else ".png"
    target = field_dir(run, runs_dir) / label / f"{hashlib.sha256(data).hexdigest()[:16]}{extension}"
    if not target.exists():
        atomic_write_bytes(target, data)
    return target


@dataclass
class FieldResult:
    """A run scored on its field set.

    Attributes:
        count: Photos scored.
        accuracy: Share answered with their true class.
        per_class: ``{class: photos}``.
        wrong: ``[{"path", "true", "predicted", "confidence"}]`` of the misses.
        unreadable: Files that could not be read (skipped, named).
    """

    count: int
    accuracy: float
    per_class: dict[str, int]
    wrong: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def gap_warning(self, test_accuracy: float | None) -> str | None:
        """A sentence when the field accuracy is much lower than the test accuracy, else None."""
        if test_accuracy is None or self.count < MIN_FOR_WARNING or test_accuracy - self.accuracy < GAP_WARNING:
            return None
        return (f"On your own photos the model is right {self.accuracy:.0%} of the time, against {test_accuracy:.0%} "
                "on the test split: your photos differ from its training images (light, framing, camera). Adding "
                "them to a new training run is the usual fix.")


def _field_files(folder: Path, class_names: tuple[str, ...]) -> list[tuple[Path, int]]:
    from cnnlib.images import IMAGE_EXTENSIONS

    files = []
    for index, name in enumerate(class_names):
        for path in sorted((folder / name).glob("*")) if (folder / name).is_dir() else []:
            if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
                files.append((path, index))
    return files


def evaluate_field(run: Run, predictor: Any, runs_dir: str | os.PathLike[str] | None = None) -> FieldResult | None:
    """Score ``predictor`` (the run's) on the run's field set; None when it holds no photo."""
    from cnnlib.images import load_image

    spec = predictor.spec
    images, labels, paths, unreadable = [], [], [], []
    for path, label in _field_files(field_dir(run, runs_dir), spec.class_names):
        try:
            images.append(load_image(path, spec.size, spec.channels))
        except CnnlibError:
            unreadable.append(path.name)
            continue
        labels.append(label)
        paths.append(path)
    if not images:
        return None
    probabilities = predictor.probabilities(np.stack(images))
    predicted = probabilities.argmax(axis=1)
    truth = np.asarray(labels)
    wrong = [{"path": str(paths[n]), "true": spec.class_names[truth[n]], "predicted": spec.class_names[predicted[n]],
              "confidence": float(probabilities[n, predicted[n]])} for n in np.flatnonzero(predicted != truth)]
    per_class = {name: int((truth == n).sum()) for n, name in enumerate(spec.class_names) if (truth == n).any()}
    return FieldResult(count=len(truth), accuracy=float((predicted == truth).mean()), per_class=per_class,
                       wrong=wrong, unreadable=unreadable)


@dataclass(frozen=True)
class FieldSetInfo:
    """One run's field set, offered to a new training request on the same data.

    Attributes:
        run_id: the run that keeps the photos.
        folder: the field set folder (``<class>/<file>``), for ``DataConfig.extra_train``.
        count: photos in it.
    """

    run_id: str
    folder: Path
    count: int


def _same_source(first: str, second: str) -> bool:
    if first == second:
        return True
    try:
        return Path(first).expanduser().resolve() == Path(second).expanduser().resolve()
    except OSError:
        return False


def field_sets_for_source(source: str, runs_dir: str | os.PathLike[str] | None = None) -> list[FieldSetInfo]:
    """Every run trained on ``source`` whose field set holds photos, newest run first."""
    from cnnlib.images import IMAGE_EXTENSIONS

    store = RunStore(runs_dir)
    found: list[FieldSetInfo] = []
    for info in store.list():
        if info.get("status") == "damaged":
            continue
        run = store.get(info["path"])
        try:
            run_source = str(run.config().get("data", {}).get("source", ""))
        except CnnlibError:
            continue
        folder = field_dir(run, runs_dir)
        if not _same_source(run_source, source) or not folder.is_dir():
            continue
        count = sum(1 for path in folder.glob("*/*") if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file())
        if count:
            found.append(FieldSetInfo(run.id, folder, count))
    return found
