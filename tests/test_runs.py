"""The run store: atomic files, statuses, listing damaged runs, concurrent writers, renaming and deletion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnlib.errors import ConfigError, RunError
from cnnlib.io import atomic_write_json, atomic_write_text
from cnnlib.run_admin import delete_refusal, delete_run, rename_run
from cnnlib.runs import BACKUP_DIR, CONFIG_FILE, Run, RunStore, run_name

ROOT = Path(__file__).resolve().parents[1]

_CREATE_RUNS = """
import sys
from cnnlib.runs import RunStore
store = RunStore(sys.argv[1], include_bundled=False)
for index in range(int(sys.argv[2])):
    run = store.new_run_dir("same-name", "arch")
    run.update_info(status="completed", created=f"2026-01-01T00:00:{index:02d}")
    print(run.id)
"""


def test_concurrent_processes_get_distinct_runs(tmp_path: Path) -> None:
    # Plain subprocesses, not multiprocessing: spawn re-imports the parent's
    # __main__, which under AppTest is a page script.
    root = Path(__file__).resolve().parents[1]
    workers = [
        subprocess.Popen([sys.executable, "-c", _CREATE_RUNS, str(tmp_path), "15"], stdout=subprocess.PIPE,
                         text=True, cwd=root)
        for _ in range(2)
    ]
    ids = [line for worker in workers for line in worker.communicate(timeout=300)[0].split()]
    assert all(worker.returncode == 0 for worker in workers)
    assert len(ids) == 30 and len(set(ids)) == 30
    listed = RunStore(tmp_path, include_bundled=False).list()
    assert len(listed) == 30 and all(item["status"] == "completed" for item in listed)


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    atomic_write_json(target, {"status": "completed"})

    class Unserializable:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(target, {"status": Unserializable()})
    assert json.loads(target.read_text()) == {"status": "completed"}
    assert [path.name for path in tmp_path.iterdir()] == ["run.json"]  # no temp file left behind
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_running_run_with_dead_pid_reads_interrupted(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    run = store.new_run_dir("x", "arch")
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    run.update_info(status="running", pid=process.pid)
    assert store.get(run.id).status == "interrupted"
    run.update_info(status="running", pid=os.getpid())
    assert store.get(run.id).status == "running"


def test_damaged_and_unknown_runs(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    good = store.new_run_dir("good", "arch")
    good.update_info(status="completed", created="2026-01-01T00:00:00")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "run.json").write_text("{ truncated")
    listed = {item["id"]: item for item in store.list()}
    assert listed[good.id]["status"] == "completed"
    assert listed["damaged"]["status"] == "damaged" and "not valid JSON" in listed["damaged"]["error"]
    with pytest.raises(RunError, match="damaged"):
        store.get("damaged")
    with pytest.raises(RunError, match="unknown run 'nope'"):
        store.get("nope")
    with pytest.raises(RunError, match="no saved model"):
        good.best_model_path()


def test_delete_refuses_running_and_removes_finished(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    run = store.new_run_dir("x", "arch")
    run.update_info(status="running", pid=os.getpid())
    with pytest.raises(RunError, match="still running"):
        store.delete(run.id)
    run.update_info(status="completed")
    store.delete(run.id)
    assert not run.path.exists() and store.list() == []


def test_given_run_id_must_be_new_and_safe(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    store.new_run_dir(None, "arch", run_id="chosen-id")
    with pytest.raises(RunError, match="already exists"):
        store.new_run_dir(None, "arch", run_id="chosen-id")
    with pytest.raises(RunError, match="run id"):
        store.new_run_dir(None, "arch", run_id="../escape")


def _completed(store: RunStore, run_id: str, name: str | None = "a name") -> Run:
    run = store.new_run_dir(None, "arch", run_id=run_id)
    run.update_info(status="completed", created="2026-01-01T00:00:00", **({"name": name} if name else {}))
    return run


def test_rename_changes_the_name_not_the_id(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    run = _completed(store, "r1", name="dwsep_cnn")
    old = _completed(store, "r0", name=None)  # trained before runs had names: shown by id
    info = rename_run("r1", "  digits, more dropout  ", runs_dir=tmp_path)
    assert info["name"] == "digits, more dropout" and info["id"] == "r1" and run.path.is_dir()
    listed = {item["id"]: item for item in store.list()}
    assert run_name(listed["r1"]) == "digits, more dropout" and run_name(listed["r0"]) == old.id
    assert json.loads((run.path / "run.json").read_text())["status"] == "completed"  # the rest is kept
    assert rename_run(run.path, "by path", runs_dir=tmp_path)["name"] == "by path"


@pytest.mark.parametrize(("name", "says"), [("", "cannot be empty"), ("   ", "cannot be empty"),
                                            ("two\nlines", "one line"), ("tab\there", "one line"),
                                            ("x" * 81, "at most 80 characters; this one has 81")])
def test_rename_refuses_bad_names_and_changes_nothing(tmp_path: Path, name: str, says: str) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    run = _completed(store, "r1")
    before = (run.path / "run.json").read_bytes()
    with pytest.raises(ConfigError, match=says):
        rename_run("r1", name, runs_dir=tmp_path)
    assert (run.path / "run.json").read_bytes() == before
    assert rename_run("r1", "x" * 80, runs_dir=tmp_path)["name"] == "x" * 80


def test_bundled_runs_refuse_rename_and_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = tmp_path / "bundled"
    _completed(RunStore(bundled, include_bundled=False), "demo", name="the demo")
    monkeypatch.setenv("CNNLIB_BUNDLED_RUNS", str(bundled))
    store = tmp_path / "runs"
    before = sorted(path.read_bytes() for path in bundled.rglob("*") if path.is_file())
    with pytest.raises(RunError, match="'the demo' ships with cnnlib and is read-only, so it cannot be renamed"):
        rename_run("demo", "mine", runs_dir=store)
    assert delete_refusal("demo", runs_dir=store) == \
        "run 'the demo' ships with cnnlib and cannot be deleted; every page can fall back on it"
    with pytest.raises(RunError, match="cannot be deleted"):
        delete_run("demo", runs_dir=store)
    assert sorted(path.read_bytes() for path in bundled.rglob("*") if path.is_file()) == before


# A stand-in for a trainer: it runs until it finds the STOP file, takes a moment to "save its
# model", records the end as the trainer does, and exits.
_FAKE_TRAINER = """
import sys, time
from pathlib import Path
from cnnlib.runs import Run
run = Run(Path(sys.argv[1]))
while not run.stop_requested():
    time.sleep(0.05)
