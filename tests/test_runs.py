"""The run store: atomic files, statuses, listing damaged runs, concurrent writers, deletion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlib.errors import RunError
from cnnlib.io import atomic_write_json, atomic_write_text
from cnnlib.runs import RunStore

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
