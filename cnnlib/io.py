"""Atomic file writes.

A crash or a kill in the middle of a write must never leave a half-written
file where a reader (another process listing runs, the app) would take it for
a good one. Every writer here writes to a temporary file in the same
directory, flushes it to disk, and renames it over the target: readers see
the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _replace_atomically(path: str | os.PathLike[str], suffix: str = ".tmp", exclusive: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On any error the temporary file is removed and ``path`` keeps its old content. With
    ``exclusive`` the finished file is hard-linked to ``path`` instead of renamed: the link
    fails with ``FileExistsError`` when ``path`` exists, so two writers never replace each other.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, target)
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so readers never see a partial file."""
    with _replace_atomically(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_create_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a new file ``path`` atomically, never replacing an existing one.

    Raises:
        FileExistsError: ``path`` exists already; it is left untouched.
    """
    with _replace_atomically(path, exclusive=True) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays appear throughout metrics; JSON has no type for them.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def atomic_save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a Keras model to ``path`` (a ``.keras`` file) atomically.

    Keras insists on the ``.keras`` suffix, so the temporary file keeps it.
    """
    with _replace_atomically(path, suffix=".keras") as tmp:
        model.save(tmp)
    return Path(path)
