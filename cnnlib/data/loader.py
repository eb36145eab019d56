"""``load_dataset``: from a source string to split, decoded, traceable arrays."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnlib.data import builtin, folder
from cnnlib.data import split as splitting
from cnnlib.data.config import SOURCES_BUILTIN, SPLITS, DataConfig, Dataset, Split
from cnnlib.data.decode import check_memory, decode_files
from cnnlib.data.summary import fingerprint, summarize
from cnnlib.data.zipfile_safe import extract_cached
from cnnlib.errors import DataError
from cnnlib.images import IMAGE_EXTENSIONS

Progress = Callable[[str], None] | None
#: Class folders a dataset needs: a classifier of one class has nothing to tell apart.
MIN_CLASSES = 2
ACCEPTED = (
    f"a built-in name ({', '.join(SOURCES_BUILTIN)}), a folder of class subfolders (DIR/<class>/*.jpg, or "
    "DIR/train/<class>/ + DIR/test/<class>/), or a .zip of such a folder"
)


def load_dataset(config: DataConfig, progress: Progress = None) -> Dataset:
    """Load, decode and split the images ``config.source`` names.

    Args:
        config: what to load.
        progress: called with short status lines ("reading 12,000/60,000 images").

    Returns:
        A ``Dataset`` whose splits hold ``uint8`` images and ``int64`` labels.

    Raises:
        DataError: missing or unusable source, fewer than 2 classes, an empty
            class, no readable images, failed download, or too much memory.
    """
    if config.source in SOURCES_BUILTIN:
        dataset = _load_builtin(config, progress)
    else:
        dataset = _load_folder(folder_root(config.source, progress), config, progress)
    return _add_extra_training(dataset, progress) if config.extra_train else dataset


def _add_extra_training(dataset: Dataset, progress: Progress) -> Dataset:
    """Append the images of ``config.extra_train`` folders to the training split (ids: absolute paths).

    Raises:
        DataError: a folder is missing, or holds a class the source does not have.
    """
    index_of = {name: index for index, name in enumerate(dataset.class_names)}
    paths: list[str] = []
    labels: list[int] = []
    for extra in dataset.config.extra_train:
        root = Path(extra).expanduser()
        if not root.is_dir():
            raise DataError(f"the extra training folder {extra!r} does not exist; choose a folder of class subfolders")
        for name, files in folder.scan_classes(root).items():
            if files and name not in index_of:
                raise DataError(f"{extra}: class {name!r} is not one of the dataset's classes "
                                f"({', '.join(dataset.class_names)}); rename or remove that folder")
            paths += [str(root / relpath) for relpath in files]
            labels += [index_of.get(name, -1)] * len(files)
    if not paths:
        dataset.split_record["extra_train"] = 0
        return dataset
    _report(progress, f"adding {len(paths):,} extra training images")
    decoded = decode_files(paths, dataset.image_size, dataset.channels, progress=None, source="extra training images")
    keep = np.flatnonzero(decoded.ok)
    train = dataset.train
    dataset.train = Split(np.concatenate([train.images, decoded.images[keep]]),
                          np.concatenate([train.labels, np.asarray(labels, dtype=np.int64)[keep]]),
                          [*train.ids, *(paths[index] for index in keep)])
    dataset.split_record["extra_train"] = int(len(keep))
    dataset.split_record.setdefault("counts", {})["train"] = len(dataset.train)
    splits = {name: (dataset.split(name).ids, dataset.split(name).labels) for name in SPLITS}
    dataset.fingerprint = fingerprint(dataset.class_names, splits)
    before = dataset.summary.get("skipped") or {}
    dataset.summary = summarize(dataset.class_names, {name: dataset.split(name).labels for name in SPLITS},
                                dataset.summary.get("image_sizes", {}), dataset.summary.get("modes", {}),
                                [f"{paths[index]}: {message}" for index, message in decoded.errors])
    skipped = dataset.summary.setdefault("skipped", {"count": 0, "examples": []})
    skipped["count"] = int(skipped.get("count", 0)) + int(before.get("count", 0))
    skipped["examples"] = [*before.get("examples", []), *skipped.get("examples", [])][:5]
    return dataset


def folder_root(source: str, progress: Progress = None) -> Path:
    """The folder a folder or zip source's example ids are relative to (a zip is extracted once, cached).

    Raises:
        DataError: the source does not exist, or is a file other than a .zip.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"data source not found; expected {ACCEPTED}. Received: source={source!r}")
    if path.is_dir():
        return path
    if path.is_file() and path.suffix.lower() == ".zip":
        _report(progress, f"extracting {path.name}")
        return folder.unwrap(extract_cached(path))
    raise DataError(f"cannot use this file as a dataset; expected {ACCEPTED}. Received: source={source!r}")


