#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what it needs first.
#   ./test.sh            all tests (core + app AppTests + real-browser end-to-end)
#   ./test.sh -k cli     any pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")"
VENV="${CNNLIB_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements-dev.txt
if [ ! -x /usr/bin/chromium ]; then
  # The browser tests drive Debian's Chromium; Playwright's own browser download is not used.
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
fi
export TF_CPP_MIN_LOG_LEVEL=3
exec "$VENV/bin/python" -m pytest "$@"
