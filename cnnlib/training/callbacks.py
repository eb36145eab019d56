"""Callbacks that connect a training process to the run store.

The UI runs in another process, so progress flows through files in the run
directory, never through UI calls: ``progress.jsonl`` (appended, one JSON
object a line), ``history.csv`` (rewritten atomically each epoch) and the
best checkpoint (saved atomically). A ``STOP`` file written by anyone ends
training at the next batch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cnnlib.io import atomic_save_model, atomic_write_bytes, atomic_write_text
from cnnlib.training import clock
from cnnlib.training.schedules import current_lr


def _clean(value: Any) -> Any:
    """JSON-safe floats (NaN/inf become None)."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


class ProgressWriter:
    """Appends events to ``progress.jsonl``; each line is written in one call.

    A reader may see a line that is still being written; it skips any line
    without its trailing newline (see ``Run.progress_events``).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.time(), **{key: _clean(value) for key, value in fields.items()}}
        line = json.dumps(record, default=_clean) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()


class LiveProgress(keras.callbacks.Callback):
    """Reports batches, epochs, learning rate, ETA and a validation confusion matrix.

    Args:
        writer: where events go.
        epochs: planned epochs (for the ETA).
        steps_per_epoch: batches per epoch.
        val_images, val_labels: the validation split, for the confusion matrix.
        num_classes: size of the confusion matrix.
        predict: ``predict(model, images) -> probabilities``.
        batch_interval: minimum seconds between batch events (keeps the file small).
        on_event: optional in-process listener (the CLI's progress bar).
        deadline: wall-clock end of a time budget; the ETA counts down to it and
            ``epochs`` becomes the number of epochs that fit at the measured speed.
        answers_path: where each epoch's validation answers go (``Run.live_val_path``), so a
            click on a live confusion cell can show its images; None writes nothing.
    """

    def __init__(self, writer: ProgressWriter, epochs: int, steps_per_epoch: int, val_images: np.ndarray,
                 val_labels: np.ndarray, num_classes: int, predict: Callable[[Any, np.ndarray], np.ndarray],
                 batch_interval: float = 0.5, on_event: Callable[[dict[str, Any]], None] | None = None,
                 deadline: float | None = None, answers_path: Path | None = None) -> None:
        super().__init__()
        self.deadline = deadline
        self.answers_path = answers_path
        self.writer = writer
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.val_images = val_images
        self.val_labels = np.asarray(val_labels, dtype=np.int64)
        self.num_classes = num_classes
        self.predict = predict
        self.batch_interval = batch_interval
        self.on_event = on_event
        self._start = 0.0
        self._epoch_start = 0.0
        self._last_batch_event = 0.0
        self._epoch = 0
        self._steps_done_before = 0

    def _emit(self, event: str, **fields: Any) -> None:
        self.writer.write(event, **fields)
        if self.on_event is not None:
            self.on_event({"event": event, **fields})

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start = clock.now()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._epoch_start = clock.now()
        if not self._steps_done_before:
            self._steps_done_before = epoch * self.steps_per_epoch
            self._resumed_at = epoch

    def _eta(self, batch_done: int) -> float | None:
        now = clock.now()
        if self.deadline is not None:
            return max(0.0, self.deadline - now)
        elapsed = now - self._start
        done = (self._epoch - getattr(self, "_resumed_at", 0)) * self.steps_per_epoch + batch_done
        remaining = (self.epochs - self._epoch) * self.steps_per_epoch - batch_done
        if done <= 0:
            return None
        return elapsed / done * max(0, remaining)

    def _planned_epochs(self, batch_done: int) -> int:
        """The epoch count: the configured one, or under a time budget the epochs that fit."""
        if self.deadline is None:
            return self.epochs
        now = clock.now()
        done = (self._epoch - getattr(self, "_resumed_at", 0)) * self.steps_per_epoch + batch_done
        if done <= 0 or now <= self._start:
            return self.epochs
        steps_left = max(0.0, self.deadline - now) * done / (now - self._start)
        total_steps = self._epoch * self.steps_per_epoch + batch_done + steps_left
        return int(min(self.epochs, max(self._epoch + 1, math.ceil(total_steps / self.steps_per_epoch))))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = clock.now()
        if now - self._last_batch_event < self.batch_interval and batch + 1 < self.steps_per_epoch:
            return
        self._last_batch_event = now
        logs = logs or {}
        self._emit(
            "batch",
            epoch=self._epoch + 1,
            epochs=self._planned_epochs(batch + 1),
            batch=batch + 1,
            steps=self.steps_per_epoch,
            loss=logs.get("loss"),
            accuracy=logs.get("accuracy"),
            lr=current_lr(self.model.optimizer),
            elapsed=now - self._start,
            eta_seconds=self._eta(batch + 1),
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # Validate here, once per epoch, instead of through fit's validation_data:
        # the same probabilities give the confusion matrix and the val metrics,
        # and the scores written into ``logs`` (one dict shared by every callback
        # in turn) reach the history, the checkpoint and early stopping.
        logs = logs if logs is not None else {}
        probs = self.predict(self.model, self.val_images)
        predicted = np.argmax(probs, axis=1)
        picked = np.clip(probs[np.arange(len(self.val_labels)), self.val_labels], 1e-7, 1.0)
        logs["val_loss"] = float(-np.mean(np.log(picked)))
        logs["val_accuracy"] = float(np.mean(predicted == self.val_labels))
        confusion = np.bincount(
            self.val_labels * self.num_classes + predicted, minlength=self.num_classes * self.num_classes
        ).reshape(self.num_classes, self.num_classes)
        self._emit(
            "epoch",
            epoch=epoch + 1,
            epochs=self._planned_epochs(self.steps_per_epoch),
            loss=logs.get("loss"),
            accuracy=logs.get("accuracy"),
            val_loss=logs["val_loss"],
            val_accuracy=logs["val_accuracy"],
            lr=current_lr(self.model.optimizer),
            epoch_seconds=clock.now() - self._epoch_start,
            elapsed=clock.now() - self._start,
            eta_seconds=self._eta(self.steps_per_epoch),
            partial=bool(self.model.stop_training),
            confusion=confusion.tolist(),
        )
        if self.answers_path is not None:  # after the matrix: a reader may see it one epoch ahead, never behind
            self._write_answers(epoch + 1, predicted, probs.max(axis=1))


    def _write_answers(self, epoch: int, predicted: np.ndarray, confidence: np.ndarray) -> None:
        """The epoch's validation answers, atomically (the app reads them while the job runs)."""
        buffer = io.BytesIO()
        np.savez(buffer, epoch=np.int32(epoch), predicted=predicted.astype(np.int16),
                 confidence=confidence.astype(np.float16))
        atomic_write_bytes(self.answers_path, buffer.getvalue())


class HistoryWriter(keras.callbacks.Callback):
    """Keeps ``history.csv`` at one row per completed epoch, rewritten atomically.

    Rewriting (instead of appending like ``CSVLogger``) means a process killed
    between two files never leaves a duplicate or torn row, and a resumed run
    drops rows of epochs it is about to redo.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.rows = []
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as handle:
                self.rows = list(csv.DictReader(handle))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # On resume the backup restores epoch N: rows from N on are stale.
        self.rows = [row for row in self.rows if int(float(row.get("epoch", 0))) <= epoch]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row = {"epoch": epoch + 1}
        for key, value in sorted((logs or {}).items()):
            cleaned = _clean(value)
            row[key] = "" if cleaned is None else cleaned
        row["lr"] = current_lr(self.model.optimizer)
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        columns: list[str] = []
        for row in self.rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the best model so far, atomically (Keras' ModelCheckpoint writes in place)."""

    def __init__(self, path: Path, monitor: str = "val_accuracy") -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.mode_max = not monitor.endswith("loss")
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        value = float(value)
        if self.best is None or (value > self.best if self.mode_max else value < self.best):
            self.best = value
            self.best_epoch = epoch + 1
            atomic_save_model(self.model, self.path)


class StopFile(keras.callbacks.Callback):
    """Ends training at the next batch once ``path`` exists (a request from another process)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = str(path)
        self.requested = False

    def _check(self) -> None:
        if not self.requested and os.path.exists(self.path):
            self.requested = True
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._check()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._check()


class NaNGuard(keras.callbacks.Callback):
    """Stops at the first non-finite loss and remembers where (TerminateOnNaN says nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.where: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.where is None:
            self.where = f"epoch {self._epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True


class Deadline(keras.callbacks.Callback):
    """Stops at the first batch past a deadline on the training clock (the time budget's safety net).

    Args:
        deadline: the ``clock.now()`` time to stop at.
    """

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.hit = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if clock.now() >= self.deadline:
            self.hit = True
            self.model.stop_training = True


class EpochRecorder(keras.callbacks.Callback):
    """Calls ``record(epochs_done)`` after every completed epoch."""

    def __init__(self, record: Callable[[int], None]) -> None:
        super().__init__()
        self.record = record

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.record(epoch + 1)
