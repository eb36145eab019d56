"""cnnlib.data: sources, folders, zips, splits and the tf.data pipeline (real files, real TF)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlib import images
from cnnlib.data import (
    DataConfig,
    decode_files,
    load_dataset,
    make_tf_dataset,
    safe_extract_zip,
    scan_image_folder,
)
from cnnlib.data.config import Split
from cnnlib.errors import ConfigError, DataError

CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10"


def _save(path: Path, image: Image.Image, fmt: str | None = None, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **options)
    return path


def _noise(size: tuple[int, int], seed: int, mode: str = "RGB") -> Image.Image:
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8), mode=mode)


def _simple_folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (12, 10)) -> Path:
    for class_index, (name, count) in enumerate(classes.items()):
        for index in range(count):
            _save(root / name / f"{index:03d}.png", _noise(size, class_index * 1000 + index))
    return root


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))


# --- built-in sources ---------------------------------------------------------

def test_digits_shapes_counts_and_stratified_split() -> None:
    dataset = load_dataset(DataConfig("digits"))
    assert dataset.image_size == (8, 8) and dataset.channels == 1
    assert dataset.class_names == [str(digit) for digit in range(10)]
    sizes = {name: len(dataset.split(name)) for name in ("train", "val", "test")}
    assert sum(sizes.values()) == 1797 and sizes["val"] == sizes["test"] == 179
    for name in ("train", "val", "test"):
        part = dataset.split(name)
        assert part.images.dtype == np.uint8 and part.images.shape[1:] == (8, 8, 1)
        assert part.labels.dtype == np.int64 and len(part.ids) == len(part.labels)
        assert set(np.unique(part.labels)) == set(range(10))  # every class in every split
    assert dataset.train.images.max() == 255 and dataset.train.ids[0].startswith("digits:")
    assert dataset.summary["counts"]["test"]["0"] == 18
    assert dataset.split_record["method"] == "stratified"

    again = load_dataset(DataConfig("digits"))
    assert again.fingerprint == dataset.fingerprint and again.test.ids == dataset.test.ids
    other = load_dataset(DataConfig("digits", seed=1))
    assert other.fingerprint != dataset.fingerprint and other.test.ids != dataset.test.ids
    with pytest.raises(ConfigError):
        dataset.split("holdout")


def test_digits_resize_channels_and_max_per_class() -> None:
    dataset = load_dataset(DataConfig("digits", image_size=(16, 16), channels=3, max_per_class=20))
    assert dataset.train.images.shape[1:] == (16, 16, 3)
    assert sum(len(dataset.split(name)) for name in ("train", "val", "test")) == 200


def test_keras_download_failure_is_one_line_naming_the_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # never a cached copy
    with pytest.raises(DataError) as caught:
        load_dataset(DataConfig("fashion_mnist"))
    message = str(caught.value)
    assert "\n" not in message and "'fashion_mnist'" in message and "image folder" in message and "--data" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_config_round_trip_and_validation() -> None:
    config = DataConfig("x", image_size=(32, 24), channels=3, seed=4, max_per_class=9)
    assert DataConfig.from_dict(config.to_dict()) == config
    for bad in ({"channels": 2}, {"val_fraction": 0.6, "test_fraction": 0.5}, {"image_size": (0, 3)},
                {"max_per_class": 0}):
        with pytest.raises(ConfigError):
            DataConfig("x", **bad)
    with pytest.raises(ConfigError):
        DataConfig.from_dict({"source": "x", "colour": 1})


# --- folders -------------------------------------------------------------------

def _odd_folder(root: Path) -> Path:
    """Two classes of odd-mode images, one corrupt and one truncated file, some hidden debris."""
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    _save(root / "cats" / "rgba.png", rgba)
    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([0, 255, 0] * 256)
    _save(root / "cats" / "palette.gif", palette, transparency=0)
    _save(root / "cats" / "la.PNG", Image.new("LA", (16, 16), (90, 255)))
    _save(root / "cats" / "cmyk.jpeg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)), quality=95)
    _save(root / "cats" / "deep" / "nested.bmp", _noise((16, 16), 5))
    _save(root / "dogs" / "gray16.png", Image.new("I;16", (16, 16), 40000))
    _save(root / "dogs" / "bits.png", Image.new("1", (16, 16), 1))
    frames = [Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))]
    _save(root / "dogs" / "anim.gif", frames[0], save_all=True, append_images=frames[1:])
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(root / "dogs" / "rotated.jpg", _noise((24, 16), 7), quality=95, exif=exif.tobytes())  # displays 16x24
    _save(root / "dogs" / "big.webp", _noise((40, 40), 8))
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    jpeg = io.BytesIO()
    _noise((64, 64), 9).save(jpeg, "JPEG")
    (root / "dogs" / "truncated.jpg").write_bytes(jpeg.getvalue()[:400])
    (root / "dogs" / "notes.txt").write_text("not an image")
    _save(root / "dogs" / ".hidden.png", _noise((16, 16), 10))
    _save(root / ".thumbs" / "x.png", _noise((16, 16), 11))
    return root


def test_odd_modes_load_and_corrupt_files_are_skipped_and_warned(tmp_path: Path) -> None:
    root = _odd_folder(tmp_path / "odd")
    listed = scan_image_folder(root)
    assert ("cats/deep/nested.bmp", "cats") in listed and not any(".hidden" in path for path, _ in listed)
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable.*broken\.png"):
        dataset = load_dataset(DataConfig(str(root), val_fraction=0.0, test_fraction=0.0))
    assert dataset.class_names == ["cats", "dogs"]
    assert dataset.image_size == (16, 16) and dataset.channels == 3
    assert dataset.summary["skipped"]["count"] == 2
    assert any("truncated.jpg" in line for line in dataset.summary["skipped"]["examples"])
    assert {"RGBA", "P", "LA", "CMYK", "I;16", "1", "RGB"} <= set(dataset.summary["modes"])
    assert dataset.summary["image_sizes"]["16x16"] >= 8 and dataset.summary["image_sizes"]["16x24"] == 1
    assert len(dataset.train) == 10 and len(dataset.val) == 0
    pixels = dict(zip(dataset.train.ids, dataset.train.images, strict=True))
    assert pixels["cats/rgba.png"][0, 0].tolist() == [255, 255, 255]  # alpha on white
    assert pixels["cats/palette.gif"][0, 0].tolist() == [255, 255, 255]  # transparent palette index
    assert pixels["dogs/anim.gif"][0, 0].tolist() == [255, 0, 0]  # first frame
    assert pixels["dogs/gray16.png"][0, 0].tolist() == [156, 156, 156]  # 40000 / 257
    # Training pixels are exactly what inference decodes from the same file.
    for relpath, array in pixels.items():
        assert np.array_equal(array, images.load_image(root / relpath, (16, 16), 3)), relpath


def test_native_size_is_most_common_and_gray_folder_has_one_channel(tmp_path: Path) -> None:
    root = tmp_path / "gray"
    for index in range(3):
        _save(root / "a" / f"{index}.png", _noise((10, 6), index, "L"))
        _save(root / "b" / f"{index}.jpg", _noise((10, 6), 10 + index, "L"))
    _save(root / "b" / "odd.png", _noise((30, 30), 99, "L"))
    dataset = load_dataset(DataConfig(str(root), val_fraction=0.0, test_fraction=0.0))
    assert dataset.image_size == (6, 10) and dataset.channels == 1
    pixels = dict(zip(dataset.train.ids, dataset.train.images, strict=True))
    assert np.array_equal(pixels["b/odd.png"], images.load_image(root / "b" / "odd.png", (6, 10), 1))
    forced = load_dataset(DataConfig(str(root), image_size=(8, 8), channels=3, val_fraction=0.0, test_fraction=0.0))
    assert forced.train.images.shape[1:] == (8, 8, 3)
    for relpath, array in zip(forced.train.ids, forced.train.images, strict=True):
        assert np.array_equal(array, images.load_image(root / relpath, (8, 8), 3))


def test_gray_and_colour_jpegs_of_one_size_mix_in_either_channel_count(tmp_path: Path) -> None:
    # Plain JPEGs are decoded and copied in blocks; gray and colour blocks must still come out
    # exactly as load_image decodes each file, whichever channel count the dataset uses.
    root = tmp_path / "mixed"
    for index in range(4):
        _save(root / "a" / f"{index}.jpg", _noise((12, 8), index, "L"), quality=95)
        _save(root / "b" / f"{index}.jpg", _noise((12, 8), 20 + index), quality=95)
    for channels in (None, 1):
        dataset = load_dataset(DataConfig(str(root), channels=channels, val_fraction=0.0, test_fraction=0.0))
        expected_channels = 3 if channels is None else 1
        assert dataset.channels == expected_channels and len(dataset.train) == 8
        for relpath, array in zip(dataset.train.ids, dataset.train.images, strict=True):
            assert np.array_equal(array, images.load_image(root / relpath, (8, 12), expected_channels)), relpath


def test_folder_split_is_stratified_deterministic_and_recorded(tmp_path: Path) -> None:
    root = _simple_folder(tmp_path / "flat", {"a": 20, "b": 10, "c": 10})
    dataset = load_dataset(DataConfig(str(root), val_fraction=0.2, test_fraction=0.2, seed=3))
    counts = dataset.summary["counts"]
    assert counts["test"] == {"a": 4, "b": 2, "c": 2} and counts["val"] == {"a": 4, "b": 2, "c": 2}
    assert dataset.split_record["counts"] == {"train": 24, "val": 8, "test": 8}
    assert dataset.split_record["seed"] == 3 and dataset.split_record["method"] == "stratified"
    assert dataset.summary["imbalance"]["ratio"] == 2.0 and "imbalanced" in dataset.summary["imbalance"]["warning"]
    all_ids = dataset.train.ids + dataset.val.ids + dataset.test.ids
    assert len(set(all_ids)) == 40
    same = load_dataset(DataConfig(str(root), val_fraction=0.2, test_fraction=0.2, seed=3))
    assert same.test.ids == dataset.test.ids and same.fingerprint == dataset.fingerprint
    different = load_dataset(DataConfig(str(root), val_fraction=0.2, test_fraction=0.2, seed=4))
    assert different.test.ids != dataset.test.ids
    capped = load_dataset(DataConfig(str(root), max_per_class=5, val_fraction=0.2, test_fraction=0.2))
    assert capped.summary["imbalance"]["warning"] is None
    assert sum(len(capped.split(name)) for name in ("train", "val", "test")) == 15


def test_pre_split_folder(tmp_path: Path) -> None:
    root = tmp_path / "presplit"
    _simple_folder(root / "train", {"x": 10, "y": 10})
    _simple_folder(root / "test", {"x": 3, "y": 2})
    dataset = load_dataset(DataConfig(str(root), val_fraction=0.2))
    assert len(dataset.test) == 5 and all(item.startswith("test/") for item in dataset.test.ids)
    assert len(dataset.val) == 4 and all(item.startswith("train/") for item in dataset.val.ids)
    assert "carved" in dataset.split_record["method"]
    _simple_folder(root / "val", {"x": 1, "y": 1})
    with_val = load_dataset(DataConfig(str(root)))
    assert with_val.split_record["method"] == "given" and len(with_val.val) == 2 and len(with_val.train) == 20
    _simple_folder(root / "test", {"z": 1})
    with pytest.raises(DataError, match="train/ lacks"):
        load_dataset(DataConfig(str(root)))


def test_unusable_sources_raise_data_errors(tmp_path: Path) -> None:
    one = _simple_folder(tmp_path / "one", {"only": 3})
    with pytest.raises(DataError, match="at least 2"):
        load_dataset(DataConfig(str(one)))
    empty = _simple_folder(tmp_path / "empty", {"a": 3, "b": 3})
    (empty / "c").mkdir()
    with pytest.raises(DataError, match=r"without images.*'c'"):
        load_dataset(DataConfig(str(empty)))
    none = tmp_path / "none"
    (none / "a").mkdir(parents=True)
    (none / "b").mkdir()
    (none / "a" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no image files"):
        load_dataset(DataConfig(str(none)))
    flat = tmp_path / "flat"  # photos straight in the folder: say to make class folders
    flat.mkdir()
    for n in range(3):
        _save(flat / f"{n}.png", _noise((8, 8), n))
    with pytest.raises(DataError, match=r"^flat holds 3 image\(s\) but no class folders; put each class's images"):
        load_dataset(DataConfig(str(flat)))
    unreadable = tmp_path / "unreadable"
    for name in ("a", "b"):
        (unreadable / name).mkdir(parents=True)
        (unreadable / name / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="no readable images"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_dataset(DataConfig(str(unreadable)))
    with pytest.raises(DataError, match="not found"):
        load_dataset(DataConfig(str(tmp_path / "missing")))
    other = tmp_path / "data.csv"
    other.write_text("a,b")
    with pytest.raises(DataError, match=r"\.zip"):
        load_dataset(DataConfig(str(other)))


def test_memory_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _simple_folder(tmp_path / "flat", {"a": 3, "b": 3})
    monkeypatch.setenv("CNNLIB_MAX_DATASET_BYTES", "1000")
    with pytest.raises(DataError, match="smaller image size"):
        load_dataset(DataConfig(str(root)))
    with pytest.raises(DataError, match="max_per_class"):
        load_dataset(DataConfig("digits"))


def test_decode_files_reports_failures(tmp_path: Path) -> None:
    good = _save(tmp_path / "good.png", _noise((8, 8), 1))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 nope")
    decoded = decode_files([good, bad, tmp_path / "gone.png"], (4, 4), 3, workers=2)
    assert decoded.ok.tolist() == [True, False, False]
    assert [index for index, _ in decoded.errors] == [1, 2] and "bad.jpg" in decoded.errors[0][1]
    assert decoded.images.shape == (3, 4, 4, 3)


# --- zips ----------------------------------------------------------------------

def _zip(path: Path, entries: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def _png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    _noise((8, 8), seed).save(buffer, "PNG")
    return buffer.getvalue()


def test_zip_with_wrapper_folder_loads_via_cache(tmp_path: Path) -> None:
    entries = {f"wrapper/{cls}/{i}.png": _png_bytes(i + 10 * k) for k, cls in enumerate(("a", "b")) for i in range(4)}
    entries["__MACOSX/wrapper/._junk"] = b"junk"
    archive = _zip(tmp_path / "pets.zip", entries)
    dataset = load_dataset(DataConfig(str(archive), val_fraction=0.25, test_fraction=0.25))
    assert dataset.class_names == ["a", "b"] and sum(len(dataset.split(n)) for n in ("train", "val", "test")) == 8
    cached = list((tmp_path / "cache" / "zips").iterdir())
    assert len(cached) == 1 and not cached[0].name.startswith(".")
    again = load_dataset(DataConfig(str(archive), val_fraction=0.25, test_fraction=0.25))
    assert again.fingerprint == dataset.fingerprint


@pytest.mark.parametrize("entries, symlink, limits, match", [
    ({"a/1.png": b"x", "../evil.png": b"x"}, None, {}, r"\.\."),
    ({"a/1.png": b"x", "a/../../evil.png": b"x"}, None, {}, r"\.\."),
    ({"a/1.png": b"x", "/tmp/evil.png": b"x"}, None, {}, "absolute"),
    ({"a/1.png": b"x", "C:/evil.png": b"x"}, None, {}, "absolute"),
    ({"a/1.png": b"x"}, "a/link.png", {}, "symlink"),
    ({"a/1.png": b"x", "a/2.png": b"x", "b/3.png": b"x"}, None, {"max_files": 2}, "too many files"),
    ({"a/1.png": b"0" * 5000, "b/2.png": b"0" * 5000}, None, {"max_total_bytes": 6000}, "more than"),
])
def test_unsafe_zips_are_refused_and_write_nothing(tmp_path: Path, entries: dict[str, bytes], symlink: str | None,
                                                   limits: dict[str, int], match: str) -> None:
    archive = _zip(tmp_path / "bad.zip", entries, symlink)
    target = tmp_path / "sandbox" / "out"
    with pytest.raises(DataError, match=match):
        safe_extract_zip(archive, target, **limits)
    assert not target.exists()
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "sandbox" / "evil.png").exists()
    assert not Path("/tmp/evil.png").exists() or Path("/tmp/evil.png").stat().st_mtime < archive.stat().st_mtime


def test_unsafe_zip_through_load_dataset_leaves_no_cache(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bad.zip", {"a/1.png": _png_bytes(1), "../evil.png": b"x"})
    with pytest.raises(DataError):
        load_dataset(DataConfig(str(archive)))
    cache = tmp_path / "cache" / "zips"
    assert not cache.exists() or list(cache.iterdir()) == []
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="zip"):
        load_dataset(DataConfig(str(broken)))


def test_zip_size_limit_counts_real_bytes_not_headers(tmp_path: Path) -> None:
    # A highly compressible entry: small on disk, large when inflated.
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("a/1.png", b"\x00" * 3_000_000)
    assert archive.stat().st_size < 100_000
    with pytest.raises(DataError, match="more than"):
        safe_extract_zip(archive, tmp_path / "out", max_total_bytes=1_000_000)
    assert not (tmp_path / "out").exists()


# --- CIFAR parity ----------------------------------------------------------------

def test_cifar_training_pixels_equal_load_image(tmp_path: Path) -> None:
    if not (CIFAR / "test").is_dir():
        pytest.skip(f"shared CIFAR-10 folder not found at {CIFAR}")
    root = tmp_path / "cifar_small"
    for class_name in ("cat", "dog", "ship"):
        files = sorted((CIFAR / "test" / class_name).glob("*.jpg"))[:12]
        (root / class_name).mkdir(parents=True)
        for file in files:
            os.symlink(file, root / class_name / file.name)  # tmp only: never copy CIFAR into the repo
    dataset = load_dataset(DataConfig(str(root)))
    assert dataset.image_size == (32, 32) and dataset.channels == 3
    for part in ("train", "val", "test"):
        split = dataset.split(part)
        for relpath, array in zip(split.ids, split.images, strict=True):
            assert np.array_equal(array, images.load_image(root / relpath, (32, 32), 3)), relpath
    shutil.rmtree(root)


# --- tf.data pipeline ------------------------------------------------------------

def _split(count: int = 20, size: int = 16, channels: int = 3) -> Split:
    rng = np.random.default_rng(0)
    images_ = rng.integers(0, 256, (count, size, size, channels), dtype=np.uint8)
    return Split(images_, np.arange(count, dtype=np.int64) % 3, [f"x:{i}" for i in range(count)])


def test_make_tf_dataset_eval_is_exact_and_ordered() -> None:
    split = _split()
    batches = list(make_tf_dataset(split, 8, training=False, seed=0, augment=("flip", "cutout")))
    assert [int(x.shape[0]) for x, _ in batches] == [8, 8, 4]
    images_ = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert batches[0][0].dtype.name == "float32" and batches[0][1].dtype.name == "int64"
    assert np.array_equal(images_, split.images.astype(np.float32)) and np.array_equal(labels, split.labels)


@pytest.mark.parametrize("augment", [
    ("flip",), ("rotation",), ("zoom",), ("translation",), ("contrast",), ("brightness",), ("crop",), ("cutout",),
    ("flip", "rotation", "zoom", "translation", "contrast", "brightness", "crop", "cutout"),
])
def test_augmentations_stay_in_range_and_change_pixels(augment: tuple[str, ...]) -> None:
    split = _split(channels=1 if augment == ("crop",) else 3)
    dataset = make_tf_dataset(split, 10, training=True, seed=1, augment=augment)
    x, y = next(iter(dataset))
    x = x.numpy()
    assert x.dtype == np.float32 and x.shape == (10, 16, 16, split.images.shape[3])
    assert x.min() >= 0.0 and x.max() <= 255.0
    originals = {image.astype(np.float32).tobytes() for image in split.images}
    assert any(image.tobytes() not in originals for image in x)  # something was augmented


def test_training_shuffles_deterministically_and_covers_everything() -> None:
    split = _split(30)
    first = [y.numpy() for _, y in make_tf_dataset(split, 7, training=True, seed=5)]
    second = [y.numpy() for _, y in make_tf_dataset(split, 7, training=True, seed=5)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    seen = np.concatenate([x.numpy() for x, _ in make_tf_dataset(split, 7, training=True, seed=5)])
    assert sorted(map(bytes, seen.astype(np.uint8))) == sorted(map(bytes, split.images))


def test_training_blocks_are_cut_into_the_requested_batches_and_each_epoch_sees_every_image() -> None:
    # More images than one gather-and-augment block (BLOCK_IMAGES), a batch that does not divide it.
    from cnnlib.data.pipeline import BLOCK_IMAGES

    count, batch = 2 * BLOCK_IMAGES + 500, 100
    images_ = np.zeros((count, 4, 4, 1), dtype=np.uint8)
    split = Split(images_, np.arange(count, dtype=np.int64), [f"x:{i}" for i in range(count)])
    epochs = make_tf_dataset(split, batch, training=True, seed=3, augment=("flip", "crop")).repeat(2)
    label_batches = [y.numpy() for _, y in epochs]  # one pass over both epochs
    per_epoch = [batch] * (count // batch) + [count % batch]
    assert [len(y) for y in label_batches] == per_epoch * 2
    labels = np.concatenate(label_batches)
    first, second = labels[:count], labels[count:]
    assert sorted(first) == sorted(second) == list(range(count))
    assert not np.array_equal(first, second)  # each epoch is shuffled anew


def test_augmented_flip_is_a_mirror_and_unknown_names_fail() -> None:
    split = _split(16)
    x, _ = next(iter(make_tf_dataset(split, 16, training=True, seed=2, augment=("flip",))))
    originals = split.images.astype(np.float32)
    for image in x.numpy():
        assert any(np.array_equal(image, o) or np.array_equal(image, o[:, ::-1]) for o in originals)
    with pytest.raises(ConfigError, match="unknown augmentation"):
        make_tf_dataset(split, 4, training=True, seed=0, augment=("mixup",))
    with pytest.raises(DataError):
        make_tf_dataset(split, 4, training=True, seed=0, num_classes=2)


def test_crop_is_a_window_of_the_reflect_padded_image() -> None:
    split = _split(8, size=12)
    x, _ = next(iter(make_tf_dataset(split, 8, training=True, seed=3, augment=("flip", "crop"))))
    windows = set()
    for original in split.images:
        padded = np.pad(original, ((4, 4), (4, 4), (0, 0)), mode="reflect")
        for dy in range(9):
            for dx in range(9):
                window = padded[dy:dy + 12, dx:dx + 12].astype(np.float32)
                windows.update({window.tobytes(), window[:, ::-1].copy().tobytes()})
    assert all(image.tobytes() in windows for image in x.numpy())
