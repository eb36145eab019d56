#!/usr/bin/env bash
# Run the test suite on a fresh machine: installs what it needs first.
#   ./test.sh                 every test, as CI runs it (core + app AppTests + real browser)
#   ./test.sh -m "not slow"   the fast tier: no real trainings, fresh interpreters or browser
#   ./test.sh -k cli          any pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="$(scripts/venv.sh --dev)"
if [ ! -x /usr/bin/chromium ]; then
  # The browser tests drive Debian's Chromium; Playwright's own browser download is not used.
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
fi
export TF_CPP_MIN_LOG_LEVEL=3
exec "$PYTHON" -m pytest "$@"
