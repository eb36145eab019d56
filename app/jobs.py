"""Start and watch background training jobs.

Training never runs inside the Streamlit process: ``python -m cnnlib train`` (the CLI, the
same code path users script against) is started in its own session, so it survives page
reloads, closed tabs and a restarted app server, and writes to the run store. Pages only read
run directories.

The trainer creates its run directory after loading the data and importing TensorFlow (a few
seconds), so a launch first returns a :class:`PendingJob`; the page polls :func:`resolve` until
the run appears or the process has exited with an ``error:`` line.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cnnlib.errors import CnnlibError
from cnnlib.runs import Run, RunStore

#: The one-click demo: small, fast, and good enough to show live curves on a CPU.
DEMO = {
    "name": "digits-demo",
    "data": {"source": "digits"},
    "model": {"arch": "cifar_fast"},
    "train": {"epochs": 8},
}
PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class PendingJob:
    """A launched trainer whose run directory may not exist yet."""

    name: str
    pid: int
    log: str
    runs_root: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cli_args(data: dict[str, Any], model: dict[str, Any], train: dict[str, Any]) -> list[str]:
    """The ``python -m cnnlib train`` options for a job (``None`` values are left to defaults)."""
    options: list[tuple[str, Any]] = [
        ("--data", data.get("source")),
        ("--image-size", "x".join(map(str, data["image_size"])) if data.get("image_size") else None),
        ("--channels", data.get("channels")),
        ("--val-fraction", data.get("val_fraction")),
        ("--test-fraction", data.get("test_fraction")),
        ("--max-per-class", data.get("max_per_class")),
        ("--arch", model.get("arch")),
        ("--width", model.get("width")),
        ("--dropout", model.get("dropout")),
        ("--epochs", train.get("epochs")),
        ("--batch-size", train.get("batch_size")),
        ("--optimizer", train.get("optimizer")),
        ("--lr", train.get("lr")),
        ("--schedule", train.get("schedule")),
        ("--augment", ",".join(train["augment"]) if train.get("augment") else None),
        ("--label-smoothing", train.get("label_smoothing")),
        ("--weight-decay", train.get("weight_decay")),
        ("--early-stopping", train.get("early_stopping")),
        ("--time-budget", train.get("time_budget_minutes")),
        ("--seed", train.get("seed", data.get("seed"))),
    ]
    args: list[str] = []
    for flag, value in options:
        if value is not None and value != "":
            args += [flag, str(value)]
    return args + ["--no-tensorboard"]


def launch(name: str | None, data: dict[str, Any], model: dict[str, Any], train: dict[str, Any]) -> PendingJob:
    """Start ``python -m cnnlib train`` as a separate session; returns at once."""
    store = RunStore()
    store.root.mkdir(parents=True, exist_ok=True)
    label = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in (name or f"{model.get('arch')}-{Path(str(data.get('source'))).name}"))[:32]
    unique = f"{label.strip('-') or 'run'}-{secrets.token_hex(2)}"
    logs = store.root / ".launch"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"{unique}.log"
    command = [sys.executable, "-m", "cnnlib", "train", *cli_args(data, model, train), "--runs", str(store.root), "--name", unique]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, arguments from validated widgets
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_DIR,
            env=env, start_new_session=True,
        )
    return PendingJob(name=unique, pid=process.pid, log=str(log_path), runs_root=str(store.root))


def _alive(pid: int) -> bool:
    try:
        # Reap our own child if it has exited, so it is not a zombie forever.
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve(job: PendingJob | dict[str, Any]) -> Run | None:
    """The job's run once its directory exists, else None while the trainer starts.

    Raises:
        CnnlibError: the trainer exited before creating a run (its ``error:`` line).
    """
    job = job if isinstance(job, PendingJob) else PendingJob(**job)
    root = Path(job.runs_root)
    if root.is_dir():
        for entry in root.iterdir():
            if job.name in entry.name and (entry / "run.json").exists():
                return RunStore(root).get(str(entry))
    if not _alive(job.pid):
        for entry in root.iterdir() if root.is_dir() else []:
            if job.name in entry.name and (entry / "run.json").exists():
                return RunStore(root).get(str(entry))
        raise CnnlibError(f"the training job did not start: {_last_error(Path(job.log))}")
    return None


def _last_error(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no log was written"
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    if errors:
        return errors[-1]
    tail = [line for line in lines if line.strip()][-1:]
    return tail[0][:300] if tail else "it exited without a message"


def summarize_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold ``progress.jsonl`` events into what the live panel shows.

    Returns a dict with ``epochs`` (epoch events in order), ``last_batch`` (latest batch event
    after the last epoch) and ``end`` (the end event or None).
    """
    epochs: list[dict[str, Any]] = []
    last_batch: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    for event in events:
        kind = event.get("event")
        if kind == "epoch":
            epochs.append(event)
            last_batch = None
        elif kind == "batch":
            last_batch = event
        elif kind == "end":
            end = event
    return {"epochs": epochs, "last_batch": last_batch, "end": end}