time.sleep(float(sys.argv[2]))
run.update_info(status="stopped", pid=None)
"""


def _start_trainer(run: Run, saving_seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _FAKE_TRAINER, str(run.path), str(saving_seconds)], cwd=ROOT)
    run.update_info(status="running", pid=process.pid)
    return process


def test_delete_stops_a_running_job_and_waits_for_it_to_exit(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    run = _completed(store, "r1")
    trainer = _start_trainer(run, saving_seconds=0.5)
    assert store.get("r1").status == "running"
    result = delete_run("r1", runs_dir=tmp_path, stop_timeout=60)
    # The trainer's last write succeeded: the directory was only moved once its process had exited.
    assert trainer.wait(timeout=30) == 0
    assert result == {"deleted": "r1", "name": "a name", "path": str(run.path), "stopped": True}
    assert not run.path.exists() and store.list() == [] and list(tmp_path.iterdir()) == []


def test_delete_gives_up_on_a_job_that_does_not_stop_and_deletes_nothing(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    run = _completed(store, "r1")
    trainer = _start_trainer(run, saving_seconds=60)
    try:
        started = time.monotonic()
        with pytest.raises(RunError, match="asked to stop but is still saving its model after 1 s; nothing was deleted"):
            delete_run("r1", runs_dir=tmp_path, stop_timeout=1)
        assert time.monotonic() - started < 10
        assert run.stop_requested() and store.get("r1").status == "running"
    finally:
        trainer.kill()
        trainer.wait(timeout=30)


def test_delete_refuses_while_another_run_needs_its_files(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    base = _completed(store, "base", name="the base")
    photos = _completed(store, "photos", name="on its photos")
    atomic_write_json(photos.path / CONFIG_FILE, {"data": {"source": "digits", "extra_train": [str(base.path / "field")]},
                                                  "model": {"arch": "dwsep_cnn"}})
    child = _completed(store, "child", name="fine-tuned")
    atomic_write_json(child.path / CONFIG_FILE, {"data": {"source": "digits"},
                                                 "model": {"arch": "from_run", "weights": "base"}})
    (child.path / BACKUP_DIR).mkdir()  # interrupted: resuming rebuilds its base from the base run
    refusal = delete_refusal("base", runs_dir=tmp_path)
    assert refusal.startswith("run 'the base' cannot be deleted while other runs need it: ")
    assert "'on its photos' trained on its field photos" in refusal and "'fine-tuned' started from it" in refusal
    with pytest.raises(RunError, match="Delete those runs first"):
        delete_run("base", runs_dir=tmp_path)
    (child.path / BACKUP_DIR).rmdir()  # finished: its saved model holds the base network
    delete_run("photos", runs_dir=tmp_path)
    assert delete_refusal("base", runs_dir=tmp_path) is None
    delete_run("base", runs_dir=tmp_path)
    assert [item["id"] for item in store.list()] == ["child"]


def test_delete_removes_damaged_runs_job_records_and_left_over_trash(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    run = _completed(store, "r1")
    jobs = tmp_path / ".jobs"
    jobs.mkdir()
    for suffix in (".json", ".request.json", ".log"):
        (jobs / f"r1{suffix}").write_text("{}")
    (jobs / "other.json").write_text("{}")
    crashed = tmp_path / ".deleting-r0-abcd"  # a deletion that crashed after the rename
    crashed.mkdir()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "run.json").write_text("{ truncated")
    assert delete_run("damaged", runs_dir=tmp_path)["deleted"] == "damaged"
    delete_run(run.path, runs_dir=tmp_path)
    assert sorted(path.name for path in tmp_path.rglob("*")) == [".jobs", "other.json"]
    with pytest.raises(RunError, match="unknown run 'r1'"):
        delete_run("r1", runs_dir=tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-not-a-run"
    outside.mkdir()
    with pytest.raises(RunError, match="not a cnnlib run"):  # only a damaged run inside the store goes
        delete_run(outside, runs_dir=tmp_path)
    assert outside.is_dir()


_WRITE_KEYS = """
import sys
from pathlib import Path
from cnnlib.runs import Run
run = Run(Path(sys.argv[1]))
for index in range(int(sys.argv[3])):
    run.update_info(**{f"{sys.argv[2]}-{index}": index})
"""


def test_concurrent_info_updates_lose_no_field(tmp_path: Path) -> None:
    # The trainer records every epoch while a rename may come from the app: each merge must
    # see the other's fields, or a rename (or an epoch count) silently disappears.
    run = _completed(RunStore(tmp_path, include_bundled=False), "r1")
    writers = [subprocess.Popen([sys.executable, "-c", _WRITE_KEYS, str(run.path), tag, "150"], cwd=ROOT)
               for tag in ("trainer", "app")]
    assert all(writer.wait(timeout=300) == 0 for writer in writers)
    info = json.loads((run.path / "run.json").read_text())
    assert {f"{tag}-{index}" for tag in ("trainer", "app") for index in range(150)} <= set(info)


def test_writing_to_a_deleted_run_does_not_bring_it_back(tmp_path: Path) -> None:
    store = RunStore(tmp_path, include_bundled=False)
    run = _completed(store, "r1")
    delete_run("r1", runs_dir=tmp_path)
    with pytest.raises(RunError, match="no longer exists"):
        run.update_info(status="stopped")
    assert list(tmp_path.iterdir()) == []
