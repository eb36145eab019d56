"""App start: ``streamlit run`` to an interactive home page, and upload to prediction, in headless Chromium.

Follows /work/shared/docs/browser-testing.md: a free port, our own server process
(trusted only after it printed "You can now view" and is still alive), Playwright
with the system Chromium, and the idle selector.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common

GOAL_START_S = 3.0
GOAL_UPLOAD_S = 1.5
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
    ]
    log = log_path.open("w")
    return subprocess.Popen(
        command, cwd=common.REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early: {log_path.read_text()[-500:]}")
        if "You can now view" in log_path.read_text():
            return time.perf_counter()
        time.sleep(0.02)
    raise RuntimeError("streamlit did not start in time")


WARM_WAIT_S = 15.0
"""How long a "warm" repeat leaves the app open on Home before going to Classify: about the time
a user takes to find the page and pick a photo, and enough for the background warm-up
(TensorFlow import, default model load and compile; ``app/warmup.py``) to finish here."""
WARM_UPLOAD_KEY = f"upload_after_{WARM_WAIT_S:g}s_on_home_to_prediction_s"


def _one_start(browser: Any, env: dict[str, str], upload: Path | None, tmp: Path, index: int) -> dict[str, Any]:
    """One fresh server. Even repeats upload at once (cold); odd ones wait ``WARM_WAIT_S`` first."""
    port = _free_port()
    log_path = tmp / f"server{index}.log"
    started = time.perf_counter()
    process = _start_server(port, env, log_path)
    try:
        ready = _wait_ready(process, log_path)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("heading", name="cnnlib Studio").wait_for(timeout=60_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        home = time.perf_counter()
        record: dict[str, Any] = {
            "server_ready_s": round(ready - started, 3),
            "home_interactive_s": round(home - started, 3),
            "exceptions": page.get_by_test_id("stException").count(),
        }
        warm = index % 2 == 1
        if upload is not None and warm:
            time.sleep(WARM_WAIT_S)
        if upload is not None:
            page.get_by_test_id("stSidebarNavLink").filter(has_text="Classify").click()
            page.get_by_test_id("stFileUploaderDropzoneInput").wait_for(state="attached", timeout=60_000)
            page.wait_for_selector(IDLE, timeout=60_000)
            before = time.perf_counter()
            page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
            page.get_by_text("Prediction:").first.wait_for(timeout=120_000)
            key = WARM_UPLOAD_KEY if warm else "upload_to_prediction_s"
            record[key] = round(time.perf_counter() - before, 3)
            page.wait_for_selector(IDLE, timeout=120_000)
            record["upload_to_idle_s"] = round(time.perf_counter() - before, 3)
            before = time.perf_counter()
            page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(tmp / "second.png"))
            page.get_by_text("Prediction:").nth(1).wait_for(timeout=60_000)  # multi-file uploader: 2 results
            record["second_upload_to_prediction_s"] = round(time.perf_counter() - before, 3)
            record["exceptions"] = page.get_by_test_id("stException").count()
        page.close()
        return record
    finally:
        _stop(process)


def run_app(args: Any) -> common.Section:
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from bench.fixture import load_fixture

    section = common.Section(
        "app",
        "App start and first prediction in headless Chromium",
        goal=f"home page interactive <= {GOAL_START_S} s after `streamlit run`; "
        f"upload -> prediction shown <= {GOAL_UPLOAD_S} s",
    )
    env = {**os.environ}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        upload = None
        runs_dir = args.runs or os.environ.get("CNNLIB_RUNS")
        try:
            fixture = load_fixture(args.run, runs_dir)
        except Exception as exc:  # no run store at all
            fixture = None
            common.log(f"no run: {exc}")
        if fixture is not None and fixture.run is not None:
            # A store holding only a copy of the measured run, so Classify opens on it (and the
            # warm-up warms it) whatever else the user's store holds.
            store = tmp / "runs"
            shutil.copytree(fixture.run.path, store / Path(fixture.run.path).name)
            env["CNNLIB_RUNS"] = str(store)
            rng = np.random.default_rng(0)
            for name in ("first.png", "second.png"):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp / name)
            upload = tmp / "first.png"
            section.note(
                f"upload: a 32x32 PNG to Classify with {fixture.description} selected (the only run in "
                "a temporary store holding a copy of it); timed from set_input_files until 'Prediction:' is visible"
            )
        else:
            section.note("no trained run found, so upload -> prediction was not measured (pass --run)")
        section.note(
            "start = from Popen(`streamlit run`) until the home heading is visible and the app is idle; "
            "a fresh server per repeat (cold app import every time); even repeats go to Classify and upload "
            f"at once, odd repeats first stay {WARM_WAIT_S:g} s on Home (the background warm-up's time)"
        )
        rows = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            try:
                for index in range(args.repeats):
                    common.log(f"app start {index + 1}/{args.repeats}")
                    record = section.add(
                        {"repeat": index, **_one_start(browser, env, upload, tmp, index), "load": common.load_average()}
                    )
                    rows.append(record)
            finally:
                browser.close()
    summary: dict[str, Any] = {}
    for key in ("server_ready_s", "home_interactive_s", "upload_to_prediction_s",
                WARM_UPLOAD_KEY, "second_upload_to_prediction_s"):
        values = [row[key] for row in rows if key in row]
        if values:
            summary[key] = common.summarize(values, 3)
    goal_home = summary["home_interactive_s"]["median"] <= GOAL_START_S
    goal_upload = summary.get("upload_to_prediction_s", {}).get("median", float("inf")) <= GOAL_UPLOAD_S
    goal_upload_warm = (
        summary.get(WARM_UPLOAD_KEY, {}).get("median", float("inf")) <= GOAL_UPLOAD_S
    )
    section.add({"summary": summary, "goal_home_met": goal_home, "goal_upload_met": goal_upload if upload else None,
                 "goal_upload_after_warmup_met": goal_upload_warm if upload else None})
    table_rows = [
        [key, value["median"], f"{value['min']}..{value['max']}", value["n"]] for key, value in summary.items()
    ]
    section.write(common.markdown_table(["measure", "median s", "min..max s", "repeats"], table_rows))
    return section
