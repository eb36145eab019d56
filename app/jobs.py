"""Start and watch background training jobs through the core's launcher.

Training never runs inside the Streamlit process: ``cnnlib.training.launch_training`` starts
``python -m cnnlib train`` in its own session (it survives page reloads, closed tabs and a
restarted app server) and records the job under ``<runs>/.jobs/``, so every browser session
sees every job. Pages only read run directories and job records.
"""

from __future__ import annotations

from typing import Any

#: The one-click demo: the core's defaults on digits (``cnnlib.training.recipes``), as
#: ``python -m cnnlib train --data digits`` runs them; no TensorBoard logs for a demo.
DEMO = {
    "name": "digits-demo",
    "data": {"source": "digits"},
    "model": {},
    "train": {"tensorboard": False},
}


def launch(name: str | None, data: dict[str, Any], model: dict[str, Any], train: dict[str, Any]) -> Any:
    """Validate and start a job in the background; returns the core's ``Job`` at once.

    Raises:
        cnnlib.errors.ConfigError: a bad option, before anything starts.
    """
    from cnnlib.training.launcher import launch_training

    return launch_training(name, data, model, train)


def preparing_jobs() -> list[Any]:
    """Jobs whose trainer is still loading data (no run directory yet), from every session."""
    from cnnlib.training.launcher import list_jobs

    return [job for job in list_jobs() if job.run() is None and job.alive()]


def failed_before_start(run_ids: list[str]) -> list[tuple[str, str]]:
    """``(run_id, error)`` of the given jobs that died before creating their run."""
    from cnnlib.training.launcher import list_jobs

    wanted = set(run_ids)
    return [(job.run_id, job.error() or "it exited without a message") for job in list_jobs()
            if job.run_id in wanted and job.run() is None and not job.alive()]


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