def _report(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def list_folder(root: Path) -> tuple[list[str], dict[str, dict[str, list[str]]], dict[str, str] | None]:
    """The classes and the files of each given split of a folder source, without decoding.

    Args:
        root: the (unwrapped) dataset folder.

    Returns:
        ``(class_names, given, layout)``: ``given`` maps ``"all"`` (flat layout) or each
        folder split (``"train"``, ``"test"``, maybe ``"val"``) to ``{class: [id, ...]}``,
        ids being paths relative to ``root``; ``layout`` is ``folder.split_dirs(root)``.

    Raises:
        DataError: fewer than 2 classes, an empty class, or classes only outside train/.
    """
    layout = folder.split_dirs(root)
    given: dict[str, dict[str, list[str]]] = {}
    if layout is None:
        given["all"] = folder.scan_classes(root)
        return _check_classes(given["all"], root), given, None
    for split_name, dirname in layout.items():
        given[split_name] = {
            name: [f"{dirname}/{relpath}" for relpath in files]
            for name, files in folder.scan_classes(root / dirname).items()
        }
    class_names = _check_classes(given["train"], root / layout["train"])
    for split_name in ("val", "test"):
        extra = sorted(set(given.get(split_name, {})) - set(class_names))
        if extra:
            raise DataError(
                f"{root / layout[split_name]} has classes that train/ lacks; every class needs training images. "
                f"Received: {extra}"
            )
    return class_names, given, layout


def _apply_exclusions(given: dict[str, dict[str, list[str]]], exclude: tuple[str, ...],
                      source: str) -> dict[str, int]:
    """Drop the excluded ids from ``given`` in place; the user's files stay untouched.

    Returns:
        ``{"excluded": n, "not_found": m}`` for the split record (empty without exclusions).
    """
    if not exclude:
        return {}
    wanted = set(exclude)
    dropped = 0
    for classes in given.values():
        for name, ids in classes.items():
            kept = [item for item in ids if item not in wanted]
            dropped += len(ids) - len(kept)
            classes[name] = kept
    missing = len(wanted) - dropped
    if missing > 0:
        warnings.warn(f"{source}: {missing:,} excluded file(s) are no longer in the dataset; they were ignored",
                      UserWarning, stacklevel=4)
    for split_name, classes in given.items():
        empty = [name for name, ids in classes.items() if not ids and split_name in ("all", "train")]
        if empty:
            raise DataError(f"{source}: the exclusions leave no training images in class(es) {empty}; "
                            f"exclude fewer files. Received: {len(exclude):,} exclusions")
    return {"excluded": dropped, "not_found": max(0, missing)}


def _load_folder(root: Path, config: DataConfig, progress: Progress) -> Dataset:
    _report(progress, f"scanning {root}")
    class_names, given, layout = list_folder(root)
    excluded = _apply_exclusions(given, config.exclude, str(root))

    index_of = {name: index for index, name in enumerate(class_names)}
    pools: dict[str, tuple[list[str], np.ndarray]] = {}
    for split_name, classes in given.items():
        ids = [relpath for name in class_names for relpath in classes.get(name, [])]
        labels = np.array([index_of[name] for name in class_names for _ in classes.get(name, [])], dtype=np.int64)
        keep = splitting.subsample(labels, config.max_per_class, config.seed)
        pools[split_name] = ([ids[i] for i in keep], labels[keep])

    parts, record = _plan_splits(pools, config, layout)
    record.update(excluded)
    order = [part for part in SPLITS]
    all_ids = [item for name in order for item in parts[name][0]]
    prefix = os.path.join(str(root), "")  # string joins: pathlib costs ~0.3 s per 60,000 files
    decoded = decode_files([prefix + relpath for relpath in all_ids], config.image_size, config.channels,
                           progress=progress, source=str(root))
    skipped = [f"{all_ids[index]}: {_short(message, str(root / all_ids[index]))}" for index, message in decoded.errors]
    if skipped:
        warnings.warn(
            f"{root}: skipped {len(skipped)} unreadable image file(s), e.g. {'; '.join(skipped[:3])}",
            UserWarning, stacklevel=3,
        )
    splits: dict[str, Split] = {}
    start = 0
    for name in order:
        ids, labels = parts[name]
        stop = start + len(ids)
        ok = decoded.ok[start:stop]
        images = decoded.images[start:stop]
        if not ok.all():
            images, labels = images[ok], labels[ok]
            ids = [item for item, good in zip(ids, ok.tolist(), strict=True) if good]
        splits[name] = Split(images, labels, ids)
        start = stop
    for index, name in enumerate(class_names):
        if not any(np.any(splits[part].labels == index) for part in SPLITS):
            raise DataError(f"{root}: class {name!r} has no readable images. Received: class folder {name!r}")
    record["counts"] = {name: len(splits[name]) for name in SPLITS}
    return _assemble(config, class_names, decoded.image_size, decoded.channels, splits, record,
                     dict(decoded.sizes), dict(decoded.modes), skipped)


def _short(message: str, path: str) -> str:
    return message.replace(f"{path} ", "").replace(path, "").strip(" :") or message


def _loose_images(root: Path) -> int:
    """How many image files sit directly in ``root`` (not in a class folder)."""
    try:
        return sum(1 for path in root.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS)
    except OSError:
        return 0


def _check_classes(classes: dict[str, list[str]], root: Path) -> list[str]:
    names = list(classes)
    loose = _loose_images(root)
    if loose and not any(classes.values()):
        # A folder of photos without class subfolders: say what to do, not "no image files".
        raise DataError(
            f"{root.name} holds {loose:,} image(s) but no class folders; put each class's images in a subfolder "
            f"named after the class ({root.name}/<class>/*.jpg), with at least {MIN_CLASSES} classes"
        )
    if not any(classes.values()):
        raise DataError(
            f"{root} holds no image files; expected {ACCEPTED}; image extensions: jpg, jpeg, png, bmp, gif, webp. "
            f"Received: {len(names)} subfolder(s)"
        )
    if len(names) < MIN_CLASSES:
        raise DataError(
            f"{root} has {len(names)} class folder(s); a classifier needs at least {MIN_CLASSES} (DIR/<class>/*.jpg). "
            f"Received: {names}"
        )
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise DataError(f"{root}: class folder(s) without images; remove them or add images. Received: {empty}")
    return names


def _plan_splits(pools: dict[str, tuple[list[str], np.ndarray]], config: DataConfig,
                 layout: dict[str, str] | None) -> tuple[dict[str, tuple[list[str], np.ndarray]], dict]:
    """Carve the missing splits out of the given ones, stratified by class."""
    record: dict = {"seed": config.seed, "val_fraction": config.val_fraction, "test_fraction": config.test_fraction,
                    "max_per_class": config.max_per_class}
    if "all" in pools:
        ids, labels = pools["all"]
        index = splitting.stratified_split(labels, {"val": config.val_fraction, "test": config.test_fraction},
                                           config.seed)
        record.update(method="stratified", given=None)
    elif "val" in pools:
        record.update(method="given", given=dict(layout or {}))
        return dict(pools), record
    else:
        ids, labels = pools["train"]
        index = splitting.stratified_split(labels, {"val": config.val_fraction}, config.seed)
        index["test"] = None
        record.update(method="given train/test, val carved from train (stratified)", given=dict(layout or {}))
    parts: dict[str, tuple[list[str], np.ndarray]] = {}
    for name in SPLITS:
        if index.get(name) is None:
            parts[name] = pools[name]
        else:
            parts[name] = ([ids[i] for i in index[name]], labels[index[name]])
    return parts, record


def _load_builtin(config: DataConfig, progress: Progress) -> Dataset:
    name = config.source
    _report(progress, f"loading {name}")
    if name == builtin.OFFLINE_SOURCE:
        images, labels = builtin.load_digits()
        keep = _not_excluded(splitting.subsample(labels, config.max_per_class, config.seed), "digits:{}",
                             config.exclude)
        index = splitting.stratified_split(labels[keep], {"val": config.val_fraction, "test": config.test_fraction},
                                           config.seed)
        parts = {part: (images[keep[idx]], labels[keep[idx]], [f"digits:{i}" for i in keep[idx]])
                 for part, idx in index.items()}
        record = {"method": "stratified", "given": None}
    else:
        arrays = builtin.load_keras(name)
        pools = {}
        for part, (images, labels) in arrays.items():
            keep = _not_excluded(splitting.subsample(labels, config.max_per_class, config.seed),
                                 f"{name}:{part}:{{}}", config.exclude)
            pools[part] = (images[keep], labels[keep], [f"{name}:{part}:{i}" for i in keep])
        train_images, train_labels, train_ids = pools["train"]
        index = splitting.stratified_split(train_labels, {"val": config.val_fraction}, config.seed)
        parts = {part: (train_images[idx], train_labels[idx], [train_ids[i] for i in idx]) for part, idx in index.items()}
        parts["test"] = pools["test"]
        record = {"method": "given train/test, val carved from train (stratified)", "given": {"train": "train",
                                                                                              "test": "test"}}
    record.update(seed=config.seed, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                  max_per_class=config.max_per_class)
    sample = parts["train"][0]
    native = (int(sample.shape[1]), int(sample.shape[2]))
    native_channels = int(sample.shape[3])
    size = config.image_size or native
    channels = config.channels or native_channels
    total = sum(len(labels) for _, labels, _ in parts.values())
    check_memory(total, size, channels, name)
    splits = {part: Split(_reshape(images, size, channels), labels, ids) for part, (images, labels, ids) in parts.items()}
    record["counts"] = {part: len(splits[part]) for part in SPLITS}
    mode = "L" if native_channels == 1 else "RGB"
    return _assemble(config, builtin.CLASS_NAMES[name], size, channels, splits, record,
                     {f"{native[1]}x{native[0]}": total}, {mode: total}, [])


def _not_excluded(keep: np.ndarray, id_pattern: str, exclude: tuple[str, ...]) -> np.ndarray:
    """``keep`` without the indices whose built-in id (``id_pattern.format(i)``) is excluded."""
    if not exclude:
        return keep
    wanted = set(exclude)
    return keep[[id_pattern.format(int(i)) not in wanted for i in keep]]


def _reshape(images: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """Resize/convert built-in arrays with the same Pillow rules as files."""
    if images.shape[1:] == (size[0], size[1], channels):
        return images
    from PIL import Image

    from cnnlib.images import to_array

    out = np.empty((len(images), size[0], size[1], channels), dtype=np.uint8)
    for index, image in enumerate(images):
        pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image, mode="L" if image.shape[2] == 1 else "RGB")
        out[index] = to_array(pil, size, channels)
    return out


def _assemble(config: DataConfig, class_names: list[str], size: tuple[int, int], channels: int,
              splits: dict[str, Split], record: dict, sizes: dict[str, int], modes: dict[str, int],
              skipped: list[str]) -> Dataset:
    summary = summarize(class_names, {name: splits[name].labels for name in SPLITS}, sizes, modes, skipped)
    digest = fingerprint(class_names, {name: (splits[name].ids, splits[name].labels) for name in SPLITS})
    return Dataset(config=config, class_names=list(class_names), image_size=(int(size[0]), int(size[1])),
                   channels=int(channels), train=splits["train"], val=splits["val"], test=splits["test"],
                   summary=summary, fingerprint=digest, split_record=record)
