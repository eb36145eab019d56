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
