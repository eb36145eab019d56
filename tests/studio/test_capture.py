"""The Data page's camera capture without a camera: where photos go, the names, the counts,
and "Use this dataset" loading the folder. The camera itself is driven in
test_capture_browser.py (a real browser with a fake webcam)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.datasources import data_roots, writable_root


def test_the_first_root_that_can_be_written_or_created_is_the_writable_one(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    blocked = tmp_path / "a-file" / "data"  # under a file: can never be created
    fresh = tmp_path / "fresh" / "data"  # missing, but its parent can be written
    monkeypatch.setenv("CNNLIB_DATA_ROOTS", os.pathsep.join(map(str, (blocked, fresh, tmp_path))))
    assert writable_root() == fresh
    assert data_roots() == [tmp_path], "a root that does not exist yet is not browsed"
    monkeypatch.setenv("CNNLIB_DATA_ROOTS", str(blocked))
    assert writable_root() is None
