"""Exclusion lists: the example ids a training request leaves out, chosen from audit findings.

A list is saved as a text file, one id per line (``#`` starts a comment), so a person can read
and edit it; ``python -m cnnlib train --exclude FILE`` and ``DataConfig.exclude`` take it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from cnnlib.audit.findings import KINDS, Finding
from cnnlib.errors import ConfigError
from cnnlib.io import atomic_write_text


def exclusions_for(findings: Iterable[Finding], kinds: Iterable[str] | None = None) -> tuple[str, ...]:
    """The ids that excluding these findings (of ``kinds``, default all) leaves out, sorted."""
    wanted = set(KINDS if kinds is None else kinds)
    unknown = sorted(wanted - set(KINDS))
    if unknown:
        raise ConfigError(f"unknown finding kind(s) {unknown}; expected some of: {', '.join(KINDS)}")
    return tuple(sorted({path for finding in findings if finding.kind in wanted for path in finding.exclude}))


def write_exclusions(path: str | os.PathLike[str], ids: Iterable[str], source: str = "") -> Path:
    """Save an exclusion list atomically (one id per line, with a header saying what it is)."""
    header = f"# cnnlib exclusion list{f' for {source}' if source else ''}: one example id per line\n"
    return atomic_write_text(path, header + "".join(f"{item}\n" for item in sorted(set(ids))))


def read_exclusions(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Read an exclusion list: the text format above, a JSON list, or an audit's JSON (its ``exclude``s).

    Raises:
        ConfigError: the file cannot be read or holds something else.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the exclusion list {str(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the exclusion list {str(path)!r} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if isinstance(data, dict) and isinstance(data.get("findings"), list):
            data = [item for finding in data["findings"] for item in finding.get("exclude", [])]
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise ConfigError(f"the exclusion list {str(path)!r} must be a list of example ids")
        return tuple(sorted(set(data)))
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(sorted({line for line in lines if line}))
