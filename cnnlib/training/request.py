"""One training request as data: what to load, what to build, how to train.

The CLI's flags, the app's form and a saved ``request.json`` all become the same
``TrainRequest`` through ``resolve_defaults``, so the same settings give the same run
wherever they come from. The defaults themselves live in the dataclasses
(``DataConfig``, ``ModelConfig``, ``TrainConfig``) and in ``cnnlib.training.recipes``;
this module only assembles them. ``validate_request`` is the fast pre-check a caller
runs in its own process before starting a job: it scans the data source, it does not
decode it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlib.data.config import DataConfig
from cnnlib.errors import CnnlibError, ConfigError
from cnnlib.io import atomic_write_json, read_json
from cnnlib.models.registry import get_spec
from cnnlib.training.config import TrainConfig
from cnnlib.training.recipes import BUDGET_ARCH, DEFAULT_ARCH, resolve_train_settings

#: Request fields; ``from_dict`` rejects anything else.
_REQUEST_KEYS = ("data", "model", "train", "name", "run_id")
#: ``ModelConfig`` fields that come from the data, never from the user.
_DATA_DERIVED = ("num_classes", "input_shape")


def model_option_names() -> tuple[str, ...]:
    """The ``ModelConfig`` fields a request may set (``arch``, ``width``, ``dropout``, ...)."""
    from cnnlib.models import ModelConfig

    return tuple(item.name for item in dataclasses.fields(ModelConfig) if item.name not in _DATA_DERIVED)


@dataclass(frozen=True)
class TrainRequest:
    """Everything a training run is made from.

    Attributes:
        data: What to load and how to split it (``DataConfig.seed`` seeds the split).
        model: ``ModelConfig`` options other than ``num_classes`` and ``input_shape``
            (which come from the data); ``arch`` is always set.
        train: How to train (``TrainConfig.seed`` seeds the weights and shuffling).
        name: A label for the run id.
        run_id: The exact id to create (launchers choose it); None generates one.
    """

    data: DataConfig
    model: dict[str, Any] = field(default_factory=lambda: {"arch": DEFAULT_ARCH})
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.model) - set(model_option_names()))
        if unknown:
            raise ConfigError(f"unknown model setting {unknown[0]!r}; expected any of: "
                              f"{', '.join(model_option_names())}")
        if not self.model.get("arch"):
            raise ConfigError("choose an architecture for the model")

    @property
    def arch(self) -> str:
        """The architecture name."""
        return str(self.model["arch"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``from_dict`` reads it back to an equal request."""
        return {"data": self.data.to_dict(), "model": dict(self.model), "train": self.train.to_dict(),
                "name": self.name, "run_id": self.run_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainRequest:
        """Inverse of ``to_dict``; unknown keys at any level are a ``ConfigError``."""
        if not isinstance(data, dict):
            raise ConfigError(f"a training request must be a JSON object. Received: {type(data).__name__}")
        unknown = sorted(set(data) - set(_REQUEST_KEYS))
        if unknown:
            raise ConfigError(f"unknown request key {unknown[0]!r}; expected any of: {', '.join(_REQUEST_KEYS)}")
        if not isinstance(data.get("data"), dict):
            raise ConfigError("a training request needs a 'data' object with at least a 'source'")
        return cls(data=DataConfig.from_dict(data["data"]), model=dict(data.get("model") or {"arch": DEFAULT_ARCH}),
                   train=TrainConfig.from_dict(data.get("train") or {}), name=data.get("name"),
                   run_id=data.get("run_id"))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the request as JSON (atomically) and return the path."""
        atomic_write_json(Path(path), self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainRequest:
        """Read a request saved by ``save`` (or written by hand)."""
        import json

        try:
            return cls.from_dict(read_json(Path(path)))
        except FileNotFoundError:
            raise ConfigError(f"the training request file {str(path)!r} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"the training request file {str(path)!r} is not valid JSON ({exc})") from None


def resolve_defaults(data: DataConfig | dict[str, Any], model: dict[str, Any] | None = None,
                     train: dict[str, Any] | None = None, name: str | None = None,
                     run_id: str | None = None) -> TrainRequest:
    """Build the request the given settings mean, filling every setting left out.

    Args:
        data: A ``DataConfig`` or its fields (``source`` required).
        model: Model options; ``arch`` defaults to ``recipes.DEFAULT_ARCH`` (``recipes.BUDGET_ARCH``
            with a time budget), and the fields an architecture is designed with to its
            ``ArchSpec.model_defaults``.
        train: Only the ``TrainConfig`` fields the user chose (None = not chosen); the rest
            follow ``recipes.resolve_train_settings`` (optimizer, time-budget and data defaults).
        name: A label for the run id.
        run_id: The exact run id to create.

    Raises:
        ConfigError: An unknown or invalid setting.
    """
    data_config = data if isinstance(data, DataConfig) else _data_config(data)
    options = {key: value for key, value in (model or {}).items() if value is not None}
    options.setdefault("arch", BUDGET_ARCH if (train or {}).get("time_budget_minutes") else DEFAULT_ARCH)
    for key, value in get_spec(options["arch"]).model_defaults:
        options.setdefault(key, value)
    if options["arch"] == "from_run":
        options, data_config = _base_run_defaults(options, data_config)
    settings = resolve_train_settings(dict(train or {}), options["arch"], data_config.source)
    return TrainRequest(data=data_config, model=options, train=TrainConfig.from_dict(settings), name=name or None,
                        run_id=run_id)


def _base_run_defaults(options: dict[str, Any], data: DataConfig) -> tuple[dict[str, Any], DataConfig]:
    """``from_run``: start from the bundled demo unless a run is named, and load the data at
    that run's input size and channels (unless chosen), so photos are not decoded at full size."""
    from cnnlib.runs import RunStore
    from cnnlib.training.recipes import default_base_run

    store = RunStore()
    options["weights"] = options.get("weights") or default_base_run()  # recorded: the run says which
    try:
        spec = store.get(options["weights"]).input_spec()
    except CnnlibError as exc:
        raise ConfigError(f"cannot start from run {options['weights']!r}: {exc}") from None
    return options, dataclasses.replace(
        data, image_size=data.image_size or (spec.height, spec.width), channels=data.channels or spec.channels)


def _data_config(values: dict[str, Any]) -> DataConfig:
    if not values.get("source"):
        raise ConfigError("choose a data source: a built-in dataset, a folder of class subfolders or a .zip")
    return DataConfig.from_dict({key: value for key, value in values.items() if value is not None})


def input_size_for(arch: str, size: tuple[int, int], chosen: bool) -> tuple[int, int]:
    """The model input size for data of ``size`` px: upscaled to the architecture's minimum.

    Args:
        arch: The architecture name.
        size: ``(height, width)`` the data has (native, or the user's choice).
        chosen: Whether the user chose ``size``; a chosen size is never changed.

    Raises:
        ConfigError: A chosen size below the architecture's minimum (one line, no CLI flags).
    """
    minimum = get_spec(arch).min_input_size
    if min(size) >= minimum:
        return size
    if chosen:
        raise ConfigError(
            f"{arch} needs images of at least {minimum}x{minimum} pixels, but the image size is set to "
            f"{size[0]}x{size[1]}; choose a larger image size or a smaller architecture"
        )
    return max(size[0], minimum), max(size[1], minimum)


def _check_extra_training(folders: tuple[str, ...], class_names: tuple[str, ...]) -> None:
    """Every extra training folder exists and holds only the source's classes (listed, not decoded)."""
    from cnnlib.data.folder import scan_classes
    from cnnlib.errors import DataError

    for extra in folders:
        if not Path(extra).expanduser().is_dir():
            raise DataError(f"the extra training folder {extra!r} does not exist; choose a folder of class subfolders")
        unknown = sorted(name for name, files in scan_classes(Path(extra).expanduser()).items()
                         if files and name not in class_names)
        if unknown:
            raise DataError(f"{extra}: class(es) {unknown} are not among the dataset's classes "
                            f"({', '.join(class_names)}); rename or remove those folders")


def validate_request(request: TrainRequest) -> Any:
    """Check, fast and in the caller's process, that ``request`` can start training.

    Scans the data source (no decoding): it must exist and hold at least 2 classes, and the
    architecture must accept the data's input size (sizes below the architecture's minimum
    are upscaled unless the user chose them) at every progressive-resize stage.

    Returns:
        The ``ModelConfig`` the run will build: the data's real input shape and class count.

    Raises:
        ConfigError: The model does not fit the data.
        DataError: The data source is missing or unusable.
    """
    from cnnlib.data.scan import scan_source
    from cnnlib.models import ModelConfig

    scan = scan_source(request.data)
    _check_extra_training(request.data.extra_train, scan.class_names)
    size = input_size_for(request.arch, scan.image_size, request.data.image_size is not None)
    model = ModelConfig(num_classes=len(scan.class_names), input_shape=(size[0], size[1], scan.channels),
                        **request.model)
    minimum = get_spec(request.arch).min_input_size
    for stage_size, _until in request.train.progressive_resize:
        if stage_size < minimum:
            raise ConfigError(f"{request.arch} needs images of at least {minimum} pixels, so it cannot train at the "
                              f"progressive-resize size {stage_size}; choose a size of {minimum} or more")
    return model
