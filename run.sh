#!/usr/bin/env bash
# Set up (first time) and start cnnlib Studio on http://localhost:8501.
# Its Home page trains a demo model on the bundled `digits` data in one click.
#   ./run.sh                 the app
#   ./run.sh --port 8600     other streamlit options pass through
set -euo pipefail
cd "$(dirname "$0")"
VENV="${CNNLIB_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ ! -f "$VENV/.cnnlib-installed" ] || [ requirements.txt -nt "$VENV/.cnnlib-installed" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  touch "$VENV/.cnnlib-installed"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$VENV/bin/python" -m streamlit run streamlit_app.py --server.headless true \
  --browser.gatherUsageStats false "$@"
