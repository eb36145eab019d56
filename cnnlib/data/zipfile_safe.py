"""Extracting user-supplied zip files without trusting them.

A zip can name ``../../.bashrc`` or ``/etc/passwd``, hold symlinks pointing
anywhere, or claim 1 KB in its header and inflate to terabytes. Every name is
checked before anything is written, sizes are counted as bytes actually come
out of the decompressor, and the cache copy is made by extracting to a temp
folder and renaming it into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from cnnlib.errors import DataError

MAX_TOTAL_BYTES = 2 * 1024**3
MAX_FILES = 200_000
_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_name(name: str, zip_name: str) -> list[str]:
    """The safe relative parts of an entry name, or ``DataError``."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or _DRIVE.match(normalized):
        raise DataError(f"{zip_name} holds an absolute path, refusing to extract. Received: entry {name!r}")
    parts = [part for part in normalized.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise DataError(f"{zip_name} holds a path leaving the folder ('..'), refusing to extract. Received: entry {name!r}")
    if any("\x00" in part for part in parts):
        raise DataError(f"{zip_name} holds a malformed entry name. Received: entry {name!r}")
    return parts


def _check_type(info: zipfile.ZipInfo, zip_name: str) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise DataError(f"{zip_name} holds a symlink, refusing to extract. Received: entry {info.filename!r}")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise DataError(f"{zip_name} holds a special file, refusing to extract. Received: entry {info.filename!r}")


def safe_extract_zip(
    zip_path: str | os.PathLike[str],
    target_dir: str | os.PathLike[str],
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_files: int = MAX_FILES,
) -> Path:
    """Extract a zip into ``target_dir``, refusing anything unsafe.

    Rejects absolute paths, ``..`` components, symlinks and special files
    before writing anything; counts files and decompressed bytes while
    extracting (header sizes are not trusted). On any failure, what this call
    wrote is removed.

    Args:
        zip_path: the archive.
        target_dir: folder to extract into (created; must be empty if it exists).
        max_total_bytes: limit on the decompressed total.
        max_files: limit on the number of files.

    Returns:
        ``target_dir`` as a ``Path``.

    Raises:
        DataError: unsafe, corrupt, encrypted, or too large archive.
    """
    zip_path = Path(zip_path)
    target = Path(target_dir)
    name = zip_path.name
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{zip_path} is not a readable zip file: {exc}") from None
    with archive:
        plan: list[tuple[zipfile.ZipInfo, list[str]]] = []
        for info in archive.infolist():
            parts = _check_name(info.filename, name)
            _check_type(info, name)
            if not parts or parts[0] == "__MACOSX":
                continue
            plan.append((info, parts))
        files = sum(1 for info, _ in plan if not info.is_dir())
        if files > max_files:
            raise DataError(f"{name} holds too many files (limit {max_files:,}). Received: {files:,} files")
        if target.exists() and any(target.iterdir()):
            raise DataError(f"extraction target must be empty: {target}")
        created = not target.exists()
        target.mkdir(parents=True, exist_ok=True)
        try:
            _extract(archive, plan, target.resolve(), name, max_total_bytes, max_files)
        except BaseException:
            if created:
                shutil.rmtree(target, ignore_errors=True)
            else:
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            raise
    return target


def _extract(archive: zipfile.ZipFile, plan: list[tuple[zipfile.ZipInfo, list[str]]], root: Path,
             name: str, max_total_bytes: int, max_files: int) -> None:
    total = 0
    count = 0
    for info, parts in plan:
        destination = root.joinpath(*parts)
        # Defence in depth: the name checks above should make this impossible.
        if not destination.resolve().is_relative_to(root):
            raise DataError(f"{name} entry escapes the folder. Received: entry {info.filename!r}")
        if info.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        count += 1
        if count > max_files:
            raise DataError(f"{name} holds too many files (limit {max_files:,})")
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with archive.open(info) as source, open(destination, "xb") as sink:
                while chunk := source.read(_CHUNK):
                    total += len(chunk)
                    if total > max_total_bytes:
                        raise DataError(
                            f"{name} expands to more than {max_total_bytes:,} bytes; refusing to extract it all"
                        )
                    sink.write(chunk)
        except FileExistsError:
            raise DataError(f"{name} holds the same path twice. Received: entry {info.filename!r}") from None
        except RuntimeError as exc:  # encrypted entries
            raise DataError(f"{name} cannot be extracted: {exc}") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise DataError(f"{name} is corrupt at entry {info.filename!r}: {exc}") from None


def cache_root() -> Path:
    """``$CNNLIB_CACHE`` or ``~/.cache/cnnlib``."""
    configured = os.environ.get("CNNLIB_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "cnnlib"


def extract_cached(zip_path: Path, max_total_bytes: int = MAX_TOTAL_BYTES, max_files: int = MAX_FILES) -> Path:
    """Extract ``zip_path`` once into the cache, keyed by the archive's content.

    Extraction goes to a temp folder next to the final one and is renamed into
    place, so a crash or a rejected archive never leaves a half-extracted
    folder that a later call would take for complete.
    """
    digest = hashlib.sha256()
    try:
        with open(zip_path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"cannot read {zip_path}: {exc.strerror or exc}") from None
    parent = cache_root() / "zips"
    final = parent / f"{zip_path.stem}-{digest.hexdigest()[:16]}"
    if final.is_dir():
        return final
    parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=parent))
    try:
        safe_extract_zip(zip_path, temp, max_total_bytes=max_total_bytes, max_files=max_files)
        try:
            os.rename(temp, final)
        except OSError:
            if not final.is_dir():  # not a lost race with another process
                raise
            shutil.rmtree(temp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return final
