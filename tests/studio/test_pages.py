"""AppTest per page file: each page runs alone, renders without exceptions, and answers bad
input with an ``st.error`` sentence. Pages run against real digits runs trained by the core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from apptest_files import (
    PROJECT,
    SHIPPED_DEMO,
    huge_png_header,
    image_folder,
    jpeg_bytes,
    png_bytes,
    shipped_accuracy_text,
    truncated_jpeg,
    zip_bytes,
)
from streamlit.testing.v1 import AppTest

TIMEOUT = 120


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PROJECT / "views" / f"{name}.py"), default_timeout=TIMEOUT)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_home_imports_no_tensorflow(app_env: dict[str, str]) -> None:
    code = (
        "import sys; from streamlit.testing.v1 import AppTest; "
        f"at = AppTest.from_file({str(PROJECT / 'views' / 'home.py')!r}).run(); "
        "assert not at.exception, at.exception; "
        "assert 'tensorflow' not in sys.modules, 'home imported tensorflow'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT, env={**os.environ, **app_env})


def test_home_lists_runs_and_datasets(trained_runs: list[Path]) -> None:
    at = page("home").run()
    no_exception(at)
    names = " ".join(str(df.value.to_dict()) for df in at.dataframe)
    assert "digits-a" in names and "digits" in names
    datasets = next(df.value for df in at.dataframe if "dataset" in df.value.columns)
    assert not datasets.isna().any().any(), "no None cells beside filled ones"
    assert not datasets.duplicated(["dataset", "kind"]).any()
    assert "Keras download" in set(datasets["kind"])


def test_two_class_sets_of_one_size_read_differently() -> None:
    from app.ui import class_set_words

    cifar = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert class_set_words(cifar) == "10 classes: airplane, automobile, bird, cat, …"
    assert class_set_words([str(d) for d in range(10)]) != class_set_words(cifar)
    assert class_set_words(["a", "b"]) == "2 classes: a, b"


def test_data_digits(app_env: dict[str, str]) -> None:
    at = page("data").run()
    no_exception(at)
    at.button(key="data_load").click().run()
    no_exception(at)
    assert not errors(at)
    assert [m.value for m in at.metric][0] == "10"


def test_data_folder_under_roots_warns_about_corrupt_files(app_env: dict[str, str]) -> None:
    image_folder(Path(app_env["CNNLIB_DATA_ROOTS"]) / "colors")
    at = page("data").run()
    at.radio(key="keep_data_kind").set_value("Folder on the server").run()
    at.selectbox(key="keep_data_folder").set_value("Type a path…").run()
    at.text_input(key="keep_data_rel").input("colors").run()
    at.button(key="data_load").click().run()
    no_exception(at)
    assert not errors(at)
    assert any("broken.jpg" in w.value or "Skipped" in w.value for w in at.warning), [w.value for w in at.warning]


@pytest.mark.parametrize("relative", ["../../etc", "/etc", "colors/../../.."])
def test_data_folder_outside_roots_is_refused(app_env: dict[str, str], relative: str) -> None:
    at = page("data").run()
    at.radio(key="keep_data_kind").set_value("Folder on the server").run()
    at.selectbox(key="keep_data_folder").set_value("Type a path…").run()
    at.text_input(key="keep_data_rel").input(relative).run()
    no_exception(at)
    assert errors(at), "a path outside the data roots must be refused"


@pytest.mark.parametrize(
    "entries",
    [{}, {"../evil/a.png": b"x"}, {"notes.txt": b"hello"}],
    ids=["empty", "traversal", "no-images"],
)
def test_data_bad_zip_uploads(app_env: dict[str, str], entries: dict[str, bytes]) -> None:
    at = page("data").run()
    at.radio(key="keep_data_kind").set_value("Upload a .zip").run()
    at.file_uploader(key="data_zip").set_value(("bad.zip", zip_bytes(entries), "application/zip")).run()
    at.button(key="data_load").click().run()
    no_exception(at)
    assert errors(at)


def test_data_good_zip_upload(app_env: dict[str, str]) -> None:
    entries = {f"shapes/{label}/{i}.png": png_bytes((12, 12), color) for label, color in
               (("red", (220, 20, 20)), ("blue", (20, 20, 220))) for i in range(10)}
    at = page("data").run()
    at.radio(key="keep_data_kind").set_value("Upload a .zip").run()
    at.file_uploader(key="data_zip").set_value(("shapes.zip", zip_bytes(entries), "application/zip")).run()
    at.button(key="data_load").click().run()
    no_exception(at)
    assert not errors(at)
    assert [m.value for m in at.metric][0] == "2"


def test_data_corrupt_zip_upload(app_env: dict[str, str]) -> None:
    at = page("data").run()
    at.radio(key="keep_data_kind").set_value("Upload a .zip").run()
    at.file_uploader(key="data_zip").set_value(("broken.zip", b"PK\x03\x04 not a zip", "application/zip")).run()
    at.button(key="data_load").click().run()
    no_exception(at)
    assert errors(at)


def test_train_page_shows_registry_and_summary(trained_runs: list[Path]) -> None:
    at = page("train").run()
    no_exception(at)
    assert "cifar_fast" in at.selectbox(key="keep_train_arch").options
    assert any(m.label == "Parameters" for m in at.metric)
    assert at.selectbox(key="keep_train_watch").options  # the finished runs are listed as jobs


def test_train_page_sets_the_airbench_levers_and_shows_what_the_recipe_fills(trained_runs: list[Path]) -> None:
    at = page("train").run()
    at.selectbox(key="keep_train_arch").set_value("airbench_small").run()
    at.checkbox(key="keep_train_whiten").uncheck().run()
    at.checkbox(key="keep_train_ident").uncheck().run()
    at.selectbox(key="keep_train_look").set_value("off").run()
    at.number_input(key="keep_train_bnlr").set_value(8.0).run()
    no_exception(at)
    assert not errors(at)
    settings = json.loads(at.json[0].value)
    assert settings["whiten"] is False and settings["identity_init"] is False and settings["lookahead"] is False
    assert settings["bn_bias_lr_scale"] == 8.0
    # What the user left alone is the architecture's recipe, not the form's starting values.
    assert (settings["optimizer"], settings["lr"], settings["momentum"]) == ("sgd_airbench", 1.5, 0.85)
    assert settings["crop_padding"] == 2 and "alternating_flip" in settings["augment"]

    at.selectbox(key="keep_train_arch").set_value("cifar_fast").run()  # adam: no separate BN-bias rate
    no_exception(at)
    assert any("sgd_airbench" in message for message in errors(at)), errors(at)


@pytest.mark.slow  # starts a training job (a fresh interpreter)
def test_train_bad_source_shows_error(app_env: dict[str, str]) -> None:
    import time

    at = page("train")
    at.session_state["data_config"] = {"source": str(Path(app_env["CNNLIB_DATA_ROOTS"]) / "missing-folder")}
    at.run()
    at.button(key="train_start").click().run()
    deadline = time.time() + 90
    while time.time() < deadline and not errors(at):
        time.sleep(2)
        at.run()
    no_exception(at)
    assert errors(at), "a job that cannot start must say why"


def test_evaluate(trained_runs: list[Path]) -> None:
    at = page("evaluate").run()
    no_exception(at)
    assert {m.label for m in at.metric} >= {"Accuracy", "Macro F1", "ECE"}
    # a finished run is calibrated at first use: the page says so and shows the diagram before and after
    assert any("temperature of" in c.value for c in at.caption), [c.value for c in at.caption]
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]
    assert any(t.startswith("Before calibration (ECE") for t in titles), titles
    assert any(t.startswith("As shown (calibrated) (ECE") for t in titles), titles
    at.selectbox(key="keep_eval_true").set_value("3").run()
    at.selectbox(key="keep_eval_pred").set_value("3").run()
    no_exception(at)
    assert any("predicted as" in m.value for m in at.markdown)
    # every image of the cell, a page at a time, each with the Grad-CAM of the predicted class
    count = int(next(m.value for m in at.markdown if "predicted as" in m.value).split("**")[1].replace(",", ""))
    assert count > 12, "the digits test split has more than 12 correct 3s"
    assert any(c.value.startswith(f"Showing 1–12 of {count}") for c in at.caption), [c.value for c in at.caption]
    at.number_input(key="eval_cell_page_3_3").set_value(2).run()
    no_exception(at)
    assert any(c.value.startswith(f"Showing 13–{min(24, count)} of {count}") for c in at.caption)
    at.button(key="eval_card_build").click().run()
    no_exception(at)
    assert not errors(at)
    assert any(button.label == "⬇️ model-card.html" for button in at.get("download_button")), "the card is offered"


def test_explain_test_image(trained_runs: list[Path]) -> None:
    at = page("explain").run()
    no_exception(at)
    assert not errors(at)
    assert len(at.get("image")) >= 6  # input, four methods, feature-map grid
    # each method says how faithful its map is: the deletion score against random blocks
    assert sum("Deletion score" in c.value for c in at.caption) == 4, [c.value for c in at.caption]


def test_classify_good_and_bad_uploads(trained_runs: list[Path]) -> None:
    at = page("classify").run()
    no_exception(at)
    at.file_uploader(key="classify_files").set_value([
        ("photo.png", png_bytes(), "image/png"),
        ("photo.jpg", jpeg_bytes(), "image/jpeg"),
        ("truncated.jpg", truncated_jpeg(), "image/jpeg"),
        ("notes.png", b"this is text, not a picture", "image/png"),
        ("bomb.png", huge_png_header(), "image/png"),
        ("empty.png", b"", "image/png"),
    ]).run()
    no_exception(at)
    messages = errors(at)
    assert len(messages) == 4, messages
    for name in ("truncated.jpg", "notes.png", "bomb.png", "empty.png"):
        assert any(name in m for m in messages), (name, messages)
    assert sum("Prediction:" in m.value for m in at.markdown) == 2
    assert at.get("download_button")
    # The table (and its CSV) keeps the unreadable files, each with its reason.
    table = next(frame.value for frame in at.dataframe if "file" in frame.value.columns)
    assert list(table["file"]) == ["photo.png", "photo.jpg", "truncated.jpg", "notes.png", "bomb.png", "empty.png"]
    assert (table["error"] == "").sum() == 2 and all(table["error"].iloc[2:].str.len() > 0)


def test_classify_answers_with_the_bundled_run_without_training_and_a_threshold_says_not_sure(app_env: dict[str, str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast tier's Classify check: the shipped CIFAR-10 run, read-only, no training needed.
    bundled = SHIPPED_DEMO
    monkeypatch.setenv("CNNLIB_BUNDLED_RUNS", str(SHIPPED_DEMO.parent))
    files_before = sorted((str(p), p.stat().st_mtime_ns) for p in bundled.rglob("*"))
    at = page("classify")
    at.session_state["keep_run"] = str(bundled)
    at.run()
    no_exception(at)
    assert at.slider(key="keep_classify_threshold").value == 0.5  # cnnlib.inference.LOW_CONFIDENCE
    at.file_uploader(key="classify_files").set_value([
        ("photo.png", png_bytes((64, 64)), "image/png"),
        ("photo.jpg", jpeg_bytes(), "image/jpeg"),
        ("notes.png", b"this is text, not a picture", "image/png"),
    ]).run()
    no_exception(at)
    messages = errors(at)
    assert len(messages) == 1 and "notes.png" in messages[0], messages
    assert sum("Prediction:" in m.value for m in at.markdown) == 2
    # The threshold at 0.99: neither synthetic photo is that sure, so both read "Not sure", also in the table.
    at.toggle(key="keep_classify_cam").set_value(False)  # the rerun answers again; Grad-CAM was drawn above
    at.slider(key="keep_classify_threshold").set_value(0.99).run()
    no_exception(at)
    headlines = [m.value for m in at.markdown if "Prediction:" in m.value]
    assert len(headlines) == 2 and all("Not sure (top guess: " in h for h in headlines), headlines
    table = at.dataframe[0].value
    assert "accepted" in table.columns and not table["accepted"].any()
    assert sorted((str(p), p.stat().st_mtime_ns) for p in bundled.rglob("*")) == files_before, "a bundled run is read-only"


def test_classify_export_int8(trained_runs: list[Path]) -> None:
    at = page("classify").run()
    at.radio(key="keep_export_fmt").set_value("tflite-int8").run()
    at.button(key="export_build").click().run()
    no_exception(at)
    assert not errors(at)
    assert any(m.label == "Agreement with Keras" for m in at.metric)
    assert any(b.label.startswith("⬇️ TFLite bundle (int8, .zip") for b in at.get("download_button")), \
        [b.label for b in at.get("download_button")]


def test_compare_two_runs(trained_runs: list[Path]) -> None:
    at = page("compare").run()
    no_exception(at)
    assert not errors(at)
    assert any("McNemar" in m.value for m in at.markdown)


def test_compare_needs_two_runs(app_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNLIB_RUNS", str(tmp_path))
    at = page("compare").run()
    no_exception(at)
    assert any("at least two" in i.value for i in at.info)


def _wait(condition, seconds: float = 180.0) -> None:  # noqa: ANN001
    import time

    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(1.0)


@pytest.mark.slow  # starts a training job (a fresh interpreter)
def test_home_one_click_demo_starts_a_background_job(app_env: dict[str, str]) -> None:
    from cnnlib.training.launcher import list_jobs

    before = {job.run_id for job in list_jobs()}
    at = page("home").run()
    at.button(key="home_demo").click().run()
    no_exception(at)
    assert any("Training started" in s.value for s in at.success)
    new = [job for job in list_jobs() if job.run_id not in before]
    assert len(new) == 1 and "digits-demo" in new[0].run_id
    new[0].stop()  # the train e2e covers a full run; stop this one to spare the CPU
    _wait(lambda: not new[0].alive())


def test_train_stop_button_keeps_the_best_model(trained_runs: list[Path]) -> None:
    from cnnlib.training.launcher import launch_training

    job = launch_training("to-stop", {"source": "digits"}, {"arch": "cifar_fast"}, {"epochs": 200, "tensorboard": False})
    _wait(lambda: job.run() is not None and job.run().checkpoint_path.exists())
    at = page("train")
    at.session_state["train_watch"] = str(job.run_path)
    at.run()
    no_exception(at)
    at.button(key=f"stop_{job.run_id}").click().run()
    no_exception(at)
    _wait(lambda: job.run().status != "running")
    assert job.run().status in ("stopped", "completed")
    assert job.run().has_model()
    at.run()
    no_exception(at)
    assert not errors(at)
    # The panel says how the job ended and which epoch it kept, and shows that epoch's report.
    progress = at.get("progress")[0].proto.text
    assert ("stopped by request after epoch" in progress or "done:" in progress) and "kept the model of epoch" in progress
    assert any(m.value.startswith("**Validation report, epoch") for m in at.markdown)
    report = next(frame.value for frame in at.dataframe if "precision" in frame.value.columns)
    assert list(report["class"]) == [str(c) for c in range(10)] and report["support"].sum() > 0


def test_bundled_run_is_listed_read_only_and_exports_elsewhere(trained_runs: list[Path], app_env: dict[str, str]) -> None:
    import shutil

    bundled = Path(app_env["CNNLIB_BUNDLED_RUNS"]) / "bundled-digits"
    shutil.copytree(trained_runs[0], bundled, ignore=shutil.ignore_patterns("exports", "evaluation"))
    try:
        at = page("classify")
        at.session_state["keep_run"] = str(bundled)
        at.run()
        no_exception(at)
        assert "bundled" in at.selectbox(key="keep_run").format_func(str(bundled))
        at.radio(key="keep_export_fmt").set_value("tflite-float32").run()
        at.button(key="export_build").click().run()
        no_exception(at)
        assert not errors(at)
        assert not (bundled / "exports").exists(), "a bundled run must never be written"
        assert (Path(app_env["CNNLIB_RUNS"]) / ".exports" / "bundled-digits" / "tflite-float32.tflite").exists()
        at = page("evaluate")
        at.session_state["keep_run"] = str(bundled)
        at.run()
        no_exception(at)
        assert not errors(at) and any(m.label == "Accuracy" for m in at.metric)
        assert not (bundled / "evaluation").exists()
    finally:
        shutil.rmtree(bundled)


def test_classify_warns_that_noise_shows_none_of_the_classes(app_env: dict[str, str]) -> None:
    import shutil

    import numpy as np

    from cnnlib.runs import bundled_runs_dir

    assert (SHIPPED_DEMO / "familiarity.npz").exists(), "the bundled demo run carries its familiarity score"
    demo = Path(app_env["CNNLIB_BUNDLED_RUNS"]) / SHIPPED_DEMO.name
    shutil.copytree(SHIPPED_DEMO, demo)
    assert bundled_runs_dir() == Path(app_env["CNNLIB_BUNDLED_RUNS"])
    try:
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
        at = page("classify")
        at.session_state["keep_run"] = str(demo)
        at.run()
        at.file_uploader(key="classify_files").set_value([("noise.png", buffer.getvalue(), "image/png")]).run()
        no_exception(at)
        assert not errors(at)
        assert any("may show none of the classes this model knows" in w.value for w in at.warning), \
            [w.value for w in at.warning]
    finally:
        shutil.rmtree(demo)


def test_pages_open_on_the_bundled_demo_and_say_what_it_sees(trained_runs: list[Path], app_env: dict[str, str]) -> None:
    import shutil

    demo = Path(app_env["CNNLIB_BUNDLED_RUNS"]) / SHIPPED_DEMO.name
    shutil.copytree(SHIPPED_DEMO, demo)
    try:
        for name in ("classify", "explain"):
            at = page(name).run()  # a fresh session: nothing chosen yet, digits runs newer than the demo
            assert at.selectbox(key="keep_run").value == str(demo), name
            assert any("This model sees 10 classes of 32×32 colour images" in c.value for c in at.caption), name
        at = page("classify")
        at.session_state["keep_run"] = str(trained_runs[0])  # a digits model, chosen on purpose
        at.run()
        at.file_uploader(key="classify_files").set_value([("red.png", png_bytes((400, 300)), "image/png")]).run()
        no_exception(at)
        assert any("far from what the model was trained on" in w.value and "colours are dropped" in w.value
                   for w in at.warning), [w.value for w in at.warning]
    finally:
        shutil.rmtree(demo)


def test_a_wrong_answer_is_kept_as_a_field_photo_and_evaluate_scores_it(trained_runs: list[Path]) -> None:
    import shutil

    from cnnlib.fieldset import field_dir
    from cnnlib.runs import RunStore

    run = RunStore(os.environ["CNNLIB_RUNS"]).get(str(trained_runs[0]))
    shutil.rmtree(field_dir(run), ignore_errors=True)
    try:
        at = page("classify")
        at.session_state["keep_run"] = str(trained_runs[0])
        at.run()
        at.file_uploader(key="classify_files").set_value([("mine.png", png_bytes(), "image/png")]).run()
        at.selectbox(key="classify_truth_0").set_value("7").run()
        at.button(key="classify_keep_0").click().run()
        no_exception(at)
        assert any("Saved as a photo of **7**" in s.value for s in at.success)
        assert len(list((field_dir(run) / "7").iterdir())) == 1
        at = page("evaluate")
        at.session_state["keep_run"] = str(trained_runs[0])
        at.run()
        no_exception(at)
        assert any(m.label == "Field accuracy" for m in at.metric)
        assert any("1 photo(s): 7 1" in c.value for c in at.caption), [c.value for c in at.caption]
        at = page("train").run()  # the kept photo is offered to the next job on the same data
        no_exception(at)
        offered = at.multiselect(key="train_field_sets")
        assert any(f"kept with run {run.id}" in option for option in offered.options), offered.options
        offered.set_value([next(option for option in offered.options if run.id in option)]).run()
        no_exception(at)
        assert any("1 field photo(s) join the training split" in c.value for c in at.caption)
        assert not at.error, [e.value for e in at.error]
    finally:
        shutil.rmtree(field_dir(run), ignore_errors=True)


def test_the_bundled_demo_without_its_data_still_evaluates_and_explains_uploads(app_env: dict[str, str]) -> None:
    import json
    import shutil

    # its own folder name: the app caches datasets by run path, and other tests open the demo with its data
    demo = Path(app_env["CNNLIB_BUNDLED_RUNS"]) / f"{SHIPPED_DEMO.name}-offline"
    shutil.copytree(SHIPPED_DEMO, demo)
    config = json.loads((demo / "config.json").read_text())
    config["data"]["source"] = "/nonexistent/cifar10"  # as on a clone without ../shared beside it
    (demo / "config.json").write_text(json.dumps(config))
    try:
        at = page("evaluate")
        at.session_state["keep_run"] = str(demo)
        at.run()
        no_exception(at)
        assert not errors(at)
        assert any(m.label == "Accuracy" and m.value == shipped_accuracy_text() for m in at.metric), [(m.label, m.value) for m in at.metric]
        assert any("not on this machine" in i.value for i in at.info)
        at = page("explain")
        at.session_state["keep_run"] = str(demo)
        at.run()
        no_exception(at)
        assert not errors(at)
        assert at.radio(key="keep_explain_source").options == ["Upload"]
        twin = demo.with_name(demo.name + "-twin")
        shutil.copytree(demo, twin)
        at = page("compare")
        at.session_state["keep_compare_runs"] = [str(demo), str(twin)]
        at.run()
        no_exception(at)
        assert not errors(at)
        assert any("McNemar" in m.value for m in at.markdown)
    finally:
        shutil.rmtree(demo)
        shutil.rmtree(demo.with_name(demo.name + "-twin"), ignore_errors=True)


def test_explain_browses_test_images_by_class(trained_runs: list[Path]) -> None:
    at = page("explain")
    at.session_state["keep_run"] = str(trained_runs[0])
    at.run()
    from cnnlib.data import DataConfig, load_dataset

    fours = int((load_dataset(DataConfig(source="digits")).test.labels == 4).sum())
    at.selectbox(key="keep_explain_class").set_value("4").run()
    no_exception(at)
    assert at.number_input(key="explain_number_4").label == f"Test image (1–{fours})"
    at.selectbox(key="keep_explain_target").set_value("7").run()
    assert at.selectbox(key="keep_explain_target").value == "7"
    at.number_input(key="explain_number_4").set_value(fours).run()
    no_exception(at)
    assert not errors(at)
    # A target class chosen for one image does not carry over to the next.
    assert at.selectbox(key="keep_explain_target").value == "predicted"


def test_data_audit_panel_finds_planted_problems_and_excludes_the_chosen_ones(app_env: dict[str, str]) -> None:
    from bench.audit import PLANTS, plant_fixture

    root = Path(app_env["CNNLIB_DATA_ROOTS"]) / "planted"
    plant_fixture(root, seed=1)
    at = page("data").run()
    at.radio(key="keep_data_kind").set_value("Folder on the server").run()
    at.selectbox(key="keep_data_folder").set_value(str(root.resolve())).run()
    at.button(key="data_load").click().run()
    no_exception(at)
    at.button(key="audit_run").click().run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Exact copies"] == str(PLANTS["exact_duplicate"]) and metrics["Test leaks"] == str(PLANTS["cross_split_copy"])
    assert any(f"Exact duplicates (same file content, same class): {PLANTS['exact_duplicate']}" in e.label for e in at.expander)
    assert len(at.get("image")) >= 2, "findings show thumbnails"
    pick = at.checkbox(key="audit_pick_exact_duplicate_0")
    pick.check().run()
    at.button(key="audit_all_cross_split_copy").click().run()
    at.button(key="audit_apply").click().run()
    no_exception(at)
    excluded = at.session_state["data_config"]["exclude"]
    assert len(excluded) == 1 + PLANTS["cross_split_copy"], excluded
    assert all(not item.startswith("test/") for item in excluded), "a leaked test image keeps its place"
    assert any("left out of training" in s.value for s in at.success)
    train_count = int(next(m.value for m in at.metric if m.label == "Train").replace(",", ""))
    at.button(key="audit_clear").click().run()
    assert at.session_state["data_config"]["exclude"] == []
    assert int(next(m.value for m in at.metric if m.label == "Train").replace(",", "")) > train_count


def test_data_never_shows_the_previous_dataset_under_a_new_source(app_env: dict[str, str]) -> None:
    at = page("data").run()
    at.button(key="data_load").click().run()
    at.radio(key="keep_data_kind").set_value("Keras dataset").run()
    no_exception(at)
    assert any("Press **Load dataset** to look at" in i.value for i in at.info), [i.value for i in at.info]
    assert not at.metric, "the digits summary must not stay under the new choice"


def test_train_page_says_how_many_audited_images_it_leaves_out(app_env: dict[str, str]) -> None:
    at = page("train")
    at.session_state["data_config"] = {"source": "digits", "exclude": ["digits:3", "digits:7"]}
    at.run()
    no_exception(at)
    assert any("2 image(s) chosen in the Data page's audit" in c.value for c in at.caption)


def test_sources_are_named_as_people_name_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.datasources import save_upload, source_label

    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    stored = save_upload(b"PK\x05\x06" + b"\0" * 18, "my_classes.zip")
    assert stored.name != "my_classes.zip"  # content-hashed on the server...
    assert source_label(str(stored)) == "my_classes.zip (uploaded)"  # ...but not on screen
    assert source_label("digits") == "digits"
    assert source_label(str(tmp_path / "datasets" / "cifar10")) == "cifar10"
    assert source_label(None) == "-"


def test_training_curves_keep_labels_legend_and_toolbar_apart() -> None:
    from app.plots import training_curves

    history = [{"loss": 1.0 / n, "val_loss": 1.2 / n, "accuracy": 0.5, "val_accuracy": 0.4, "lr": 0.01} for n in range(1, 16)]
    layout = training_curves(history).layout
    assert layout.legend.y < 0 and layout.legend.yanchor == "top"  # under the "epoch" titles, not on them
    assert layout.margin.t >= 70 and layout.margin.b >= 60  # a row for the toolbar above the panel titles
    assert layout.xaxis.dtick is None and layout.xaxis.nticks <= 8  # 15 epochs in a third of the width
    assert training_curves(history[:5]).layout.xaxis.dtick == 1
