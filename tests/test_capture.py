"""Camera captures on disk: name rules, one new file per photo, counts, and what training needs.

Real files in a temporary folder; the loader itself checks that "ready" means trainable.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest

from cnnlib.data.capture import check_name, class_counts, dataset_dir, readiness, save_photo
from cnnlib.data.loader import MIN_CLASSES
from cnnlib.data.split import MIN_TO_HOLD_OUT
from cnnlib.errors import DataError
from cnnlib.io import atomic_create_bytes


def photo(color: tuple[int, int, int], fmt: str = "JPEG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    array = np.zeros((24, 32, 3), dtype=np.uint8)
    array[...] = color
    array[8:, 10:] = 255 - np.array(color, dtype=np.uint8)  # not flat, like a real photo
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(("typed", "kept"), [("red", "red"), ("  Red apple ", "Red apple"), ("café", "café"),
                                             ("v1.2_b-3", "v1.2_b-3"), ("7", "7")])
def test_good_names_are_kept_stripped(typed: str, kept: str) -> None:
    assert check_name(typed) == kept


@pytest.mark.parametrize("typed", ["", "   ", "..", ".hidden", "a/b", "a\\b", "../up", "/abs", "dot.", "_under",
                                   "tab\there", "line\nbreak", "x" * 65, "train", "Test", "validation", "a:b"])
def test_bad_names_are_refused_in_one_line(typed: str) -> None:
    with pytest.raises(DataError) as caught:
        check_name(typed, "dataset")
    message = str(caught.value)
    assert "\n" not in message and "dataset" in message


def test_photos_are_saved_one_file_each_in_order(tmp_path: Path) -> None:
    folder = dataset_dir(tmp_path, "shapes")
    first = save_photo(folder, "red", photo((220, 20, 20)))
    second = save_photo(folder, "red ", photo((200, 30, 30)))
    drawn = save_photo(folder, "blue", photo((20, 20, 220), "PNG"))
    assert first.parent == second.parent == tmp_path / "shapes" / "red"
    assert first.suffix == ".jpg" and drawn.suffix == ".png"
    assert [path.stem.rsplit("-", 1)[1] for path in (first, second, drawn)] == ["1", "2", "1"]
    assert first.read_bytes() == photo((220, 20, 20))
    assert class_counts(folder) == {"blue": 1, "red": 2}
    assert not [path for path in folder.rglob(".*")], "no temporary file is left behind"


def test_a_taken_name_is_never_overwritten(tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    for _attempt in range(3):  # retried only if the clock turns a second between the two steps
        stamp = time.strftime("%Y%m%d-%H%M%S")
        taken = folder / "red" / f"{stamp}-2.jpg"  # the only image: the next photo would be number 2
        atomic_create_bytes(taken, b"someone else's photo")
        saved = save_photo(folder, "red", photo((220, 20, 20)))
        if saved.name.startswith(stamp):
            break
        taken.unlink()
        saved.unlink()
    assert saved.name == f"{stamp}-3.jpg"
    assert taken.read_bytes() == b"someone else's photo"


def test_the_exclusive_writer_refuses_an_existing_file(tmp_path: Path) -> None:
    target = atomic_create_bytes(tmp_path / "a" / "one.png", b"first")
    with pytest.raises(FileExistsError):
        atomic_create_bytes(target, b"second")
    assert target.read_bytes() == b"first"
    assert sorted(path.name for path in target.parent.iterdir()) == ["one.png"]


@pytest.mark.parametrize("data", [b"not an image at all", photo((1, 2, 3), "GIF")], ids=["garbage", "gif"])
def test_only_jpeg_and_png_photos_are_saved(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(DataError):
        save_photo(tmp_path / "shapes", "red", data)
    assert class_counts(tmp_path / "shapes") == {}


def test_a_pre_split_folder_is_not_captured_into(tmp_path: Path) -> None:
    for split in ("train", "test"):
        (tmp_path / "cifar" / split / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="train/ and test/"):
        dataset_dir(tmp_path, "cifar")
    assert dataset_dir(tmp_path, "new one") == tmp_path / "new one"


@pytest.mark.parametrize(("counts", "ready", "words"), [
    ({}, False, f"at least {MIN_CLASSES} classes"),
    ({"red": 5}, False, f"at least {MIN_CLASSES} classes"),
    ({"red": 3, "blue": 0}, False, "blue"),
    ({"red": 2, "blue": 2}, False, "validation split"),
    ({"red": 3, "blue": 3}, True, ""),
])
def test_readiness_names_what_is_missing(counts: dict[str, int], ready: bool, words: str) -> None:
    check = readiness(counts)
    assert check.ready is ready
    assert words in " ".join(check.problems)


def test_a_class_too_small_to_hold_out_is_a_note_not_a_problem() -> None:
    check = readiness({"red": MIN_TO_HOLD_OUT, "blue": MIN_TO_HOLD_OUT - 1})
    assert check.ready and check.notes[0].endswith(": blue")  # red has enough


@pytest.mark.parametrize("per_class", [MIN_TO_HOLD_OUT, MIN_TO_HOLD_OUT - 1])
def test_ready_means_the_loader_gives_a_validation_and_a_test_photo(tmp_path: Path, per_class: int) -> None:
    from cnnlib.data import DataConfig, load_dataset

    folder = dataset_dir(tmp_path, "shapes")
    for name, color in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        for index in range(per_class):
            save_photo(folder, name, photo((color[0], color[1] + index * 10, color[2])))
    dataset = load_dataset(DataConfig(source=str(folder)))
    assert dataset.class_names == ["blue", "red"]
    held_out = {part: sorted(set(dataset.split(part).labels.tolist())) for part in ("val", "test")}
    assert readiness(class_counts(folder)).ready is (held_out == {"val": [0, 1], "test": [0, 1]})
    assert readiness(class_counts(folder)).ready is (per_class >= MIN_TO_HOLD_OUT)
