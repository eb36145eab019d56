"""Renaming and deleting runs: the two changes a user makes to the run store by hand.

A run's id is its directory name, and other things point at it: a ``from_run`` run records
its base run's id, a run trained on a field set records that folder's path, job records and
the app's pickers remember it. So a rename never moves the directory: it sets the run's
display name, ``run.json``'s ``name``, which ``cnnlib.runs.run_name`` reads for every label.

Deleting is the one change that ends an id. It refuses while another run still needs the
run's files, stops a running job first (the trainer's own ``STOP`` file, then waits for the
process to end), and renames the directory to a hidden trash name before removing it
(``cnnlib.runs.discard_run_dir``), so no listing sees a half-deleted run.

Messages are one sentence a browser user can act on: no command-line flags in them.
This module imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from pathlib import Path
from typing import Any

from cnnlib.errors import ConfigError, RunError
from cnnlib.runs import BACKUP_DIR, CONFIG_FILE, RUN_FILE, Run, RunStore, discard_run_dir, pid_alive, run_name

MAX_NAME_LENGTH = 80
#: How long ``delete_run`` waits for a stopped job to save its model and exit.
STOP_TIMEOUT_SECONDS = 120.0
_POLL_SECONDS = 0.2


def check_run_name(name: str) -> str:
    """A run name as it will be stored: stripped, one line, at most 80 characters.

    Raises:
        ConfigError: The name is empty, holds a line break or control character, or is too long.
    """
    if not isinstance(name, str):
        raise ConfigError(f"a run name must be text. Received: {type(name).__name__}")
    cleaned = name.strip()
    if not cleaned:
        raise ConfigError("a run name cannot be empty; type a few words that say what the run is")
    if any(unicodedata.category(char) == "Cc" for char in cleaned):
        raise ConfigError("a run name must fit on one line; remove the line break or tab from it")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ConfigError(f"a run name can be at most {MAX_NAME_LENGTH} characters; this one has {len(cleaned)}")
    return cleaned


def rename_run(run: str | os.PathLike[str] | Run, new_name: str,
               runs_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Give a run a new display name; its id and directory stay as they are.

    Safe while the run trains: ``Run.update_info`` merges under a lock the trainer shares.

    Args:
        run: A run id, a run directory, or a ``Run``.
        new_name: The name to show (see ``check_run_name``).
        runs_dir: The run store root (default ``$CNNLIB_RUNS`` or ``./runs``).

    Returns:
        The run's info after the rename.

    Raises:
        ConfigError: A bad name.
        RunError: An unknown or damaged run, or a bundled (read-only) one.
    """
    name = check_run_name(new_name)
    handle = _resolve(run, runs_dir)
    if handle.read_only:
        raise RunError(f"run {run_name(handle.info())!r} ships with cnnlib and is read-only, so it cannot be renamed")
    handle.update_info(name=name)
    return handle.info()


