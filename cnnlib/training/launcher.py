"""Start training as a separate background process and follow it.

A UI must not train in its own process: the job has to survive page reloads,
closed tabs and a restarted server. ``launch_training`` resolves the settings into a
``TrainRequest`` and pre-checks it at once (so bad input fails in the caller, before
anything starts), saves it beside the job record, then runs
``python -m cnnlib train --request FILE --run-id ID`` in its own session with output in
a log file. The run directory appears once the data is loaded and the model
built; until then the job is ``preparing``, and if the process dies first,
the log's ``error:`` line says why.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cnnlib.errors import RunError
from cnnlib.io import atomic_write_json, read_json
from cnnlib.runs import RUN_FILE, Run, default_runs_dir, new_run_id, pid_alive

JOBS_DIR = ".jobs"

#: Beside each job record ``<id>.json``: the request it runs, ``<id>.request.json``.
REQUEST_SUFFIX = ".request.json"


@dataclass
class Job:
    """A training process started by ``launch_training``."""

    run_id: str
    pid: int
    runs_dir: str
    log_path: str
    command: list[str]
    started: str

    @property
    def run_path(self) -> Path:
        return Path(self.runs_dir) / self.run_id

    def run(self) -> Run | None:
        """The run, once its directory exists."""
        return Run(self.run_path) if (self.run_path / RUN_FILE).exists() else None

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def status(self) -> str:
        """``preparing`` until the run exists, then the run's status; ``failed`` if it died first."""
        run = self.run()
        if run is not None:
            return run.status
        return "preparing" if self.alive() else "failed"

    def error(self) -> str | None:
        """The last ``error:`` line of the log, if any."""
        try:
            lines = Path(self.log_path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            if line.startswith("error:"):
                return line[len("error:"):].strip()
        if not self.alive() and self.run() is None:
            tail = [line for line in lines if line.strip()][-1:]
            return tail[0] if tail else "the training process exited before the run started"
        return None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Ask the job to stop cleanly (keeps the best model)."""
        run = self.run()
        if run is not None:
            run.request_stop()
        elif self.alive():
            os.kill(self.pid, 15)  # still loading data: nothing to keep yet


def launch_training(name: str | None, data: dict[str, Any], model: dict[str, Any], train: dict[str, Any],
                    runs_dir: str | os.PathLike[str] | None = None) -> Job:
    """Resolve and pre-check a request, then start ``python -m cnnlib train --request FILE``.

    Args:
        name: a label for the run id.
        data: ``DataConfig`` fields (``source`` required).
        model: model options (``arch`` defaults to the recipes' default).
        train: the ``TrainConfig`` fields the user chose; the rest follow
            ``cnnlib.training.request.resolve_defaults``, as on the command line.
        runs_dir: the run store root.

    Returns:
        The ``Job``; its record and request are kept in ``<runs>/.jobs/`` so other sessions find them.

    Raises:
        ConfigError, DataError: the request cannot train (checked here, before anything starts).
    """
    from cnnlib.training.request import resolve_defaults, validate_request

    request = resolve_defaults(data, model, train, name=name)
    validate_request(request)
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    jobs = root / JOBS_DIR
    jobs.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id(name, request.arch)
    request_path = replace(request, run_id=run_id).save(jobs / f"{run_id}{REQUEST_SUFFIX}")
    command = [sys.executable, "-m", "cnnlib", "train", "--request", str(request_path.resolve()),
               "--run-id", run_id, "--runs", str(root.resolve())]
    log_path = jobs / f"{run_id}.log"
    # The job imports cnnlib from the same installed package as this process (pip install -e .).
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=env, cwd=os.getcwd())
    job = Job(run_id=run_id, pid=process.pid, runs_dir=str(root.resolve()), log_path=str(log_path.resolve()),
              command=command, started=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    atomic_write_json(jobs / f"{run_id}.json", asdict(job))
    return job


def list_jobs(runs_dir: str | os.PathLike[str] | None = None) -> list[Job]:
    """Jobs started by ``launch_training`` in this store, newest first."""
    jobs_dir = (Path(runs_dir) if runs_dir is not None else default_runs_dir()) / JOBS_DIR
    found: list[Job] = []
    if jobs_dir.is_dir():
        for record in jobs_dir.glob("*.json"):
            if record.name.endswith(REQUEST_SUFFIX):
                continue
            try:
                found.append(Job(**read_json(record)))
            except (OSError, TypeError, json.JSONDecodeError):
                continue
    found.sort(key=lambda job: job.started, reverse=True)
    return found


def get_job(run_id: str, runs_dir: str | os.PathLike[str] | None = None) -> Job:
    for job in list_jobs(runs_dir):
        if job.run_id == run_id:
            return job
    raise RunError(f"no training job {run_id!r} in this run store")
