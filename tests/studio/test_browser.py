"""End to end in a real browser: a real `streamlit run` server and headless Debian Chromium.

Run alone (one browser at a time): ``python -m pytest tests/studio/test_browser.py``. The tests
share one server and one browser page and run in file order; they save a screenshot of each
page to docs/screenshots/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from apptest_files import PROJECT, SHIPPED_DEMO, jpeg_bytes, png_bytes, shipped_accuracy_text, truncated_jpeg
from live_server import serve

pytestmark = pytest.mark.browser
playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("CNNLIB_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

SCREENSHOTS = PROJECT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Offline noise: fonts from external hosts, and health probes relative to a page URL.
KNOWN_NOISE = re.compile(r"fonts\.(googleapis|gstatic)|_stcore/health|ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED|favicon")
LONG = 180_000  # ms: TensorFlow start-up and training on two shared cores


@contextlib.contextmanager
def open_tab(url: str, timeout_ms: int, extra_args: tuple[str, ...] = ()) -> Iterator[object]:
    """A headless Chromium tab on ``url`` at 1400x1000, loaded and idle; closed after."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        tab.set_default_timeout(timeout_ms)
        tab.goto(url)
        wait_idle(tab)
        yield tab
        context.close()
        browser.close()


@pytest.fixture(scope="module")
def server(app_env: dict[str, str], trained_runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(app_env, tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(server: str) -> Iterator[object]:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("console", lambda msg: page.console_errors.append(f"{msg.text} at {msg.location.get('url')}")
                if msg.type == "error" else None)
        page.set_default_timeout(LONG)
        page.goto(server)
        wait_idle(page)
        yield page
        context.close()
        browser.close()


def wait_idle(page) -> None:  # noqa: ANN001
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


def goto(page, title: str) -> None:  # noqa: ANN001
    """Navigate with the sidebar (client-side, so session state is kept)."""
    link = page.get_by_test_id("stSidebarNavLink").filter(has_text=title).first
    pattern = re.compile(r"^[^?#]*/(\?.*)?$" if title == "Home" else f".*/{title.lower()}")
    for attempt in range(3):
        # A click can be swallowed while a fragment re-renders the page (Train polls): retry.
        link.click()
        try:
            page.wait_for_url(pattern, wait_until="commit", timeout=20_000)
            break
        except playwright.TimeoutError:
            if attempt == 2:
                raise
    page.get_by_role("heading", name=re.compile(title if title != "Home" else "cnnlib Studio")).first.wait_for()
    wait_idle(page)


def no_exception(page) -> None:  # noqa: ANN001
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def screenshot(page, name: str) -> None:  # noqa: ANN001
    """Save a full-page PNG: Streamlit scrolls inside stMain, so grow the viewport to its height first."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 40, 800), 6000)})
    page.wait_for_timeout(500)  # let Plotly re-layout to the new size
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})


def upload(page, tmp_path: Path, name: str, data: bytes, index: int = 0) -> None:  # noqa: ANN001
    path = tmp_path / name
    path.write_bytes(data)
    page.get_by_test_id("stFileUploaderDropzoneInput").nth(index).set_input_files(str(path))


def test_every_page_opens(browser_page) -> None:  # noqa: ANN001
    page = browser_page
    for title in ("Home", "Data", "Train", "Evaluate", "Explain", "Classify", "Compare"):
        goto(page, title)
        if title == "Home":
            page.get_by_role("button", name=re.compile("Train a demo model")).wait_for()
        if title == "Train":
            page.get_by_text("Parameters").first.wait_for()
        if title == "Evaluate":
            page.get_by_text("Macro F1").first.wait_for()
            wait_idle(page)
            # Clicking a confusion-matrix cell (true 3, predicted 3 of 10) shows that cell's images.
            box = page.get_by_test_id("stPlotlyChart").first.locator(".nsewdrag").first.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.35)
            page.get_by_text(re.compile(r"test image\(s\) of 3 predicted as 3")).first.wait_for()
        if title == "Explain":
            page.get_by_text("Feature maps").first.wait_for()
        if title == "Compare":
            page.get_by_text("McNemar").first.wait_for()
        wait_idle(page)
        no_exception(page)
        if title not in ("Train", "Classify"):  # those two are captured while in use below
            screenshot(page, title.lower())
    goto(page, "Data")
    page.get_by_role("button", name="Load dataset").click()
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    no_exception(page)
    screenshot(page, "data")
    errors = [text for text in page.console_errors if not KNOWN_NOISE.search(text)]
    assert not errors, errors


def test_widget_state_survives_navigation(browser_page) -> None:  # noqa: ANN001
    page = browser_page
    goto(page, "Evaluate")
    toggle = page.get_by_test_id("stCheckbox").filter(has_text="Normalize rows").get_by_role("switch")
    toggle.check(force=True)
    wait_idle(page)
    assert toggle.is_checked()
    goto(page, "Home")
    goto(page, "Evaluate")
    page.get_by_text("Macro F1").first.wait_for()
    toggle = page.get_by_test_id("stCheckbox").filter(has_text="Normalize rows").get_by_role("switch")
    assert toggle.is_checked()
    toggle.uncheck(force=True)
    wait_idle(page)


def test_train_digits_live(browser_page, app_env: dict[str, str]) -> None:  # noqa: ANN001
    from cnnlib.runs import RunStore

    store = RunStore(app_env["CNNLIB_RUNS"], include_bundled=False)
    before = {info["id"] for info in store.list()}
    page = browser_page
    goto(page, "Train")
    page.get_by_role("button", name=re.compile("Start training")).click()
    # The page follows the new job to its end. How far a job has got when the page looks
    # depends on the machine, so the states in between are checked in what the job recorded
    # (the events the live panel draws from), not by catching the page mid-epoch.
    page.get_by_text(re.compile(r"cifar_fast-digits — completed")).first.wait_for(timeout=300_000)
    page.get_by_text(re.compile(r"done: 8 epochs")).first.wait_for()
    page.get_by_text(re.compile("Validation confusion matrix, epoch 8")).first.wait_for()
    page.get_by_text("Validation report, epoch 8").first.wait_for()  # the live classification report
    # The curves and the matrix are drawn after the page text; wait for the second chart
    # rather than counting what has rendered at this instant.
    page.get_by_test_id("stPlotlyChart").nth(1).wait_for()
    wait_idle(page)
    no_exception(page)
    screenshot(page, "train")
    new_runs = [info for info in store.list() if info["id"] not in before]
    assert len(new_runs) == 1 and new_runs[0]["status"] == "completed", new_runs
    events = [json.loads(line) for line in (Path(new_runs[0]["path"]) / "progress.jsonl").read_text().splitlines()]
    # While it ran, the job reported batches of each epoch (the live progress bar) and after
    # each epoch the curves' point and a validation confusion matrix.
    batches = [event for event in events if event["event"] == "batch"]
    assert {event["epoch"] for event in batches} == set(range(1, 9)) and all(e["epochs"] == 8 for e in batches)
    epochs = [event for event in events if event["event"] == "epoch"]
    assert [event["epoch"] for event in epochs] == list(range(1, 9))
    assert all(np.array(event["confusion"]).shape == (10, 10) for event in epochs)


def test_classify_photo_and_int8_download(browser_page, tmp_path: Path) -> None:  # noqa: ANN001
    page = browser_page
    goto(page, "Classify")
    photo = jpeg_bytes((320, 240))
    upload(page, tmp_path, "photo.jpg", photo)
    heading = page.get_by_text(re.compile("Prediction: ")).first
    heading.wait_for()
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    no_exception(page)
    # A noise photo may be answered "Not sure (top guess: X NN%)" (the fixture run trains in
    # bfloat16 on CPUs that have it, and its confidence differs); either way the label is read.
    text = heading.inner_text()
    label = (re.search(r"Prediction: (.+?) — ", text) or re.search(r"top guess: (.+?) \d+%", text)).group(1).strip()

    page.get_by_text("int8 (full integer, smallest)").click()
    wait_idle(page)
    page.get_by_role("button", name="Build and verify int8").click()
    page.get_by_text("Agreement with Keras").first.wait_for()
    wait_idle(page)
    no_exception(page)
    screenshot(page, "classify")
    buttons = page.get_by_test_id("stDownloadButton")
    with page.expect_download() as bundle_download:
        buttons.filter(has_text="TFLite bundle (int8, .zip").get_by_role("button").click()
    import zipfile

    with zipfile.ZipFile(bundle_download.value.path()) as bundle:
        assert {"model.tflite", "labels.txt", "PREPROCESSING.md", "predict.py"} <= set(bundle.namelist())
        tflite_path = tmp_path / "model.tflite"
        tflite_path.write_bytes(bundle.read("model.tflite"))
        classes = bundle.read("labels.txt").decode().splitlines()

    from ai_edge_litert.interpreter import Interpreter

    from cnnlib.images import load_image

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    _, height, width, channels = inp["shape"]
    x = load_image(photo, (int(height), int(width)), int(channels))[None].astype(np.float32)
    scale, zero = inp["quantization"]
    if inp["dtype"] in (np.int8, np.uint8) and scale:
        x = np.clip(np.round(x / scale + zero), np.iinfo(inp["dtype"]).min, np.iinfo(inp["dtype"]).max)
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    interpreter.invoke()
    top1 = int(np.argmax(interpreter.get_tensor(out["index"])[0]))
    assert classes[top1] == label


def _choose(page, label: str, option: str) -> None:  # noqa: ANN001
    """Pick ``option`` in the Streamlit selectbox labelled ``label`` (typed, so no list has to open in time)."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.locator("input").click()
    box.locator("input").fill(option)
    page.keyboard.press("Enter")
    wait_idle(page)


def test_a_labelled_upload_becomes_a_field_photo_that_evaluate_scores(browser_page, tmp_path: Path) -> None:  # noqa: ANN001
    page = browser_page
    goto(page, "Classify")
    upload(page, tmp_path, "mine.png", png_bytes((64, 64)))
    page.get_by_text(re.compile("Prediction: ")).first.wait_for()
    wait_idle(page)
    page.get_by_text("Wrong? Tell the right class").first.click()
    _choose(page, "The right class", "7")
    page.get_by_role("button", name="Save to this model's field set").first.click()
    page.get_by_text("Saved as a photo of").first.wait_for()
    no_exception(page)
    goto(page, "Evaluate")
    page.get_by_text("Your photos (field set)").first.wait_for()
    assert page.get_by_test_id("stMetric").filter(has_text="Field accuracy").count() == 1
    no_exception(page)


def test_a_confusion_cell_pages_through_its_images_with_heatmaps(browser_page) -> None:  # noqa: ANN001
    page = browser_page
    goto(page, "Evaluate")
    _choose(page, "True class", "3")
    _choose(page, "Predicted class", "3")
    caption = page.get_by_text(re.compile(r"^Showing 1–12 of \d+")).first
    caption.wait_for()
    total = int(re.search(r"of (\d+)", caption.inner_text()).group(1))
    assert total > 12  # the digits test split holds more than 12 correct 3s
    page.get_by_test_id("stNumberInput").filter(has_text="Page (of").locator("input").fill("2")
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(rf"^Showing 13–{min(24, total)} of {total}")).first.wait_for()
    wait_idle(page)
    no_exception(page)


def test_the_model_card_downloads_and_reads_in_the_browser(browser_page, tmp_path: Path) -> None:  # noqa: ANN001
    from cnnlib.report import SECTIONS

    page = browser_page
    goto(page, "Evaluate")
    page.get_by_role("button", name="Build the model card").click()
    button = page.get_by_test_id("stDownloadButton").filter(has_text="model-card.html")
    button.wait_for()
    with page.expect_download() as card:
        button.get_by_role("button").click()
    saved = tmp_path / "model-card.html"
    card.value.save_as(saved)
    reader = page.context.new_page()
    try:
        reader.goto(saved.as_uri())
        assert reader.locator("h2").all_inner_texts() == list(SECTIONS)
        assert reader.locator("figure img").count() >= 1
    finally:
        reader.close()


def test_compare_two_runs(browser_page, tmp_path: Path) -> None:  # noqa: ANN001
    page = browser_page
    goto(page, "Compare")
    page.get_by_text("McNemar").first.wait_for()
    page.get_by_text("Where the models disagree").first.wait_for()
    wait_idle(page)
    upload(page, tmp_path, "photo.png", png_bytes((96, 96)))
    bands = page.get_by_text(re.compile(r"\d\.\d% \((very confident|fairly sure|leaning towards it|unsure)\)"))
    bands.first.wait_for()
    page.get_by_test_id("stImage").last.wait_for()
    wait_idle(page)
    no_exception(page)
    screenshot(page, "compare")


def test_bad_uploads_leave_the_page_usable(browser_page, tmp_path: Path) -> None:  # noqa: ANN001
    page = browser_page
    goto(page, "Classify")
    upload(page, tmp_path, "truncated.jpg", truncated_jpeg())
    page.get_by_test_id("stAlert").filter(has_text="truncated.jpg").first.wait_for()
    wait_idle(page)
    no_exception(page)
    upload(page, tmp_path, "notes.png", b"this is text, not a picture")
    page.get_by_test_id("stAlert").filter(has_text="notes.png").first.wait_for()
    wait_idle(page)
    no_exception(page)
    # Still usable: a good photo is classified right after.
    upload(page, tmp_path, "good.png", png_bytes((64, 64)))
    page.get_by_text(re.compile("Prediction: ")).first.wait_for()
    wait_idle(page)
    no_exception(page)
    screenshot(page, "classify-errors")


@pytest.mark.extended  # ~80 s: a second training through the browser
def test_training_survives_closing_its_tab(browser_page, server: str, app_env: dict[str, str]) -> None:  # noqa: ANN001
    """A job started in a tab that is then closed keeps training and shows up finished elsewhere."""
    from cnnlib.runs import RunStore

    store = RunStore(app_env["CNNLIB_RUNS"], include_bundled=False)
    before = {info["id"] for info in store.list()}
    tab = browser_page.context.new_page()
    tab.set_default_timeout(LONG)
    tab.goto(f"{server}/train")
    wait_idle(tab)
    tab.get_by_role("button", name=re.compile("Start training")).click()
    tab.get_by_text(re.compile(r"cifar_fast-digits — running")).first.wait_for()
    tab.close()

    deadline = time.time() + 300  # a ceiling for a slow machine, not a speed assertion
    new_runs: list[dict] = []
    while time.time() < deadline:
        new_runs = [info for info in store.list() if info["id"] not in before]
        if new_runs and new_runs[0]["status"] not in ("running",):
            break
        time.sleep(1)
    assert new_runs and new_runs[0]["status"] == "completed", new_runs
    events = [json.loads(line) for line in (Path(new_runs[0]["path"]) / "progress.jsonl").read_text().splitlines()]
    assert sum(event["event"] == "epoch" for event in events) == 8  # it kept reporting with no tab open
    assert events[-1]["event"] == "end" and events[-1]["status"] == "completed"
    page = browser_page
    goto(page, "Home")  # the run table is a canvas grid, so the store above is what is checked
    page.get_by_test_id("stDataFrame").first.wait_for()
    no_exception(page)


def _home_lists(page, name: str, listed: bool = True) -> None:  # noqa: ANN001
    """Wait until Home's run table does (or no longer does) show a run called ``name``.

    The table is a canvas grid; its cells are read from the accessible table the grid keeps
    beside the canvas, which it fills a moment after drawing.
    """
    cell = page.get_by_test_id("stDataFrame").first.locator("td").filter(has_text=re.compile(rf"^{re.escape(name)}$"))
    playwright.expect(cell).to_have_count(1 if listed else 0, timeout=20_000)


def test_manage_runs_renames_and_deletes_a_run(browser_page, app_env: dict[str, str],  # noqa: ANN001
                                              trained_runs: list[Path]) -> None:
    import shutil

    from cnnlib.runs import Run, RunStore

    # A throwaway copy: the other tests keep their runs.
    store = RunStore(app_env["CNNLIB_RUNS"], include_bundled=False)
    throwaway = Path(app_env["CNNLIB_RUNS"]) / "throwaway"
    shutil.copytree(trained_runs[0], throwaway)
    Run(throwaway).update_info(id="throwaway", name="throwaway", created="2999-01-01T00:00:00")  # newest: listed first
    page = browser_page
    goto(page, "Home")
    _home_lists(page, "throwaway")
    page.get_by_test_id("stExpander").filter(has_text="Manage runs").get_by_text("Manage runs").click()
    _choose(page, "Run to manage", "throwaway")
    name = page.get_by_test_id("stTextInput").filter(has_text="Name").locator("input")
    name.fill("   ")
    page.get_by_role("button", name="Save name").click()
    page.get_by_test_id("stAlert").filter(has_text="a run name cannot be empty").wait_for()  # the page stays up
    no_exception(page)
    name.fill("kept for a moment")
    page.get_by_role("button", name="Save name").click()
    page.get_by_text("Renamed to “kept for a moment”.").wait_for()
    wait_idle(page)
    _home_lists(page, "kept for a moment")
    _home_lists(page, "throwaway", listed=False)
    assert store.get("throwaway").info()["name"] == "kept for a moment"

    delete = page.get_by_role("button", name="Delete run")
    assert delete.is_disabled()  # until the confirmation is ticked
    page.get_by_text("I understand this deletes “kept for a moment”").click()
    wait_idle(page)
    delete.click()
    page.get_by_text("Deleted “kept for a moment”.").wait_for()
    wait_idle(page)
    no_exception(page)
    _home_lists(page, "kept for a moment", listed=False)
    _home_lists(page, "digits-a")
    assert not throwaway.exists() and "throwaway" not in {info["id"] for info in store.list()}


NAV_TITLES = ["Home", "Data", "Train", "Evaluate", "Explain", "Classify", "Compare"]


def test_the_bundled_demo_evaluates_and_explains_without_its_dataset(browser_page, app_env: dict[str, str],  # noqa: ANN001
                                                                      tmp_path: Path) -> None:
    import shutil

    # As on a clone without ../shared: the demo's CIFAR-10 folder is not on the machine.
    demo = Path(app_env["CNNLIB_BUNDLED_RUNS"]) / f"{SHIPPED_DEMO.name}-nodata"
    shutil.copytree(SHIPPED_DEMO, demo)
    for name, change in (("config.json", lambda c: c["data"].update(source="/nonexistent/cifar10")),
                         ("run.json", lambda c: c.update(name="demo without its data"))):
        content = json.loads((demo / name).read_text())
        change(content)
        (demo / name).write_text(json.dumps(content))
    page = browser_page
    goto(page, "Evaluate")
    _choose(page, "Run to evaluate", "demo without its data")
    page.get_by_text(re.compile("The test images are not on this machine")).first.wait_for()
    page.get_by_text(shipped_accuracy_text()).first.wait_for()  # the saved evaluation of its 10,000 test images
    no_exception(page)
    goto(page, "Explain")  # the choice of run follows across pages
    page.get_by_text(re.compile("explain an upload instead")).first.wait_for()
    upload(page, tmp_path, "photo.png", png_bytes((64, 64)))
    page.get_by_text(re.compile("^Deletion score")).first.wait_for()
    wait_idle(page)
    no_exception(page)


def test_every_page_url_opened_first_on_a_fresh_server_gets_the_apps_navigation(
        browser_page, app_env: dict[str, str], tmp_path: Path) -> None:  # noqa: ANN001
    # A bookmark opened before anyone visited "/" once made Streamlit route a pages/ folder itself:
    # lowercase file names in the menu, "streamlit app" among them, the tab titled after the file.
    browser = browser_page.context.browser  # one Playwright per thread: reuse the module's browser
    with serve(app_env, tmp_path / "fresh.log") as url:
        for title in ["Classify", *[t for t in NAV_TITLES if t != "Classify"]]:  # the reported URL first
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(LONG)
            page.goto(f"{url}/{'' if title == 'Home' else title.lower()}")
            page.get_by_role("heading", name=re.compile(title if title != "Home" else "cnnlib Studio")).first.wait_for()
            if title == "Classify":  # the first request: the whole page must render under the router
                wait_idle(page)
                no_exception(page)
            # The others only need the router's menu (every page's content is checked in
            # test_every_page_opens); waiting for each page to finish would double this test's time.
            page.get_by_test_id("stSidebarNavLink").nth(len(NAV_TITLES) - 1).wait_for()
            links = page.get_by_test_id("stSidebarNavLink").all_inner_texts()
            assert [re.sub(r"^\W+", "", text).strip() for text in links] == NAV_TITLES, (title, links)
            assert "cnnlib Studio" in page.title() or title in page.title(), page.title()
            context.close()
