"""What to load (``DataConfig``) and what was loaded (``Split``, ``Dataset``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnlib.data.builtin import CLASS_NAMES
from cnnlib.errors import ConfigError, reject_unknown_keys
from cnnlib.spec import check_image_size

SOURCES_BUILTIN = tuple(CLASS_NAMES)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are shaped and split.

    Saved with every run (``config.json``), so a run can reload exactly its data.

    Attributes:
        source: a built-in name (``SOURCES_BUILTIN``), an image folder, or a ``.zip``.
        image_size: ``(height, width)``; None = native (most common size found).
        channels: 1 or 3; None = native (1 if every image is grayscale, else 3).
        val_fraction: share of each class held out for validation.
        test_fraction: share of each class held out for testing (when not pre-split).
        seed: seeds the stratified split and the ``max_per_class`` subsample.
        max_per_class: cap on images per class in each given split (quick runs).
        exclude: example ids (paths relative to the source root, or ``"digits:12"``) left
            out of every split, e.g. the findings of ``python -m cnnlib audit``; the files
            themselves are never touched.
        extra_train: folders of class subfolders (``DIR/<class>/*.jpg``) whose images are
            added to the training split only, e.g. a run's field set of the user's own photos;
            their classes must be the source's.
    """

    source: str
    image_size: tuple[int, int] | None = None
    channels: int | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    max_per_class: int | None = None
    exclude: tuple[str, ...] = ()
    extra_train: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise ConfigError(f"data source must be a non-empty string. Received: source={self.source!r}")
        if self.image_size is not None:
            object.__setattr__(self, "image_size", check_image_size(self.image_size))
        if self.channels is not None and self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1, 3 or None. Received: channels={self.channels!r}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1). Received: {name}={value!r}")
            object.__setattr__(self, name, float(value))
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                "val_fraction + test_fraction must leave images for training. "
                f"Received: val_fraction={self.val_fraction}, test_fraction={self.test_fraction}"
            )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an int. Received: seed={self.seed!r}")
        if self.max_per_class is not None and (not isinstance(self.max_per_class, int) or self.max_per_class < 1):
            raise ConfigError(f"max_per_class must be a positive int or None. Received: max_per_class={self.max_per_class!r}")
        if isinstance(self.exclude, str) or not all(isinstance(item, str) for item in self.exclude):
            raise ConfigError(f"exclude must be a list of file paths. Received: exclude={self.exclude!r}")
        object.__setattr__(self, "exclude", tuple(sorted(set(self.exclude))))
        if isinstance(self.extra_train, str) or not all(isinstance(item, str) for item in self.extra_train):
            raise ConfigError(f"extra_train must be a list of folders. Received: extra_train={self.extra_train!r}")
        object.__setattr__(self, "extra_train", tuple(dict.fromkeys(self.extra_train)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``image_size`` as a list)."""
        data = dataclasses.asdict(self)
        data["image_size"] = list(self.image_size) if self.image_size is not None else None
        data["exclude"] = list(self.exclude)
        data["extra_train"] = list(self.extra_train)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataConfig:
        """Inverse of ``to_dict``; unknown keys are a ``ConfigError``."""
        reject_unknown_keys(data, (item.name for item in dataclasses.fields(cls)), "data config")
        return cls(**data)  # __post_init__ turns a JSON list (or an int) into (height, width)


@dataclass
class Split:
    """One split's images, labels and where each example came from.

    Attributes:
        images: ``uint8`` array ``(N, H, W, C)``.
        labels: ``int64`` array ``(N,)`` of class indices.
        ids: per example, the file path relative to the source root (or
            ``"digits:123"`` style for built-in sources).
    """

    images: np.ndarray
    labels: np.ndarray
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(len(self.labels))


@dataclass
class Dataset:
    """A loaded, split dataset plus everything needed to trace and reproduce it."""

    config: DataConfig
    class_names: list[str]
    image_size: tuple[int, int]
    channels: int
    train: Split
    val: Split
    test: Split
    summary: dict[str, Any]
    fingerprint: str
    split_record: dict[str, Any]

    def split(self, name: str) -> Split:
        """The split called ``name`` ("train", "val" or "test")."""
        if name not in SPLITS:
            raise ConfigError(f"unknown split {name!r}; expected one of: {', '.join(SPLITS)}. Received: {name!r}")
        return getattr(self, name)
