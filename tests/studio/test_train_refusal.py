"""In a real browser: the Train page refuses a request that cannot train, before any job starts.

A real ``streamlit run`` server and headless Debian Chromium. Run alone (one browser at a
time): ``python -m pytest tests/studio/test_train_refusal.py``.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apptest_files import png_bytes

pytestmark = pytest.mark.browser
playwright = pytest.importorskip("playwright.sync_api")
from live_server import serve  # noqa: E402
from test_browser import CHROMIUM, goto, no_exception, open_tab, wait_idle  # noqa: E402

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)


@pytest.fixture(scope="module")
def server(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(app_env, tmp_path_factory.mktemp("refusal-server") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[object]:
    with open_tab(server, 120_000) as tab:
        yield tab


def _jobs(app_env: dict[str, str]) -> set[str]:
    jobs = Path(app_env["CNNLIB_RUNS"]) / ".jobs"
    return {path.name for path in jobs.iterdir()} if jobs.is_dir() else set()


def _press_start_and_expect_refusal(page, words: str) -> None:  # noqa: ANN001
    refusal = page.get_by_text(re.compile(f"This job cannot start: .*{words}"))
    refusal.first.wait_for()  # shown as soon as the settings are drawn, before any click
    page.get_by_role("button", name=re.compile("Start training")).click()
    time.sleep(1.0)  # a launch would happen in this rerun
    wait_idle(page)
    refusal.first.wait_for()
    no_exception(page)


def test_missing_folder_is_refused_on_the_page(page, app_env: dict[str, str]) -> None:  # noqa: ANN001
    folder = Path(app_env["CNNLIB_DATA_ROOTS"]) / "pets"
    for name in ("cat", "dog"):
        (folder / name).mkdir(parents=True)
        for index in range(4):
            (folder / name / f"{index}.png").write_bytes(png_bytes((20, 20)))
    goto(page, "Data")
    page.get_by_text("Folder on the server").click()
    wait_idle(page)
    page.get_by_role("button", name="Load dataset").click()
    page.get_by_text(re.compile("Input size")).first.wait_for()
    wait_idle(page)
    shutil.rmtree(folder)  # moved away after it was chosen
    before = _jobs(app_env)
    goto(page, "Train")
    _press_start_and_expect_refusal(page, "does not exist")
    assert _jobs(app_env) == before, "a refused request must start no job"


def _load_until(page, shown: re.Pattern) -> None:  # noqa: ANN001
    """Presses Load until ``shown`` appears: on a loaded machine a click landing mid-rerun can be lost."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(4):
        wait_idle(page)
        page.get_by_role("button", name="Load dataset").click()
        try:
            page.get_by_text(shown).first.wait_for(timeout=30_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the Data page never showed {shown.pattern!r} after Load")


def _open_expander(page, title: str, inside: str) -> None:  # noqa: ANN001
    """Opens an expander until `inside` shows: a rerun can swap the expander under a click and close it again."""
    for _ in range(10):
        if page.get_by_text(inside).first.is_visible():
            return
        page.get_by_text(title).last.click()
        wait_idle(page)
        page.wait_for_timeout(300)
    raise AssertionError(f"the expander {title!r} never showed {inside!r}")


def _set_input_side(page, side: int) -> None:  # noqa: ANN001
    """Unticks "Native image size" and types ``side`` into Height and Width, until both hold it.

    Each step reruns the page; on a loaded machine a rerun can redraw the options expander closed
    or keep the fields disabled for a moment (seen in CI), so every step is retried against what
    the page shows rather than assumed.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    title = "Options: input size, channels, split, subsampling"
    for _ in range(15):
        _open_expander(page, title, "Native image size")
        if page.get_by_label("Native image size").is_checked():
            page.get_by_text("Native image size").click()
            wait_idle(page)
            continue
        fields = [page.get_by_label(label, exact=True) for label in ("Height", "Width")]
        pending = [field for field in fields if field.input_value() != str(side)]
        if not pending:
            return
        try:
            pending[0].fill(str(side), timeout=5_000)
            pending[0].press("Enter", timeout=5_000)
        except PlaywrightTimeout:
            pass  # redrawn under the action: look again
        wait_idle(page)
        page.wait_for_timeout(300)
    raise AssertionError(f"the Data page's Height and Width never both held {side}")


def test_architecture_too_big_for_the_data_is_refused(page, app_env: dict[str, str]) -> None:  # noqa: ANN001
    goto(page, "Data")
    page.get_by_text("Bundled digits").click()
    wait_idle(page)
    _set_input_side(page, 8)
    _load_until(page, re.compile("8×8×1"))
    wait_idle(page)
    before = _jobs(app_env)
    goto(page, "Train")
    page.get_by_test_id("stSelectbox").filter(has_text="Architecture").click()
    page.get_by_role("option", name="simple_cnn", exact=True).click()
    wait_idle(page)
    _press_start_and_expect_refusal(page, "simple_cnn needs images of at least 18x18 pixels")
    assert _jobs(app_env) == before, "a refused request must start no job"
