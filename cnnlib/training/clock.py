"""The clock a training reads: wall time, unless a caller hands it another.

A time budget ends training, plans the learning-rate schedule and counts the ETA down, so
all of them must read one clock. Tests use ``StepClock`` (time advances a fixed step per
reading), which makes a budgeted run do the same work on any machine. Timestamps written
into progress events stay wall time: they say when something happened, not how much of a
budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_source: Callable[[], float] = time.time


def now() -> float:
    """Seconds on the training clock (``time.time()`` unless ``use_clock`` replaced it)."""
    return _source()


_budget_start: float | None = None


def process_started() -> float:
    """When this process started, in ``time.time()`` seconds (from /proc; now() elsewhere)."""
    import os

    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return time.time()
    return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))


def start_budget_at_process_start() -> None:
    """Count a time budget from this process's start: its imports and data loading included.

    ``python -m cnnlib train`` calls it, so ``--time-budget 15`` means 15 minutes of the
    whole command; an in-process ``train()`` counts from its own call.
    """
    global _budget_start
    _budget_start = process_started()


def budget_started(training_start: float) -> float:
    """The clock time a time budget counts from, for a training that starts at ``training_start``."""
    if _budget_start is None or _source is not time.time:  # a test's clock knows no process
        return training_start
    return min(training_start, _budget_start)


@contextmanager
def use_clock(source: Callable[[], float]) -> Iterator[None]:
    """Make ``source`` the training clock inside the ``with`` block (one process, one training).

    Args:
        source: a function returning seconds, as ``time.time`` does.
    """
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous


class StepClock:
    """A clock that moves ``step`` seconds forward each time it is read.

    Training reads the clock a fixed number of times per batch, so under a ``StepClock``
    a time budget lasts a fixed number of batches whatever the machine's speed.

    Args:
        step: seconds added per reading.
        start: the first reading.
    """

    def __init__(self, step: float, start: float = 0.0) -> None:
        self.step = step
        self.seconds = start
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        self.seconds += self.step
        return self.seconds
