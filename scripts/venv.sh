#!/usr/bin/env bash
# Shared by run.sh and test.sh: make sure the virtualenv exists and holds an editable
# install of this checkout (cnnlib, app, bench), then print the venv's python.
#   scripts/venv.sh            runtime: pip install -e .
#   scripts/venv.sh --dev      also the test tools in requirements-dev.txt
# The install is skipped while a fingerprint of what decides it (pyproject.toml and
# requirements*.txt, plus --dev) is unchanged, so the second start is instant.
# CNNLIB_VENV picks the venv folder (default .venv in the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CNNLIB_VENV:-.venv}"
DEV=""
[ "${1:-}" = "--dev" ] && DEV="dev"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >&2
fi
# The checkout's path is in the fingerprint: an editable install points at one checkout.
fingerprint="$( { cat pyproject.toml requirements*.txt; echo "$DEV $PWD"; } | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.cnnlib-install${DEV:+-$DEV}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$fingerprint" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  if [ -n "$DEV" ]; then
    "$VENV/bin/python" -m pip install --quiet -e . -r requirements-dev.txt >&2
  else
    "$VENV/bin/python" -m pip install --quiet -e . >&2
  fi
  echo "$fingerprint" > "$stamp"
fi
echo "$VENV/bin/python"
