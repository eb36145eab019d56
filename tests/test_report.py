"""The model card: every section written from a real run, self-contained, and readable in a browser."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cnnlib.report import SECTIONS

CHROMIUM = os.environ.get("CNNLIB_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def card(trained_run_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from cnnlib import cli

    root = tmp_path_factory.mktemp("card-runs")
    shutil.copytree(trained_run_store, root / trained_run_store.name)
    out = tmp_path_factory.mktemp("card")
    assert cli.main(["export", trained_run_store.name, "--format", "tflite-float32", "--runs", str(root)]) == 0
    return {"result": cli_json(["report", trained_run_store.name, "--runs", str(root), "--out", str(out)]),
            "out": out}


def cli_json(argv: list[str]) -> dict:
    import contextlib
    import io

    from cnnlib import cli

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli.main(argv) == 0
    return json.loads(buffer.getvalue().strip().splitlines()[-1])


@pytest.mark.slow
def test_the_card_has_every_section_with_the_runs_facts(card: dict) -> None:
    result = card["result"]
    assert result["sections"] == list(SECTIONS)
    markdown = Path(result["markdown"]).read_text()
    for title in SECTIONS:
        assert f"## {title}" in markdown
    assert "Expected calibration error on the test split" in markdown  # the digits run is calibrated on use
    assert "tflite-float32" in markdown and "100.00%" in markdown  # the export made above, with its parity
    assert "| uniform noise | far |" in markdown
    assert "Data audit of 1,797 images: exact duplicates: 0" in markdown  # digits audited for the card
    assert "too small to tell near-copies" in markdown
    page = Path(result["html"]).read_text()
    assert "http://" not in page and "https://" not in page  # self-contained: nothing to fetch
    assert page.count("data:image/png;base64,") >= 1


@pytest.mark.slow
@pytest.mark.browser
def test_the_card_opens_in_a_browser_with_its_sections_and_pictures(card: dict) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()
        page.goto(Path(card["result"]["html"]).as_uri())
        assert page.locator("h2").all_inner_texts() == list(SECTIONS)
        widths = page.locator("figure img").evaluate_all("images => images.map(image => image.naturalWidth)")
        assert widths and all(width > 0 for width in widths)  # every embedded picture decodes
        assert page.locator("table").count() >= 4
        browser.close()
