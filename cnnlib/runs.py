"""The run store: one directory per training run.

A run directory holds everything needed to rebuild, evaluate, explain and
export its model without the Python session that trained it (see
docs/DESIGN.md for the layout). Several processes use the store at once: the
trainer writes one run while the app and the CLI read and list others, so
every file is written atomically and a run is only *usable* once its final
``model.keras`` exists.

This module imports no TensorFlow: listing runs must be instant.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlib.errors import ConfigError, RunError
from cnnlib.io import atomic_write_json, read_json
from cnnlib.spec import DEFAULT_VIEWS, MIRRORED_VIEWS, InputSpec, spec_for

STATUSES = ("running", "completed", "stopped", "failed", "interrupted")
FINISHED_STATUSES = ("completed", "stopped", "failed", "interrupted")

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
SPEC_FILE = "spec.json"  # the run's InputSpec (cnnlib.spec); older runs derive it on read
FAMILIARITY_FILE = "familiarity.npz"  # the neighbour bank of its familiarity score (cnnlib.ood)
ENV_FILE = "environment.json"
MODEL_FILE = "model.keras"
CHECKPOINT_FILE = "checkpoint.keras"
HISTORY_FILE = "history.csv"
PROGRESS_FILE = "progress.jsonl"
LIVE_VAL_FILE = "live_val.npz"  # the latest epoch's validation answers, for the live confusion cells
STOP_FILE = "STOP"
LOG_FILE = "train.log"
EVALUATION_DIR = "evaluation"
EXPORTS_DIR = "exports"
BACKUP_DIR = "backup"
TENSORBOARD_DIR = "tensorboard"  # TensorBoard logs, when the run asked for them

_BUNDLED_RUNS_DIR = Path(__file__).resolve().parent.parent / "assets" / "runs"
TRASH_PREFIX = ".deleting-"  # a run being deleted: hidden (dot) so no listing sees it half gone


def default_runs_dir() -> Path:
    """``$CNNLIB_RUNS`` when set, else ``./runs``."""
    return Path(os.environ.get("CNNLIB_RUNS") or "runs")


def bundled_runs_dir() -> Path:
    """Read-only runs shipped with the project (the CIFAR-10 demo model)."""
    return Path(os.environ.get("CNNLIB_BUNDLED_RUNS") or _BUNDLED_RUNS_DIR)


def now_iso() -> str:
    """Current UTC time as an ISO-8601 string with seconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def pid_alive(pid: int | None) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def new_run_id(name: str | None, arch: str) -> str:
    """A fresh run id: time stamp, a label from ``name`` (or ``arch``), and 4 random hex digits."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    label = re.sub(r"[^A-Za-z0-9_\-]+", "-", name or arch).strip("-")[:40] or "run"
    return f"{stamp}-{label}-{secrets.token_hex(2)}"


def run_name(info: dict[str, Any]) -> str:
    """The name a run is shown by: its ``run.json`` name (set at training, changed by a
    rename), else its id (runs that never had one).

    Args:
        info: A run's info, as ``Run.info()`` or ``RunStore.list()`` give it.
    """
    name = info.get("name")
    return str(name).strip() if isinstance(name, str) and name.strip() else str(info.get("id"))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory`` itself (no lock file) while the body runs.

    ``run.json`` is read, merged and rewritten by the trainer (every epoch) and by a rename
    from another process; without the lock one of two overlapping merges would be lost.
    Deleting takes the same lock to move the directory away, so a writer that waited for it
    finds the directory gone instead of recreating it as a stub.

    Raises:
        FileNotFoundError: ``directory`` is gone, before or while waiting for the lock.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the atomic replace still keeps the file whole
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(directory))
        except FileNotFoundError:
            same = False
        if not same:  # moved to the trash while this process waited
            raise FileNotFoundError(directory)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def discard_run_dir(path: Path) -> None:
    """Remove a run directory so no reader ever sees it half deleted.

    The directory is first renamed, in one atomic step, to a hidden trash name beside it
    (``.deleting-<id>-<hex>``, which listings skip), then removed; trash left by a crash
    before the removal finished is swept at the next deletion.
    """
    trash = path.with_name(f"{TRASH_PREFIX}{path.name}-{secrets.token_hex(2)}")
    with _locked(path):
        os.replace(path, trash)
    for leftover in sorted(path.parent.glob(f"{TRASH_PREFIX}*")):
        shutil.rmtree(leftover, ignore_errors=True)


@dataclass
class Run:
    """A handle on one run directory. Cheap to create; reads files lazily."""

    path: Path
    read_only: bool = False

    @property
    def id(self) -> str:
        return self.path.name

    # ---- metadata -------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """``run.json`` with the live status (a dead trainer reads ``interrupted``)."""
        try:
            info = read_json(self.path / RUN_FILE)
        except FileNotFoundError as exc:
            raise RunError(f"run directory {str(self.path)!r} has no {RUN_FILE}; it is not a cnnlib run") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(f"run {self.id!r} is damaged: {RUN_FILE} is not valid JSON") from exc
        if not isinstance(info, dict):
            raise RunError(f"run {self.id!r} is damaged: {RUN_FILE} is not a JSON object")
        info.setdefault("id", self.id)
        if info.get("status") == "running" and not pid_alive(info.get("pid")):
            info["status"] = "interrupted"
        info["path"] = str(self.path)
        info["bundled"] = self.read_only
        return info

    @property
    def status(self) -> str:
        return str(self.info().get("status"))

    def update_info(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into ``run.json`` atomically, one writer at a time.

        Raises:
            RunError: The run is bundled, or its directory is gone (deleted meanwhile).
        """
        self.check_writable()
        if not self.path.is_dir():
            # Writing would recreate the directory as a stub holding only run.json.
            raise RunError(f"run {self.id!r} no longer exists (it was deleted)")
        try:
            with _locked(self.path):
                try:
                    info = read_json(self.path / RUN_FILE)
                except FileNotFoundError:
                    info = {"id": self.id}
                info.update(fields)
                info["updated"] = now_iso()
                atomic_write_json(self.path / RUN_FILE, info)
        except FileNotFoundError:
            if self.path.is_dir():
                raise
            raise RunError(f"run {self.id!r} no longer exists (it was deleted)") from None
        return info

    def config(self) -> dict[str, Any]:
        """``config.json``: the model, training and data configs."""
        return self._read_required(CONFIG_FILE)

    def data_info(self) -> dict[str, Any]:
        """``data.json``: class names, input size, split record, summary."""
        return self._read_required(DATA_FILE)

    def class_names(self) -> list[str]:
        """The output classes, in the model's order (from the input spec)."""
        return list(self.input_spec().class_names)

    def input_spec(self) -> InputSpec:
        """What the run's model takes and how it answers (``spec.json``).

        Runs trained before ``spec.json`` existed (the bundled demo among them) derive it
        on read from their model config, train config and class names, the facts it was
        made of, so old and new runs answer alike.
        """
        path = self.path / SPEC_FILE
        try:
            if path.exists():
                return InputSpec.from_dict(read_json(path))
            config = self.config()
            train = config.get("train", {})
            views = train.get("test_views") or (MIRRORED_VIEWS if train.get("tta_flip") else DEFAULT_VIEWS)
            return spec_for(config["model"]["input_shape"], self.data_info()["class_names"], views)
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            raise RunError(f"run {self.id!r} is damaged: its input spec cannot be read ({type(exc).__name__})") from exc
        except ConfigError as exc:
            raise RunError(f"run {self.id!r} is damaged: {exc}") from exc

    def _read_required(self, name: str) -> dict[str, Any]:
        try:
            value = read_json(self.path / name)
        except FileNotFoundError as exc:
            raise RunError(f"run {self.id!r} is damaged or unfinished: {name} is missing") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(f"run {self.id!r} is damaged: {name} is not valid JSON") from exc
        return value

    def check_writable(self) -> None:
        """Raise ``RunError`` for a bundled read-only run: no writer may change it."""
        if self.read_only:
            raise RunError(f"run {self.id!r} is a bundled read-only run; copy it into the run store to change it")

    # ---- files ----------------------------------------------------------
    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def progress_path(self) -> Path:
        return self.path / PROGRESS_FILE

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def live_val_path(self) -> Path:
        return self.path / LIVE_VAL_FILE

    def live_val_answers(self) -> dict[str, Any] | None:
        """The latest epoch's validation answers: ``epoch``, ``predicted`` and ``confidence`` arrays.

        None before the first epoch, or when the file is unreadable (a job of an older version).
        """
        import numpy as np

        try:
            with np.load(self.live_val_path) as saved:
                return {"epoch": int(saved["epoch"]), "predicted": saved["predicted"].astype(np.int64),
                        "confidence": saved["confidence"].astype(np.float32)}
        except (OSError, KeyError, ValueError):
            return None

    @property
    def exports_dir(self) -> Path:
        return self.path / EXPORTS_DIR

    @property
    def evaluation_dir(self) -> Path:
        return self.path / EVALUATION_DIR

    def has_model(self) -> bool:
        """True when a finished model (or at least a best checkpoint) exists."""
        return self.model_path.exists() or self.checkpoint_path.exists()

    def best_model_path(self) -> Path:
        """The final model, else the best checkpoint of an unfinished run."""
        if self.model_path.exists():
            return self.model_path
        if self.checkpoint_path.exists():
            return self.checkpoint_path
        raise RunError(f"run {self.id!r} has no saved model yet (status: {self.status})")

    def load_model(self) -> Any:
        """Load the run's model with plain ``keras.saving.load_model``."""
        path = self.best_model_path()
        import keras

        try:
            return keras.saving.load_model(path, compile=False)
        except Exception as exc:  # noqa: BLE001 - any load failure means a damaged file
            raise RunError(f"run {self.id!r} is damaged: could not load {path.name} ({type(exc).__name__})") from exc

    def familiarity(self) -> Any:
        """The run's ``cnnlib.ood.NeighbourBank``, or None before it is fitted.

        Raises:
            RunError: The file exists but cannot be read.
        """
        path = self.path / FAMILIARITY_FILE
        if not path.exists():
            return None
        from cnnlib.ood import load_bank

        try:
            return load_bank(path)
        except (OSError, ValueError, KeyError) as exc:
            raise RunError(f"run {self.id!r} is damaged: {FAMILIARITY_FILE} cannot be read ({type(exc).__name__})") from exc

    def history(self) -> list[dict[str, float]]:
        """Rows of ``history.csv`` (one per completed epoch), numbers as floats."""
        if not self.history_path.exists():
            return []
        rows: list[dict[str, float]] = []
        with open(self.history_path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                parsed: dict[str, float] = {}
                for key, value in row.items():
                    try:
                        parsed[key] = float(value)
                    except (TypeError, ValueError):
                        continue
                rows.append(parsed)
        return rows

    def progress_events(self) -> list[dict[str, Any]]:
        """Events from ``progress.jsonl``; a line still being written is skipped."""
        if not self.progress_path.exists():
            return []
        events = []
        with open(self.progress_path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events

    def evaluation(self, split: str = "test") -> dict[str, Any] | None:
        """A saved evaluation result, or None when the split was not evaluated."""
        path = self.evaluation_dir / f"{split}.json"
        return read_json(path) if path.exists() else None

    def exports(self) -> dict[str, dict[str, Any]]:
        """Verification reports of the exports made so far, by format."""
        reports: dict[str, dict[str, Any]] = {}
        if self.exports_dir.is_dir():
            for report in sorted(self.exports_dir.glob("*.json")):
                try:
                    reports[report.stem] = read_json(report)
                except (OSError, json.JSONDecodeError):
                    continue
        return reports

    def request_stop(self) -> None:
        """Ask the trainer (another process) to stop at the next batch."""
        self.check_writable()
        (self.path / STOP_FILE).write_text(now_iso() + "\n", encoding="utf-8")

    def stop_requested(self) -> bool:
        return (self.path / STOP_FILE).exists()


class RunStore:
    """All runs under one root directory, plus the bundled read-only runs."""

    def __init__(self, root: str | os.PathLike[str] | None = None, include_bundled: bool = True) -> None:
        self.root = Path(root) if root is not None else default_runs_dir()
        self.include_bundled = include_bundled

    def _roots(self) -> list[tuple[Path, bool]]:
        roots = [(self.root, False)]
        bundled = bundled_runs_dir()
        if self.include_bundled and bundled.is_dir() and bundled.resolve() != self.root.resolve():
            roots.append((bundled, True))
        return roots

    def list(self) -> list[dict[str, Any]]:
        """Every run's info, newest first. Damaged runs are listed as ``damaged``."""
        infos: list[dict[str, Any]] = []
        for root, read_only in self._roots():
            if not root.is_dir():
                continue
            for entry in root.iterdir():
                if not entry.is_dir() or entry.name.startswith("."):
                    continue
                run = Run(entry, read_only=read_only)
                try:
                    info = run.info()
                except RunError as exc:
                    if not (entry / RUN_FILE).exists() and not any(entry.iterdir()):
                        continue
                    info = {"id": entry.name, "status": "damaged", "error": str(exc), "path": str(entry), "bundled": read_only}
                info["has_model"] = run.has_model()
                infos.append(info)
        infos.sort(key=lambda item: str(item.get("created", "")), reverse=True)
        return infos

    def get(self, run: str | os.PathLike[str]) -> Run:
        """A run by id (in this store or bundled) or by directory path."""
        text = str(run)
        candidate = Path(text)
        if candidate.is_dir() and (os.sep in text or text.startswith(".") or not (self.root / text).is_dir()):
            handle = Run(candidate.resolve(), read_only=self._is_bundled(candidate))
            handle.info()
            return handle
        for root, read_only in self._roots():
            path = root / text
            if re.fullmatch(r"[A-Za-z0-9_.\-]+", text) and path.is_dir():
                handle = Run(path, read_only=read_only)
                handle.info()
                return handle
        known = [item["id"] for item in self.list()][:10]
        hint = f"; known runs: {', '.join(known)}" if known else f"; the store {str(self.root)!r} has no runs"
        raise RunError(f"unknown run {text!r}{hint}. Received: run={text!r}")

    def _is_bundled(self, path: Path) -> bool:
        bundled = bundled_runs_dir()
        try:
            return bundled.is_dir() and path.resolve().is_relative_to(bundled.resolve())
        except OSError:
            return False

    def new_run_dir(self, name: str | None, arch: str, run_id: str | None = None) -> Run:
        """Create a fresh, uniquely named run directory (safe across processes).

        Args:
            name: a label that goes into the generated id.
            arch: the label when there is no name.
            run_id: use exactly this id (a launcher picked it); it must be new.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        if run_id is not None:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,120}", run_id):
                raise RunError(f"a run id may hold letters, digits, '.', '_' and '-'. Received: run_id={run_id!r}")
            try:
                (self.root / run_id).mkdir()
            except FileExistsError:
                raise RunError(f"run {run_id!r} already exists; choose another id") from None
            return Run(self.root / run_id)
        while True:
            path = self.root / new_run_id(name, arch)
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return Run(path)

    def delete(self, run: str) -> None:
        """Delete a run. A running run must be stopped first."""
        handle = self.get(run)
        handle.check_writable()
        if handle.status == "running":
            raise RunError(f"run {handle.id!r} is still running; stop it before deleting it")
        discard_run_dir(handle.path)
