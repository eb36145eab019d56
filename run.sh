#!/usr/bin/env bash
# Set up (first time) and start cnnlib Studio on port 8501.
# Its Home page trains a demo model on the bundled `digits` data in one click.
#   ./run.sh                         the app at http://localhost:8501
#   ./run.sh --server.port 8600      other Streamlit options pass through (Streamlit's
#                                    spelling: --server.port, not --port)
# The server listens on every network interface, so other machines on the network can
# open it too; add --server.address 127.0.0.1 to keep it to this machine.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="$(scripts/venv.sh)"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$PYTHON" -m streamlit run streamlit_app.py --server.headless true \
  --browser.gatherUsageStats false "$@"
