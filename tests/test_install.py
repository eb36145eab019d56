"""The package installs: `python -m cnnlib` works from any directory, and nothing in the
repository patches the import path by hand (issue 10, item 9)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What hand-patching the import path looks like in Python and in shell scripts.
_PATH_HACKS = re.compile(r"sys\.path\.(insert|append)|PYTHONPATH")
_SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}


def _repository_scripts() -> list[Path]:
    files = []
    for path in PROJECT_ROOT.rglob("*"):
        if path.suffix not in (".py", ".sh") or not path.is_file():
            continue
        relative = path.relative_to(PROJECT_ROOT)
        if _SKIPPED_DIRS & set(relative.parts) or relative.parts[0].endswith(".egg-info"):
            continue
        files.append(path)
    return files


def test_no_file_patches_the_import_path() -> None:
    this_file = Path(__file__).resolve()
    scripts = _repository_scripts()
    assert any(path.name == "launcher.py" for path in scripts) and any(path.parent.name == "views" for path in scripts)
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
        for path in scripts if path.resolve() != this_file  # this file names the patterns it looks for
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if _PATH_HACKS.search(line)
    ]
    assert not offenders, "import from the installed package (pip install -e .) instead:\n" + "\n".join(offenders)


def _installed_checkout() -> Path | None:
    """The checkout an editable install of cnnlib points at, or None when cnnlib is not installed."""
    # Every match, not the first: the build leaves cnnlib.egg-info in the checkout, and from the
    # checkout's root that metadata (which has no install record) is found before the venv's.
    for distribution in metadata.distributions(name="cnnlib"):
        direct_url = distribution.read_text("direct_url.json")
        url = json.loads(direct_url).get("url", "") if direct_url else ""
        if url.startswith("file://"):
            return Path(url.removeprefix("file://")).resolve()
    return None


@pytest.mark.slow  # a fresh interpreter that imports TensorFlow
def test_cli_runs_from_any_directory_once_installed(tmp_path: Path) -> None:
    checkout = _installed_checkout()
    if checkout is None:
        pytest.skip("cnnlib is not installed in this interpreter; ./test.sh installs it with pip install -e .")
    assert checkout == PROJECT_ROOT, f"the installed cnnlib is another checkout ({checkout}); rerun ./test.sh here"
    # No import path from this session: only the installed package can answer.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run([sys.executable, "-m", "cnnlib", "archs"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    archs = json.loads(result.stdout.strip().splitlines()[-1])
    names = {arch["name"] for arch in archs}
    assert {"simple_cnn", "dwsep_cnn", "cifar_fast"} <= names
    assert all(arch["description"] and arch["default_batch_size"] > 0 for arch in archs)
    # The app's package and the benchmarks install with the core.
    imports = subprocess.run([sys.executable, "-c", "import app.ui, bench.common, cnnlib; print(cnnlib.__file__)"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert imports.returncode == 0, imports.stderr[-2000:]
    assert Path(imports.stdout.strip()).resolve().is_relative_to(PROJECT_ROOT)
