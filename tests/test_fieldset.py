"""Field test: labelled uploads kept with the run and scored beside the test split."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlib.errors import ConfigError, DataError
from cnnlib.fieldset import GAP_WARNING, FieldResult, add_field_photo, evaluate_field, field_dir
from cnnlib.runs import RunStore


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_saved_photos_are_scored_as_the_run_answers(trained_run_store: Path, tmp_path: Path) -> None:
    from cnnlib.data import DataConfig, load_dataset
    from cnnlib.inference import load_predictor

    root = tmp_path / "runs"
    shutil.copytree(trained_run_store, root / trained_run_store.name)
    run = RunStore(root).get(trained_run_store.name)
    predictor = load_predictor(run)
    assert evaluate_field(run, predictor) is None  # nothing saved yet
    test = load_dataset(DataConfig(source="digits")).test
    for n in range(6):
        saved = add_field_photo(run, _png(test.images[n][..., 0]), f"digit{n}.png", str(test.labels[n]))
        assert saved.parent == field_dir(run) / str(test.labels[n]) and saved.read_bytes()
    again = add_field_photo(run, _png(test.images[0][..., 0]), "same.png", str(test.labels[0]))
    assert again.exists() and len(list(field_dir(run).rglob("*.png"))) == 6  # the same bytes twice are one photo
    (field_dir(run) / "3").mkdir(exist_ok=True)
    (field_dir(run) / "3" / "broken.png").write_bytes(b"not an image")
    result = evaluate_field(run, predictor)
    assert result is not None and result.unreadable == ["broken.png"] and result.count == 6
    answered = predictor.probabilities(test.images[:6]).argmax(axis=1)
    assert result.accuracy == pytest.approx(float((answered == test.labels[:6]).mean()))
    assert len(result.wrong) == int((answered != test.labels[:6]).sum())
    assert sum(result.per_class.values()) == 6


def test_a_label_or_file_the_model_cannot_take_is_refused(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    bundled = [info["id"] for info in store.list() if info.get("bundled")]
    if not bundled:
        pytest.skip("no bundled run")
    run = store.get(bundled[0])
    photo = _png(np.full((40, 40, 3), 120, np.uint8))
    with pytest.raises(ConfigError, match="one of this model's classes"):
        add_field_photo(run, photo, "cat.png", "lion", runs_dir=tmp_path / "runs")
    with pytest.raises(DataError):
        add_field_photo(run, b"text", "cat.png", "cat", runs_dir=tmp_path / "runs")
    saved = add_field_photo(run, photo, "cat.png", "cat", runs_dir=tmp_path / "runs")
    assert tmp_path / "runs" / ".field" in saved.parents and not (run.path / "field").exists()  # bundled: read-only


def test_the_gap_warning_needs_enough_photos_and_a_real_gap() -> None:
    low = FieldResult(count=10, accuracy=0.5, per_class={"a": 10})
    assert "your photos differ" in low.gap_warning(0.9)
    assert low.gap_warning(0.5 + GAP_WARNING / 2) is None
    assert FieldResult(count=2, accuracy=0.0, per_class={"a": 2}).gap_warning(0.9) is None


def _field_folder(root: Path, classes: dict[str, int]) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for number in range(count):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(root / name / f"{number}.png")
    return root


def test_field_photos_join_only_the_training_split_of_a_new_request(tmp_path: Path) -> None:
    from cnnlib.data import DataConfig, load_dataset
    from cnnlib.training.request import resolve_defaults, validate_request

    folder = _field_folder(tmp_path / "field", {"3": 2, "7": 3})
    plain = load_dataset(DataConfig("digits"))
    extended = load_dataset(DataConfig("digits", extra_train=(str(folder),)))
    assert len(extended.train) == len(plain.train) + 5
    assert len(extended.val) == len(plain.val) and len(extended.test) == len(plain.test)
    assert extended.train.images.shape[1:] == plain.train.images.shape[1:]  # resized like the source
    assert extended.split_record["extra_train"] == 5 and extended.fingerprint != plain.fingerprint
    request = resolve_defaults({"source": "digits", "extra_train": [str(folder)]})
    assert request.to_dict()["data"]["extra_train"] == [str(folder)]
    validate_request(request)


def test_field_photos_of_an_unknown_class_are_refused_before_training(tmp_path: Path) -> None:
    from cnnlib.errors import DataError
    from cnnlib.training.request import resolve_defaults, validate_request

    folder = _field_folder(tmp_path / "field", {"3": 1, "cat": 1})
    with pytest.raises(DataError, match="'cat'.*not among the dataset's classes"):
        validate_request(resolve_defaults({"source": "digits", "extra_train": [str(folder)]}))
    with pytest.raises(DataError, match="does not exist"):
        validate_request(resolve_defaults({"source": "digits", "extra_train": [str(tmp_path / "gone")]}))
