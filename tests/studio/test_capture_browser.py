"""In a real browser with a fake webcam: photos per class on the Data page, saved and loaded.

A real ``streamlit run`` server (no trained run needed) and headless Debian Chromium, whose
fake media device stands in for the camera and whose fake permission prompt says yes. Run
alone (one browser at a time): ``python -m pytest tests/studio/test_capture_browser.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.browser
playwright = pytest.importorskip("playwright.sync_api")
from live_server import serve  # noqa: E402
from test_browser import CHROMIUM, goto, no_exception, open_tab, screenshot, wait_idle  # noqa: E402

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

# A generated camera picture, and camera access granted without a prompt.
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
PHOTOS_PER_CLASS = 3
VIDEO_PLAYS = "() => [...document.querySelectorAll('[data-testid=stCameraInput] video')].some(v => v.videoHeight > 0)"


@pytest.fixture(scope="module")
def server(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # No TensorFlow warm-up: capturing and loading a folder never need it, and on two shared
    # cores its import would slow every rerun this test waits for.
    env = {**app_env, "CNNLIB_APP_WARMUP": "0"}
    with serve(env, tmp_path_factory.mktemp("capture-server") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def camera_page(server: str) -> Iterator[object]:
    """A page in a browser of its own: the fake camera flags apply to a whole browser."""
    with open_tab(server, 30_000, tuple(FAKE_CAMERA)) as tab:
        yield tab


def _type(page, label: str, text: str) -> None:  # noqa: ANN001
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_idle(page)


def _row(page, class_name: str, count: int):  # noqa: ANN001, ANN202
    """The counts table's row that reads ``class_name | count``."""
    cell = page.locator("td, th")  # queried inside each row
    return (page.get_by_test_id("stTable").locator("tr")
            .filter(has=cell.filter(has_text=re.compile(f"^{class_name}$")))
            .filter(has=cell.filter(has_text=re.compile(f"^{count}$"))))


def _shoot(page, class_name: str, count: int) -> None:  # noqa: ANN001
    """Take ``count`` photos of ``class_name``, each counted in the table before the next.

    The last photo stays in the widget, as a user leaves it: the reruns that follow must not
    save it again.
    """
    _type(page, "Class name", class_name)
    for number in range(1, count + 1):
        clear = page.get_by_role("button", name="Clear photo")
        if clear.count():
            clear.click()
        # The button is enabled when the stream opens, but a shot taken before its first frame
        # is silently empty: wait for a frame.
        page.wait_for_function(VIDEO_PLAYS)
        page.get_by_role("button", name="Take Photo").click()
        _row(page, class_name, number).wait_for()  # saved: the table counts it
        wait_idle(page)


def test_capture_two_classes_and_use_them(camera_page, app_env: dict[str, str]) -> None:  # noqa: ANN001
    page = camera_page
    goto(page, "Data")
    page.get_by_text("Capture with the camera").click()
    wait_idle(page)
    _type(page, "Dataset name", "colours")
    page.get_by_text("No photos in colours yet").wait_for()
    _shoot(page, "red", PHOTOS_PER_CLASS)
    _type(page, "Class name", "blue")  # the last red photo is still shown: not saved again, nor as blue
    page.get_by_text("Saved red/").wait_for()
    assert _row(page, "red", PHOTOS_PER_CLASS).count() == 1 and _row(page, "blue", 1).count() == 0
    _shoot(page, "blue", PHOTOS_PER_CLASS)
    page.get_by_text("Ready to train").wait_for()
    assert _row(page, "red", PHOTOS_PER_CLASS).count() == _row(page, "blue", PHOTOS_PER_CLASS).count() == 1
    no_exception(page)
    screenshot(page, "data-capture")

    folder = Path(app_env["CNNLIB_DATA_ROOTS"]) / "colours"
    sizes: set[tuple[int, int]] = set()
    for name in ("red", "blue"):
        files = sorted((folder / name).iterdir())
        assert len(files) == PHOTOS_PER_CLASS, files
        assert all(re.fullmatch(r"\d{8}-\d{6}-\d+\.jpg", path.name) for path in files), files
        sizes |= {Image.open(path).size for path in files}
    assert len(sizes) == 1, f"every shot has the capture resolution: {sizes}"

    page.get_by_role("button", name="Use this dataset").click()
    page.get_by_test_id("stMetric").filter(has_text="Classes").filter(has_text="2").wait_for()
    wait_idle(page)
    no_exception(page)
    assert page.get_by_role("heading", name=re.compile("colours — 2 classes")).count() == 1
