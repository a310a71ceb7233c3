#!/usr/bin/env bash
# Install the service into .venv and serve the committed reference models.
# Usage: scripts/serve.sh [--host H] [--port P] [--repository PATH]   (or ORTSERVE_* env vars)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/python -m service "$@"
