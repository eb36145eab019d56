"""User-facing errors.

Every problem a user can cause (a bad path, a corrupt image, an unknown
architecture, an out-of-range hyperparameter) is raised as a ``CnnlibError``
whose message is one line saying what was expected and what was received.
The CLI prints it as ``error: <message>`` and exits 2; the app shows it with
``st.error``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class CnnlibError(Exception):
    """A problem caused by the user's input, explained in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class DataError(CnnlibError):
    """A dataset or image could not be read or is unusable."""


class ConfigError(CnnlibError):
    """A configuration value (architecture, hyperparameter) is invalid."""


class RunError(CnnlibError):
    """A run is unknown, damaged, or in a state that forbids the request."""


def reject_unknown_keys(data: Mapping[str, Any], known: Iterable[str], what: str) -> None:
    """Refuse a saved or hand-written dict with keys its dataclass does not have.

    Rejected rather than ignored, so a typo (``"dropuot"``) cannot silently fall back to
    the default.

    Args:
        data: The dict about to become a dataclass.
        known: The dataclass's field names.
        what: What the dict is, in words (``"data config"``).

    Raises:
        ConfigError: naming the unknown keys and the known ones.
    """
    known = sorted(known)
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown {what} keys {unknown}; expected any of {known}. Received: keys={sorted(data)}")
