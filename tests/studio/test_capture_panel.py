"""The Data page's camera capture without a camera: where photos go, the names, the counts,
and "Use this dataset" loading the folder. The camera itself is driven in
test_capture_browser.py (a real browser with a fake webcam)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from apptest_files import PROJECT, png_bytes
from streamlit.testing.v1 import AppTest

from app.datasources import data_roots, writable_root
from cnnlib.data.capture import save_photo

CAPTURE = "Capture with the camera"


def data_page() -> AppTest:
    at = AppTest.from_file(str(PROJECT / "views" / "data.py"), default_timeout=120).run()
    at.radio(key="keep_data_kind").set_value(CAPTURE).run()
    return at


def test_the_first_root_that_can_be_written_or_created_is_the_writable_one(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    blocked = tmp_path / "a-file" / "data"  # under a file: can never be created
    fresh = tmp_path / "fresh" / "data"  # missing, but its parent can be written
    monkeypatch.setenv("CNNLIB_DATA_ROOTS", os.pathsep.join(map(str, (blocked, fresh, tmp_path))))
    assert writable_root() == fresh
    assert data_roots() == [tmp_path], "a root that does not exist yet is not browsed"
    monkeypatch.setenv("CNNLIB_DATA_ROOTS", str(blocked))
    assert writable_root() is None


@pytest.mark.parametrize(("key", "typed"), [("keep_capture_dataset", "../outside"), ("keep_capture_class", "a/b")])
def test_a_bad_name_is_one_error_and_no_camera(app_env: dict[str, str], key: str, typed: str) -> None:
    at = data_page()
    at.text_input(key="keep_capture_class").input("red").run()
    at.text_input(key=key).input(typed).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "Received" in at.error[0].value


def shoot(folder: Path, name: str, color: tuple[int, int, int], count: int = 3) -> None:
    for index in range(count):
        save_photo(folder, name, png_bytes((20, 20), (color[0], color[1] + index, color[2])))


def test_counts_then_use_this_dataset_loads_the_folder(app_env: dict[str, str]) -> None:
    folder = Path(app_env["CNNLIB_DATA_ROOTS"]) / "shapes"
    shoot(folder, "red", (220, 20, 20))
    shoot(folder, "blue", (20, 20, 220))
    at = data_page()
    at.text_input(key="keep_capture_dataset").input("shapes").run()
    assert at.table[0].value.to_dict("list") == {"class": ["blue", "red"], "photos": [3, 3]}
    assert any("Ready to train" in s.value for s in at.success)
    at.button(key="capture_use").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="keep_data_kind").value == "Folder on the server"
    assert at.session_state["data_config"]["source"] == str(folder.resolve())
    assert [m.value for m in at.metric][:1] == ["2"]

    # More photos after the load: using the dataset again reads the folder again, not the cache.
    shoot(folder, "green", (20, 220, 20))
    at.radio(key="keep_data_kind").set_value(CAPTURE).run()
    at.text_input(key="keep_capture_dataset").input("shapes").run()  # the router keeps it; AppTest has none
    at.button(key="capture_use").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric][:1] == ["3"]