def runs_needing(run: Run, runs_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Why other runs still need ``run``'s files, one phrase per run (empty: none do).

    A run trained on this run's field photos reads them again whenever it is evaluated; a
    ``from_run`` run started from it rebuilds its base from it while its training can
    still resume (it has a ``backup/``). A finished ``from_run`` model holds its base.
    """
    own = run.path.resolve()
    needs: list[str] = []
    for info in RunStore(runs_dir, include_bundled=False).list():
        other = Path(info["path"])
        if other.resolve() == own or info.get("status") == "damaged":
            continue
        config = _config_or_none(other)
        if config is None:
            continue
        extra = config.get("data", {}).get("extra_train") or []
        if any(Path(folder).expanduser().resolve().is_relative_to(own) for folder in extra):
            needs.append(f"{run_name(info)!r} trained on its field photos and reads them when it is evaluated")
        model = config.get("model", {})
        if model.get("arch") == "from_run" and _names_run(str(model.get("weights") or ""), run) \
                and (other / BACKUP_DIR).is_dir():
            needs.append(f"{run_name(info)!r} started from it and can still resume its training")
    return needs


def delete_refusal(run: str | os.PathLike[str] | Run, runs_dir: str | os.PathLike[str] | None = None) -> str | None:
    """Why ``run`` cannot be deleted, as one sentence, or None when it can.

    Pages show it instead of a Delete button; ``delete_run`` raises it.

    Raises:
        RunError: An unknown run.
    """
    handle = _resolve(run, runs_dir, allow_damaged=True)
    return _refusal(handle, run_name(_info_or_damaged(handle)), runs_dir)


def _refusal(run: Run, name: str, runs_dir: str | os.PathLike[str] | None) -> str | None:
    if run.read_only:
        return f"run {name!r} ships with cnnlib and cannot be deleted; every page can fall back on it"
    needs = runs_needing(run, runs_dir)
    if needs:
        return f"run {name!r} cannot be deleted while other runs need it: {'; '.join(needs)}. Delete those runs first"
    return None


def delete_run(run: str | os.PathLike[str] | Run, runs_dir: str | os.PathLike[str] | None = None,
               stop_timeout: float = STOP_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Delete a run from the store: stop it if it trains, then remove its directory and job record.

    A damaged run (unreadable ``run.json``) can be deleted by its id too.

    Args:
        run: A run id, a run directory, or a ``Run``.
        runs_dir: The run store root (default ``$CNNLIB_RUNS`` or ``./runs``).
        stop_timeout: Seconds to wait for a running job to save its model and exit.

    Returns:
        ``{"deleted": id, "name": ..., "path": ..., "stopped": bool}`` (``stopped``: it was
        training and was stopped first).

    Raises:
        RunError: An unknown or bundled run, one other runs still need, or a job that did
            not exit within ``stop_timeout`` (it was asked to stop; nothing was deleted).
    """
    handle = _resolve(run, runs_dir, allow_damaged=True)
    info = _info_or_damaged(handle)
    name = run_name(info)
    refusal = _refusal(handle, name, runs_dir)
    if refusal:
        raise RunError(refusal)
    stopped = info.get("status") == "running"
    if stopped:
        _stop_and_wait(handle, info.get("pid"), name, stop_timeout)
    discard_run_dir(handle.path)
    _forget_job(handle.path)
    return {"deleted": handle.id, "name": name, "path": str(handle.path), "stopped": stopped}


def _stop_and_wait(run: Run, pid: Any, name: str, timeout: float) -> None:
    """Ask the trainer to stop (it keeps checking for ``STOP``) and wait for its process to exit.

    The process, not the status, is waited for: after recording ``stopped`` the trainer still
    writes its last progress event, and a directory moved away under it would be recreated.
    """
    run.request_stop()
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            raise RunError(f"run {name!r} was asked to stop but is still saving its model after {timeout:.0f} s; "
                           "nothing was deleted, try again in a minute")
        time.sleep(_POLL_SECONDS)


def _forget_job(run_path: Path) -> None:
    """Remove the launcher's record, request and log of the run's job (``<store>/.jobs/<id>.*``).

    A record left behind would read as a job that died before creating its run. Imported
    here: the training package is slow to import, and renaming or listing never needs it.
    """
    from cnnlib.training.launcher import JOBS_DIR, REQUEST_SUFFIX

    jobs = run_path.parent / JOBS_DIR
    for suffix in (".json", REQUEST_SUFFIX, ".log"):
        (jobs / f"{run_path.name}{suffix}").unlink(missing_ok=True)


def _resolve(run: str | os.PathLike[str] | Run, runs_dir: str | os.PathLike[str] | None,
             allow_damaged: bool = False) -> Run:
    if isinstance(run, Run):
        return run
    store = RunStore(runs_dir)
    try:
        return store.get(run)
    except RunError:
        # A damaged run is listed (by id and path); deleting is how a user gets rid of it. Only
        # a directory directly in the store qualifies, never an arbitrary one elsewhere.
        text = str(run)
        path = Path(text) if os.sep in text else store.root / text
        inside = path.is_dir() and path.resolve().parent == store.root.resolve()
        if allow_damaged and inside and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", path.name):
            return Run(path)
        raise


def _info_or_damaged(run: Run) -> dict[str, Any]:
    try:
        return run.info()
    except RunError:
        return {"id": run.id, "status": "damaged"}


def _config_or_none(path: Path) -> dict[str, Any] | None:
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def _names_run(reference: str, run: Run) -> bool:
    """Whether a recorded run reference (an id or a directory) is ``run``."""
    if not reference:
        return False
    if reference == run.id:
        return True
    path = Path(reference).expanduser()
    return (path / RUN_FILE).exists() and path.resolve() == run.path.resolve()
