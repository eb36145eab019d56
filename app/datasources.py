"""Where the app may read image folders from: the configured data roots, nothing else.

``CNNLIB_DATA_ROOTS`` is a list of directories separated by ``os.pathsep``; by default
``./data`` and ``../shared/datasets`` relative to the project. A folder a user names is
resolved (symlinks and ``..`` followed) and must stay inside one of them, so the app never
browses the whole disk. The app writes the user's own data (camera captures) only into
``writable_root()``, the first of them it may write to.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from cnnlib.errors import DataError

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _configured_roots() -> list[Path]:
    """Every configured data root, resolved, in order, whether it exists or not."""
    raw = os.environ.get("CNNLIB_DATA_ROOTS")
    entries = raw.split(os.pathsep) if raw else ["data", "../shared/datasets"]
    roots: list[Path] = []
    for entry in entries:
        if not entry.strip():
            continue
        path = Path(entry).expanduser()
        if not path.is_absolute():
            path = PROJECT_DIR / path
        path = path.resolve()
        if path not in roots:
            roots.append(path)
    return roots


def data_roots() -> list[Path]:
    """The configured data roots that exist, resolved."""
    return [root for root in _configured_roots() if root.is_dir()]


def writable_root() -> Path | None:
    """Where the app writes the user's data (camera captures): the first root it may write to.

    A configured root that does not exist yet counts when the app could create it (its
    nearest existing parent is writable), so a fresh checkout captures into ``./data``; the
    writer creates it. None when every root is read-only (e.g. only a shared dataset folder).
    """
    for root in _configured_roots():
        existing = root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
            return root
    return None


def resolve_in_roots(root: Path, relative: str) -> Path:
    """``root / relative`` resolved, refusing anything outside the configured roots.

    Raises:
        DataError: the path leaves the roots, or is not a directory.
    """
    roots = data_roots()
    root = Path(root).resolve()
    if root not in roots:
        raise DataError(f"{str(root)!r} is not a configured data root; expected one of: {', '.join(map(str, roots)) or 'none'}. Received: root={str(root)!r}")
    target = (root / relative.strip().lstrip("/")).resolve() if relative.strip() else root
    if not any(target == r or target.is_relative_to(r) for r in roots):
        raise DataError(f"folders must stay inside the data roots ({', '.join(map(str, roots))}). Received: path={relative!r}")
    if not target.is_dir():
        raise DataError(f"no such folder under {str(root)!r}; expected a folder of class subfolders. Received: path={relative!r}")
    return target


def dataset_folders(max_depth: int = 2) -> list[Path]:
    """Folders under the roots that look like image datasets (class subfolders or train/test)."""
    found: list[Path] = []

    def visit(folder: Path, depth: int) -> None:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        names = {c.name.lower() for c in children}
        if "train" in names or len(children) >= 2 and depth > 0:
            found.append(folder)
            return
        if depth < max_depth:
            for child in children:
                visit(child, depth + 1)

    for root in data_roots():
        visit(root, 0)
    return found


def uploads_dir() -> Path:
    """Where uploaded zips are kept on the server (under the cnnlib cache)."""
    return Path(os.environ.get("CNNLIB_CACHE") or Path.home() / ".cache" / "cnnlib") / "uploads"


_UPLOAD_NAME = re.compile(r"^(?P<stem>.+)-[0-9a-f]{16}\.zip$")


def source_label(source: str | None) -> str:
    """A data source as a person names it: 'digits', 'cifar10' (a folder), 'my_classes.zip (uploaded)'.

    Uploads are stored under a content-hashed name in the server's cache; neither that path nor
    the hash means anything to the person who uploaded the zip.
    """
    if not source:
        return "-"
    path = Path(str(source))
    if len(path.parts) == 1 and not path.suffix:
        return str(source)  # a built-in name
    match = _UPLOAD_NAME.match(path.name)
    if match and path.parent.name == uploads_dir().name:
        return f"{match.group('stem')}.zip (uploaded)"
    return path.name or str(source)


def save_upload(data: bytes, name: str) -> Path:
    """Store an uploaded zip under the cnnlib cache, named by its content hash.

    The same zip uploaded twice maps to the same file, so the core's extraction cache is
    reused instead of filling the disk.
    """
    cache = uploads_dir()
    cache.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in Path(name).stem)[:40] or "upload"
    path = cache / f"{stem}-{digest}.zip"
    if not path.exists():
        from cnnlib.io import atomic_write_bytes

        atomic_write_bytes(path, data)
    return path


def split_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A loaded dataset's split record in words, one ``(what, value)`` row each, for the Data page."""
    method = str(record.get("method") or "-")
    words = {"stratified": "carved at random, the same share of every class",
             "given": "as the folders give them (train/, val/, test/)"}.get(method, method)
    rows = [("how", words), ("seed", str(record.get("seed", "-")))]
    if "given" not in method or "carved" in method:
        rows.append(("validation share", f"{float(record.get('val_fraction') or 0):.0%}"))
    if method == "stratified":
        rows.append(("test share", f"{float(record.get('test_fraction') or 0):.0%}"))
    if record.get("max_per_class"):
        rows.append(("at most per class", f"{int(record['max_per_class']):,}"))
    rows += [(f"{name} images", f"{int(count):,}") for name, count in (record.get("counts") or {}).items()]
    if record.get("excluded"):
        rows.append(("left out (audit)", f"{int(record['excluded']):,}"))
    return rows
