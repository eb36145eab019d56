"""Start and watch background training jobs through the core's launcher.

Training never runs inside the Streamlit process: the core starts ``python -m cnnlib train``
as its own session (it survives reloads, closed tabs and server restarts) writing to the run
store, and the pages only read the run directory.
"""

from __future__ import annotations

from typing import Any

from cnnlib.runs import Run

#: The one-click demo: small, fast, and good enough to show live curves on a CPU.
DEMO = {
    "name": "digits-demo",
    "data": {"source": "digits"},
    "model": {"arch": "simple_cnn"},
    "train": {"epochs": 8},
}


def launch(name: str | None, data: dict[str, Any], model: dict[str, Any], train: dict[str, Any]) -> Run:
    """Start a training job in the background and return its run (status ``running``)."""
    from cnnlib.training import launch_training

    return launch_training(name=name, data=data, model=model, train=train)


def summarize_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold ``progress.jsonl`` events into what the live panel shows.

    Returns a dict with ``start`` (the start event), ``epochs`` (epoch events in order),
    ``last_batch`` (latest batch event after the last epoch), ``end`` (end event or None).
    """
    start: dict[str, Any] = {}
    epochs: list[dict[str, Any]] = []
    last_batch: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    for event in events:
        kind = event.get("event")
        if kind == "start":
            start = event
        elif kind == "epoch":
            epochs.append(event)
            last_batch = None
        elif kind == "batch":
            last_batch = event
        elif kind == "end":
            end = event
    return {"start": start, "epochs": epochs, "last_batch": last_batch, "end": end}
